import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { PolicyCheck } from '../negotiation/decision.ts'
import { staticOffers } from '../negotiation/policy-check.ts'
import { eventually, startTestConnector, type TestConnector } from '../../test/support/negotiation.ts'

/**
 * Duties bind, through the public interfaces of two connectors (DSP between them, each one's
 * management API), each dialect on each side: an agreement's attribution duty is recorded pending
 * when it is made, acknowledged by the consumer's verification, and a transfer under it is refused
 * once the provider's operator marks it violated, with the engine's reason.
 */
const providerId = 'did:web:provider.test'
const consumerId = 'did:web:consumer.test'
const tokens = { 'token-provider': providerId, 'token-consumer': consumerId }
const allow: PolicyCheck = () => ({ allowed: true, reason: 'open to everyone' })
const withAttribution = { '@id': 'urn:uuid:offer-credit', '@type': 'Offer', permission: [{ action: 'use', duty: [{ action: 'attribute' }] }] }

let running: TestConnector[] = []
afterEach(async () => {
  await Promise.all(running.map((c) => c.stop()))
  running = []
})

async function pair(providerDialect: 'sqlite' | 'postgres') {
  const folder = mkdtempSync(join(tmpdir(), 'duties-'))
  writeFileSync(join(folder, 'data.bin'), 'observations')
  const provider = await startTestConnector({
    dialect: providerDialect,
    participantId: providerId,
    tokens,
    serve: true,
    offers: () => staticOffers({ 'dataset-1': [{ offer: withAttribution }] }),
    check: allow,
    transfers: { file: join(folder, 'data.bin') },
  })
  running.push(provider)
  const consumer = await startTestConnector({
    dialect: providerDialect === 'sqlite' ? 'postgres' : 'sqlite',
    participantId: consumerId,
    tokens,
    serve: true,
    consumerMode: 'manual',
    transfers: { file: join(folder, 'data.bin') },
  })
  running.push(consumer)
  return { provider, consumer }
}

const duties = async (c: TestConnector, agreementId: string) => (await c.management('GET', `/agreements/${agreementId}/obligations`)).body
const transferEnd = (c: TestConnector, id: string) =>
  eventually(async () => {
    const { body } = await c.management('GET', `/transfers/${id}`)
    return body.state === 'STARTED' || body.state === 'TERMINATED' ? body : undefined
  })

describe.each(['sqlite', 'postgres'] as const)('duties of an agreement (provider on %s)', (dialect) => {
  it('pending at agreement, acknowledged by the verification, then refused once marked violated, naming duty and policy', async () => {
    const { provider, consumer } = await pair(dialect)
    const start = await consumer.management('POST', '/negotiations', {
      peerUrl: provider.dspUrl,
      peerId: providerId,
      datasetId: 'dataset-1',
      offer: withAttribution,
    })
    expect(start.status).toBe(201)
    // The consumer holds the agreement for a person: AGREED, not verified yet.
    const agreed = await eventually(async () => {
      const { body } = await consumer.management('GET', `/negotiations/${start.body.id}`)
      return body.state === 'AGREED' && body.pending ? body : undefined
    })
    const agreementId = agreed.agreementId as string
    for (const side of [provider, consumer]) {
      expect((await duties(side, agreementId)).items.map((o: any) => [o.id, o.action, o.status])).toEqual([['permission-1-duty-1', 'attribute', 'pending']])
    }
    // Before the verification no transfer can be asked: the agreement is not in force.
    const early = await consumer.management('POST', '/transfers', { agreementId, format: 'pull' })
    expect(early.status).toBeGreaterThanOrEqual(400)
    expect(early.status).toBeLessThan(500)

    expect((await consumer.management('POST', `/negotiations/${start.body.id}/approve`)).status).toBe(200)
    await eventually(async () => ((await consumer.management('GET', `/negotiations/${start.body.id}`)).body.state === 'FINALIZED' ? true : undefined))
    for (const [side, actor] of [
      [provider, consumerId],
      [consumer, consumerId],
    ] as const) {
      const listed = await duties(side, agreementId)
      expect(listed.items[0].status).toBe('acknowledged')
      expect(listed.timeline.at(-1)).toMatchObject({
        fromStatus: 'pending',
        toStatus: 'acknowledged',
        actor,
        reason: "acknowledged by the consumer's agreement verification",
      })
    }

    const allowed = await consumer.management('POST', '/transfers', { agreementId, format: 'pull' })
    expect(allowed.status).toBe(201)
    expect((await transferEnd(consumer, allowed.body.id)).state).toBe('STARTED')

    // Marking a duty with a status the API does not know changes nothing.
    expect((await provider.management('POST', `/agreements/${agreementId}/obligations/permission-1-duty-1`, { status: 'forgotten' })).status).toBe(400)
    const marked = await provider.management('POST', `/agreements/${agreementId}/obligations/permission-1-duty-1`, {
      status: 'violated',
      reason: 'no credit given',
    })
    expect(marked.body).toMatchObject({ status: 'violated', reason: 'no credit given' })

    const refused = await consumer.management('POST', '/transfers', { agreementId, format: 'pull' })
    const ended = await transferEnd(consumer, refused.body.id)
    expect(ended.state).toBe('TERMINATED')
    expect(ended.reason).toContain('duty 1 of permission 1 (use)')
    expect(ended.reason).toContain('`attribute`')
    expect(ended.reason).toContain('was violated')
    // The provider's own record says the same.
    const providerSide = (await provider.management('GET', '/transfers?role=provider')).body.items.find((t: any) => t.consumerPid === refused.body.id)
    expect(providerSide.state).toBe('TERMINATED')
    expect(providerSide.reason).toContain('`attribute`')
  }, 60_000)
})
