/**
 * A response body that can be cut: it hands on the chunks of `source` one at a time (back-pressure
 * as the client reads), and ends in error when the source sends more than it declared or than is
 * allowed, stays silent too long, or when `signal` aborts (the transfer or its agreement ended).
 * `onEnd` runs once, with the bytes handed on and why it ended.
 */

export type StreamEnd =
  | { kind: 'done' }
  /** The client went away (cancelled the body). */
  | { kind: 'client'; error: unknown }
  /** The source failed, went silent or sent too much: not the consumer's fault. */
  | { kind: 'source'; error: Error }
  /** `signal` aborted: the transfer or its agreement stopped holding. */
  | { kind: 'stopped'; error: Error }

export interface GuardOptions {
  /** The length the source declared (its Content-Length): more is an error, and so is less. */
  declaredLength?: number | undefined
  /** The most bytes allowed. */
  maxBytes?: number | undefined
  /** Milliseconds the source may stay silent between chunks. */
  idleMs?: number | undefined
  signal?: AbortSignal | undefined
  onEnd(sent: number, end: StreamEnd): void
}

/** Reads chunks: a web stream's reader, or a Node stream's async iterator (read without a web-stream layer). */
interface ChunkReader {
  read(): Promise<{ done: true; value?: undefined } | { done: false; value: Uint8Array }>
  cancel(reason?: unknown): Promise<void>
}

function readerOf(source: ReadableStream<Uint8Array> | NodeJS.ReadableStream): ChunkReader {
  if ('getReader' in source) return source.getReader() as ChunkReader
  const iterator = source[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>
  return {
    read: () => iterator.next() as ReturnType<ChunkReader['read']>,
    cancel: async (reason) => {
      ;(source as NodeJS.ReadableStream & { destroy(error?: Error): void }).destroy(reason instanceof Error ? reason : undefined)
    },
  }
}

export function guardedStream(source: ReadableStream<Uint8Array> | NodeJS.ReadableStream, options: GuardOptions): ReadableStream<Uint8Array> {
  const reader = readerOf(source)
  let sent = 0
  let ended = false
  let fail: ((error: Error, kind: 'source' | 'stopped') => void) | undefined
  // One timer for the whole stream, pushed back at every chunk: it counts only while a read from the
  // source is pending (a client slow to read is not the source's silence).
  let reading = false
  const idle =
    options.idleMs === undefined
      ? undefined
      : setTimeout(function expire() {
          if (!reading) return void idle?.refresh()
          fail?.(new SourceFault(`the upstream source sent nothing for ${Math.round(options.idleMs! / 1000)} s`), 'source')
        }, options.idleMs)
  idle?.unref?.()
  const finish = (end: StreamEnd) => {
    if (ended) return
    ended = true
    if (idle) clearTimeout(idle)
    options.signal?.removeEventListener('abort', onAbort)
    options.onEnd(sent, end)
  }
  const onAbort = () => fail?.(new Error(String(options.signal?.reason ?? 'stopped')), 'stopped')
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        fail = (error, kind) => {
          if (ended) return
          finish({ kind, error })
          reader.cancel(error).catch(() => {})
          controller.error(error)
        }
        if (options.signal?.aborted) onAbort()
        else options.signal?.addEventListener('abort', onAbort, { once: true })
      },
      async pull(controller) {
        if (ended) return
        try {
          reading = true
          idle?.refresh()
          const { done, value } = await reader.read()
          reading = false
          if (ended) return
          idle?.refresh()
          if (done) {
            if (options.declaredLength !== undefined && sent < options.declaredLength)
              return fail!(new SourceFault(`the upstream source ended after ${sent} of the ${options.declaredLength} bytes it declared`), 'source')
            finish({ kind: 'done' })
            controller.close()
            return
          }
          sent += value.byteLength
          if (options.declaredLength !== undefined && sent > options.declaredLength)
            return fail!(new SourceFault(`the upstream source sent more than the ${options.declaredLength} bytes it declared`), 'source')
          if (options.maxBytes !== undefined && sent > options.maxBytes)
            return fail!(new SourceFault(`the upstream source sent more than the ${options.maxBytes} bytes this distribution allows`), 'source')
          controller.enqueue(value)
        } catch (error) {
          fail!(error instanceof Error ? error : new Error(String(error)), 'source')
        }
      },
      cancel(reason) {
        finish({ kind: 'client', error: reason ?? new Error('the client went away') })
        return reader.cancel(reason).catch(() => {})
      },
    },
    { highWaterMark: 0 },
  )
}

/** A fault of the source (the upstream), as opposed to the client or the policy. */
export class SourceFault extends Error {}
