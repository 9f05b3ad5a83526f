import * as sqlite from 'drizzle-orm/sqlite-core'
import * as pg from 'drizzle-orm/pg-core'

/**
 * Column builders for both databases behind one set of names, so that every table is written once
 * (in `tables/`) and instantiated for SQLite and for PostgreSQL. Values round-trip identically:
 * timestamps and sizes are epoch milliseconds / byte counts as JS numbers, JSON is parsed objects.
 */
export const sqliteBuilders = {
  table: sqlite.sqliteTable,
  text: (name: string) => sqlite.text(name),
  integer: (name: string) => sqlite.integer(name),
  /** 64-bit numbers: epoch milliseconds, byte counts. */
  bigint: (name: string) => sqlite.integer(name),
  boolean: (name: string) => sqlite.integer(name, { mode: 'boolean' }),
  json: <T>(name: string) => sqlite.text(name, { mode: 'json' }).$type<T>(),
  index: sqlite.index,
  uniqueIndex: sqlite.uniqueIndex,
  primaryKey: sqlite.primaryKey,
}

export type Builders = typeof sqliteBuilders

// The PostgreSQL builders are typed as the SQLite ones: repositories are written against one set of
// types and the query builder's method names are the same in both dialects. The contract tests run
// every repository against both databases, which is what keeps this honest.
export const postgresBuilders = {
  table: pg.pgTable,
  text: (name: string) => pg.text(name),
  integer: (name: string) => pg.integer(name),
  bigint: (name: string) => pg.bigint(name, { mode: 'number' }),
  boolean: (name: string) => pg.boolean(name),
  json: (name: string) => pg.json(name),
  index: pg.index,
  uniqueIndex: pg.uniqueIndex,
  primaryKey: pg.primaryKey,
} as unknown as Builders
