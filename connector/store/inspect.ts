import { existsSync } from 'node:fs'
import { packageVersion } from '../version.ts'
import { postgresOpenError } from './database-errors.ts'
import { type AppliedMigrations, checkSchemaVersion, shippedMigrations } from './schema-version.ts'
import { isPostgresUrl } from './store.ts'

export interface DatabaseState {
  /** False for a SQLite file the connector has not created yet. */
  exists: boolean
  /** Schema versions: migrations recorded in the database, and shipped by this version. */
  applied: number
  shipped: number
}

/**
 * Looks at the database without changing it (no migration, no lock): reachable, and its schema
 * version against this version's. Failures are DatabaseOpenError with one line saying what to do.
 */
export async function inspectDatabase(url: string): Promise<DatabaseState> {
  const dialect = isPostgresUrl(url) ? 'postgres' : 'sqlite'
  const shipped = shippedMigrations(dialect).count
  let applied: AppliedMigrations | undefined
  if (dialect === 'sqlite') {
    if (url === ':memory:' || !existsSync(url)) return { exists: false, applied: 0, shipped }
    const { default: Database } = await import('better-sqlite3')
    const db = new Database(url, { readonly: true, fileMustExist: true })
    try {
      const table = db.prepare("select name from sqlite_master where type = 'table' and name = '__drizzle_migrations'").get()
      if (table) {
        const row = db.prepare('select count(*) as count, max(created_at) as newest from __drizzle_migrations').get() as {
          count: number
          newest: number | null
        }
        applied = { count: row.count, newest: Number(row.newest ?? 0) }
      }
    } finally {
      db.close()
    }
  } else {
    const { default: pg } = await import('pg')
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000, query_timeout: 5000 })
    client.on('error', () => {})
    try {
      await client.connect()
      const table = await client.query<{ name: string | null }>("select to_regclass('drizzle.__drizzle_migrations')::text as name")
      if (table.rows[0]?.name) {
        const row = (
          await client.query<{ count: string; newest: string | null }>('select count(*) as count, max(created_at) as newest from drizzle.__drizzle_migrations')
        ).rows[0]!
        applied = { count: Number(row.count), newest: Number(row.newest ?? 0) }
      }
    } catch (error) {
      throw postgresOpenError(error, url)
    } finally {
      await client.end().catch(() => {})
    }
  }
  checkSchemaVersion(dialect, applied, packageVersion)
  return { exists: true, applied: applied?.count ?? 0, shipped }
}
