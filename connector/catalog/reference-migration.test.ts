import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { generatedDataset } from '../../test/support/catalog-fixtures.ts'
import { createTestDatabase, dialects, type TestDatabase } from '../../test/support/stores.ts'
import { fromRoot } from '../paths.ts'
import { openStore } from '../store/store.ts'
import { databaseCatalogRows } from './catalog-repository.ts'

const tag = 'catalog_policy_and_file_refs'

/** The shipped migrations without the one that adds the reference tables: the schema a database had before it. */
function migrationsBefore(dialect: 'sqlite' | 'postgres') {
  const folder = mkdtempSync(join(tmpdir(), 'passerelle-migrations-'))
  cpSync(fromRoot(`connector/store/migrations/${dialect}`), folder, { recursive: true })
  const journalFile = join(folder, 'meta', '_journal.json')
  const journal = JSON.parse(readFileSync(journalFile, 'utf8')) as { entries: Array<{ tag: string }> }
  const at = journal.entries.findIndex((e) => e.tag.endsWith(tag))
  expect(at).toBeGreaterThan(0)
  journal.entries = journal.entries.slice(0, at)
  writeFileSync(journalFile, JSON.stringify(journal))
  return folder
}

const csv = { mediaType: 'text/csv', byteSize: 10, sha256: 'c'.repeat(64) }
const named = generatedDataset(1, {
  policies: ['offer-a', 'offer-b'],
  visibility: 'members',
  distributions: [
    { ...csv, file: './files/old.csv' },
    { mediaType: 'text/csv', folder: 'files/archive/' },
  ],
})
const plain = generatedDataset(2, { policies: ['offer-a'] })
const third = generatedDataset(3, { policies: ['offer-a'] })

// A database written before the reference tables: its datasets' references are filled by the migration.
describe.each(dialects)('the policy and file references migration on %s', (dialect) => {
  const cleanups: Array<() => Promise<void> | void> = []
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup()
  })

  it('fills the references of the datasets already stored', async () => {
    const database: TestDatabase = await createTestDatabase(dialect)
    cleanups.push(() => database.drop())
    const folder = migrationsBefore(dialect)
    cleanups.push(() => rmSync(folder, { recursive: true, force: true }))
    const rows = [
      { id: named.id, description: JSON.stringify(named), refs: 'offer-a\noffer-b\nmembers' },
      { id: plain.id, description: JSON.stringify(plain), refs: 'offer-a' },
      { id: third.id, description: JSON.stringify(third), refs: 'offer-a' },
    ]
    if (dialect === 'sqlite') {
      const { default: Database } = await import('better-sqlite3')
      const { drizzle } = await import('drizzle-orm/better-sqlite3')
      const { migrate } = await import('drizzle-orm/better-sqlite3/migrator')
      const sqlite = new Database(database.url)
      migrate(drizzle(sqlite), { migrationsFolder: folder })
      const insert = sqlite.prepare('INSERT INTO catalog_datasets (id, description, created_at, updated_at, policy_refs) VALUES (?, ?, 1, 1, ?)')
      for (const r of rows) insert.run(r.id, r.description, r.refs)
      sqlite.close()
    } else {
      const { default: pg } = await import('pg')
      const { drizzle } = await import('drizzle-orm/node-postgres')
      const { migrate } = await import('drizzle-orm/node-postgres/migrator')
      const pool = new pg.Pool({ connectionString: database.url, max: 1 })
      await migrate(drizzle(pool), { migrationsFolder: folder })
      for (const r of rows)
        await pool.query('INSERT INTO catalog_datasets (id, description, created_at, updated_at, policy_refs) VALUES ($1, $2, 1, 1, $3)', [
          r.id,
          r.description,
          r.refs,
        ])
      await pool.end()
    }

    const store = await openStore({ url: database.url, poolSize: 1 })
    try {
      const catalogRows = databaseCatalogRows(store)
      expect(Object.fromEntries(await catalogRows.policyUsage(['offer-a', 'offer-b', 'members', 'other'], 2))).toEqual({
        'offer-a': { ids: [named.id, plain.id], total: 3 },
        'offer-b': { ids: [named.id], total: 1 },
        members: { ids: [named.id], total: 1 },
        other: { ids: [], total: 0 },
      })
      expect(await catalogRows.fileUsage(['files/old.csv'], 10)).toEqual({ ids: [named.id], total: 1 })
      expect(await catalogRows.fileUsage(['files/archive'], 10)).toEqual({ ids: [named.id], total: 1 })
    } finally {
      await store.close()
    }
  })
})
