import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fromRoot } from '../../connector/paths.ts'
import { loadPolicies } from '../../policies/index.ts'
import {
  until,
  management,
  copyParticipant,
  freePort,
  spawnCli,
  startConnectorProcess,
  type ConnectorProcess,
  type ParticipantFolder,
} from '../support/processes.ts'

/**
 * Two connector processes (the built CLI, the seed participant with static tokens) negotiate a
 * contract, then move the dataset by pull and by push with `passerelle transfer`: the bytes and the
 * sha256 are the provider's file's, and both sides end COMPLETED.
 */
const arctic = 'urn:uuid:0f3cee7e-e077-4be0-9365-3a791567f70e' // open-with-attribution
const arcticFile = fromRoot('seeds/files/arctic-sea-ice-extent-monthly-2015-2024.csv')
const env = { PASSERELLE_DISPATCH_BASE_DELAY_MS: '100', PASSERELLE_LOG_LEVEL: 'warn' }

const cleanups: Array<() => unknown> = []
let provider: ParticipantFolder
let consumer: ParticipantFolder
let processes: ConnectorProcess[] = []
let offer: Record<string, unknown>

beforeAll(async () => {
  const loaded = await loadPolicies(fromRoot('seeds/policies'))
  offer = loaded.policies.get('open-with-attribution')!.odrl as Record<string, unknown>
  const [providerPort, consumerPort] = [await freePort(), await freePort()]
  const did = (port: number) => `did:web:127.0.0.1%3A${port}`
  const identity = { mode: 'static', staticTokens: { 'provider-token': did(providerPort), 'consumer-token': did(consumerPort) } }
  provider = await copyParticipant({ port: providerPort, config: { identity } })
  consumer = await copyParticipant({ port: consumerPort, config: { identity } })
  cleanups.push(provider.remove, consumer.remove)
  processes = [await startConnectorProcess(provider, { env }), await startConnectorProcess(consumer, { env })]
  cleanups.push(...processes.map((p) => () => p.stop('SIGKILL')))
}, 60_000)
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

async function negotiate(): Promise<string> {
  const started = await management(consumer, 'POST', '/negotiations', { peerUrl: `${provider.url}/dsp/2025-1`, peerId: provider.did, datasetId: arctic, offer })
  expect(started.status).toBe(201)
  let last: unknown
  const done = await until(async () => {
    const { body } = await management(consumer, 'GET', `/negotiations/${started.body.id}`)
    last = body
    return body.state === 'FINALIZED' ? body : undefined
  }).catch((error) => {
    throw new Error(`negotiation did not finalize: ${JSON.stringify(last)}\n${processes.map((p) => p.output.join('\n')).join('\n---\n')}`, { cause: error })
  })
  return done.agreementId as string
}

async function transferCli(args: string[]) {
  const run = spawnCli({
    args: ['transfer', ...args, '--url', consumer.url, '--key', consumer.managementKey, '--timeout', '30'],
    env: { PASSERELLE_PROGRESS: 'lines' },
  })
  const code = await run.exited
  return { code, output: run.output.join('\n') }
}

const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

describe('two connector processes transfer under a negotiated agreement', () => {
  it('pull: passerelle transfer downloads identical bytes with the same sha256; both sides end COMPLETED', async () => {
    const agreementId = await negotiate()
    const out = join(consumer.dir, 'pulled.csv')
    const result = await transferCli([agreementId, '--out', out])
    expect(result.output).toContain('verified')
    expect(result.code).toBe(0)
    const expected = readFileSync(arcticFile)
    expect(readFileSync(out).equals(expected)).toBe(true)
    const mine = await management(consumer, 'GET', '/transfers?role=consumer')
    const transfer = mine.body.items.find((t: any) => t.agreementId === agreementId)
    await until(async () => {
      const { body } = await management(provider, 'GET', '/transfers?role=provider')
      return body.items.find((t: any) => t.consumerPid === transfer.consumerPid && t.state === 'COMPLETED')
    })
    expect(result.output).toContain(sha(expected))
  }, 120_000)

  it('push: the provider pushes into the consumer data folder; passerelle transfer --push verifies the copy', async () => {
    const agreementId = await negotiate()
    const out = join(consumer.dir, 'pushed.csv')
    const result = await transferCli([agreementId, '--push', '--out', out])
    expect(result.code).toBe(0)
    const expected = readFileSync(arcticFile)
    expect(readFileSync(out).equals(expected)).toBe(true)
    const { body } = await management(consumer, 'GET', '/transfers?role=consumer')
    const transfer = body.items.find((t: any) => t.agreementId === agreementId)
    expect(transfer).toMatchObject({ state: 'COMPLETED', sha256: sha(expected), size: expected.length })
  }, 120_000)

  it('error: an agreement the consumer does not hold exits 1 with the reason', async () => {
    const result = await transferCli(['urn:uuid:00000000-0000-4000-8000-00000000dead'])
    expect(result.code).toBe(1)
    expect(result.output).toContain('no finalized agreement')
  }, 120_000)
})
