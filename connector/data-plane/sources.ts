import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { realpath, stat } from 'node:fs/promises'
import { isAbsolute, relative, resolve, sep } from 'node:path'
import { PasserelleError } from '../errors.ts'

/** A local file a distribution names, resolved and confined to its root folder. */
export interface LocalFile {
  path: string
  size: number
  mtimeMs: number
}

/**
 * Resolves `path` under `root` and refuses anything that leaves it: `..` segments, absolute paths,
 * and symbolic links pointing outside (the real path is checked, not the spelled one).
 */
export async function confinedFile(root: string, path: string): Promise<LocalFile> {
  if (path.includes('\0')) throw new PasserelleError('forbidden', 'invalid file path')
  const rootReal = await realpath(root)
  const candidate = resolve(rootReal, path)
  if (isAbsolute(path) || !inside(rootReal, candidate)) throw new PasserelleError('forbidden', 'the distribution points outside the participant folder')
  let real: string
  try {
    real = await realpath(candidate)
  } catch {
    throw new PasserelleError('not_found', 'the dataset file does not exist')
  }
  if (!inside(rootReal, real)) throw new PasserelleError('forbidden', 'the distribution points outside the participant folder')
  const info = await stat(real)
  if (!info.isFile()) throw new PasserelleError('not_found', 'the dataset file is not a regular file')
  return { path: real, size: info.size, mtimeMs: info.mtimeMs }
}

const inside = (root: string, path: string) => {
  const rel = relative(root, path)
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) && !rel.split(sep).includes('..')
}

/** Read chunk size: large reads keep a 1 GiB file moving fast; memory stays bounded by it. */
export const readChunkBytes = 1024 * 1024

/**
 * sha256 of files, computed once per file version (path, size, mtime) and kept. Hashing a large
 * file takes seconds, so it is started when a transfer starts, not on the first access.
 */
export function digestCache(maxEntries = 256) {
  const cache = new Map<string, Promise<string>>()
  return {
    sha256(file: LocalFile): Promise<string> {
      const key = `${file.path}\0${file.size}\0${file.mtimeMs}`
      let digest = cache.get(key)
      if (!digest) {
        digest = hashFile(file.path)
        digest.catch(() => cache.delete(key))
        cache.set(key, digest)
        if (cache.size > maxEntries) cache.delete(cache.keys().next().value!)
      }
      return digest
    },
  }
}
export type DigestCache = ReturnType<typeof digestCache>

export function hashFile(path: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const hash = createHash('sha256')
    createReadStream(path, { highWaterMark: readChunkBytes })
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolvePromise(hash.digest('hex')))
  })
}

/** RFC 9530 `Repr-Digest` value for a hex sha256. */
export const reprDigest = (hex: string) => `sha-256=:${Buffer.from(hex, 'hex').toString('base64')}:`

/** Reads a hex sha256 out of a `Repr-Digest` (or `Content-Digest`) header; undefined when absent. */
export function sha256FromDigestHeader(value: string | undefined): string | undefined {
  const match = /sha-256=:([A-Za-z0-9+/=]+):/.exec(value ?? '')
  return match ? Buffer.from(match[1]!, 'base64').toString('hex') : undefined
}

export interface ByteRange {
  start: number
  end: number
}

/**
 * Parses a single `Range: bytes=…` against a size. Undefined means "send everything" (no header, or
 * several ranges, which we do not serve); 'unsatisfiable' answers 416.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | undefined | 'unsatisfiable' {
  if (!header) return undefined
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (!match) return undefined
  const [, from, to] = match
  if (from === '' && to === '') return undefined
  if (from === '') {
    const suffix = Number(to)
    if (suffix === 0) return 'unsatisfiable'
    return { start: Math.max(0, size - suffix), end: size - 1 }
  }
  const start = Number(from)
  const end = to === '' ? size - 1 : Math.min(Number(to), size - 1)
  if (start >= size || end < start) return 'unsatisfiable'
  return { start, end }
}
