import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, realpathSync, statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { absolute, type Config } from './config/config.ts'
import { isPostgresUrl } from './store/store.ts'

/**
 * The participant's private places: runtime state and secrets. They are kept readable by their
 * owner only (folders 0700, files 0600) and are never published, even when the files root holds them.
 */
export interface PrivatePlace {
  path: string
  /** What it is, for messages: "the database (it holds the data plane's token secret)". */
  what: string
  kind: 'folder' | 'file'
  /** The mode it must have at most; none for places that are only never published. */
  mode?: 0o700 | 0o600
}

export function privatePlaces(config: Config): PrivatePlace[] {
  const places: PrivatePlace[] = [{ path: config.dataDir, what: 'the data folder (database, received data)', kind: 'folder', mode: 0o700 }]
  const database = sqliteFile(config)
  if (database) {
    places.push({ path: database, what: "the database (it holds the data plane's token secret)", kind: 'file', mode: 0o600 })
    for (const suffix of ['-wal', '-shm']) places.push({ path: database + suffix, what: `the database's ${suffix.slice(1)} file`, kind: 'file', mode: 0o600 })
  }
  for (const key of config.identity.keyFiles) {
    const path = absolute(config.root, key)
    places.push({ path, what: 'a private identity key', kind: 'file', mode: 0o600 })
    // The key's own folder, unless the key sits in the participant folder itself.
    if (dirname(path) !== resolve(config.root)) places.push({ path: dirname(path), what: 'the identity folder', kind: 'folder' })
  }
  // Keys added by `passerelle keys rotate` sit in a folder beside the key schedule.
  const schedule = absolute(config.root, config.identity.keySchedule)
  places.push({ path: schedule, what: 'the key schedule', kind: 'file', mode: 0o600 })
  places.push({ path: resolve(dirname(schedule), 'keys'), what: 'the folder of rotated identity keys', kind: 'folder', mode: 0o700 })
  const configFile = config.configFile ?? resolve(config.root, 'passerelle.yaml')
  places.push({ path: configFile, what: 'the configuration', kind: 'file', ...(holdsManagementKey(config, configFile) ? { mode: 0o600 as const } : {}) })
  for (const file of config.identity.credentialFiles) places.push({ path: absolute(config.root, file), what: 'a held credential', kind: 'file' })
  return places
}

/** The folder distributions must stay within. */
export const filesRoot = (config: Config) => absolute(config.root, config.catalog.filesDir)

/** What the catalog and the data plane need to confine distributions: the files root and the places never published. */
export const distributionFiles = (config: Config) => ({
  root: filesRoot(config),
  private: privatePlaces(config).map(({ path, what }) => ({ path, what })),
})

/** The SQLite database file, when the store is a SQLite file. */
export function sqliteFile(config: Config): string | undefined {
  const url = config.database.url
  return isPostgresUrl(url) || url === ':memory:' ? undefined : resolve(config.root, url)
}

function holdsManagementKey(config: Config, configFile: string): boolean {
  const key = config.management.apiKey
  if (!key) return false
  try {
    return readFileSync(configFile, 'utf8').includes(key)
  } catch {
    return false
  }
}

/** A mode this module changed, or could not change. */
export interface ModeChange {
  path: string
  what: string
  from: number
  to: number
  /** Set when the change failed (e.g. the file belongs to another user). */
  error?: string
}

/**
 * Creates the data folder (0700) and the SQLite database (0600: SQLite gives its -wal and -shm files
 * the database's mode) when missing, and narrows the modes of private places that exist with looser
 * ones. Key files are not changed here: a loose key that is not dev-only is refused when loaded (it
 * may have been read already; the operator must decide). Returns what it changed, for a warning.
 */
export function securePrivatePlaces(config: Config): ModeChange[] {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 })
  const database = sqliteFile(config)
  if (database && !existsSync(database)) {
    mkdirSync(dirname(database), { recursive: true, mode: 0o700 })
    closeSync(openSync(database, 'a', 0o600))
  }
  const changes: ModeChange[] = []
  for (const place of privatePlaces(config)) {
    if (!place.mode || place.what === 'a private identity key') continue
    let mode: number
    try {
      mode = statSync(place.path).mode & 0o777
    } catch {
      continue
    }
    if ((mode & ~place.mode) === 0) continue
    try {
      chmodSync(place.path, place.mode)
      changes.push({ path: place.path, what: place.what, from: mode, to: place.mode })
    } catch (error) {
      changes.push({ path: place.path, what: place.what, from: mode, to: place.mode, error: (error as NodeJS.ErrnoException).code ?? String(error) })
    }
  }
  return changes
}

export const octal = (mode: number) => mode.toString(8).padStart(4, '0')

/** The real path when it exists, else the path as given (a place not created yet). */
export function realOrGiven(path: string): string {
  try {
    return realpathSync(path)
  } catch {
    return resolve(path)
  }
}
