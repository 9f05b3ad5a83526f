import { PasserelleError } from '../../errors.ts'

/**
 * Bounds on parallel work in the data plane, so that a consumer's parallel requests wait in memory
 * or are answered 429 (with `Retry-After`), never queued on the database pool where they would
 * starve everything else (health checks, the management API, other consumers).
 */

/** At most `limit` requests at once per key (a transfer): one more is answered 429 at once. */
export function perKeyLimit(limit: number) {
  const inFlight = new Map<string, number>()
  return {
    /** Takes a slot or throws `too_many_requests`; the returned function gives it back (once). */
    acquire(key: string): () => void {
      const current = inFlight.get(key) ?? 0
      if (current >= limit) throw busy(`at most ${limit} requests at once on one transfer; retry when one has finished`)
      inFlight.set(key, current + 1)
      let released = false
      return () => {
        if (released) return
        released = true
        const left = (inFlight.get(key) ?? 1) - 1
        if (left <= 0) inFlight.delete(key)
        else inFlight.set(key, left)
      }
    },
    inFlight: (key: string) => inFlight.get(key) ?? 0,
  }
}

/** At most `limit` holders at once, the others wait in turn; beyond `maxWaiting` waiting, 429 at once. */
export function admission(limit: number, maxWaiting: number) {
  let active = 0
  const waiting: Array<() => void> = []
  const release = () => {
    const next = waiting.shift()
    if (next) next()
    else active--
  }
  return {
    async run<T>(fn: () => Promise<T>): Promise<T> {
      if (active >= limit) {
        if (waiting.length >= maxWaiting) throw busy('the data plane is busy; retry shortly')
        await new Promise<void>((resolve) => waiting.push(resolve))
      } else active++
      try {
        return await fn()
      } finally {
        release()
      }
    },
  }
}

/** Seconds a client should wait before retrying a refused request. */
export const retryAfterSeconds = 1

const busy = (message: string) => new PasserelleError('too_many_requests', message, { retryAfterSeconds })
