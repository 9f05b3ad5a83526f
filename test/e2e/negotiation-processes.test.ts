import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { until, management, copyParticipant, freePort, startConnectorProcess, type ConnectorProcess, type ParticipantFolder } from '../support/processes.ts'
import { createTestDatabase } from '../support/stores.ts'
import { loadPolicies } from '../../policies/index.ts'
import { fromRoot } from '../../connector/paths.ts'

/**
 * Two connector processes (the built CLI) negotiate over 127.0.0.1: the provider on PostgreSQL,
 * the consumer on SQLite, both the seed participant with static tokens. Covers the full flow, a
 * refusal by policy, a dead peer, and a provider killed with SIGKILL in the middle.
 */
const arctic = 'urn:uuid:0f3cee7e-e077-4be0-9365-3a791567f70e' // open-with-attribution
const temperature = 'urn:uuid:37b4f568-20c5-486a-abff-1eaa42633253' // research-only
const maxAttempts = 6
// Retries over about 8 s (250 ms, doubling): long enough for a killed provider to restart on a
// busy machine, short enough for the dead-peer case to end within its wait.
const env = { PASSERELLE_DISPATCH_MAX_ATTEMPTS: String(maxAttempts), PASSERELLE_DISPATCH_BASE_DELAY_MS: '250', PASSERELLE_LOG_LEVEL: 'warn' }

const cleanups: Array<() => unknown> = []
let provider: ParticipantFolder
let consumer: ParticipantFolder
let providerProcess: ConnectorProcess
let consumerProcess: ConnectorProcess
let providerDatabaseUrl: string
/** A port of the test's own where nothing listens (the consumer may reach it: a peer that is down). */
let downPort: number
/** The offers the seed publishes (what the provider's catalog serves), by policy id. */
let offers: Map<string, Record<string, unknown>>

beforeAll(async () => {
  const loaded = await loadPolicies(fromRoot('seeds/policies'))
  offers = new Map([...loaded.policies].map(([id, policy]) => [id, policy.odrl as Record<string, unknown>]))
  const [providerPort, consumerPort] = [await freePort(), await freePort()]
  downPort = await freePort()
  const did = (port: number) => `did:web:127.0.0.1%3A${port}`
  const identity = { mode: 'static', staticTokens: { 'provider-token': did(providerPort), 'consumer-token': did(consumerPort) } }
  const database = await createTestDatabase('postgres')
  providerDatabaseUrl = database.url
  cleanups.push(database.drop)
  provider = await copyParticipant({ port: providerPort, config: { identity } })
  consumer = await copyParticipant({ port: consumerPort, config: { identity } })
  cleanups.push(provider.remove, consumer.remove)
  providerProcess = await startConnectorProcess(provider, { env: { ...env, PASSERELLE_DATABASE_URL: providerDatabaseUrl } })
  consumerProcess = await startConnectorProcess(consumer, { env })
  cleanups.push(
    () => providerProcess.stop('SIGKILL'),
    () => consumerProcess.stop('SIGKILL'),
  )
})
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

const inState = (folder: ParticipantFolder, id: string, state: string) =>
  until(async () => {
    const { body } = await management(folder, 'GET', `/negotiations/${id}`)
    return body.state === state ? body : undefined
  })
const providerSide = (consumerPid: string, state: string) =>
  until(async () => {
    const { body } = await management(provider, 'GET', '/negotiations?role=provider')
    const n = body.items.find((item: any) => item.consumerPid === consumerPid)
    return n?.state === state ? n : undefined
  })
const start = (body: Record<string, unknown>) => management(consumer, 'POST', '/negotiations', { peerUrl: `${provider.url}/dsp/2025-1`, ...body })

describe('two connector processes negotiate (provider on PostgreSQL, consumer on SQLite)', () => {
  it('happy: both sides end FINALIZED with the same agreement', async () => {
    const started = await start({ datasetId: arctic, peerId: provider.did, offer: offers.get('open-with-attribution') })
    expect(started.status).toBe(201)
    const done = await inState(consumer, started.body.id, 'FINALIZED')
    const other = await providerSide(started.body.id, 'FINALIZED')
    expect(other.agreementId).toBe(done.agreementId)
    const agreements = await management(consumer, 'GET', `/agreements?dataset=${encodeURIComponent(arctic)}`)
    expect(agreements.body.items[0]).toMatchObject({
      '@id': done.agreementId,
      '@type': 'Agreement',
      target: arctic,
      assigner: provider.did,
      assignee: consumer.did,
    })
  })

  it('error: a policy the consumer does not meet ends TERMINATED on both sides with a readable reason', async () => {
    // No purpose declared: research-only is not met.
    const started = await start({ datasetId: temperature, offer: offers.get('research-only') })
    expect(started.status).toBe(201)
    const done = await inState(consumer, started.body.id, 'TERMINATED')
    const other = await providerSide(started.body.id, 'TERMINATED')
    expect(other.reason).toMatch(/^policy `research-only` \(“[^”]+”\) not met: /)
    expect(done.reason).toBe(`terminated by ${provider.did}: ${other.reason}`)
  })

  it(`error: a peer that is down ends TERMINATED after exactly ${maxAttempts} attempts`, async () => {
    const nobody = downPort
    const started = await management(consumer, 'POST', '/negotiations', {
      peerUrl: `http://127.0.0.1:${nobody}/dsp/2025-1`,
      datasetId: arctic,
      offer: { '@id': 'offer-1', '@type': 'Offer', permission: [{ action: 'use' }] },
    })
    const done = await inState(consumer, started.body.id, 'TERMINATED')
    expect(done.reason).toMatch(new RegExp(`failed after ${maxAttempts} attempts: the peer could not be reached`))
  })

  it('happy: the provider is killed with SIGKILL in the middle, restarted, and the negotiation completes', async () => {
    const started = await start({ datasetId: arctic, mode: 'manual', offer: offers.get('open-with-attribution') })
    await until(async () => {
      const { body } = await management(consumer, 'GET', `/negotiations/${started.body.id}`)
      return body.state === 'AGREED' && body.pending ? body : undefined
    })
    await providerProcess.stop('SIGKILL')
    // The consumer's verification now meets a dead provider and is retried.
    const approved = await management(consumer, 'POST', `/negotiations/${started.body.id}/approve`)
    expect(approved.body.state).toBe('VERIFIED')
    await new Promise((r) => setTimeout(r, 300))
    providerProcess = await startConnectorProcess(provider, { env: { ...env, PASSERELLE_DATABASE_URL: providerDatabaseUrl } })
    const done = await until(async () => {
      const { body } = await management(consumer, 'GET', `/negotiations/${started.body.id}`)
      return body.state === 'FINALIZED' || body.state === 'TERMINATED' ? body : undefined
    })
    expect(done.state, done.reason).toBe('FINALIZED')
    const other = await providerSide(started.body.id, 'FINALIZED')
    expect(other.agreementId).toBe(done.agreementId)
  })
})
