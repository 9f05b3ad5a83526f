import { AsyncResource } from 'node:async_hooks'
import type { Database, Statement } from 'better-sqlite3'

/**
 * The single SQLite connection's two hot paths, shared by every area.
 *
 * Statements: drizzle prepares every query it runs; compiling SQL costs more than running these
 * small statements, so the connection keeps the last few hundred, keyed by their text.
 *
 * Transactions (group commit): ours may await between statements, so they cannot use
 * better-sqlite3's synchronous ones; a single connection has a single writer, so they queue. The
 * transactions that wait when one starts, and those that arrive while it runs, share one
 * BEGIN…COMMIT, each inside its own savepoint: a failure rolls back only its own writes, and a burst
 * of concurrent requests pays for one commit (on WAL, writing the pages they touched once). Every
 * caller's promise settles only after the commit, so whatever it answers is stored.
 */
export interface SqliteConnection {
  transaction<T>(fn: () => Promise<T>): Promise<T>
  /** Runs `fn` after the commit of the transaction running now (at once outside one). */
  afterCommit(fn: () => void): void
  /** Settles once nothing is queued or running. */
  drained(): Promise<void>
}

const statementCacheSize = 500
/** Transactions sharing one commit, at most (bounds how long the first one waits for it). */
const batchLimit = 64

export function cacheStatements(client: Database): Database {
  const cache = new Map<string, Statement>()
  const prepare = client.prepare.bind(client)
  // drizzle only calls prepare(); the rest of the handle stays as it is.
  client.prepare = ((source: string) => {
    let statement = cache.get(source)
    if (statement) {
      // Refresh its place (least recently used goes first) and undo drizzle's raw() of an earlier use.
      cache.delete(source)
      if (statement.reader) statement.raw(false)
    } else {
      statement = prepare(source)
      if (cache.size >= statementCacheSize) cache.delete(cache.keys().next().value!)
    }
    cache.set(source, statement)
    return statement
  }) as Database['prepare']
  return client
}

/** After-commit callbacks only wake readers: one that throws must not keep the others from running. */
export const runQuietly = (callback: () => void) => {
  try {
    callback()
  } catch {
    // nothing to undo: the transaction is committed
  }
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown }

interface Job {
  fn: () => Promise<unknown>
  committed: Array<() => void>
  settle: (outcome: Outcome) => void
  outcome?: Outcome
}

export function sqliteConnection(client: Database): SqliteConnection {
  let waiting: Job[] = []
  let running: Promise<void> | undefined
  // Jobs run one after the other: the one between its savepoint and its release is "current".
  let current: Job | undefined

  const drain = async () => {
    try {
      while (waiting.length > 0) await runBatch()
    } finally {
      running = undefined
    }
  }

  async function runBatch() {
    const done: Job[] = []
    try {
      client.exec('BEGIN IMMEDIATE')
    } catch (error) {
      // E.g. the connection was closed: every waiting transaction fails the same way.
      const failed = waiting
      waiting = []
      for (const job of failed) job.settle({ ok: false, error })
      return
    }
    try {
      // Jobs that arrive while the batch runs join it; one turn of the event loop lets the
      // requests already received queue theirs before the commit.
      while (waiting.length > 0 && done.length < batchLimit) {
        const job = waiting.shift()!
        current = job
        job.outcome = await runInSavepoint(job.fn).finally(() => (current = undefined))
        done.push(job)
        // SQLite ends the whole transaction on some errors (disk full, I/O): the batch is lost.
        if (!client.inTransaction) throw job.outcome.ok ? new Error('the database ended the transaction') : job.outcome.error
        if (waiting.length === 0 && done.length < batchLimit) await new Promise((resolve) => setImmediate(resolve))
      }
      client.exec('COMMIT')
    } catch (error) {
      // Nothing of the batch is stored.
      try {
        if (client.inTransaction) client.exec('ROLLBACK')
      } catch {
        // the connection is gone; so is the transaction
      }
      for (const job of done) job.outcome = { ok: false, error }
    }
    for (const job of done) {
      if (job.outcome!.ok) job.committed.forEach(runQuietly)
      job.settle(job.outcome!)
    }
  }

  async function runInSavepoint(fn: () => Promise<unknown>): Promise<Outcome> {
    client.exec('SAVEPOINT job')
    try {
      const value = await fn()
      client.exec('RELEASE job')
      return { ok: true, value }
    } catch (error) {
      if (client.inTransaction) {
        client.exec('ROLLBACK TO job')
        client.exec('RELEASE job')
      }
      return { ok: false, error }
    }
  }

  return {
    transaction<T>(fn: () => Promise<T>): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        // Batched jobs run inside the first one's drain: each keeps its caller's async context (its trace).
        waiting.push({ fn: AsyncResource.bind(fn), committed: [], settle: (outcome) => (outcome.ok ? resolve(outcome.value as T) : reject(outcome.error)) })
        running ??= drain()
      })
    },
    afterCommit(fn) {
      if (current) current.committed.push(fn)
      else fn()
    },
    async drained() {
      while (running) await running
    },
  }
}
