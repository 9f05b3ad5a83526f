import { afterEach, describe, expect, it } from 'vitest'
import { expectDspValid } from '../support/dsp-schemas.ts'
import type { PolicyCheck } from '../../connector/negotiation/decision.ts'
import { staticOffers } from '../../connector/negotiation/policy-check.ts'
import { receiveRequest } from '../../connector/negotiation/service.ts'
import { eventually, openOffer, schemaOf, startTestConnector, type TestConnector } from '../support/negotiation.ts'

/**
 * Two connectors in one process, each with its own store and HTTP server on 127.0.0.1, negotiating
 * over real HTTP: provider on one dialect, consumer on the other.
 */
const providerId = 'did:web:provider.test'
const consumerId = 'did:web:consumer.test'
const tokens = { 'token-provider': providerId, 'token-consumer': consumerId }
const allow: PolicyCheck = () => ({ allowed: true, reason: 'open to everyone' })
const offers = staticOffers({ 'dataset-1': [{ offer: openOffer('offer-1') }] })

let running: TestConnector[] = []
afterEach(async () => {
  await Promise.all(running.map((c) => c.stop()))
  running = []
})

function wire() {
  const sent: Array<{ url: string; body: any; answer: any }> = []
  const onSend = (message: { url: string; body: unknown }, answer: { status: number; body: unknown } | Error) =>
    sent.push({ url: message.url, body: message.body, answer })
  return { sent, onSend }
}

async function pair(options: {
  providerDialect: 'sqlite' | 'postgres'
  check?: PolicyCheck
  consumerMode?: 'auto' | 'manual'
  providerOffers?: typeof offers
}) {
  const w = wire()
  const provider = await startTestConnector({
    dialect: options.providerDialect,
    participantId: providerId,
    tokens,
    serve: true,
    offers: () => options.providerOffers ?? offers,
    check: options.check ?? allow,
    onSend: w.onSend,
  })
  running.push(provider)
  const consumer = await startTestConnector({
    dialect: options.providerDialect === 'sqlite' ? 'postgres' : 'sqlite',
    participantId: consumerId,
    tokens,
    serve: true,
    consumerMode: options.consumerMode ?? 'auto',
    onSend: w.onSend,
  })
  running.push(consumer)
  return { provider, consumer, sent: w.sent }
}

const stateOf = async (c: TestConnector, id: string, state: string) => {
  const { body } = await c.management('GET', `/negotiations/${id}`)
  return body.state === state ? body : undefined
}
const providerSide = async (provider: TestConnector, consumerPid: string) => {
  const { body } = await provider.management('GET', '/negotiations?role=provider')
  return body.items.find((n: any) => n.consumerPid === consumerPid)
}

/** Waits until `count` sends have had their answers recorded. */
const untilSent = (sent: unknown[], count: number) => eventually(() => (sent.length >= count ? true : undefined))

function expectAllValid(sent: Array<{ body: any; answer: any }>) {
  expect(sent.length).toBeGreaterThan(0)
  for (const { body, answer } of sent) {
    expectDspValid(schemaOf[body['@type']]!, body)
    if (!(answer instanceof Error) && answer.body && typeof answer.body === 'object') expectDspValid(schemaOf[answer.body['@type']]!, answer.body)
  }
}

describe.each(['sqlite', 'postgres'] as const)('negotiation between two connectors (provider on %s)', (providerDialect) => {
  it('happy: request, agreement, verification, finalized; the same agreement on both sides', async () => {
    const { provider, consumer, sent } = await pair({ providerDialect })
    const start = await consumer.management('POST', '/negotiations', {
      peerUrl: provider.dspUrl,
      peerId: providerId,
      datasetId: 'dataset-1',
      offer: openOffer('offer-1'),
    })
    expect(start.status).toBe(201)
    const done = await eventually(() => stateOf(consumer, start.body.id, 'FINALIZED'))
    const other = await eventually(async () => {
      const n = await providerSide(provider, start.body.id)
      return n?.state === 'FINALIZED' ? n : undefined
    })
    expect(done.agreementId).toBe(other.agreementId)
    expect(done.timeline.map((e: any) => `${e.direction} ${e.kind} ${e.toState}`)).toEqual([
      'outbound request REQUESTED',
      'inbound agreement AGREED',
      'outbound verification VERIFIED',
      'inbound finalized FINALIZED',
    ])
    const [consumerAgreements, providerAgreements] = await Promise.all([consumer.management('GET', '/agreements'), provider.management('GET', '/agreements')])
    expect(consumerAgreements.body.items).toHaveLength(1)
    expect(providerAgreements.body.items[0]).toMatchObject({ '@id': done.agreementId, target: 'dataset-1', assigner: providerId, assignee: consumerId })
    // The provider can show FINALIZED before its last send's answer is recorded.
    await untilSent(sent, 4)
    expect(sent.map((s) => s.body['@type'])).toEqual([
      'ContractRequestMessage',
      'ContractAgreementMessage',
      'ContractAgreementVerificationMessage',
      'ContractNegotiationEventMessage',
    ])
    expectAllValid(sent)
  })

  it('error: a refused policy terminates both sides with the readable reason', async () => {
    const { provider, consumer, sent } = await pair({
      providerDialect,
      check: () => ({ allowed: false, reason: 'a MembershipCredential is required and none was presented' }),
    })
    const start = await consumer.management('POST', '/negotiations', { peerUrl: provider.dspUrl, datasetId: 'dataset-1', offer: openOffer('offer-1') })
    const done = await eventually(() => stateOf(consumer, start.body.id, 'TERMINATED'))
    expect(done.reason).toBe(`terminated by ${providerId}: policy \`offer-1\` not met: a MembershipCredential is required and none was presented`)
    const other = await providerSide(provider, start.body.id)
    expect(other).toMatchObject({ state: 'TERMINATED', reason: 'policy `offer-1` not met: a MembershipCredential is required and none was presented' })
    expectAllValid(sent)
  })

  it('error: an offer the provider does not publish, or one whose rules were changed, is refused with the reason and no provider process', async () => {
    const { provider, consumer } = await pair({ providerDialect })
    const unknown = await consumer.management('POST', '/negotiations', { peerUrl: provider.dspUrl, datasetId: 'dataset-1', offer: openOffer('offer-9') })
    const changed = await consumer.management('POST', '/negotiations', {
      peerUrl: provider.dspUrl,
      datasetId: 'dataset-1',
      offer: { ...openOffer('offer-1'), permission: [{ action: 'use' }, { action: 'distribute' }] },
    })
    const a = await eventually(() => stateOf(consumer, unknown.body.id, 'TERMINATED'))
    const b = await eventually(() => stateOf(consumer, changed.body.id, 'TERMINATED'))
    expect(a.reason).toMatch(/offer offer-9 is not one of the offers published for dataset dataset-1/)
    expect(b.reason).toMatch(/offer offer-1 as sent differs from the one published for dataset dataset-1; request the published offer as it is/)
    expect((await provider.management('GET', '/negotiations?role=provider')).body.items).toEqual([])
  })
})

describe('negotiation between two connectors: more outcomes', () => {
  it('happy: the provider counter-offers an offer the requester qualifies for; the consumer accepts the same terms', async () => {
    const twoOffers = staticOffers({ 'dataset-1': [{ offer: openOffer('offer-members') }, { offer: openOffer('offer-public') }] })
    const check: PolicyCheck = ({ published }) =>
      published.offer['@id'] === 'offer-public' ? { allowed: true, reason: 'open' } : { allowed: false, reason: 'members only' }
    const { provider, consumer, sent } = await pair({ providerDialect: 'sqlite', check, providerOffers: twoOffers })
    const start = await consumer.management('POST', '/negotiations', { peerUrl: provider.dspUrl, datasetId: 'dataset-1', offer: openOffer('offer-members') })
    const done = await eventually(() => stateOf(consumer, start.body.id, 'FINALIZED'))
    expect(done.timeline.map((e: any) => `${e.direction} ${e.kind}`)).toEqual([
      'outbound request',
      'inbound counter-offer',
      'outbound accepted',
      'inbound agreement',
      'outbound verification',
      'inbound finalized',
    ])
    const other = await providerSide(provider, start.body.id)
    expect(other.offerId).toBe('offer-public')
    expectAllValid(sent)
  })

  it('happy: in manual mode the agreement waits for a person, then completes on approval', async () => {
    const { provider, consumer } = await pair({ providerDialect: 'sqlite', consumerMode: 'manual' })
    const start = await consumer.management('POST', '/negotiations', { peerUrl: provider.dspUrl, datasetId: 'dataset-1', offer: openOffer('offer-1') })
    const held = await eventually(async () => {
      const n = await stateOf(consumer, start.body.id, 'AGREED')
      return n?.pending ? n : undefined
    })
    expect(held.pending).toBe('manual mode: the agreement waits for approval')
    const approved = await consumer.management('POST', `/negotiations/${start.body.id}/approve`)
    expect(approved.status).toBe(200)
    expect(approved.body.state).toBe('VERIFIED')
    await eventually(() => stateOf(consumer, start.body.id, 'FINALIZED'))
    const again = await consumer.management('POST', `/negotiations/${start.body.id}/approve`)
    expect(again.status).toBe(409)
  })

  it('error: a dead peer ends TERMINATED after exactly the configured number of attempts', async () => {
    const w = wire()
    const consumer = await startTestConnector({
      dialect: 'sqlite',
      participantId: consumerId,
      tokens,
      serve: true,
      maxAttempts: 3,
      baseDelayMs: 5,
      onSend: w.onSend,
    })
    running.push(consumer)
    const start = await consumer.management('POST', '/negotiations', {
      peerUrl: 'http://127.0.0.1:9/dsp/2025-1',
      datasetId: 'dataset-1',
      offer: openOffer('offer-1'),
    })
    const done = await eventually(() => stateOf(consumer, start.body.id, 'TERMINATED'))
    expect(w.sent).toHaveLength(3)
    expect(done.reason).toMatch(
      /^our ContractRequestMessage could not be delivered: delivery to http:\/\/127\.0\.0\.1:9\/dsp\/2025-1\/negotiations\/request failed after 3 attempts: the peer could not be reached/,
    )
    expect(done.timeline.at(-1)).toMatchObject({ kind: 'dispatch-failed', toState: 'TERMINATED' })
  })

  it('happy: the decision step of a request stored without any answer going out (no HTTP response at all) still runs, without a restart', async () => {
    const { provider, consumer, sent } = await pair({ providerDialect: 'postgres' })
    // The consumer starts normally; its request is then stored at the provider through the
    // service alone: no route, no socket, no answer event (what a socket closed early leaves).
    const start = await consumer.management('POST', '/negotiations', {
      peerUrl: provider.dspUrl,
      peerId: providerId,
      datasetId: 'dataset-1',
      offer: openOffer('offer-1'),
    })
    await eventually(() => stateOf(consumer, start.body.id, 'FINALIZED'))
    const { rt } = provider.area.runtime
    const request = sent.find((s) => s.body['@type'] === 'ContractRequestMessage')!.body
    const lost = { ...request, consumerPid: `urn:uuid:${crypto.randomUUID()}` }
    const { negotiation } = await receiveRequest({ rt, requester: { participantId: consumerId, credentials: [] }, message: lost })
    expect(negotiation.state).toBe('REQUESTED')
    const moved = await eventually(async () => {
      const n = await providerSide(provider, lost.consumerPid)
      return n && n.state !== 'REQUESTED' ? n : undefined
    }, 15_000)
    const { body } = await provider.management('GET', `/negotiations/${moved.id}`)
    expect(body.timeline.map((e: any) => `${e.direction} ${e.kind}`).slice(0, 2)).toEqual(['inbound request', 'outbound agreement'])
  })

  it('happy: every message of a finished negotiation sent again (agreement, verification, events) is acknowledged with the current state and changes nothing', async () => {
    const { provider, consumer, sent } = await pair({ providerDialect: 'sqlite' })
    const start = await consumer.management('POST', '/negotiations', {
      peerUrl: provider.dspUrl,
      peerId: providerId,
      datasetId: 'dataset-1',
      offer: openOffer('offer-1'),
    })
    const done = await eventually(() => stateOf(consumer, start.body.id, 'FINALIZED'))
    const other = await eventually(async () => {
      const n = await providerSide(provider, start.body.id)
      return n?.state === 'FINALIZED' ? n : undefined
    })
    const timelines = async () => [
      (await consumer.management('GET', `/negotiations/${done.id}`)).body.timeline.length,
      (await provider.management('GET', `/negotiations/${other.id}`)).body.timeline.length,
    ]
    const before = await timelines()
    await untilSent(sent, 4)
    const sentCount = sent.length
    // The messages each side sent, sent again as its outbox would after a crash.
    for (const message of sent.filter((m) => m.body['@type'] !== 'ContractRequestMessage')) {
      const token = message.url.startsWith(provider.dspUrl) ? 'token-consumer' : 'token-provider'
      const response = await fetch(message.url, {
        method: 'POST',
        headers: { authorization: token, 'content-type': 'application/json' },
        body: JSON.stringify(message.body),
      })
      expect(response.status, `${message.body['@type']} again`).toBe(200)
      expect(((await response.json()) as { state: string }).state).toBe('FINALIZED')
    }
    // A request sent again names the same process: acknowledged too.
    const request = sent.find((m) => m.body['@type'] === 'ContractRequestMessage')!
    const again = await fetch(request.url, {
      method: 'POST',
      headers: { authorization: 'token-consumer', 'content-type': 'application/json' },
      body: JSON.stringify(request.body),
    })
    expect(again.status).toBeLessThan(300)
    expect(((await again.json()) as { state: string }).state).toBe('FINALIZED')
    expect(await timelines()).toEqual(before)
    expect(sent.length).toBe(sentCount)
  })

  it('error: an agreement with other terms (or another agreement) sent after the consumer verified is a conflict: 400, nothing changes', async () => {
    const { provider, consumer, sent } = await pair({ providerDialect: 'postgres', consumerMode: 'manual' })
    const start = await consumer.management('POST', '/negotiations', {
      peerUrl: provider.dspUrl,
      peerId: providerId,
      datasetId: 'dataset-1',
      offer: openOffer('offer-1'),
    })
    await eventually(async () => {
      const { body } = await consumer.management('GET', `/negotiations/${start.body.id}`)
      return body.state === 'AGREED' && body.pending ? body : undefined
    })
    const agreement = sent.find((m) => m.body['@type'] === 'ContractAgreementMessage')!
    const post = (body: unknown) =>
      fetch(agreement.url, { method: 'POST', headers: { authorization: 'token-provider', 'content-type': 'application/json' }, body: JSON.stringify(body) })
    const before = (await consumer.management('GET', `/negotiations/${start.body.id}`)).body
    const otherTerms = {
      ...agreement.body,
      agreement: { ...agreement.body.agreement, permission: [{ action: 'use', constraint: [{ leftOperand: 'count', operator: 'lteq', rightOperand: 1 }] }] },
    }
    const otherAgreement = { ...agreement.body, agreement: { ...agreement.body.agreement, '@id': `urn:uuid:${crypto.randomUUID()}` } }
    for (const body of [otherTerms, otherAgreement]) {
      const response = await post(body)
      expect(response.status).toBe(400)
      expect(await response.json()).toMatchObject({
        '@type': 'ContractNegotiationError',
        consumerPid: start.body.id,
        reason: ['a ContractAgreementMessage is not allowed in state AGREED'],
      })
    }
    // The very same agreement again is a repeat: acknowledged.
    expect((await post(agreement.body)).status).toBe(200)
    const after = (await consumer.management('GET', `/negotiations/${start.body.id}`)).body
    expect(after.timeline).toEqual(before.timeline)
    expect(after.agreementId).toBe(before.agreementId)
  })
})
