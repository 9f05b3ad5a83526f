import type { Clock } from '../clock.ts'
import type { AuditEntry } from './chain.ts'

export const unverifiedActor = 'unverified'

/**
 * Refusals of callers whose identity did not verify, recorded at a bounded rate. Anyone can send a
 * bad token, so one record per request would let a stranger grow the trail, and its write load,
 * without limit. Up to `perMinute` are recorded one by one in each minute; the rest of that minute
 * are counted and recorded as one `identity.refused.summary` when the minute ends (or at `flush`).
 */
export function refusalBudget(deps: { write: (entry: AuditEntry) => Promise<void>; clock: Clock; perMinute: number }) {
  const windowMs = 60_000
  let windowStart = Number.NEGATIVE_INFINITY
  let used = 0
  let suppressed = 0
  let timer: NodeJS.Timeout | undefined

  /** Records the count of the minute that ended, if a refusal in it went unrecorded. */
  const flush = async () => {
    if (timer) clearTimeout(timer)
    timer = undefined
    const count = suppressed
    suppressed = 0
    if (count === 0) return
    await deps.write({
      kind: 'identity.refused.summary',
      subjects: {},
      actor: unverifiedActor,
      payload: {
        suppressed: count,
        from: new Date(windowStart).toISOString(),
        to: new Date(windowStart + windowMs).toISOString(),
        reason: `${count} more refusals of unverified callers in this minute, beyond the ${deps.perMinute} recorded one by one`,
      },
    })
  }

  return {
    /** Records one refusal, or counts it when this minute's budget is spent. */
    async refused(payload: Record<string, unknown>) {
      const now = deps.clock.now().getTime()
      if (now >= windowStart + windowMs) {
        await flush()
        windowStart = now
        used = 0
      }
      if (used < deps.perMinute) {
        used++
        return deps.write({ kind: 'identity.refused', subjects: {}, actor: unverifiedActor, payload })
      }
      suppressed++
      // The count is written when the minute ends even if the flood stops there; unref'd, so it never
      // holds a stopping process (which flushes instead).
      timer ??= setTimeout(() => void flush().catch(() => undefined), Math.max(0, windowStart + windowMs - now)).unref()
    },
    flush,
  }
}
