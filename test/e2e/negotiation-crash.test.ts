import { afterAll, describe, expect, it } from 'vitest'
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
import { createTestDatabase, type Dialect } from '../support/stores.ts'
import { loadPolicies } from '../../policies/index.ts'
import { fromRoot } from '../../connector/paths.ts'

/**
 * Crash consistency with two real connector processes: one side is killed with SIGKILL at a chosen
 * moment of a negotiation (the `PASSERELLE_TEST_FAILPOINT` testing aid, see
 * connector/process/failpoint.ts) while several negotiations are in flight, then restarted. Within a
 * bounded time every negotiation must end, both sides in the same state, and no agreement either
 * side holds may be lost: it is FINALIZED on both sides. Transfers under the agreements then meet
 * two kills of the provider and must all run on both sides.
 */
const arctic = 'urn:uuid:0f3cee7e-e077-4be0-9365-3a791567f70e' // open-with-attribution
const perMoment = 7
// Retries (100 ms, doubling up to 1 s, 50 attempts: about 45 s) outlast a restart on a busy machine;
// the 1 s cap lets a retry reach the restarted side within a second of it being back, instead of
// after a doubled delay of up to 25 s.
const env = {
  PASSERELLE_DISPATCH_MAX_ATTEMPTS: '50',
  PASSERELLE_DISPATCH_BASE_DELAY_MS: '100',
  PASSERELLE_DISPATCH_MAX_DELAY_MS: '1000',
  PASSERELLE_LOG_LEVEL: 'warn',
}
// A killed side's claims on its outbox rows hold until their lease ends: 2 s instead of the default
// 10 s, so that the restarted side takes them over sooner (renewed every third of it while delivering).
const dispatch = { leaseMs: 2000 }

/** Where a side dies: a failpoint name, and on which pass (some negotiations are ahead, some behind). */
const moments: Array<{ side: 'provider' | 'consumer'; failpoint: string; what: string }> = [
  { side: 'provider', failpoint: 'step:negotiation:request@3', what: 'after answering a request, before deciding' },
  { side: 'provider', failpoint: 'sent:ContractAgreementMessage@3', what: 'after sending the agreement, before marking it delivered' },
  { side: 'provider', failpoint: 'sent:ContractNegotiationEventMessage@3', what: 'after sending FINALIZED, before marking it delivered' },
  { side: 'consumer', failpoint: 'sent:ContractRequestMessage@3', what: 'after its request was answered, before marking it delivered' },
  { side: 'consumer', failpoint: 'step:negotiation:agreement@3', what: 'after storing the agreement, before verifying it' },
  { side: 'consumer', failpoint: 'sent:ContractAgreementVerificationMessage@3', what: 'after sending the verification, before marking it delivered' },
]

const cleanups: Array<() => unknown> = []
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

const terminal = (state: string | undefined) => state === 'FINALIZED' || state === 'TERMINATED'

async function listAll(folder: ParticipantFolder, role: 'provider' | 'consumer') {
  const { body } = await management(folder, 'GET', `/negotiations?role=${role}&limit=500`)
  return body.items as Array<{ id: string; consumerPid: string; state: string; agreementId: string | null; reason: string | null }>
}

describe.each(['sqlite', 'postgres'] as Dialect[])('negotiations survive SIGKILL of either side (%s)', (dialect) => {
  it(`${moments.length * perMoment} negotiations, a kill at each of ${moments.length} moments: none left open, no agreement lost, no inconsistent pair; then 8 transfers, two kills: all STARTED on both sides`, async () => {
    const loaded = await loadPolicies(fromRoot('seeds/policies'))
    const offer = loaded.policies.get('open-with-attribution')!.odrl as Record<string, unknown>
    const [providerPort, consumerPort] = [await freePort(), await freePort()]
    const did = (port: number) => `did:web:127.0.0.1%3A${port}`
    const identity = { mode: 'static', staticTokens: { 'provider-token': did(providerPort), 'consumer-token': did(consumerPort) } }
    const folders = {
      provider: await copyParticipant({ port: providerPort, config: { identity, dispatch } }),
      consumer: await copyParticipant({ port: consumerPort, config: { identity, dispatch } }),
    }
    cleanups.push(folders.provider.remove, folders.consumer.remove)
    const databases = { provider: await createTestDatabase(dialect), consumer: await createTestDatabase(dialect) }
    cleanups.push(databases.provider.drop, databases.consumer.drop)
    const start = (side: 'provider' | 'consumer', failpoint?: string) =>
      startConnectorProcess(folders[side], {
        env: { ...env, PASSERELLE_DATABASE_URL: databases[side].url, ...(failpoint ? { PASSERELLE_TEST_FAILPOINT: failpoint } : {}) },
      })
    const running: Record<'provider' | 'consumer', ConnectorProcess> = { provider: await start('provider'), consumer: await start('consumer') }
    cleanups.push(
      () => running.provider.stop('SIGKILL'),
      () => running.consumer.stop('SIGKILL'),
    )

    const started: string[] = []
    // Every negotiation ends on both sides within a bounded time (also before the next failpoint is
    // armed, so that it hits a new negotiation, not the recovery of the last kill).
    const settle = () =>
      until(
        async () => {
          const [consumerSide, providerSide] = await Promise.all([listAll(folders.consumer, 'consumer'), listAll(folders.provider, 'provider')])
          const open = started.filter((id) => {
            const mine = consumerSide.find((n) => n.id === id)
            const theirs = providerSide.find((n) => n.consumerPid === id)
            return !terminal(mine?.state) || (theirs !== undefined && !terminal(theirs.state))
          })
          return open.length === 0 ? { consumerSide, providerSide } : undefined
        },
        120_000,
        250,
      ).catch(() => undefined)
    for (const moment of moments) {
      await settle()
      await running[moment.side].stop('SIGTERM')
      running[moment.side] = await start(moment.side, moment.failpoint)
      const victim = running[moment.side]
      for (let i = 0; i < perMoment; i++) {
        const response = await management(folders.consumer, 'POST', '/negotiations', {
          peerUrl: `${folders.provider.url}/dsp/2025-1`,
          peerId: folders.provider.did,
          datasetId: arctic,
          offer,
        }).catch(() => undefined)
        // The consumer itself may be the one that just died: what it accepted counts, the rest is not started.
        if (response?.status === 201) started.push(response.body.id)
      }
      const exit = await Promise.race([victim.exited, new Promise((resolve) => setTimeout(() => resolve('alive'), 30_000))])
      expect(exit, `the ${moment.side} was to be killed ${moment.what}`).toBe('SIGKILL')
      running[moment.side] = await start(moment.side)
    }

    const settled = await settle()
    const consumerSide = settled?.consumerSide ?? (await listAll(folders.consumer, 'consumer'))
    const providerSide = settled?.providerSide ?? (await listAll(folders.provider, 'provider'))

    let notTerminal = 0
    let agreementsLost = 0
    let inconsistent = 0
    const problems: string[] = []
    for (const id of started) {
      const mine = consumerSide.find((n) => n.id === id)!
      const theirs = providerSide.find((n) => n.consumerPid === id)
      if (!terminal(mine.state) || (theirs && !terminal(theirs.state))) notTerminal++
      // A request that never reached the provider leaves no process there: the consumer must have ended it.
      const theirState = theirs?.state ?? 'TERMINATED'
      if (mine.state !== theirState) {
        inconsistent++
        problems.push(`${id}: consumer ${mine.state} (${mine.reason}), provider ${theirState} (${theirs?.reason})`)
      }
      const agreed = mine.agreementId ?? theirs?.agreementId
      if (agreed && !(mine.state === 'FINALIZED' && theirState === 'FINALIZED' && mine.agreementId === theirs?.agreementId)) {
        agreementsLost++
        problems.push(`${id}: agreement ${agreed} not FINALIZED on both sides`)
      }
    }
    expect(started.length).toBeGreaterThanOrEqual(moments.length * perMoment - 2 * perMoment)
    expect({ notTerminal, agreementsLost, inconsistent, problems }).toEqual({ notTerminal: 0, agreementsLost: 0, inconsistent: 0, problems: [] })
    // Killed in the middle, yet every negotiation went through: the crashes cost time, not outcomes.
    expect(started.filter((id) => consumerSide.find((n) => n.id === id)?.state === 'FINALIZED').length).toBe(started.length)

    // Transfers under those agreements: the provider dies after storing a request and before its
    // start step ran, then after sending the start message and before marking it delivered.
    const agreements = consumerSide.filter((n) => started.includes(n.id) && n.agreementId).map((n) => n.agreementId!)
    const transfers: string[] = []
    for (const failpoint of ['step:transfer:actions@2', 'sent:TransferStartMessage@2']) {
      await running.provider.stop('SIGTERM')
      running.provider = await start('provider', failpoint)
      const victim = running.provider
      for (const agreementId of agreements.splice(0, 4)) {
        const response = await management(folders.consumer, 'POST', '/transfers', { agreementId })
        expect(response.status).toBe(201)
        transfers.push(response.body.id)
      }
      const exit = await Promise.race([victim.exited, new Promise((resolve) => setTimeout(() => resolve('alive'), 30_000))])
      expect(exit, `the provider was to be killed at ${failpoint}`).toBe('SIGKILL')
      running.provider = await start('provider')
      // Every pull transfer ends STARTED on both sides (none left REQUESTED, none terminated).
      const both = await until(
        async () => {
          const [mine, theirs] = await Promise.all([
            management(folders.consumer, 'GET', '/transfers?role=consumer&limit=500'),
            management(folders.provider, 'GET', '/transfers?role=provider&limit=500'),
          ])
          const pairs = transfers.map((id) => [
            mine.body.items.find((t: any) => t.id === id)?.state,
            theirs.body.items.find((t: any) => t.consumerPid === id)?.state,
          ])
          return pairs.every(([a, b]) => a === 'STARTED' && b === 'STARTED') ? pairs : undefined
        },
        90_000,
        250,
      ).catch(() => undefined)
      expect(both, `transfers after a kill at ${failpoint}`).toBeDefined()
    }

    // Every kill happened mid-transaction somewhere: each side's audit chain still holds.
    for (const side of ['provider', 'consumer'] as const) {
      await running[side].stop('SIGTERM')
      const verify = spawnCli({
        args: ['audit', 'verify', '--config', folders[side].configFile],
        env: { PASSERELLE_DATABASE_URL: databases[side].url },
      })
      const code = await verify.exited
      expect({ side, code, output: verify.output.join('\n') }).toMatchObject({ side, code: 0, output: expect.stringMatching(/the audit chain holds/) })
    }
  }, 600_000)
})
