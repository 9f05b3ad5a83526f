import { constants } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import { readChunkBytes, type ByteRange } from './sources.ts'

/**
 * A byte range of a file as a web stream, for response bodies. Each read lands in a fresh buffer that
 * is handed on as it is (`Readable.toWeb` over a file stream copies every chunk once more), one read
 * ahead of the consumer at most, so memory stays bounded by a couple of chunks.
 *
 * `onClose` runs once, with the bytes handed out and after the file is closed: before the stream ends
 * or errors (a failed read), or when the consumer cancels (a client that went away).
 */
export function fileRangeStream(
  path: string,
  range: ByteRange,
  onClose: (sent: number, error?: unknown) => void,
  chunkBytes = readChunkBytes,
): ReadableStream<Uint8Array> {
  let handle: FileHandle | undefined
  let position = range.start
  const end = range.end + 1
  let sent = 0
  let closed = false
  const close = async (error?: unknown) => {
    if (closed) return
    closed = true
    await handle?.close().catch(() => {})
    onClose(sent, error)
  }
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          if (!handle) {
            // The path was resolved and checked just before; a link put in its place since is not followed.
            handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW)
            // Cancelled while opening: nothing else will close it.
            if (closed) return void (await handle.close())
          }
          const length = Math.min(chunkBytes, end - position)
          const { bytesRead, buffer } = await handle.read(Buffer.allocUnsafeSlow(length), 0, length, position)
          if (bytesRead === 0) throw new Error(`the file ended ${end - position} bytes short of the range`)
          position += bytesRead
          sent += bytesRead
          controller.enqueue(bytesRead === length ? buffer : buffer.subarray(0, bytesRead))
          // The file is closed and reported before the consumer sees the end.
          if (position >= end) {
            await close()
            controller.close()
          }
        } catch (error) {
          await close(error)
          controller.error(error)
        }
      },
      cancel: (reason) => close(reason),
    },
    { highWaterMark: 1 },
  )
}
