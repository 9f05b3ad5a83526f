import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { copyParticipant, freePort, type ParticipantFolder, spawnCli } from '../support/processes.ts'
import { postgresAdminUrl } from '../support/stores.ts'

/**
 * A PostgreSQL URL that cannot be used stops `passerelle start` with one line naming the cause and
 * what to do, never the driver's wrapped "Failed query: CREATE SCHEMA …".
 */
describe('passerelle start with a PostgreSQL database it cannot use', () => {
  let folder: ParticipantFolder
  const suffix = randomBytes(4).toString('hex')
  const role = `passerelle_test_role_${suffix}`
  const database = `passerelle_test_locked_${suffix}`
  const admin = async (text: string) => {
    const client = new pg.Client({ connectionString: postgresAdminUrl })
    await client.connect()
    try {
      await client.query(text)
    } finally {
      await client.end()
    }
  }
  const urlFor = (user: string, name: string, port = new URL(postgresAdminUrl).port || '5432') =>
    `postgres://${user}@${new URL(postgresAdminUrl).hostname}:${port}/${name}`

  beforeAll(async () => {
    folder = await copyParticipant()
    // A database the role may connect to but not create anything in (PostgreSQL 15 and later).
    await admin(`CREATE ROLE ${role} LOGIN`)
    await admin(`CREATE DATABASE ${database}`)
    await admin(`REVOKE CREATE ON DATABASE ${database} FROM PUBLIC`)
  })
  afterAll(async () => {
    folder?.remove()
    await admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
    await admin(`DROP ROLE IF EXISTS ${role}`)
  })

  const start = async (url: string) => {
    const run = spawnCli({ args: ['start', '--config', folder.configFile], env: { PASSERELLE_DATABASE_URL: url, PASSERELLE_LOG_LEVEL: 'error' } })
    const code = await run.exited
    const lines = run.output.filter((line) => line.startsWith('passerelle start:'))
    expect(run.output.join('\n')).not.toContain('Failed query')
    expect(lines).toHaveLength(1)
    return { code, line: lines[0]! }
  }

  it('a missing database: named, with the command that creates it', async () => {
    const missing = `passerelle_test_missing_${suffix}`
    const { code, line } = await start(urlFor('postgres', missing))
    expect(code).toBe(1)
    expect(line).toMatch(new RegExp(`cannot start: PostgreSQL database "${missing}" does not exist on .*: create it \\(createdb `))
  })

  it('a login the server refuses: the user named, and where to look', async () => {
    const { code, line } = await start(urlFor(`nobody_${suffix}`, 'postgres'))
    expect(code).toBe(1)
    expect(line).toMatch(
      new RegExp(`PostgreSQL refused the login of user "nobody_${suffix}" .*check the user and password in the URL and the server's pg_hba.conf`),
    )
  })

  it('a server nobody listens on: unreachable, with its address', async () => {
    const port = await freePort()
    const { code, line } = await start(urlFor('postgres', 'postgres', String(port)))
    expect(code).toBe(1)
    expect(line).toMatch(new RegExp(`PostgreSQL server 127.0.0.1:${port} cannot be reached \\(ECONNREFUSED\\)`))
  })

  it('a user without the right to create its tables: permission denied, with the grant to give', async () => {
    const { code, line } = await start(urlFor(role, database))
    expect(code).toBe(1)
    expect(line).toMatch(
      new RegExp(`PostgreSQL user "${role}" lacks a permission on "${database}" \\(permission denied for database ${database}\\).*GRANT CREATE ON DATABASE`),
    )
  })

  it('a password in the URL is never printed', async () => {
    const { line } = await start(`postgres://nobody_${suffix}:s3cret-password@127.0.0.1:${await freePort()}/postgres`)
    expect(line).not.toContain('s3cret-password')
    expect(line).toContain('***')
  })
})
