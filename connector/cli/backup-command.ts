import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { ConfigError, loadConfig, type Config } from '../config/config.ts'
import { sqliteFile } from '../private-places.ts'
import { BackupError, backupPostgres, backupSqlite, restorePostgres, restoreSqlite } from '../store/backup.ts'
import { packageVersion } from '../version.ts'
import { UsageError, type CliIo } from './io.ts'
import { findConfigFile } from './participant-config.ts'
import { backupHelp, restoreHelp } from './command-help.ts'

function configOf(values: { config?: string | undefined }, io: CliIo): Config {
  try {
    return loadConfig(findConfigFile(values.config, io), { env: io.env })
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(error.message, 2)
    throw error
  }
}

const stamp = () =>
  new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')

export async function runBackupCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string' }, output: { type: 'string' }, help: { type: 'boolean' } }, strict: true })
  if (values.help) {
    io.stdout(backupHelp)
    return 0
  }
  const config = configOf(values, io)
  const database = sqliteFile(config)
  const output = resolve(io.cwd, values.output ?? `passerelle-backup-${stamp()}.${database ? 'db' : 'pgdump'}`)
  try {
    if (database) {
      const { bytes } = await backupSqlite(database, output)
      io.stdout(`backed up ${database} to ${output} (${bytes} bytes, SQLite online backup)`)
    } else {
      const { bytes } = backupPostgres(config.database.url, output)
      io.stdout(`backed up the PostgreSQL database to ${output} (${bytes} bytes, pg_dump custom format)`)
    }
  } catch (error) {
    if (error instanceof BackupError) throw new UsageError(error.message, 1)
    throw error
  }
  io.stdout('keep a copy of the participant folder too (configuration, keys, dataset and policy files)')
  return 0
}

export async function runRestoreCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { config: { type: 'string' }, force: { type: 'boolean' }, help: { type: 'boolean' } },
    allowPositionals: true,
    strict: true,
  })
  if (values.help) {
    io.stdout(restoreHelp)
    return 0
  }
  if (positionals.length !== 1) throw new UsageError('name one backup file (see passerelle restore --help)')
  const backup = resolve(io.cwd, positionals[0]!)
  const config = configOf(values, io)
  const database = sqliteFile(config)
  try {
    if (database) {
      const { keptAside } = await restoreSqlite({ backup, database, replace: values.force === true, version: packageVersion })
      io.stdout(`restored ${backup} to ${database}${keptAside ? ` (the database that was there is kept as ${keptAside})` : ''}`)
    } else {
      if (!values.force) throw new BackupError('restoring replaces every table of the configured PostgreSQL database: stop every replica, then pass --force')
      restorePostgres(config.database.url, backup)
      io.stdout(`restored ${backup} into the PostgreSQL database`)
    }
  } catch (error) {
    if (error instanceof BackupError) throw new UsageError(error.message, 1)
    throw error
  }
  io.stdout('start the connector: migrations bring the restored database up to this version')
  return 0
}
