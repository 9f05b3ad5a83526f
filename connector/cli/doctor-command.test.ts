import { chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { parse, stringify } from 'yaml'
import { freePort } from '../../test/support/processes.ts'
import { openStore } from '../store/store.ts'
import { shippedMigrations } from '../store/schema-version.ts'
import type { CliIo } from './io.ts'
import { runCli } from './main.ts'

let dirs: string[] = []
afterEach(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
  dirs = []
})

function io(cwd: string) {
  const lines: string[] = []
  const captured: CliIo = { stdout: (t) => lines.push(t), stderr: (t) => lines.push(t), cwd, env: {} }
  return { io: captured, text: () => lines.join('\n') }
}

async function initialised(port?: number) {
  const parent = mkdtempSync(join(tmpdir(), 'doctor-'))
  dirs.push(parent)
  const dir = join(parent, 'participant')
  expect(await runCli(['init', dir, ...(port ? ['--host', '127.0.0.1', '--port', String(port)] : [])], io(parent).io)).toBe(0)
  return dir
}

function editConfig(dir: string, edit: (config: Record<string, any>) => void) {
  const file = join(dir, 'passerelle.yaml')
  const config = parse(readFileSync(file, 'utf8')) as Record<string, any>
  edit(config)
  writeFileSync(file, stringify(config), { mode: 0o600 })
}

/** A JWT as an issuer hands it out; only its payload matters to the expiry check. */
const jwt = (payload: Record<string, unknown>) =>
  `${[{ alg: 'EdDSA', typ: 'JWT' }, payload].map((part) => Buffer.from(JSON.stringify(part)).toString('base64url')).join('.')}.c2lnbmF0dXJl`

let servers: Server[] = []
afterEach(() => {
  for (const server of servers) server.close()
  servers = []
})

describe('passerelle doctor', () => {
  it('finds nothing wrong in a folder passerelle init made, and exits 0', async () => {
    const dir = await initialised()
    const out = io(dir)
    expect(await runCli(['doctor'], out.io)).toBe(0)
    expect(out.text()).toContain('ok       the configuration is valid')
    expect(out.text()).toContain('ok       identity/private-key.jwk: a private identity key, mode 0600')
    expect(out.text()).toContain('ok       passerelle.yaml: the configuration, mode 0600')
    expect(out.text()).toContain('no problem found')
  })

  it('reports an invalid configuration with the key it names, and exits 1', async () => {
    const dir = await initialised()
    writeFileSync(join(dir, 'passerelle.yaml'), 'participant: { id: x, name: y }\nserver: { port: eighty }\n')
    const out = io(dir)
    expect(await runCli(['doctor'], out.io)).toBe(1)
    expect(out.text()).toMatch(/PROBLEM {2}invalid configuration key server\.port/)
    expect(out.text()).toContain('1 problem found')
  })

  it.skipIf(process.getuid?.() !== 0)('reports a key owned by another user with the chown to run', async () => {
    const dir = await initialised()
    const key = join(dir, 'identity/private-key.jwk')
    chownSync(key, 4242, 4242)
    const out = io(dir)
    expect(await runCli(['doctor'], out.io)).toBe(1)
    expect(out.text()).toContain('PROBLEM  identity/private-key.jwk: a private identity key belongs to user 4242, not to the user running the connector (0)')
    expect(out.text()).toContain(`fix: chown 0 ${key}`)
  })

  it('reports an expired held credential and warns of one expiring within two weeks', async () => {
    const dir = await initialised()
    const now = Math.floor(Date.now() / 1000)
    writeFileSync(join(dir, 'expired.jwt'), jwt({ iss: 'did:web:authority.example', exp: now - 3600 }))
    writeFileSync(join(dir, 'soon.jwt'), jwt({ iss: 'did:web:authority.example', exp: now + 3 * 86_400 }))
    editConfig(dir, (config) => {
      config.identity = { ...config.identity, credentialFiles: ['expired.jwt', 'soon.jwt'] }
    })
    const out = io(dir)
    expect(await runCli(['doctor', '--offline'], out.io)).toBe(1)
    expect(out.text()).toMatch(/PROBLEM {2}expired\.jwt: the held credential expired on .*; peers refuse it/)
    expect(out.text()).toMatch(/warn {5}soon\.jwt: the held credential expires on .* \(in 3 days\)/)
    expect(out.text()).toContain('1 problem found')
  })

  it('reports a database migrated by a newer version, and one it cannot reach, each in one line', async () => {
    const dir = await initialised()
    const database = join(dir, 'data', 'passerelle.db')
    const store = await openStore({ url: database })
    await store.close()
    const { default: Database } = await import('better-sqlite3')
    const raw = new Database(database)
    raw.prepare('insert into __drizzle_migrations (hash, created_at) values (?, ?)').run('newer', shippedMigrations('sqlite').newest + 1000)
    raw.close()
    const newer = io(dir)
    expect(await runCli(['doctor', '--offline'], newer.io)).toBe(1)
    expect(newer.text()).toMatch(/PROBLEM {2}the database schema is newer than this Passerelle/)

    const port = await freePort()
    const unreachable = io(dir)
    unreachable.io.env = { PASSERELLE_DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/passerelle` }
    expect(await runCli(['doctor', '--offline'], unreachable.io)).toBe(1)
    expect(unreachable.text()).toContain(`PROBLEM  PostgreSQL server 127.0.0.1:${port} cannot be reached (ECONNREFUSED)`)
  })

  it('checks the DID document where peers fetch it, and reports a clock that disagrees with that server', async () => {
    const port = await freePort()
    const dir = await initialised(port)
    // Doctor obeys the connector's egress policy: loopback only when allowed.
    editConfig(dir, (config) => {
      config.egress = { allow: [`127.0.0.1:${port}`] }
    })
    const did = `did:web:127.0.0.1%3A${port}`
    // The participant's public address, as a reverse proxy in front of it would answer, its clock ten minutes ahead.
    const server = createServer((request, response) => {
      response.sendDate = false
      response.setHeader('date', new Date(Date.now() + 600_000).toUTCString())
      if (request.url === '/.well-known/did.json') response.end(JSON.stringify({ id: did }))
      else response.writeHead(404).end()
    })
    servers.push(server)
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
    const out = io(dir)
    expect(await runCli(['doctor'], out.io)).toBe(1)
    expect(out.text()).toContain(`ok       http://127.0.0.1:${port}/.well-known/did.json serves our DID document`)
    expect(out.text()).toMatch(/PROBLEM {2}this machine's clock is (59\d|60\d) s behind 127\.0\.0\.1:\d+: signed tokens will be refused/)
    expect(out.text()).toContain('fix: synchronise the clock')
  })

  it('warns, without failing, when the DID document does not answer (the connector is stopped)', async () => {
    const port = await freePort()
    const dir = await initialised(port)
    editConfig(dir, (config) => {
      config.egress = { allow: [`127.0.0.1:${port}`] }
    })
    const out = io(dir)
    expect(await runCli(['doctor'], out.io)).toBe(0)
    expect(out.text()).toMatch(/warn {5}http:\/\/127\.0\.0\.1:\d+\/\.well-known\/did\.json does not answer \(.*connection refused\)/)
  })
})
