/**
 * Keeps a process's next messages behind our answer to the message that caused them (DSP: never
 * send the next message of a flow before the answer to the previous one has gone out). The step is
 * durable in the outbox either way; this gate only makes its run wait, in this process, until the
 * route says the answer went out, or `maxWaitMs` at most (a lost socket event delays, never
 * blocks). After a restart nothing is held: any answer of the previous run is long gone.
 */
export interface AnswerGate {
  /** Called inside the transaction that stores the message, before its commit makes the step visible. */
  hold(processId: string): void
  /** The answer went out (or will never go out). */
  release(processId: string): void
  /** Resolves once no answer about the process is pending. */
  settled(processId: string): Promise<void>
}

/** `released` runs whenever a hold ends (the caller wakes its worker then). */
export function answerGate(released: () => void = () => {}, maxWaitMs = 2_000): AnswerGate {
  const held = new Map<string, { promise: Promise<void>; resolve: () => void; timer: NodeJS.Timeout }>()
  const release = (processId: string) => {
    const entry = held.get(processId)
    if (!entry) return
    held.delete(processId)
    clearTimeout(entry.timer)
    entry.resolve()
    released()
  }
  return {
    hold(processId) {
      if (held.has(processId)) return
      let resolve!: () => void
      const promise = new Promise<void>((done) => (resolve = done))
      const timer = setTimeout(() => release(processId), maxWaitMs)
      timer.unref?.()
      held.set(processId, { promise, resolve, timer })
    },
    release,
    settled: (processId) => held.get(processId)?.promise ?? Promise.resolve(),
  }
}
