/**
 * Watches running data streams: while one flows, its transfer and agreement are read again every
 * `intervalMs` (default 250 ms), and the stream is aborted, with the reason, as soon as the transfer
 * is no longer STARTED or the agreement no longer in force. Reading the store (not an in-process
 * event) also sees a termination made by another replica, a peer's message or the policy monitor.
 */
export interface StreamWatchDeps {
  /** Why the stream must stop, or undefined while it may go on. */
  reasonToStop(transferId: string, agreementId: string): Promise<string | undefined>
  intervalMs?: number
}

export function streamWatch(deps: StreamWatchDeps) {
  const intervalMs = deps.intervalMs ?? 250
  return {
    /** Starts watching; `signal` aborts with the reason; `stop` ends the watch (call it when the stream ends). */
    watch(transferId: string, agreementId: string): { signal: AbortSignal; stop(): void } {
      const controller = new AbortController()
      let checking = false
      const timer = setInterval(() => {
        if (checking) return
        checking = true
        deps
          .reasonToStop(transferId, agreementId)
          .then((reason) => {
            if (reason) {
              clearInterval(timer)
              controller.abort(reason)
            }
          })
          // A store that cannot be read for a moment does not cut a download; the next check decides.
          .catch(() => {})
          .finally(() => {
            checking = false
          })
      }, intervalMs)
      timer.unref?.()
      return { signal: controller.signal, stop: () => clearInterval(timer) }
    },
  }
}
export type StreamWatch = ReturnType<typeof streamWatch>
