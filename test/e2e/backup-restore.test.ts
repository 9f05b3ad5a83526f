import { writeFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fromRoot } from '../../connector/paths.ts'
import { loadPolicies } from '../../policies/index.ts'
import {
  copyParticipant,
  freePort,
  management,
  spawnCli,
  startConnectorProcess,
  until,
  type ConnectorProcess,
  type ParticipantFolder,
} from '../support/processes.ts'
import { createTestDatabase } from '../support/stores.ts'

/**
 * Backups of running connectors that hold an agreement, restored into fresh folders (a machine
 * lost): the consumer on SQLite (online backup), the provider on PostgreSQL (pg_dump/pg_restore).
 */
const arctic = 'urn:uuid:0f3cee7e-e077-4be0-9365-3a791567f70e' // open-with-attribution
const env = { PASSERELLE_LOG_LEVEL: 'warn' }
const cleanups: Array<() => unknown> = []
let provider: ParticipantFolder
let consumer: ParticipantFolder
let providerProcess: ConnectorProcess
let consumerProcess: ConnectorProcess
let agreementId: string
let backups: string

const cli = async (args: string[], options: { env?: Record<string, string> } = {}) => {
  const run = spawnCli({ args, env: { ...env, ...options.env } })
  const code = await run.exited
  return { code, output: run.output.join('\n') }
}

beforeAll(async () => {
  const offers = (await loadPolicies(fromRoot('seeds/policies'))).policies
  const [providerPort, consumerPort] = [await freePort(), await freePort()]
  const did = (port: number) => `did:web:127.0.0.1%3A${port}`
  const identity = { mode: 'static', staticTokens: { 'provider-token': did(providerPort), 'consumer-token': did(consumerPort) } }
  const database = await createTestDatabase('postgres')
  cleanups.push(database.drop)
  provider = await copyParticipant({ port: providerPort, config: { identity, database: { url: database.url } } })
  consumer = await copyParticipant({ port: consumerPort, config: { identity } })
  const scratch = await copyParticipant()
  backups = scratch.dir
  cleanups.push(provider.remove, consumer.remove, scratch.remove)
  providerProcess = await startConnectorProcess(provider, { env })
  consumerProcess = await startConnectorProcess(consumer, { env })
  cleanups.push(
    () => providerProcess.stop('SIGKILL'),
    () => consumerProcess.stop('SIGKILL'),
  )
  const started = await management(consumer, 'POST', '/negotiations', {
    peerUrl: `${provider.url}/dsp/2025-1`,
    datasetId: arctic,
    peerId: provider.did,
    offer: offers.get('open-with-attribution')!.odrl,
  })
  expect(started.status).toBe(201)
  const done = await until(async () => {
    const { body } = await management(consumer, 'GET', `/negotiations/${started.body.id}`)
    return body.state === 'FINALIZED' ? body : undefined
  })
  agreementId = done.agreementId
}, 90_000)
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

const agreementIds = async (folder: ParticipantFolder) => (await management(folder, 'GET', '/agreements')).body.items.map((a: { '@id': string }) => a['@id'])

describe('passerelle backup and restore', () => {
  it('SQLite: a backup of the running consumer, restored into a fresh folder, holds its agreement', async () => {
    const file = join(backups, 'consumer.db')
    const backup = await cli(['backup', '--config', consumer.configFile, '--output', file])
    expect(backup.code).toBe(0)
    expect(backup.output).toContain(`to ${file}`)
    // The connector kept working during the backup.
    expect(await agreementIds(consumer)).toContain(agreementId)

    // Refused while the connector runs, and its database is left as it was.
    const whileRunning = await cli(['restore', file, '--config', consumer.configFile, '--force'])
    expect(whileRunning.code).toBe(1)
    expect(whileRunning.output).toMatch(/stop the connector before restoring/)
    expect(await agreementIds(consumer)).toContain(agreementId)

    expect(await consumerProcess.stop('SIGTERM')).toBe(0)
    const fresh = await copyParticipant({ from: consumer.dir, port: consumer.port })
    cleanups.push(fresh.remove)
    const restored = await cli(['restore', file, '--config', fresh.configFile])
    expect(restored.code).toBe(0)
    const again = await cli(['restore', file, '--config', fresh.configFile])
    expect(again.code).toBe(1)
    expect(again.output).toMatch(/a database exists at .*: pass --force to replace it/)
    const replaced = await cli(['restore', file, '--config', fresh.configFile, '--force'])
    expect(replaced.code).toBe(0)
    expect(replaced.output).toMatch(/kept as .*before-restore-/)

    consumerProcess = await startConnectorProcess(fresh, { env })
    expect(await agreementIds(fresh)).toContain(agreementId)
  }, 120_000)

  it('SQLite: a file that is not a Passerelle database is refused, naming why, and nothing is written', async () => {
    const bogus = join(backups, 'notes.db')
    writeFileSync(bogus, 'not a database at all, only text that is long enough to look like a file')
    const target = await copyParticipant({ from: consumer.dir })
    cleanups.push(target.remove)
    const run = await cli(['restore', bogus, '--config', target.configFile])
    expect(run.code).toBe(1)
    expect(run.output).toMatch(/cannot be read as a SQLite database|is not a Passerelle database/)
    expect(readdirSync(target.dir)).not.toContain('data')
  })

  it('PostgreSQL: a pg_dump of the running provider, restored into a fresh database, holds its agreement', async () => {
    const file = join(backups, 'provider.pgdump')
    const backup = await cli(['backup', '--config', provider.configFile, '--output', file])
    expect(backup.code).toBe(0)
    expect(backup.output).toContain('pg_dump custom format')

    expect(await providerProcess.stop('SIGTERM')).toBe(0)
    const database = await createTestDatabase('postgres')
    cleanups.push(database.drop)
    const fresh = await copyParticipant({ from: provider.dir, port: provider.port, config: { database: { url: database.url } } })
    cleanups.push(fresh.remove)
    const unforced = await cli(['restore', file, '--config', fresh.configFile])
    expect(unforced.code).toBe(1)
    expect(unforced.output).toMatch(/stop every replica, then pass --force/)
    const restored = await cli(['restore', file, '--config', fresh.configFile, '--force'])
    expect(restored.output).toContain('restored')
    expect(restored.code).toBe(0)
    providerProcess = await startConnectorProcess(fresh, { env })
    expect(await agreementIds(fresh)).toContain(agreementId)
  }, 120_000)
})
