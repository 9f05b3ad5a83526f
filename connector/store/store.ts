import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { sql } from 'drizzle-orm'
import type { BetterSQLite3Database } from 'drizzle-orm/better-sqlite3'
import { fromRoot } from '../paths.ts'
import { postgresSchema, sqliteSchema, type Schema } from './schema.ts'
import { cacheStatements, runQuietly, sqliteConnection } from './sqlite-connection.ts'

/**
 * The database handle every repository is written against. Typed as the SQLite flavour of drizzle;
 * at run time it is the PostgreSQL one when a `postgres://` URL is configured (see dialect.ts).
 * Always `await` queries; never call the SQLite-only `.get()/.all()/.run()`.
 */
export type Db = BetterSQLite3Database<Schema>

export interface Store {
  readonly dialect: 'sqlite' | 'postgres'
  readonly db: Db
  readonly tables: Schema
  /**
   * Runs `fn` in one transaction. Never nest calls, and never wait on the network inside: pass the
   * `tx` handle down instead. On SQLite, transactions are serialised (one writer at a time).
   */
  transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T>
  /**
   * Locks the rows a select reads until the transaction ends (`FOR UPDATE` on PostgreSQL; SQLite
   * transactions are already serialised). Use it for read-check-write sequences such as transitions.
   */
  forUpdate<Q>(query: Q): Q
  /**
   * Runs `fn` once the transaction `tx` belongs to has committed (not at all if it rolls back);
   * at once when `tx` is the store's own handle outside a transaction. For wake-ups of readers
   * that must see the change, never for writes.
   */
  afterCommit(tx: Db, fn: () => void): void
  /** Throws when the database cannot answer. */
  ping(): Promise<void>
  close(): Promise<void>
}

export interface StoreOptions {
  /** `postgres://…` or `postgresql://…` selects PostgreSQL; anything else is a SQLite file path (or `:memory:`). */
  url: string
  /** PostgreSQL pool size. */
  poolSize?: number
}

export const isPostgresUrl = (url: string) => /^postgres(ql)?:\/\//.test(url)

export async function openStore(options: StoreOptions): Promise<Store> {
  const store = isPostgresUrl(options.url) ? await openPostgres(options) : await openSqlite(options.url)
  try {
    await migrate(store)
  } catch (error) {
    await store.close()
    throw error
  }
  return store
}

async function openSqlite(path: string): Promise<Store> {
  const { default: Database } = await import('better-sqlite3')
  const { drizzle } = await import('drizzle-orm/better-sqlite3')
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
  const client = new Database(path)
  client.pragma('journal_mode = WAL')
  client.pragma('synchronous = NORMAL')
  client.pragma('foreign_keys = ON')
  client.pragma('busy_timeout = 5000')
  const db = drizzle({ client: cacheStatements(client), schema: sqliteSchema })
  const connection = sqliteConnection(client)
  return {
    dialect: 'sqlite',
    db,
    tables: sqliteSchema,
    transaction: (fn) => connection.transaction(() => fn(db)),
    forUpdate: (query) => query,
    afterCommit: (_tx, fn) => connection.afterCommit(fn),
    async ping() {
      client.prepare('select 1').get()
    },
    async close() {
      await connection.drained()
      if (client.open) client.close()
    },
  }
}

async function openPostgres(options: StoreOptions): Promise<Store> {
  const { default: pg } = await import('pg')
  const { drizzle } = await import('drizzle-orm/node-postgres')
  // bigint columns hold epoch milliseconds and byte counts: parse them as numbers.
  pg.types.setTypeParser(20, (value: string) => Number(value))
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: 5000,
  })
  // An idle client that loses its server must not crash the process; the next query reports it.
  pool.on('error', () => {})
  const db = drizzle({ client: pool, schema: postgresSchema }) as unknown as Db
  // Each transaction has a handle of its own: what waits for its commit hangs on it.
  const committed = new WeakMap<Db, Array<() => void>>()
  return {
    dialect: 'postgres',
    db,
    tables: postgresSchema,
    async transaction(fn) {
      const callbacks: Array<() => void> = []
      const result = await (db as unknown as { transaction<T>(f: (tx: Db) => Promise<T>): Promise<T> }).transaction((tx) => {
        committed.set(tx, callbacks)
        return fn(tx)
      })
      callbacks.forEach(runQuietly)
      return result
    },
    afterCommit(tx, fn) {
      const callbacks = committed.get(tx)
      if (callbacks) callbacks.push(fn)
      else fn()
    },
    forUpdate: (query) => (query as unknown as { for(strength: 'update'): unknown }).for('update') as typeof query,
    async ping() {
      await (db as unknown as { execute(q: unknown): Promise<unknown> }).execute(sql`select 1`)
    },
    async close() {
      await pool.end()
    },
  }
}

async function migrate(store: Store) {
  if (store.dialect === 'sqlite') {
    const { migrate } = await import('drizzle-orm/better-sqlite3/migrator')
    migrate(store.db, { migrationsFolder: fromRoot('connector/store/migrations/sqlite') })
  } else {
    const { migrate } = await import('drizzle-orm/node-postgres/migrator')
    await migrate(store.db as never, { migrationsFolder: fromRoot('connector/store/migrations/postgres') })
  }
}
