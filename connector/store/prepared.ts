import { getTableColumns, sql, type Placeholder, type Table } from 'drizzle-orm'

/**
 * Helpers for statements prepared once. Building a drizzle query costs several times more than
 * running it on SQLite, so the statements of the busiest paths (a negotiation's steps, the outbox)
 * are built once with placeholders and run with values. They run on the store's own handle:
 * inside a PostgreSQL transaction (a handle of its own) the built query is used instead.
 */

/** `{ column: placeholder(column) }` for every column of a table but `except`: a whole row as values. */
export function rowPlaceholders<T extends Table>(table: T, except: string[] = []): Record<string, Placeholder> {
  const values: Record<string, Placeholder> = {}
  for (const key of Object.keys(getTableColumns(table))) if (!except.includes(key)) values[key] = sql.placeholder(key)
  return values
}

/** A value made on first use (prepared statements need a migrated store). */
export function lazy<T>(make: () => T): () => T {
  let value: T | undefined
  return () => (value ??= make())
}
