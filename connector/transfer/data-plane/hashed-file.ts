import { createHash } from 'node:crypto'
import { close, open, writev } from 'node:fs'
import type { Readable } from 'node:stream'

/** What a stream written to a file amounted to. */
export interface WrittenFile {
  bytes: number
  sha256: string
}

/** Bytes waiting for the disk before the source is paused (a write under way may hold as many again). */
export const defaultMaxQueuedBytes = 4 * 1024 * 1024

/**
 * Writes a stream to a new file at `path` while counting and hashing (sha256) its bytes.
 *
 * Built for received uploads, where the socket hands over 64 KiB chunks: chunks that arrive while a
 * write is under way are gathered into the next one (one `writev` for many chunks, instead of a
 * thread-pool round trip and a pause of the socket per chunk as a write stream does), and each chunk is
 * hashed after its write has been handed to the thread pool, so hashing and writing overlap. Memory stays
 * bounded: the source is paused while more than `maxQueuedBytes` wait for the disk.
 *
 * Settles only once the file is closed. On failure (the source errors or ends early, the file cannot be
 * written) the source is destroyed and the promise rejects; the caller removes what was written.
 */
export function writeHashedFile(source: Readable, path: string, maxQueuedBytes = defaultMaxQueuedBytes): Promise<WrittenFile> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256')
    let fd: number | undefined
    let opening = true
    let writing = false
    let queue: Buffer[] = []
    let queued = 0
    let bytes = 0
    let ended = false
    let failure: Error | undefined
    let settled = false

    /** Resolves or rejects once nothing is in flight, after closing the file. */
    const settle = () => {
      if (settled || opening || writing) return
      if (!failure && !(ended && queue.length === 0)) return
      settled = true
      const closed = (closeError: Error | null) => {
        const error = failure ?? closeError
        if (error) reject(error)
        else resolve({ bytes, sha256: hash.digest('hex') })
      }
      if (fd === undefined) closed(null)
      else close(fd, closed)
    }

    const fail = (error: Error) => {
      if (failure || settled) return
      failure = error
      queue = []
      queued = 0
      if (!ended) source.destroy()
      settle()
    }

    const flush = () => {
      if (failure || writing || fd === undefined) return settle()
      if (queue.length === 0) return settle()
      const batch = queue
      const length = queued
      queue = []
      queued = 0
      writing = true
      writev(fd, batch, (error, written) => {
        writing = false
        if (error) return fail(error)
        if (written !== length) return fail(new Error(`the disk took ${written} of ${length} bytes`))
        flush()
      })
      // The queue is empty again: let the source refill it while the disk works.
      if (!ended && source.isPaused()) source.resume()
    }

    source.on('data', (chunk: Buffer) => {
      if (failure) return
      bytes += chunk.length
      queue.push(chunk)
      queued += chunk.length
      if (queued >= maxQueuedBytes) source.pause()
      flush()
      hash.update(chunk)
    })
    source.on('end', () => {
      ended = true
      flush()
    })
    source.on('error', (error: Error) => fail(error))
    source.on('close', () => {
      if (!ended) fail(new Error('the stream closed before its end'))
    })

    open(path, 'w', (error, descriptor) => {
      opening = false
      if (error) return fail(error)
      fd = descriptor
      flush()
    })
  })
}
