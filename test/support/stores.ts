import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { openStore, type Store } from '../../connector/store/store.ts'

/** Both databases every repository is tested against. */
export const dialects = ['sqlite', 'postgres'] as const
export type Dialect = (typeof dialects)[number]

/** The PostgreSQL server tests use; each test store gets a database of its own on it. */
export const postgresAdminUrl = process.env.PASSERELLE_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

export interface TestDatabase {
  url: string
  drop(): Promise<void>
}

/** A fresh, empty database: a SQLite file in a temporary folder, or a new PostgreSQL database. */
export async function createTestDatabase(dialect: Dialect): Promise<TestDatabase> {
  const name = `passerelle_test_${process.pid}_${randomBytes(4).toString('hex')}`
  if (dialect === 'sqlite') {
    const { mkdtempSync, rmSync } = await import('node:fs')
    const { tmpdir } = await import('node:os')
    const { join } = await import('node:path')
    const dir = mkdtempSync(join(tmpdir(), 'passerelle-test-'))
    return { url: join(dir, `${name}.db`), drop: async () => rmSync(dir, { recursive: true, force: true }) }
  }
  await adminQuery(`CREATE DATABASE ${name}`)
  const url = new URL(postgresAdminUrl)
  url.pathname = `/${name}`
  return { url: url.toString(), drop: () => adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) }
}

/** A migrated store on a fresh database; `close()` also drops the database. */
export async function createTestStore(dialect: Dialect): Promise<Store & { url: string }> {
  const database = await createTestDatabase(dialect)
  const store = await openStore({ url: database.url, poolSize: 4 })
  return {
    ...store,
    url: database.url,
    async close() {
      await store.close()
      await database.drop()
    },
  }
}

async function adminQuery(text: string) {
  const client = new pg.Client({ connectionString: postgresAdminUrl })
  await client.connect()
  try {
    await client.query(text)
  } finally {
    await client.end()
  }
}
