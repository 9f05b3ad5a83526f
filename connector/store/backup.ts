import { spawnSync } from 'node:child_process'
import { chmodSync, copyFileSync, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { dirname } from 'node:path'
import { shownUrl } from './database-errors.ts'
import { checkSchemaVersion, type AppliedMigrations } from './schema-version.ts'
import { lockSqliteFile } from './sqlite-lock.ts'

/**
 * Backups of the connector's database. SQLite: SQLite's online backup (pages copied while the
 * connector runs and writes; the copy is one consistent state), and a restore into the folder of a
 * stopped connector. PostgreSQL: pg_dump and pg_restore, when they are installed.
 */
export class BackupError extends Error {}

/** Copies a live SQLite database to `output` (0600: it holds the data plane's token secret). */
export async function backupSqlite(database: string, output: string): Promise<{ pages: number; bytes: number }> {
  if (!existsSync(database)) throw new BackupError(`no database at ${database}: the connector has not run yet, or database.url names another file`)
  if (existsSync(output)) throw new BackupError(`${output} exists already: choose another --output`)
  const { default: Database } = await import('better-sqlite3')
  const db = new Database(database, { fileMustExist: true })
  try {
    db.pragma('busy_timeout = 5000')
    mkdirSync(dirname(output), { recursive: true })
    const result = await db.backup(output)
    chmodSync(output, 0o600)
    return { pages: result.totalPages, bytes: statSync(output).size }
  } finally {
    db.close()
  }
}

/** The migrations recorded in a SQLite file; refuses a file that is not a Passerelle database. */
async function sqliteMigrations(file: string): Promise<AppliedMigrations> {
  const { default: Database } = await import('better-sqlite3')
  let db: import('better-sqlite3').Database
  try {
    db = new Database(file, { readonly: true, fileMustExist: true })
  } catch (error) {
    throw new BackupError(`${file} cannot be read as a SQLite database: ${(error as Error).message}`)
  }
  try {
    const check = db.pragma('quick_check', { simple: true })
    if (check !== 'ok') throw new BackupError(`${file} is damaged (SQLite quick_check: ${String(check)})`)
    const table = db.prepare("select name from sqlite_master where type = 'table' and name = '__drizzle_migrations'").get()
    if (!table) throw new BackupError(`${file} is not a Passerelle database (it has no migrations table)`)
    const row = db.prepare('select count(*) as count, max(created_at) as newest from __drizzle_migrations').get() as { count: number; newest: number | null }
    return { count: row.count, newest: Number(row.newest ?? 0) }
  } catch (error) {
    if (error instanceof BackupError) throw error
    throw new BackupError(`${file} cannot be read as a SQLite database: ${(error as Error).message}`)
  } finally {
    db.close()
  }
}

/**
 * Puts a backup in place of a stopped connector's SQLite database. Refused while a connector has
 * the database open, and over an existing database unless `replace` (which keeps it aside).
 */
export async function restoreSqlite(input: { backup: string; database: string; replace: boolean; version: string }): Promise<{ keptAside?: string }> {
  const { backup, database } = input
  if (!existsSync(backup)) throw new BackupError(`no backup at ${backup}`)
  const applied = await sqliteMigrations(backup)
  try {
    checkSchemaVersion('sqlite', applied, input.version)
  } catch (error) {
    throw new BackupError(`this backup cannot be restored by this version: ${(error as Error).message}`)
  }
  mkdirSync(dirname(database), { recursive: true, mode: 0o700 })
  // Holding the connector's own lock: a connector cannot start while the file is replaced.
  let lock: ReturnType<typeof lockSqliteFile>
  try {
    lock = lockSqliteFile(database)
  } catch (error) {
    throw new BackupError(`${(error as Error).message}: stop the connector before restoring`)
  }
  try {
    let keptAside: string | undefined
    if (existsSync(database)) {
      if (!input.replace) throw new BackupError(`a database exists at ${database}: pass --force to replace it (it is kept aside, renamed)`)
      keptAside = `${database}.before-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`
      renameSync(database, keptAside)
      for (const suffix of ['-wal', '-shm']) if (existsSync(database + suffix)) renameSync(database + suffix, keptAside + suffix)
    }
    const partial = `${database}.restoring`
    copyFileSync(backup, partial)
    chmodSync(partial, 0o600)
    renameSync(partial, database)
    for (const suffix of ['-wal', '-shm']) rmSync(database + suffix, { force: true })
    return keptAside ? { keptAside } : {}
  } finally {
    lock.release()
  }
}

/** Whether a PostgreSQL client program is on the PATH. */
export function hasProgram(name: string): boolean {
  return spawnSync(name, ['--version'], { stdio: 'ignore' }).status === 0
}

const postgresHelp = (url: string) =>
  `install the PostgreSQL client programs (Debian: apt-get install postgresql-client; their major version at least the server's), or run them where they are: pg_dump --format=custom --no-owner --file passerelle.pgdump '${shownUrl(url)}'; to restore into the database of stopped connectors: pg_restore --clean --if-exists --no-owner --single-transaction --dbname '${shownUrl(url)}' passerelle.pgdump`

/** pg_dump in its custom format (compressed, restorable table by table). */
export function backupPostgres(url: string, output: string): { bytes: number } {
  if (!hasProgram('pg_dump')) throw new BackupError(`pg_dump is not installed: ${postgresHelp(url)}`)
  if (existsSync(output)) throw new BackupError(`${output} exists already: choose another --output`)
  mkdirSync(dirname(output), { recursive: true })
  const run = spawnSync('pg_dump', ['--format=custom', '--no-owner', '--file', output, '--dbname', url], { encoding: 'utf8' })
  if (run.status !== 0) throw new BackupError(`pg_dump failed: ${(run.stderr || run.error?.message || '').trim()}`)
  chmodSync(output, 0o600)
  return { bytes: statSync(output).size }
}

/** pg_restore into the configured database (its tables dropped and recreated), in one transaction. */
export function restorePostgres(url: string, backup: string): void {
  if (!hasProgram('pg_restore')) throw new BackupError(`pg_restore is not installed: ${postgresHelp(url)}`)
  if (!existsSync(backup)) throw new BackupError(`no backup at ${backup}`)
  const run = spawnSync('pg_restore', ['--clean', '--if-exists', '--no-owner', '--single-transaction', '--dbname', url, backup], { encoding: 'utf8' })
  if (run.status !== 0) throw new BackupError(`pg_restore failed: ${(run.stderr || run.error?.message || '').trim()}`)
}
