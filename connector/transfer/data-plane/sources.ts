import { createHash } from 'node:crypto'
import { constants } from 'node:fs'
import { open, stat } from 'node:fs/promises'
import { locateDistributionFile, type FilesRoot } from '../../../catalog/index.ts'
import { PasserelleError } from '../../errors.ts'

/** A local file a distribution names, resolved and confined to its root folder. */
export interface LocalFile {
  path: string
  size: number
  mtimeMs: number
}

/**
 * Resolves a distribution's `path` (relative to the participant folder `base`) right before it is
 * read, and refuses anything the files root does not allow: `..`, absolute paths, symbolic links
 * leading outside it or into a private place (the real path is checked, not the spelled one).
 * Without `files`, the file must stay within `base`.
 */
export async function confinedFile(base: string, path: string, files: FilesRoot = { root: base, private: [] }): Promise<LocalFile> {
  const located = await locateDistributionFile(files, base, path)
  if ('problem' in located) {
    if (located.missing) throw new PasserelleError('not_found', 'the dataset file does not exist')
    throw new FileRefused(located.problem)
  }
  const info = await stat(located.path)
  if (!info.isFile()) throw new PasserelleError('not_found', 'the dataset file is not a regular file')
  return { path: located.path, size: info.size, mtimeMs: info.mtimeMs }
}

/** A file the files root does not allow: peers learn only that; `reason` is for the provider's log. */
export class FileRefused extends PasserelleError {
  constructor(readonly reason: string) {
    super('forbidden', "the dataset file cannot be served (the provider's log says why)")
  }
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

export async function hashFile(path: string): Promise<string> {
  // A link put in place of the checked file since is not followed.
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW)
  return new Promise((resolvePromise, reject) => {
    const hash = createHash('sha256')
    handle
      .createReadStream({ highWaterMark: readChunkBytes })
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
