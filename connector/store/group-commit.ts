import { AsyncResource } from 'node:async_hooks'

/**
 * Group commit, for both databases. Transactions that wait when a connection is free, and those
 * that arrive while its batch runs, share one BEGIN…COMMIT, each inside its own savepoint: a
 * failure rolls back only its own writes, and a burst of concurrent requests pays for one commit
 * (and takes once the rows every transaction shares, such as the audit chain's head). Every
 * caller's promise settles only after the commit, so whatever it answers is stored.
 *
 * SQLite has one connection (one lane); PostgreSQL runs a few lanes at once, each a connection of
 * the pool held for one batch. Jobs of one lane run one after the other; lanes run side by side.
 *
 * A job's row locks are held until its batch commits, so two lanes could each hold a row the
 * other's next job wants (a deadlock PostgreSQL ends after a second by failing one job). A job may
 * name a key (the process it changes): while a lane's batch holds a job of that key, the other
 * jobs of the key join that batch and no other lane takes them, so the rows of one process are
 * never wanted by two lanes at once.
 */

/** One connection holding a batch's transaction. */
export interface Lane<H> {
  /** The handle the batch's jobs write through. */
  handle: H
  /** Runs one statement, or several separated by `;` (one round trip). */
  exec(statements: string): Promise<void>
  /** False once the database ended the transaction by itself (SQLite does on disk full and I/O errors). */
  inTransaction(): boolean
  /** Gives the connection back; `error` when it may be broken. */
  release(error?: unknown): void
}

/** Items held for the end of a transaction, and what writes them (see `Store.deferToCommit`). */
interface Deferred {
  items: unknown[]
  flush: (items: never[]) => Promise<void>
  /** Written before the others (it locks nothing every transaction shares). */
  early: boolean
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown }

interface Job<H> {
  fn: (handle: H) => Promise<unknown>
  key?: string
  committed: Array<() => void>
  deferred: Map<object, Deferred>
  settle: (outcome: Outcome) => void
  outcome?: Outcome
}

export interface TransactionOptions {
  /**
   * What the transaction locks, e.g. a process id: transactions of one key never run in two
   * batches at once (see above). Without one, any lane runs it.
   */
  key?: string
}

export interface GroupCommit<H> {
  transaction<T>(fn: (handle: H) => Promise<T>, options?: TransactionOptions): Promise<T>
  /** Runs `fn` after the commit of the job running on the lane of `handle` (at once outside one). */
  afterCommit(handle: H, fn: () => void): void
  /**
   * Holds `item` for the end of the transaction of the job running on the lane of `handle`, with
   * the others held under `key`: `flush` gets those of every job of the batch that succeeded,
   * together, inside it, before the commit. False outside a transaction (nothing is held).
   */
  deferToEnd<T>(handle: H, key: object, item: T, flush: (items: T[]) => Promise<void>, early?: boolean): boolean
  /** Settles once nothing is queued or running. */
  drained(): Promise<void>
}

/** After-commit callbacks only wake readers: one that throws must not keep the others from running. */
export const runQuietly = (callback: () => void) => {
  try {
    callback()
  } catch {
    // nothing to undo: the transaction is committed
  }
}

export function groupCommit<H>(options: {
  /** A connection for a batch (SQLite: always the same one). */
  open: () => Promise<Lane<H>>
  /** Batches running at once. */
  lanes: number
  /** Jobs sharing one commit, at most (bounds how long the first one waits for it). */
  batchLimit: number
  /** What a failure to open a lane or begin its transaction becomes (e.g. marked as the database's). */
  openError?: (error: unknown) => unknown
}): GroupCommit<H> {
  let waiting: Job<H>[] = []
  const running = new Set<Promise<void>>()
  // The job between its savepoint and its release, by the handle of its lane.
  const current = new Map<H, Job<H>>()
  // Keys held by a running batch (its jobs' locks last until its commit), and the batch: a token per batch.
  const pinned = new Map<string, object>()

  /** The first waiting job this batch may take: no key, a key of its own, or a key nobody holds. */
  function take(batch: object): Job<H> | undefined {
    const index = waiting.findIndex((job) => job.key === undefined || (pinned.get(job.key) ?? batch) === batch)
    if (index < 0) return undefined
    const [job] = waiting.splice(index, 1)
    if (job!.key !== undefined) pinned.set(job!.key, batch)
    return job
  }
  /** Jobs a new batch could take now. */
  const takeable = () => waiting.reduce((n, job) => (job.key === undefined || !pinned.has(job.key) ? n + 1 : n), 0)

  function startLanes() {
    while (takeable() > running.size && running.size < options.lanes) {
      const lane = runBatch().finally(() => {
        running.delete(lane)
        if (waiting.length > 0) startLanes()
      })
      running.add(lane)
    }
  }

  async function runBatch() {
    let lane: Lane<H>
    try {
      lane = await options.open()
    } catch (error) {
      return failWaiting(options.openError?.(error) ?? error)
    }
    if (takeable() === 0) return lane.release()
    const batch = {}
    // Statements that begin and end jobs go together, one round trip where they can: the
    // transaction and the first job's savepoint; one job's release and the next one's savepoint;
    // the last job's savepoint ends with the commit.
    try {
      await lane.exec('BEGIN; SAVEPOINT job')
    } catch (error) {
      lane.release(error)
      return failWaiting(options.openError?.(error) ?? error)
    }
    const done: Job<H>[] = []
    let broken: unknown
    try {
      // Jobs that arrive while the batch runs join it; one turn of the event loop lets the
      // requests already received queue theirs before the commit.
      for (;;) {
        // Another lane may have taken what waited while this one began (the open savepoint ends with the commit).
        const job = take(batch)
        if (!job) break
        // Counted before it runs: a savepoint that cannot even be rolled back fails the batch, this job too.
        done.push(job)
        current.set(lane.handle, job)
        job.outcome = await runInSavepoint(lane, job).finally(() => current.delete(lane.handle))
        // SQLite ends the whole transaction on some errors (disk full, I/O): the batch is lost.
        if (!lane.inTransaction()) throw job.outcome.ok ? new Error('the database ended the transaction') : job.outcome.error
        if (done.length >= options.batchLimit) break
        if (!waiting.some(mayTake(batch))) await new Promise((resolve) => setImmediate(resolve))
        if (!waiting.some(mayTake(batch))) break
        await lane.exec('RELEASE job; SAVEPOINT job')
      }
      // What the jobs that succeeded held for the end, together (in the order they ran).
      const held = new Map<object, Deferred>()
      for (const job of done)
        if (job.outcome!.ok)
          for (const [key, entry] of job.deferred) {
            const all = held.get(key)
            if (all) all.items.push(...entry.items)
            else held.set(key, { items: [...entry.items], flush: entry.flush, early: entry.early })
          }
      // (Inside the last job's savepoint, which the commit releases: a failure here fails them all.)
      // Those that lock nothing shared first: a shared row (the audit chain's head) is held the least.
      const flushes = [...held.values()].sort((a, b) => Number(b.early) - Number(a.early))
      for (const entry of flushes) await entry.flush(entry.items as never[])
      await lane.exec('COMMIT')
    } catch (error) {
      broken = error
      // Nothing of the batch is stored.
      try {
        if (lane.inTransaction()) await lane.exec('ROLLBACK')
      } catch {
        // the connection is gone; so is the transaction
      }
      for (const job of done) job.outcome = { ok: false, error }
    }
    // The batch's locks are gone: its keys are free for any lane.
    for (const [key, holder] of pinned) if (holder === batch) pinned.delete(key)
    lane.release(broken)
    for (const job of done) {
      if (job.outcome!.ok) job.committed.forEach(runQuietly)
      job.settle(job.outcome!)
    }
  }

  const mayTake = (batch: object) => (job: Job<H>) => job.key === undefined || (pinned.get(job.key) ?? batch) === batch

  function failWaiting(error: unknown) {
    // E.g. the connection was closed, the server is away: every waiting transaction fails the same way.
    const failed = waiting
    waiting = []
    for (const job of failed) job.settle({ ok: false, error })
  }

  /** Runs a job inside the savepoint opened for it (it stays open: the next statement ends it). */
  async function runInSavepoint(lane: Lane<H>, job: Job<H>): Promise<Outcome> {
    try {
      return { ok: true, value: await job.fn(lane.handle) }
    } catch (error) {
      job.deferred.clear()
      if (lane.inTransaction()) await lane.exec('ROLLBACK TO job')
      return { ok: false, error }
    }
  }

  return {
    transaction<T>(fn: (handle: H) => Promise<T>, transactionOptions?: TransactionOptions): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        // A batched job runs inside the drain of the job that opened the batch: bound, it keeps its own caller's async context (its trace).
        waiting.push({
          fn: AsyncResource.bind(fn),
          ...(transactionOptions?.key === undefined ? {} : { key: transactionOptions.key }),
          committed: [],
          deferred: new Map(),
          settle: (outcome) => (outcome.ok ? resolve(outcome.value as T) : reject(outcome.error)),
        })
        startLanes()
      })
    },
    afterCommit(handle, fn) {
      const job = current.get(handle)
      if (job) job.committed.push(fn)
      else fn()
    },
    deferToEnd(handle, key, item, flush, early = false) {
      const job = current.get(handle)
      if (!job) return false
      const entry = job.deferred.get(key)
      if (entry) entry.items.push(item)
      else job.deferred.set(key, { items: [item], flush: flush as Deferred['flush'], early })
      return true
    },
    async drained() {
      while (running.size > 0) await Promise.all(running)
    },
  }
}
