/** Polls `check` until it gives a value, or fails after the timeout; an error from `check` fails at once. */
export async function eventually<T>(check: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000, intervalMs = 10): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, intervalMs))
  }
}

/** Polls `check` until it gives a value (errors count as not yet: a process still starting), or fails after the timeout. */
export const until = <T>(check: () => Promise<T | undefined>, timeoutMs = 20_000, intervalMs = 50): Promise<T> =>
  eventually(() => check().catch(() => undefined), timeoutMs, intervalMs)
