import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
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
 * A data steward edits the files of a running provider (two connector processes, the built CLI,
 * static tokens): a changed policy is what the provider's DSP catalog serves next and decides new
 * negotiations, while an agreement signed before keeps its own terms on both sides and still gives
 * access; a broken policy file is refused, the
 * offer in force stays served and the problem is listed; a dataset written with `passerelle dataset
 * add` is published without a restart, and the log says what changed.
 */
const arctic = 'urn:uuid:0f3cee7e-e077-4be0-9365-3a791567f70e' // open-with-attribution
const policyFile = 'policies/open-with-attribution.yaml'

const cleanups: Array<() => unknown> = []
let provider: ParticipantFolder
let consumer: ParticipantFolder
let providerProcess: ConnectorProcess

beforeAll(async () => {
  const [providerPort, consumerPort] = [await freePort(), await freePort()]
  const did = (port: number) => `did:web:127.0.0.1%3A${port}`
  const identity = { mode: 'static', staticTokens: { 'provider-token': did(providerPort), 'consumer-token': did(consumerPort) } }
  provider = await copyParticipant({ port: providerPort, config: { identity } })
  consumer = await copyParticipant({ port: consumerPort, config: { identity } })
  cleanups.push(provider.remove, consumer.remove)
  providerProcess = await startConnectorProcess(provider)
  const consumerProcess = await startConnectorProcess(consumer, { env: { PASSERELLE_LOG_LEVEL: 'warn' } })
  cleanups.push(
    () => providerProcess.stop('SIGKILL'),
    () => consumerProcess.stop('SIGKILL'),
  )
})
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

/** The dataset as the consumer sees it in the provider's DSP catalog. */
async function served(id: string): Promise<{ status: number; body: any }> {
  const response = await fetch(`${provider.url}/dsp/2025-1/catalog/datasets/${encodeURIComponent(id)}`, { headers: { authorization: 'Bearer consumer-token' } })
  return { status: response.status, body: await response.json() }
}
const agreement = async (side: ParticipantFolder, id: string) =>
  (await management(side, 'GET', `/agreements?dataset=${encodeURIComponent(arctic)}`)).body.items.find((a: any) => a['@id'] === id)
const logged = (msg: string) => providerProcess.output.filter((line) => line.includes(`"msg":"${msg}"`))

describe('a steward edits the files of a running provider', () => {
  let agreementId: string
  let signed: unknown

  it('an agreement signed before a policy change keeps its terms and its access; the catalog serves the new offer', async () => {
    const offer = (await served(arctic)).body.hasPolicy[0]
    const started = await management(consumer, 'POST', '/negotiations', {
      peerUrl: `${provider.url}/dsp/2025-1`,
      peerId: provider.did,
      datasetId: arctic,
      offer,
    })
    expect(started.status, JSON.stringify(started.body)).toBe(201)
    const done = await until(async () => {
      const { body } = await management(consumer, 'GET', `/negotiations/${started.body.id}`)
      return body.state === 'FINALIZED' ? body : undefined
    })
    agreementId = done.agreementId
    signed = await agreement(consumer, agreementId)
    expect(signed).toMatchObject({ '@id': agreementId, permission: [{ duty: [expect.anything()] }] })
    expect(JSON.stringify(signed)).not.toContain('purpose')
    const providerCopy = await agreement(provider, agreementId)

    // The steward narrows the policy to research: the next catalog answer carries the new offer.
    const text = readFileSync(join(provider.dir, policyFile), 'utf8')
    writeFileSync(
      join(provider.dir, policyFile),
      text.replace('  - action: use\n', '  - action: use\n    constraints:\n      - { leftOperand: purpose, operator: isA, rightOperand: research }\n'),
    )
    const changed = await until(async () => {
      const now = (await served(arctic)).body.hasPolicy[0]
      return JSON.stringify(now).includes('purpose') ? now : undefined
    })
    expect(changed['@id']).not.toBe(offer['@id'])
    expect(logged('policies changed').some((line) => line.includes('"changed":["open-with-attribution"]') && line.includes(arctic))).toBe(true)

    // The agreements are stored documents: neither side's copy changed.
    expect(await agreement(consumer, agreementId)).toEqual(signed)
    expect(await agreement(provider, agreementId)).toEqual(providerCopy)

    // The new terms are in force for new negotiations: without a research purpose, refused…
    const refused = await management(consumer, 'POST', '/negotiations', {
      peerUrl: `${provider.url}/dsp/2025-1`,
      peerId: provider.did,
      datasetId: arctic,
      offer: changed,
    })
    expect(refused.status).toBe(201)
    const ended = await until(async () => {
      const { body } = await management(consumer, 'GET', `/negotiations/${refused.body.id}`)
      return body.state === 'TERMINATED' || body.state === 'FINALIZED' ? body : undefined
    })
    expect(ended.state).toBe('TERMINATED')
    // …while the agreement signed before still gives access under its own terms.
    const out = join(consumer.dir, 'pulled.csv')
    const pull = spawnCli({ args: ['transfer', agreementId, '--out', out, '--url', consumer.url, '--key', consumer.managementKey, '--timeout', '30'] })
    expect(await pull.exited, pull.output.join('\n')).toBe(0)
    expect(readFileSync(out).equals(readFileSync(join(provider.dir, 'files/arctic-sea-ice-extent-monthly-2015-2024.csv')))).toBe(true)
  }, 90_000)

  it('a broken policy file is refused: the offer in force stays served and the problem is listed', async () => {
    const before = (await served(arctic)).body
    writeFileSync(
      join(provider.dir, policyFile),
      'id: open-with-attribution\npermissions:\n  - action: use\n    constraints: [{ leftOperand: purpose, operator: isA\n',
    )
    const problems = await until(async () => {
      const { body } = await management(provider, 'GET', '/catalog/problems')
      return body.problems.some((p: any) => p.file === policyFile) ? body.problems : undefined
    })
    expect(problems.find((p: any) => p.file === policyFile).message).toContain('the previous version of this file stays in force')
    expect((await served(arctic)).body).toEqual(before)
    expect(logged('policy file problem').some((line) => line.includes(policyFile))).toBe(true)
    // Agreements are untouched by that too.
    expect(await agreement(consumer, agreementId)).toEqual(signed)
  })

  it('a dataset written by passerelle dataset add is published without a restart, and the log says so', async () => {
    writeFileSync(join(provider.dir, 'files/ice-2025.csv'), 'month,extent\n2025-01,13.1\n')
    const add = spawnCli({ cwd: provider.dir, args: ['dataset', 'add', 'files/ice-2025.csv', '--policy', 'research-only', '--id', 'urn:uuid:ice-2025'] })
    expect(await add.exited, add.output.join('\n')).toBe(0)
    const published = await until(async () => {
      const answer = await served('urn:uuid:ice-2025')
      return answer.status === 200 ? answer.body : undefined
    })
    expect(published['@id']).toBe('urn:uuid:ice-2025')
    expect(logged('catalog changed').some((line) => line.includes('"added":["urn:uuid:ice-2025 (datasets/ice-2025.yaml)"]'))).toBe(true)
  })
})
