import { mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { sql } from 'drizzle-orm'
import type { BetterSQLite3Database } from 'drizzle-orm/better-sqlite3'
import { fromRoot } from '../paths.ts'
import { postgresSchema, sqliteSchema, type Schema } from './schema.ts'
import { cacheStatements, sqliteConnection } from './sqlite-connection.ts'
import { groupCommit, type TransactionOptions } from './group-commit.ts'
import { lockSqliteFile } from './sqlite-lock.ts'
import { markDatabaseError } from './availability.ts'
import { randomUUID } from 'node:crypto'
import { localSignals, postgresSignals, type Signals } from './signals.ts'

import { packageVersion } from '../version.ts'
import { postgresOpenError } from './database-errors.ts'
import { type AppliedMigrations, checkSchemaVersion, shippedMigrations } from './schema-version.ts'

export { isDatabaseUnavailable } from './availability.ts'
export { DatabaseOpenError } from './database-errors.ts'
export { DatabaseInUseError } from './sqlite-lock.ts'
export type { TransactionOptions } from './group-commit.ts'

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
   * `key` names what it locks (a process id): on PostgreSQL, transactions of one key never hold
   * their locks in two batches at once, so they cannot deadlock each other (group-commit.ts).
   */
  transaction<T>(fn: (tx: Db) => Promise<T>, options?: TransactionOptions): Promise<T>
  /** `transaction(fn, { key })`: a transaction that changes the one process `key` names. */
  transactionFor<T>(key: string, fn: (tx: Db) => Promise<T>): Promise<T>
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
  /**
   * Holds `item` for the end of the transaction `tx` belongs to, with the others held under `key`
   * in it: once the transaction's own work is done, `flush` gets them together, inside it, just
   * before the commit (a failure there rolls the transaction back). Outside a transaction `flush`
   * runs at once with this item alone. For writes that lock a row every transaction shares (the
   * audit chain's head): taken once per transaction, and held only until its commit. `early`
   * writes (that lock nothing shared, such as outbox rows) are flushed before the others.
   */
  deferToCommit<T>(tx: Db, key: object, item: T, flush: (tx: Db, items: T[]) => Promise<void>, options?: { early?: boolean }): Promise<void>
  /**
   * Wake-ups for the other replicas on the same database (PostgreSQL LISTEN/NOTIFY; nothing to do
   * on SQLite, which one process holds). Publish after the commit the others must see.
   */
  readonly signals: Signals
  /**
   * The handle background workers (the outbox) run their own statements on, outside transactions:
   * on PostgreSQL a small pool of its own, so that claims and outcome marks never queue behind the
   * requests' transactions; on SQLite the one connection (`db`).
   */
  readonly workerDb: Db
  /** Throws when the database cannot answer. */
  ping(): Promise<void>
  /**
   * Readiness: the database answers within `timeoutMs` and has every migration this version ships
   * applied. Throws when it cannot answer.
   */
  health(timeoutMs?: number): Promise<{ migrations: { applied: number; expected: number } }>
  close(): Promise<void>
}

export interface StoreOptions {
  /** `postgres://…` or `postgresql://…` selects PostgreSQL; anything else is a SQLite file path (or `:memory:`). */
  url: string
  /** PostgreSQL pool size. */
  poolSize?: number
  /**
   * SQLite: refuse to open a file another process has open (a lock file beside it, see
   * sqlite-lock.ts). The connector asks for it; read-only commands do not.
   */
  exclusive?: boolean
  /** Told when a PostgreSQL connection fails outside a query (server restart, cut network). */
  onConnectionError?: (error: Error) => void
}

/**
 * PostgreSQL: batches of transactions running at once (each holds a connection of the pool). Every
 * batch ends by taking the audit chain's head until its commit, so batches commit one after the
 * other: two lanes let one gather jobs while the other commits; more only make smaller batches
 * that wait for the head (bench/RESULTS.md, negotiation: 4 lanes spent 3–6 times as long waiting).
 */
const transactionLanes = 2

export const isPostgresUrl = (url: string) => /^postgres(ql)?:\/\//.test(url)

export async function openStore(options: StoreOptions): Promise<Store> {
  const postgres = isPostgresUrl(options.url)
  const store = postgres ? await openPostgres(options) : await openSqlite(options)
  try {
    checkSchemaVersion(store.dialect, await appliedMigrations(store), packageVersion)
    await migrate(store)
  } catch (error) {
    await store.close().catch(() => {})
    throw postgres ? postgresOpenError(error, options.url) : error
  }
  return store
}

/** The migrations recorded in the database; undefined for a database never migrated. */
async function appliedMigrations(store: Store): Promise<AppliedMigrations | undefined> {
  if (store.dialect === 'sqlite') {
    const db = store.db
    const table = await db.get<{ name: string }>(sql`select name from sqlite_master where type = 'table' and name = '__drizzle_migrations'`)
    if (!table) return undefined
    const row = await db.get<{ count: number; newest: number | null }>(sql`select count(*) as count, max(created_at) as newest from __drizzle_migrations`)
    return { count: Number(row?.count ?? 0), newest: Number(row?.newest ?? 0) }
  }
  const db = store.db as unknown as { execute(q: unknown): Promise<{ rows: Array<Record<string, unknown>> }> }
  const table = await db.execute(sql`select to_regclass('drizzle.__drizzle_migrations') as name`)
  if (!table.rows[0]?.name) return undefined
  const result = await db.execute(sql`select count(*) as count, max(created_at) as newest from drizzle.__drizzle_migrations`)
  return { count: Number(result.rows[0]?.count ?? 0), newest: Number(result.rows[0]?.newest ?? 0) }
}

async function openSqlite(options: StoreOptions): Promise<Store> {
  const path = options.url
  const { default: Database } = await import('better-sqlite3')
  const { drizzle } = await import('drizzle-orm/better-sqlite3')
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
  const lock = options.exclusive && path !== ':memory:' ? lockSqliteFile(resolve(path)) : undefined
  let client: import('better-sqlite3').Database
  try {
    client = new Database(path)
  } catch (error) {
    lock?.release()
    throw error
  }
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
    transaction: (fn, transactionOptions) => connection.transaction(() => fn(db), transactionOptions),
    transactionFor: (key, fn) => connection.transaction(() => fn(db), { key }),
    forUpdate: (query) => query,
    afterCommit: (_tx, fn) => connection.afterCommit(client, fn),
    async deferToCommit(tx, key, item, flush, deferOptions) {
      if (!connection.deferToEnd(client, key, item, (items) => flush(tx, items), deferOptions?.early)) await flush(tx, [item])
    },
    signals: localSignals(),
    workerDb: db,
    async ping() {
      client.prepare('select 1').get()
    },
    async health() {
      const row = client.prepare('select count(*) as applied from __drizzle_migrations').get() as { applied: number }
      return { migrations: { applied: row.applied, expected: shippedMigrations('sqlite').count } }
    },
    async close() {
      await connection.drained()
      if (client.open) client.close()
      lock?.release()
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
    // A server that vanishes without closing its connections (a cut network) is noticed by TCP.
    keepAlive: true,
  })
  // A client that loses its server emits 'error'; unheard, that ends the process. The pool listens
  // on idle clients only, so every client gets a listener of its own from the start, including
  // those checked out and inside a transaction: their running query fails (answered 503), the pool
  // drops them on release and opens fresh ones once the server is back.
  const lost = (error: Error) => options.onConnectionError?.(error)
  pool.on('connect', (client) => client.on('error', lost))
  pool.on('error', lost)
  const db = drizzle({ client: pool, schema: postgresSchema }) as unknown as Db
  const workerPool = new pg.Pool({
    connectionString: options.url,
    max: 2,
    connectionTimeoutMillis: 5000,
    keepAlive: true,
    application_name: 'passerelle-worker',
  })
  workerPool.on('connect', (client) => client.on('error', lost))
  workerPool.on('error', lost)
  const workerDb = drizzle({ client: workerPool, schema: postgresSchema }) as unknown as Db
  const signals = postgresSignals({
    url: options.url,
    Client: pg.Client,
    replica: randomUUID(),
    query: (text, values) => pool.query(text, values),
    onError: lost,
  })
  // Group commit (group-commit.ts): a few connections of the pool at a time hold a batch of
  // transactions each; each connection's jobs write through a handle of its own.
  const handles = new WeakMap<object, Db>()
  const commits = groupCommit<Db>({
    lanes: Math.max(1, Math.min(transactionLanes, (options.poolSize ?? 10) - 1)),
    batchLimit: 64,
    openError: markDatabaseError,
    async open() {
      const client = await pool.connect()
      let handle = handles.get(client)
      if (!handle) handles.set(client, (handle = drizzle({ client, schema: postgresSchema }) as unknown as Db))
      let open = false
      return {
        handle,
        // Several statements in one text are one round trip (the simple query protocol).
        async exec(statements) {
          const begins = statements.startsWith('BEGIN')
          const ends = statements === 'COMMIT' || statements === 'ROLLBACK'
          if (begins) open = true
          try {
            await client.query(statements)
          } catch (error) {
            if (begins || ends) open = false
            throw error
          }
          if (ends) open = false
        },
        inTransaction: () => open,
        // A batch that failed as a whole may leave its connection in any state: it is not reused.
        release: (error) => client.release(error === undefined ? undefined : error instanceof Error ? error : new Error(String(error))),
      }
    },
  })
  return {
    dialect: 'postgres',
    db,
    tables: postgresSchema,
    transaction: (fn, transactionOptions) => commits.transaction(fn, transactionOptions),
    transactionFor: (key, fn) => commits.transaction(fn, { key }),
    afterCommit: (tx, fn) => commits.afterCommit(tx, fn),
    async deferToCommit(tx, key, item, flush, deferOptions) {
      if (!commits.deferToEnd(tx, key, item, (items) => flush(tx, items), deferOptions?.early)) await flush(tx, [item])
    },
    forUpdate: (query) => (query as unknown as { for(strength: 'update'): unknown }).for('update') as typeof query,
    signals,
    workerDb,
    async ping() {
      await (db as unknown as { execute(q: unknown): Promise<unknown> }).execute(sql`select 1`)
    },
    async health(timeoutMs = 2000) {
      // Its own connection, not the pool's: a pool busy with work must not make the replica unready,
      // and a dead server must not hold the answer for the pool's connection timeout.
      const client = new pg.Client({ connectionString: options.url, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs })
      client.on('error', () => {})
      try {
        await client.connect()
        const result = await client.query<{ applied: string }>('select count(*) as applied from drizzle.__drizzle_migrations')
        return { migrations: { applied: Number(result.rows[0]!.applied), expected: shippedMigrations('postgres').count } }
      } finally {
        await client.end().catch(() => {})
      }
    },
    async close() {
      await commits.drained()
      await signals.close()
      await workerPool.end()
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
