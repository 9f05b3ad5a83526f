import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fromRoot } from '../../connector/paths.ts'
import { loadPolicies } from '../../policies/index.ts'
import { copyParticipant, freePort, management, startConnectorProcess, until, type ConnectorProcess, type ParticipantFolder } from '../support/processes.ts'
import { postgresAdminUrl } from '../support/stores.ts'
import { postgresBehindProxy, type TcpProxy } from '../support/tcp-proxy.ts'

/**
 * A connector process whose PostgreSQL goes away while it works: its connections are terminated by
 * the server (as on a server restart, 57P01) again and again under load, then the database is out of
 * reach for seconds (a TCP proxy in front of it is cut). The process must stay up, answer 503 while
 * the database is gone, become ready again by itself, and lose none of the work it had accepted.
 * The provider runs on PostgreSQL (through the proxy), the consumer on SQLite.
 */
const arctic = 'urn:uuid:0f3cee7e-e077-4be0-9365-3a791567f70e' // open-with-attribution
// Retries over the default window (minutes), starting at 250 ms and capped at 2 s so the test does not wait long after the outage.
const env = { PASSERELLE_DISPATCH_BASE_DELAY_MS: '250', PASSERELLE_DISPATCH_MAX_DELAY_MS: '2000', PASSERELLE_LOG_LEVEL: 'warn' }

const cleanups: Array<() => unknown> = []
let provider: ParticipantFolder
let consumer: ParticipantFolder
let providerProcess: ConnectorProcess
let proxy: TcpProxy
let databaseName: string
let providerDatabaseUrl: string
let offer: Record<string, unknown>

beforeAll(async () => {
  const loaded = await loadPolicies(fromRoot('seeds/policies'))
  offer = loaded.policies.get('open-with-attribution')!.odrl as Record<string, unknown>
  const [providerPort, consumerPort] = [await freePort(), await freePort()]
  const did = (port: number) => `did:web:127.0.0.1%3A${port}`
  const identity = { mode: 'static', staticTokens: { 'provider-token': did(providerPort), 'consumer-token': did(consumerPort) } }
  const database = await postgresBehindProxy()
  cleanups.push(database.close)
  proxy = database.proxy
  databaseName = database.name
  provider = await copyParticipant({ port: providerPort, config: { identity } })
  consumer = await copyParticipant({ port: consumerPort, config: { identity } })
  cleanups.push(provider.remove, consumer.remove)
  providerDatabaseUrl = database.url
  providerProcess = await startConnectorProcess(provider, { env: { ...env, PASSERELLE_DATABASE_URL: providerDatabaseUrl } })
  const consumerProcess = await startConnectorProcess(consumer, { env })
  cleanups.push(
    () => providerProcess.stop('SIGKILL'),
    () => consumerProcess.stop('SIGKILL'),
  )
})
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

const startNegotiations = (count: number) =>
  Promise.all(
    Array.from({ length: count }, async () => {
      const started = await management(consumer, 'POST', '/negotiations', {
        peerUrl: `${provider.url}/dsp/2025-1`,
        datasetId: arctic,
        peerId: provider.did,
        offer,
      })
      expect(started.status).toBe(201)
      return started.body.id as string
    }),
  )

/** Every negotiation FINALIZED on both sides, with the same agreement. */
async function allFinalized(ids: string[]) {
  await until(
    async () => {
      const states = await Promise.all(ids.map(async (id) => (await management(consumer, 'GET', `/negotiations/${id}`)).body.state))
      return states.every((state) => state === 'FINALIZED') ? true : undefined
    },
    60_000,
    2000,
  )
  const { body } = await until(async () => {
    const answer = await management(provider, 'GET', '/negotiations?role=provider&limit=500')
    return answer.status === 200 ? answer : undefined
  })
  for (const id of ids) expect(body.items.find((item: any) => item.consumerPid === id)?.state).toBe('FINALIZED')
}

async function terminateBackends() {
  const admin = new pg.Client({ connectionString: postgresAdminUrl })
  await admin.connect()
  try {
    return (await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [databaseName])).rowCount ?? 0
  } finally {
    await admin.end()
  }
}

const alive = () => providerProcess.child.exitCode === null && providerProcess.child.signalCode === null
const status = async (path: string) => (await fetch(`${provider.url}${path}`)).status

describe('a connector process on PostgreSQL that loses its database', () => {
  it('survives its connections being terminated by the server again and again under load, is ready again by itself, and loses none of the 20 negotiations it was sent', async () => {
    let terminated = 0
    let storming = true
    const storm = (async () => {
      while (storming) {
        terminated += await terminateBackends()
        await new Promise((r) => setTimeout(r, 100))
      }
    })()
    const ids = await startNegotiations(20)
    await new Promise((r) => setTimeout(r, 2000))
    storming = false
    await storm
    expect(terminated).toBeGreaterThan(0)
    expect(alive(), providerProcess.output.slice(-30).join('\n')).toBe(true)
    await until(async () => ((await status('/health/ready')) === 200 ? true : undefined), 10_000)
    // Nothing is lost: requests refused with 503 during the storm are sent again by the consumer,
    // and the provider has stored every one.
    await until(
      async () => {
        const { body } = await management(provider, 'GET', '/negotiations?role=provider&limit=500')
        return ids.every((id) => body.items.some((item: any) => item.consumerPid === id)) ? true : undefined
      },
      30_000,
      500,
    )
    expect(providerProcess.output.join('\n')).not.toMatch(/Unhandled|uncaught|at .+\.js:\d+/i)
    // A graceful restart must itself go well right after the storm; decisions cut with their
    // connection are stored steps and resume from the outbox.
    expect(await providerProcess.stop('SIGTERM')).toBe(0)
    providerProcess = await startConnectorProcess(provider, { env: { ...env, PASSERELLE_DATABASE_URL: providerDatabaseUrl } })
    await allFinalized(ids)
  }, 120_000)

  it('during a longer outage: stays up, answers 503 (unready, management, DSP) while it lasts, is ready again by itself, and loses nothing', async () => {
    const before = await startNegotiations(5)
    await allFinalized(before)
    proxy.cut()
    const outage = Date.now()
    let during: string[]
    try {
      await until(async () => ((await status('/health/ready')) === 503 ? true : undefined), 5_000)
      expect(await status('/health')).toBe(503)
      expect(await status('/health/live')).toBe(200)
      const refused = await management(provider, 'GET', '/negotiations?role=provider')
      expect(refused.status).toBe(503)
      expect(refused.body.error).toMatchObject({ code: 'unavailable', message: expect.stringMatching(/cannot reach its database/) })
      const dsp = await fetch(`${provider.url}/dsp/2025-1/negotiations/urn:uuid:00000000-0000-4000-8000-000000000001`, {
        headers: { authorization: 'consumer-token' },
      })
      expect(dsp.status).toBe(503)
      expect(await dsp.json()).toMatchObject({ '@type': 'ContractNegotiationError', code: 'unavailable' })
      // Requests sent to it meanwhile: the consumer's outbox meets 503 and tries again.
      during = await startNegotiations(10)
      await new Promise((r) => setTimeout(r, Math.max(0, 3000 - (Date.now() - outage))))
      expect(alive(), providerProcess.output.slice(-30).join('\n')).toBe(true)
    } finally {
      proxy.restore()
    }
    await until(async () => ((await status('/health/ready')) === 200 ? true : undefined), 10_000)
    // Without a restart: what was sent during the outage completes, what was agreed before is intact.
    await allFinalized([...before, ...during])
    expect(alive(), providerProcess.output.slice(-30).join('\n')).toBe(true)
    // It logged the outage in words, not stacks.
    expect(providerProcess.output.join('\n')).toMatch(/database (connection lost|unavailable)/)
  }, 120_000)
})
