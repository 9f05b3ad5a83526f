import { readFileSync } from 'node:fs'
import { fromRoot } from '../paths.ts'
import { DatabaseOpenError } from './database-errors.ts'

/**
 * Schema versions. Migrations are forward-only: each one is a numbered SQL file generated from the
 * schema and committed (connector/store/migrations/<dialect>/), applied in order at start-up and
 * recorded in the database (`__drizzle_migrations`: its hash and its creation time). There are no
 * down-migrations; going back means restoring a backup. The schema version is the number of
 * migrations applied. A database migrated by a newer Passerelle is never opened by an older one,
 * which would not know its tables and could damage them.
 */
export interface ShippedMigrations {
  count: number
  /** Creation time of the newest migration this version ships (drizzle's `folderMillis`). */
  newest: number
}

const shipped = new Map<string, ShippedMigrations>()
export function shippedMigrations(dialect: 'sqlite' | 'postgres'): ShippedMigrations {
  let known = shipped.get(dialect)
  if (!known) {
    const journal = JSON.parse(readFileSync(fromRoot(`connector/store/migrations/${dialect}/meta/_journal.json`), 'utf8')) as {
      entries: Array<{ when: number }>
    }
    known = { count: journal.entries.length, newest: Math.max(0, ...journal.entries.map((e) => e.when)) }
    shipped.set(dialect, known)
  }
  return known
}

export interface AppliedMigrations {
  count: number
  newest: number
}

/** Refuses a database whose schema is newer than this version knows. */
export function checkSchemaVersion(dialect: 'sqlite' | 'postgres', applied: AppliedMigrations | undefined, version: string) {
  if (!applied) return
  const known = shippedMigrations(dialect)
  if (applied.count > known.count || applied.newest > known.newest)
    throw new DatabaseOpenError(
      `the database schema is newer than this Passerelle (${version}) knows: version ${applied.count} in the database, ${known.count} here (a newer Passerelle migrated it); run that newer version, or restore a backup taken before the upgrade (migrations are forward-only)`,
      'schema-too-new',
    )
}
