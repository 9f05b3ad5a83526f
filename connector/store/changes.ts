import type { Signals } from './signals.ts'

/**
 * Wakes readers that wait for a process to change (the management API's long polls, today on
 * negotiations), so that a client follows it without polling. Writers call `notify` after their
 * commit (`store.afterCommit`); a reader subscribes *before* it reads, so a change committed
 * between its read and its wait is not missed.
 *
 * With `signals` (the store's), a change committed by another replica of the participant wakes
 * this one's readers too; when the signal connection was lost and came back, every reader wakes
 * and reads again (a reader that wakes reads the process: a spurious wake-up costs one read).
 */
export interface ChangeNotifier {
  notify(id: string): void
  /**
   * A wake-up for the next change of `id`; `wait` settles then, after `ms`, or when `signal` aborts
   * (the connector stopping); `cancel` if unused.
   */
  subscribe(id: string): { wait(ms: number, signal?: AbortSignal): Promise<void>; cancel(): void }
}

/** The signal channel of process changes. */
const channel = 'passerelle_changes'

export function changeNotifier(signals?: Signals): ChangeNotifier {
  const waiters = new Map<string, Set<() => void>>()
  const wakeLocal = (id: string) => {
    const set = waiters.get(id)
    if (!set) return
    waiters.delete(id)
    for (const wake of set) wake()
  }
  // Listening starts with the first reader: a replica nobody long-polls holds no extra connection.
  let listening = false
  const listen = () => {
    if (listening || !signals) return
    listening = true
    signals.subscribe(channel, (id) => {
      if (id !== undefined) return wakeLocal(id)
      for (const key of [...waiters.keys()]) wakeLocal(key)
    })
  }
  const remove = (id: string, wake: () => void) => {
    const set = waiters.get(id)
    if (!set) return
    set.delete(wake)
    if (set.size === 0) waiters.delete(id)
  }
  return {
    notify(id) {
      wakeLocal(id)
      signals?.publish(channel, id)
    },
    subscribe(id) {
      listen()
      let woken = false
      let release: (() => void) | undefined
      const wake = () => {
        woken = true
        release?.()
      }
      let set = waiters.get(id)
      if (!set) waiters.set(id, (set = new Set()))
      set.add(wake)
      return {
        wait: (ms, signal) =>
          new Promise<void>((resolve) => {
            if (woken || signal?.aborted) {
              remove(id, wake)
              return resolve()
            }
            const end = () => {
              clearTimeout(timer)
              signal?.removeEventListener('abort', end)
              remove(id, wake)
              resolve()
            }
            const timer = setTimeout(end, ms)
            signal?.addEventListener('abort', end, { once: true })
            release = end
          }),
        cancel: () => remove(id, wake),
      }
    },
  }
}
