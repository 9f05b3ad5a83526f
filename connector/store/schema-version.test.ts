import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { createTestDatabase, dialects, type TestDatabase } from '../../test/support/stores.ts'
import { DatabaseOpenError, openStore } from './store.ts'
import { shippedMigrations } from './schema-version.ts'

/** Runs one statement on the raw database (what a newer Passerelle would have written, or a check). */
async function raw(url: string, dialect: 'sqlite' | 'postgres', text: string): Promise<Array<Record<string, unknown>>> {
  if (dialect === 'sqlite') {
    const { default: Database } = await import('better-sqlite3')
    const db = new Database(url)
    try {
      const statement = db.prepare(text)
      return statement.reader ? (statement.all() as Array<Record<string, unknown>>) : (statement.run(), [])
    } finally {
      db.close()
    }
  }
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query(text)).rows
  } finally {
    await client.end()
  }
}

const table = (dialect: 'sqlite' | 'postgres') => (dialect === 'sqlite' ? '__drizzle_migrations' : 'drizzle.__drizzle_migrations')

/** What a newer Passerelle leaves behind: one more migration recorded than this version ships. */
async function recordNewerMigration(url: string, dialect: 'sqlite' | 'postgres') {
  const store = await openStore({ url })
  await store.close()
  const newest = shippedMigrations(dialect).newest + 86_400_000
  await raw(url, dialect, `insert into ${table(dialect)} (hash, created_at) values ('from-a-newer-version', ${newest})`)
}

describe.each(dialects)('schema versions on %s', (dialect) => {
  let database: TestDatabase | undefined
  afterEach(async () => {
    await database?.drop()
    database = undefined
  })

  it('opens a database this version migrated, again and again (forward-only migrations applied once)', async () => {
    database = await createTestDatabase(dialect)
    for (let i = 0; i < 2; i++) {
      const store = await openStore({ url: database.url })
      expect((await store.health()).migrations).toEqual({ applied: shippedMigrations(dialect).count, expected: shippedMigrations(dialect).count })
      await store.close()
    }
  })

  it('refuses a database a newer version migrated, saying so and what to do, and leaves it unchanged', async () => {
    database = await createTestDatabase(dialect)
    await recordNewerMigration(database.url, dialect)
    const error = await openStore({ url: database.url }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(DatabaseOpenError)
    expect((error as DatabaseOpenError).reason).toBe('schema-too-new')
    expect((error as Error).message).toMatch(
      new RegExp(
        `the database schema is newer than this Passerelle .* version ${shippedMigrations(dialect).count + 1} in the database, ${shippedMigrations(dialect).count} here`,
      ),
    )
    expect((error as Error).message).toContain('restore a backup taken before the upgrade')
    const rows = await raw(database.url, dialect, `select count(*) as count from ${table(dialect)}`)
    expect(Number(rows[0]!.count)).toBe(shippedMigrations(dialect).count + 1)
  })
})
