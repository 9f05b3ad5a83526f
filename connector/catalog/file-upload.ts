import { createHash, randomUUID } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { link, mkdir, rm, unlink } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { localPath } from '../../catalog/index.ts'
import { PasserelleError } from '../errors.ts'
import { mediaTypeOf } from './media-types.ts'

/** A file name an upload may take: one name, no folder, no hidden file, nothing a shell or a URL mangles. */
export const uploadName = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/

/** What a distribution needs of a received file: its path relative to the participant folder, size, digest and media type. */
export interface ReceivedFile {
  file: string
  byteSize: number
  sha256: string
  mediaType: string
}

export function checkUploadName(name: string): string {
  if (!uploadName.test(name) || name.includes('..'))
    throw new PasserelleError(
      'bad_request',
      `expected a file name of letters, digits, dots, dashes and underscores (at most 128, no folder, not starting with a dot): ${JSON.stringify(name.slice(0, 140))}`,
    )
  return name
}

/**
 * Streams a body into `<files root>/<name>`: written first to a hidden temporary file in the same
 * folder (measured as it comes: size and sha256), then linked into place, which refuses a name
 * already taken. Over `limit` bytes, or on any failure, the temporary file is removed: nothing is left.
 */
export async function receiveFile(
  body: ReadableStream<Uint8Array> | null,
  options: { root: string; participantRoot: string; name: string; limit: number; declaredLength?: number },
): Promise<ReceivedFile> {
  const name = checkUploadName(options.name)
  const tooLarge = () => new PasserelleError('payload_too_large', `the file is larger than the upload limit of ${options.limit} bytes (catalog.maxUploadBytes)`)
  if (options.declaredLength !== undefined && options.declaredLength > options.limit) throw tooLarge()
  await mkdir(options.root, { recursive: true })
  const target = join(options.root, name)
  const temporary = join(options.root, `.upload-${randomUUID()}.part`)
  const hash = createHash('sha256')
  let byteSize = 0
  const out = createWriteStream(temporary, { flags: 'wx', mode: 0o644 })
  const closed = new Promise<void>((resolve, reject) => {
    out.on('close', resolve)
    out.on('error', reject)
  })
  try {
    if (body) {
      const reader = body.getReader()
      for (;;) {
        // A body that breaks off (the client went away, a form cut short) is the sender's doing: 400, nothing kept.
        const { done, value } = await reader.read().catch(() => {
          throw new PasserelleError('bad_request', 'the upload ended before it was complete: nothing was stored')
        })
        if (done) break
        byteSize += value.byteLength
        if (byteSize > options.limit) {
          await reader.cancel().catch(() => undefined)
          throw tooLarge()
        }
        hash.update(value)
        if (!out.write(value)) await new Promise<void>((resolve) => out.once('drain', () => resolve()))
      }
    }
    out.end()
    await closed
    try {
      await link(temporary, target)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST')
        throw new PasserelleError('conflict', `${relative(options.participantRoot, target)} already exists: choose another name`)
      throw error
    }
    return { file: relative(options.participantRoot, target), byteSize, sha256: hash.digest('hex'), mediaType: mediaTypeOf(name) }
  } finally {
    out.destroy()
    await closed.catch(() => undefined)
    await rm(temporary, { force: true })
  }
}

/**
 * The paths (as `catalog_file_refs` spells them, relative to the participant folder) under which a
 * distribution would reach the uploaded file `name`: the file itself and every folder holding it.
 */
export function pathsReaching(participantRoot: string, root: string, name: string): string[] {
  const file = localPath(relative(participantRoot, join(root, checkUploadName(name))))
  const segments = file.split('/')
  return [file, ...segments.slice(0, -1).map((_, i) => segments.slice(0, i + 1).join('/')), '.']
}

/** Removes an uploaded file (one name under the files root); absent is fine. */
export async function removeUploadedFile(root: string, name: string): Promise<void> {
  await unlink(join(root, checkUploadName(name))).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error
  })
}
