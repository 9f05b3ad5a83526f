import { constants } from 'node:fs'
import { lstat, open, opendir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { Readable } from 'node:stream'
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import { within, type FilesRoot } from '../../../catalog/index.ts'
import type { ArchiveEntry } from './folder-archive.ts'
import { storageFailure } from './s3-client.ts'
import { listPrefix } from './s3-source.ts'
import { readChunkBytes } from './sources.ts'

/**
 * The files of a folder dataset, one at a time, in a stable order (by name, depth first): a local
 * folder (already confined to the files root) or the objects under an S3 prefix. Only what is
 * listed at the moment is held in memory (one directory's names, or one page of keys).
 */

/**
 * The regular files under a local folder. Symbolic links are never followed (a link could lead out
 * of the files root), and nothing inside a private place (keys, configuration, database) is listed.
 */
export async function* localFolderEntries(
  folder: string,
  files?: FilesRoot,
  prefix = '',
  /** A file's sha256 from a cache by version (path, size, mtime), for files a range skips. */
  digest?: (file: { path: string; size: number; mtimeMs: number }) => Promise<string>,
): AsyncGenerator<ArchiveEntry> {
  const names: string[] = []
  const dir = await opendir(folder)
  for await (const item of dir) names.push(item.name)
  names.sort()
  for (const name of names) {
    const path = join(folder, name)
    if (files?.private.some((place) => resolve(place.path) === path || within(resolve(place.path), path))) continue
    const info = await lstat(path)
    if (info.isDirectory()) yield* localFolderEntries(path, files, `${prefix}${name}/`, digest)
    else if (info.isFile())
      yield {
        path: `${prefix}${name}`,
        size: info.size,
        modified: info.mtime,
        open: () => fileChunks(path, info.size),
        // Only large files are worth a cached digest: small ones are read again faster than a cache of
        // a few hundred entries would keep them (and hashing one reads it in 1 MiB buffers).
        ...(digest && info.size >= cachedDigestBytes ? { sha256: () => digest({ path, size: info.size, mtimeMs: info.mtimeMs }) } : {}),
      }
  }
}

/** Files from this size on are skipped by a range with their cached sha256 rather than read. */
const cachedDigestBytes = 1024 * 1024

/** Exactly `size` bytes of a file, a chunk at a time; a link put in its place is not followed. */
async function* fileChunks(path: string, size: number): AsyncGenerator<Uint8Array> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW)
  try {
    let position = 0
    while (position < size) {
      const length = Math.min(readChunkBytes, size - position)
      const { bytesRead, buffer } = await handle.read(Buffer.allocUnsafeSlow(length), 0, length, position)
      if (bytesRead === 0) break
      position += bytesRead
      yield bytesRead === length ? buffer : buffer.subarray(0, bytesRead)
    }
  } finally {
    await handle.close()
  }
}

/** The objects under an S3 prefix, each read with its own GetObject when its turn comes. */
export async function* prefixEntries(client: S3Client, bucket: string, prefix: string): AsyncGenerator<ArchiveEntry> {
  for await (const object of listPrefix(client, bucket, prefix)) {
    // A key such as `a/../b` would unpack outside the consumer's folder: never archived.
    if (object.path.split('/').some((part) => part === '..' || part === '.' || part === '')) continue
    yield {
      path: object.path,
      size: object.size,
      modified: object.modified,
      async *open() {
        let body: Readable
        try {
          body = (await client.send(new GetObjectCommand({ Bucket: bucket, Key: object.key }))).Body as Readable
        } catch (error) {
          throw storageFailure(error)
        }
        yield* body as AsyncIterable<Uint8Array>
      },
    }
  }
}
