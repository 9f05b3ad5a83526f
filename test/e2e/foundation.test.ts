import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { dspSchemaErrors } from '../support/dsp-schemas.ts'
import { copyParticipant, freePort, spawnCli, startConnectorProcess, type ParticipantFolder } from '../support/processes.ts'
import { createTestDatabase } from '../support/stores.ts'

/** Response bodies in tests are read loosely; assertions check their shape. */
const json = (response: Response): Promise<any> => response.json()

const cleanups: Array<() => unknown> = []
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

async function participant(options?: Parameters<typeof copyParticipant>[0]): Promise<ParticipantFolder> {
  const folder = await copyParticipant(options)
  cleanups.push(folder.remove)
  return folder
}

describe('passerelle start (real process)', () => {
  it('serves a schema-valid version document on the embedded SQLite default, then stops on SIGTERM with 0 within 2 s', async () => {
    const folder = await participant()
    const connector = await startConnectorProcess(folder)
    const response = await fetch(`${connector.url}/.well-known/dspace-version`)
    expect(response.status).toBe(200)
    expect(dspSchemaErrors('common/protocol-version-schema.json', await json(response))).toEqual([])
    expect(existsSync(join(folder.dir, 'data', 'passerelle.db'))).toBe(true)
    const started = Date.now()
    expect(await connector.stop('SIGTERM')).toBe(0)
    expect(Date.now() - started).toBeLessThan(2000)
  })

  it('runs on PostgreSQL when PASSERELLE_DATABASE_URL names one', async () => {
    const folder = await participant()
    const database = await createTestDatabase('postgres')
    cleanups.push(database.drop)
    const connector = await startConnectorProcess(folder, { env: { PASSERELLE_DATABASE_URL: database.url } })
    const health = await json(await fetch(`${connector.url}/health`))
    expect(health.database).toEqual({ dialect: 'postgres', status: 'up' })
    expect(await connector.stop('SIGINT')).toBe(0)
  })

  it('lets requests in flight finish when it is stopped', async () => {
    const folder = await participant()
    const connector = await startConnectorProcess(folder)
    // /health is the readiness check and answers 503 once stopping; /health/live answers while the process does.
    const inFlight = Array.from({ length: 20 }, () => fetch(`${connector.url}/health/live`).then((r) => r.status))
    const stopped = connector.stop('SIGTERM')
    const statuses = await Promise.allSettled(inFlight)
    expect(await stopped).toBe(0)
    // Every request either completed normally or was never accepted; none got a broken answer.
    for (const status of statuses) if (status.status === 'fulfilled') expect(status.value).toBe(200)
  })

  it('answers a long poll at once when it stops, instead of holding the shutdown for the wait', async () => {
    const folder = await participant()
    // A port of the test's own where nothing listens: the connector may try it (and retry).
    const nobody = await freePort()
    const connector = await startConnectorProcess(folder)
    const auth = { authorization: `Bearer ${folder.managementKey}`, 'content-type': 'application/json' }
    // A negotiation with a peer that is not there stays REQUESTED while its request is retried.
    const started = await json(
      await fetch(`${connector.url}/management/v1/negotiations`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({
          peerUrl: `http://127.0.0.1:${nobody}/dsp/2025-1`,
          datasetId: 'urn:uuid:x',
          offer: { '@id': 'urn:offer:x', '@type': 'Offer', permission: [{ action: 'use' }] },
        }),
      }),
    )
    const polled = fetch(`${connector.url}/management/v1/negotiations/${started.id}?after=1&wait=30`, { headers: auth }).then(async (r) => ({
      status: r.status,
      body: await json(r),
    }))
    await new Promise((r) => setTimeout(r, 300))
    const stopping = Date.now()
    expect(await connector.stop('SIGTERM')).toBe(0)
    expect(Date.now() - stopping).toBeLessThan(2000)
    expect(await polled).toMatchObject({ status: 200, body: { id: started.id, state: 'REQUESTED' } })
  })

  it('exits 2 with one line naming the key when the configuration has a wrong type', async () => {
    const folder = await participant()
    writeFileSync(folder.configFile, readFileSync(folder.configFile, 'utf8').replace(/port: \d+/, 'port: eighty-one'))
    const { output, exited } = spawnCli({ args: ['start', '--config', folder.configFile] })
    expect(await exited).toBe(2)
    expect(output).toHaveLength(1)
    expect(output[0]).toMatch(/invalid configuration key server\.port .*expected number, got "eighty-one"/)
  })

  it('exits 2 naming the environment variable when an override is wrong', async () => {
    const folder = await participant()
    const { output, exited } = spawnCli({ args: ['start', '--config', folder.configFile], env: { PASSERELLE_PORT: 'x' } })
    expect(await exited).toBe(2)
    expect(output.join('\n')).toMatch(/server\.port \(environment variable PASSERELLE_PORT\)/)
  })

  it('exits 1 with a readable line when the port is taken', async () => {
    const folder = await participant()
    const first = await startConnectorProcess(folder)
    // A database of its own: the first process holds the SQLite file (a second one is refused for that first).
    const { output, exited } = spawnCli({
      args: ['start', '--config', folder.configFile],
      env: { PASSERELLE_DATABASE_URL: join(folder.dir, 'data', 'second.db') },
    })
    expect(await exited).toBe(1)
    expect(output.join('\n')).toMatch(/address already in use/)
    expect(output.join('\n')).not.toMatch(/\n\s+at /)
    await first.stop()
  })
})

describe('passerelle init', () => {
  it('creates a participant that starts and serves its identity', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'passerelle-init-')), 'institute')
    const port = await freePort()
    const { output, exited } = spawnCli({ args: ['init', dir, '--name', 'Institut de test', '--port', String(port)] })
    expect(await exited).toBe(0)
    expect(output.join('\n')).toContain(`did:web:127.0.0.1%3A${port}`)
    const config = parse(readFileSync(join(dir, 'passerelle.yaml'), 'utf8'))
    expect(config.participant).toEqual({ id: `did:web:127.0.0.1%3A${port}`, name: 'Institut de test' })
    expect(config.management.apiKey.length).toBeGreaterThanOrEqual(16)
    const keyFile = join(dir, 'identity', 'private-key.jwk')
    expect(statSync(keyFile).mode & 0o077).toBe(0)
    expect(JSON.parse(readFileSync(keyFile, 'utf8'))).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA' })
    expect(existsSync(join(dir, 'datasets'))).toBe(true)
    expect(existsSync(join(dir, 'policies'))).toBe(true)

    const connector = await startConnectorProcess({
      dir,
      configFile: join(dir, 'passerelle.yaml'),
      port,
      did: config.participant.id,
      url: `http://127.0.0.1:${port}`,
      managementKey: config.management.apiKey,
      remove: () => {},
    })
    const response = await fetch(`${connector.url}/management/v1/participant`, { headers: { authorization: `Bearer ${config.management.apiKey}` } })
    expect(await json(response)).toMatchObject({ participantId: `did:web:127.0.0.1%3A${port}`, name: 'Institut de test' })
    expect(await connector.stop()).toBe(0)
  })

  it('refuses to overwrite an existing participant and changes nothing', async () => {
    const folder = await participant()
    const before = readFileSync(folder.configFile, 'utf8')
    const { output, exited } = spawnCli({ args: ['init', folder.dir] })
    expect(await exited).toBe(2)
    expect(output.join('\n')).toMatch(/already holds a participant/)
    expect(readFileSync(folder.configFile, 'utf8')).toBe(before)
  })
})

describe('passerelle CLI', () => {
  it('prints its version', async () => {
    const { output, exited } = spawnCli({ args: ['version'] })
    expect(await exited).toBe(0)
    expect(output[0]).toMatch(/^passerelle \d+\.\d+\.\d+ \(Dataspace Protocol 2025-1/)
  })

  it('has --help on every command', async () => {
    const top = spawnCli({ args: ['--help'] })
    expect(await top.exited).toBe(0)
    const names = top.output.filter((line) => /^ {2}\w/.test(line)).map((line) => line.trim().split(/\s+/)[0]!)
    expect(names).toEqual(expect.arrayContaining(['start', 'init', 'version']))
    for (const name of names) {
      const { output, exited } = spawnCli({ args: [name, '--help'] })
      expect(await exited, name).toBe(0)
      expect(output.join('\n'), name).toMatch(/Usage: passerelle/)
    }
  })

  it('refuses an unknown command and an unknown option with exit 2', async () => {
    expect(await spawnCli({ args: ['frobnicate'] }).exited).toBe(2)
    const { output, exited } = spawnCli({ args: ['start', '--colour'] })
    expect(await exited).toBe(2)
    expect(output.join('\n')).toMatch(/--colour/)
  })
})
