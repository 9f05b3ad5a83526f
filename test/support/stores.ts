import { createHash, randomBytes } from 'node:crypto'
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { fromRoot } from '../../connector/paths.ts'
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

const uniqueName = () => `passerelle_test_${process.pid}_${randomBytes(4).toString('hex')}`

/** A fresh, empty database (never migrated): a SQLite file in a temporary folder, or a new PostgreSQL database. */
export async function createTestDatabase(dialect: Dialect): Promise<TestDatabase> {
  if (dialect === 'sqlite') return sqliteFile()
  const name = uniqueName()
  await adminQuery(`CREATE DATABASE ${name}`)
  return postgresDatabase(name)
}

/**
 * A migrated store on a fresh database; `close()` also drops the database. The database is a copy
 * of one migrated once (per migration set, see `migratedTemplate`): applying every migration again
 * took about a second per PostgreSQL store, and the unit tests open hundreds of them.
 */
export async function createTestStore(dialect: Dialect): Promise<Store & { url: string }> {
  const database = dialect === 'sqlite' ? await sqliteCopy() : await postgresCopy()
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

function sqliteFile(): TestDatabase {
  const dir = mkdtempSync(join(tmpdir(), 'passerelle-test-'))
  return { url: join(dir, `${uniqueName()}.db`), drop: async () => rmSync(dir, { recursive: true, force: true }) }
}

function postgresDatabase(name: string): TestDatabase {
  const url = new URL(postgresAdminUrl)
  url.pathname = `/${name}`
  return { url: url.toString(), drop: () => adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) }
}

/** The migrations of a dialect, hashed: a template database is reused only for the same set. */
function migrationsHash(dialect: Dialect): string {
  const folder = fromRoot(`connector/store/migrations/${dialect}`)
  const hash = createHash('sha256')
  for (const name of readdirSync(folder).sort()) if (name.endsWith('.sql')) hash.update(name).update(readFileSync(join(folder, name)))
  hash.update(readFileSync(join(folder, 'meta', '_journal.json')))
  return hash.digest('hex').slice(0, 16)
}

/** A migrated SQLite file of this test process, copied for each store. */
let sqliteTemplate: Promise<string> | undefined

async function sqliteCopy(): Promise<TestDatabase> {
  sqliteTemplate ??= (async () => {
    const template = sqliteFile()
    // Closed after migrating: the file alone holds the schema (WAL checkpointed on close).
    await (await openStore({ url: template.url })).close()
    process.once('exit', () => void template.drop())
    return template.url
  })()
  const template = await sqliteTemplate
  const copy = sqliteFile()
  copyFileSync(template, copy.url)
  return copy
}

/**
 * A new PostgreSQL database copied from a migrated template (`CREATE DATABASE … TEMPLATE`). The
 * template is named by the hash of the migrations and shared by every test process on the server:
 * the first to need it builds it under a name of its own and renames it when it is complete, so a
 * copy is never made of a half-migrated database. Should the template be unusable (someone is
 * connected to it), the store is migrated from scratch as before.
 */
async function postgresCopy(): Promise<TestDatabase> {
  const template = `passerelle_template_${migrationsHash('postgres')}`
  const name = uniqueName()
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await adminQuery(`CREATE DATABASE ${name} TEMPLATE ${template}`)
      return postgresDatabase(name)
    } catch (error) {
      const code = (error as { code?: string }).code
      if (code === '3D000') await buildPostgresTemplate(template)
      else if (code !== '55006') throw error
    }
  }
  await adminQuery(`CREATE DATABASE ${name}`)
  return postgresDatabase(name)
}

async function buildPostgresTemplate(template: string) {
  const building = uniqueName()
  await adminQuery(`CREATE DATABASE ${building}`)
  const database = postgresDatabase(building)
  await (await openStore({ url: database.url, poolSize: 1 })).close()
  for (let attempt = 0; ; attempt++) {
    try {
      await adminQuery(`ALTER DATABASE ${building} RENAME TO ${template}`)
      return
    } catch (error) {
      const code = (error as { code?: string }).code
      // Another test process finished its template first: use that one.
      if (code === '42P04') return database.drop()
      // The migrating connection may take a moment to end on the server.
      if (code !== '55006' || attempt >= 50) {
        await database.drop()
        throw error
      }
      await new Promise((r) => setTimeout(r, 20))
    }
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
