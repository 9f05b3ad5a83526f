/**
 * Backoff between attempts, shared by the outbox and the data plane's push: exponential from a
 * base, capped, with jitter so that what failed together (a peer restarting) does not come back at
 * the same instant.
 */

/** The delay before attempt `attempt + 1`: base × 2^(attempt-1), capped. */
export const retryDelay = (attempt: number, baseDelayMs: number, maxDelayMs: number) =>
  Math.min(maxDelayMs, baseDelayMs * 2 ** Math.max(0, Math.min(attempt - 1, 40)))

/** Between half and all of `retryDelay`; `random` is in [0, 1). */
export const jitteredDelay = (attempt: number, baseDelayMs: number, maxDelayMs: number, random: number) => {
  const full = retryDelay(attempt, baseDelayMs, maxDelayMs)
  return Math.round(full / 2 + (full / 2) * random)
}

/** The answers worth trying again (a peer may not know a process for a moment, or be restarting); any other is final. */
export const retryableStatus = (status: number) => status === 404 || status === 408 || status === 425 || status === 429 || status >= 500
