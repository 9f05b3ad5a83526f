import type { Database, Statement } from 'better-sqlite3'
import { groupCommit, type GroupCommit } from './group-commit.ts'

/**
 * The single SQLite connection's two hot paths, shared by every area.
 *
 * Statements: drizzle prepares every query it runs; compiling SQL costs more than running these
 * small statements, so the connection keeps the last few hundred, keyed by their text.
 *
 * Transactions: ours may await between statements, so they cannot use better-sqlite3's synchronous
 * ones; a single connection has a single writer, so they queue, and share commits (group-commit.ts,
 * one lane).
 */
export type SqliteConnection = GroupCommit<Database>

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

export function sqliteConnection(client: Database): SqliteConnection {
  const lane = {
    handle: client,
    exec: async (statement: string) => void client.exec(statement.replace(/^BEGIN\b/, 'BEGIN IMMEDIATE')),
    inTransaction: () => client.inTransaction,
    release: () => {},
  }
  return groupCommit({ open: async () => lane, lanes: 1, batchLimit })
}
