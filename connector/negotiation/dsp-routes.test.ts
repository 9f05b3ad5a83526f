import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { expectDspValid } from '../../test/support/dsp-schemas.ts'
import type { Reaction, Reactions } from './reactions.ts'
import { staticOffers } from './policy-check.ts'
import { eventually, openOffer, schemaOf, startTestConnector, type TestConnector } from '../../test/support/negotiation.ts'

const providerId = 'did:web:provider.test'
const consumerId = 'did:web:consumer.test'
const strangerId = 'did:web:stranger.test'
const tokens = { 'token-provider': providerId, 'token-consumer': consumerId, 'token-stranger': strangerId }
const context = ['https://w3id.org/dspace/2025/1/context.jsonld']

/** The provider offers on a request, agrees on ACCEPTED, finalizes on verification. */
const offering: Reactions = {
  async react({ negotiation, trigger }): Promise<Reaction[]> {
    if (negotiation.role !== 'provider') return []
    if (trigger === 'request') return [{ kind: 'counter-offer', offer: openOffer('offer-1') }]
    if (trigger === 'accepted') return [{ kind: 'agreement' }]
    if (trigger === 'verification') return [{ kind: 'finalized' }]
    return []
  },
}

let provider: TestConnector
let outbound: Array<{ url: string; body: any }>
beforeEach(async () => {
  outbound = []
  provider = await startTestConnector({
    dialect: 'sqlite',
    participantId: providerId,
    tokens,
    offers: () => staticOffers({ 'dataset-1': [{ offer: openOffer('offer-1') }] }),
    reactions: () => offering,
    send: async (input) => {
      outbound.push({ url: input.url, body: input.body })
      return { status: 200, body: {} }
    },
  })
})
afterEach(async () => {
  await provider.stop()
})

type Answer = Omit<Response, 'json'> & { json(): Promise<any> }
const post = async (path: string, body: unknown, token: string | null = 'token-consumer', type = 'application/json'): Promise<Answer> =>
  await provider.app.request(`/dsp/2025-1/negotiations${path}`, {
    method: 'POST',
    headers: { 'content-type': type, ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
const get = async (pid: string, token = 'token-consumer'): Promise<Answer> =>
  await provider.app.request(`/dsp/2025-1/negotiations/${pid}`, { headers: { authorization: `Bearer ${token}` } })

const request = (consumerPid = 'urn:uuid:consumer-1', callbackAddress = 'http://127.0.0.1:9/callback/') => ({
  '@context': context,
  '@type': 'ContractRequestMessage',
  consumerPid,
  offer: { ...openOffer('offer-1'), target: 'dataset-1' },
  callbackAddress,
})
const event = (providerPid: string, eventType: string, consumerPid = 'urn:uuid:consumer-1') => ({
  '@context': context,
  '@type': 'ContractNegotiationEventMessage',
  providerPid,
  consumerPid,
  eventType,
})
const verification = (providerPid: string) => ({
  '@context': context,
  '@type': 'ContractAgreementVerificationMessage',
  providerPid,
  consumerPid: 'urn:uuid:consumer-1',
})
const termination = (providerPid: string) => ({
  '@context': context,
  '@type': 'ContractNegotiationTerminationMessage',
  providerPid,
  consumerPid: 'urn:uuid:consumer-1',
  code: 'C1',
  reason: [{ message: 'changed our mind' }],
})

async function opened() {
  const response = await post('/request', request())
  const body = await response.json()
  await eventually(async () => (outbound.length >= 1 ? true : undefined))
  return body.providerPid as string
}
const timelineLength = async (pid: string) => (await provider.management('GET', `/negotiations/${pid}`)).body.timeline.length

describe('provider endpoints: happy', () => {
  it('POST /negotiations/request answers 201 with the ContractNegotiation, then offers to the callback (trailing / handled)', async () => {
    const response = await post('/request', request())
    expect(response.status).toBe(201)
    const body = await response.json()
    expectDspValid(schemaOf.ContractNegotiation!, body)
    expect(body).toMatchObject({ consumerPid: 'urn:uuid:consumer-1', state: 'REQUESTED' })
    await eventually(async () => (outbound.length === 1 ? true : undefined))
    expect(outbound[0]!.url).toBe('http://127.0.0.1:9/callback/negotiations/urn%3Auuid%3Aconsumer-1/offers')
    expectDspValid(schemaOf.ContractOfferMessage!, outbound[0]!.body)
    const current = await (await get(body.providerPid)).json()
    expect(current.state).toBe('OFFERED')
  })

  it('walks ACCEPTED, verification and reaches FINALIZED; each answer is a valid ContractNegotiation', async () => {
    const pid = await opened()
    const accepted = await post(`/${pid}/events`, event(pid, 'ACCEPTED'))
    expect(accepted.status).toBe(200)
    expectDspValid(schemaOf.ContractNegotiation!, await accepted.json())
    await eventually(async () => (outbound.length === 2 ? true : undefined))
    expect(outbound[1]!.body['@type']).toBe('ContractAgreementMessage')
    expectDspValid(schemaOf.ContractAgreementMessage!, outbound[1]!.body)
    const verified = await post(`/${pid}/agreement/verification`, verification(pid))
    expect(verified.status).toBe(200)
    await eventually(async () => (outbound.length === 3 ? true : undefined))
    expect(outbound[2]!.body).toMatchObject({ '@type': 'ContractNegotiationEventMessage', eventType: 'FINALIZED' })
    expect((await (await get(pid)).json()).state).toBe('FINALIZED')
  })

  it('a repeated request (same consumerPid and offer) returns the existing process', async () => {
    const first = await (await post('/request', request())).json()
    const second = await post('/request', request())
    expect(second.status).toBe(201)
    expect((await second.json()).providerPid).toBe(first.providerPid)
    expect((await provider.management('GET', '/negotiations')).body.items).toHaveLength(1)
  })

  it('a repeated counter offer (its answer was lost) gets the same answer again', async () => {
    const pid = await opened()
    const counter = { ...request(), providerPid: pid }
    delete (counter as Record<string, unknown>).callbackAddress
    expect((await post(`/${pid}/request`, counter)).status).toBe(200)
    const again = await post(`/${pid}/request`, counter)
    expect(again.status).toBe(200)
    expect((await again.json()).state).toBe('REQUESTED')
  })

  it('error: a counter request with changed terms, a term spelled twice, another offer or another dataset answers 400, leaves the process as it was and puts the reason in its timeline', async () => {
    const pid = await opened()
    const before = await provider.management('GET', `/negotiations/${pid}`)
    const counter = (offer: Record<string, unknown>) => ({
      '@context': context,
      '@type': 'ContractRequestMessage',
      consumerPid: 'urn:uuid:consumer-1',
      providerPid: pid,
      offer,
    })
    const published = { ...openOffer('offer-1'), target: 'dataset-1' }
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ ...published, permission: [{ action: 'distribute' }] }, /offer offer-1 as sent differs from the one published for dataset dataset-1/],
      [
        { ...published, permission: [{ action: 'use', constraint: [], 'odrl:constraint': [{ leftOperand: 'count', operator: 'lteq', rightOperand: 1 }] }] },
        /offer offer-1 as sent is not a policy this connector accepts: .*constraint/,
      ],
      [{ ...published, '@id': 'offer-9' }, /offer offer-9 is not one of the offers published for dataset dataset-1/],
      [{ ...published, target: 'dataset-2' }, /offer offer-1 is not one of the offers published for dataset dataset-2/],
    ]
    for (const [offer, reason] of cases) {
      const response = await post(`/${pid}/request`, counter(offer))
      expect(response.status).toBe(400)
      const body = await response.json()
      expectDspValid(schemaOf.ContractNegotiationError!, body)
      expect(body.reason.join(' ')).toMatch(reason)
    }
    const after = (await provider.management('GET', `/negotiations/${pid}`)).body
    expect({ ...after, timeline: undefined, updatedAt: undefined }).toEqual({ ...before.body, timeline: undefined, updatedAt: undefined })
    const refusals = after.timeline.slice(before.body.timeline.length)
    expect(refusals.map((e: any) => [e.kind, e.fromState, e.toState])).toEqual(cases.map(() => ['refused', 'OFFERED', 'OFFERED']))
    cases.forEach(([, reason], i) => expect(refusals[i].reason).toMatch(reason))
  })

  it('happy: a repeated ACCEPTED after we answered it with an agreement is acknowledged with the current state, nothing changes', async () => {
    const pid = await opened()
    await post(`/${pid}/events`, event(pid, 'ACCEPTED'))
    await eventually(async () => (outbound.length === 2 ? true : undefined))
    const before = await timelineLength(pid)
    const again = await post(`/${pid}/events`, event(pid, 'ACCEPTED'))
    expect(again.status).toBe(200)
    expect((await again.json()).state).toBe('AGREED')
    expect(await timelineLength(pid)).toBe(before)
    expect(outbound).toHaveLength(2)
  })

  it('error: an ACCEPTED event never received, in a state that forbids it, is refused: 400, nothing changes', async () => {
    const pid = await opened()
    await post(`/${pid}/events`, event(pid, 'ACCEPTED'))
    await eventually(async () => (outbound.length === 2 ? true : undefined))
    const before = await timelineLength(pid)
    const other = await post(`/${pid}/events`, { ...event(pid, 'ACCEPTED'), note: 'another message' })
    expect(other.status).toBe(400)
    expect((await other.json()).reason).toEqual(['an ACCEPTED event is not allowed in state AGREED'])
    expect(await timelineLength(pid)).toBe(before)
  })

  it('the consumer may terminate; the reason is kept in the timeline', async () => {
    const pid = await opened()
    const response = await post(`/${pid}/termination`, termination(pid))
    expect(response.status).toBe(200)
    const { body } = await provider.management('GET', `/negotiations/${pid}`)
    expect(body.state).toBe('TERMINATED')
    expect(body.reason).toBe(`terminated by ${consumerId} (code C1): changed our mind`)
  })
})

describe('provider endpoints: errors', () => {
  it('a message not allowed in the current state answers 400 ContractNegotiationError with both pids and changes nothing', async () => {
    const pid = await opened()
    const before = await timelineLength(pid)
    const response = await post(`/${pid}/agreement/verification`, verification(pid))
    expect(response.status).toBe(400)
    const body = await response.json()
    expectDspValid(schemaOf.ContractNegotiationError!, body)
    expect(body).toMatchObject({
      providerPid: pid,
      consumerPid: 'urn:uuid:consumer-1',
      reason: ['a ContractAgreementVerificationMessage is not allowed in state OFFERED'],
    })
    expect(await timelineLength(pid)).toBe(before)
  })

  it('a TERMINATED negotiation accepts nothing new; a repeated termination is acknowledged and changes nothing', async () => {
    const pid = await opened()
    await post(`/${pid}/termination`, termination(pid))
    const before = await timelineLength(pid)
    const again = await post(`/${pid}/termination`, termination(pid))
    expect(again.status).toBe(200)
    expect((await again.json()).state).toBe('TERMINATED')
    const response = await post(`/${pid}/events`, event(pid, 'ACCEPTED'))
    expect(response.status).toBe(400)
    expect((await response.json()).reason).toEqual(['the negotiation is TERMINATED and accepts no further messages'])
    expect(await timelineLength(pid)).toBe(before)
  })

  it('a message only a provider sends is refused by the provider', async () => {
    const pid = await opened()
    const response = await post(`/${pid}/events`, event(pid, 'FINALIZED'))
    expect(response.status).toBe(400)
    expect((await response.json()).reason).toEqual(['a provider cannot receive a FINALIZED event'])
  })

  it('an unknown pid answers 404 ContractNegotiationError', async () => {
    const response = await post('/urn:uuid:nothing/termination', termination('urn:uuid:nothing'))
    expect(response.status).toBe(404)
    expectDspValid(schemaOf.ContractNegotiationError!, await response.json())
    expect((await get('urn:uuid:nothing')).status).toBe(404)
  })

  it('malformed, wrong-type, unknown-context and ambiguous messages answer 400 (415 for a non-JSON type) and create nothing', async () => {
    expect((await post('/request', '{not json')).status).toBe(400)
    expect((await post('/request', request(), 'token-consumer', 'text/plain')).status).toBe(415)
    expect((await post('/request', { ...request(), '@type': 'ContractOfferMessage' })).status).toBe(400)
    expect((await post('/request', { ...request(), providerPid: 'urn:uuid:x' })).status).toBe(400)
    const remote = await post('/request', { ...request(), '@context': [...context, 'https://evil.example/context.jsonld'] })
    expect(remote.status).toBe(400)
    expect((await remote.json()).reason[0]).toMatch(/https:\/\/evil\.example\/context\.jsonld/)
    const remapped = await post('/request', { ...request(), '@context': [...context, { permission: 'https://evil.example/anything' }] })
    expect(remapped.status).toBe(400)
    expect((await remapped.json()).reason[0]).toMatch(/`permission` is a DSP or ODRL term/)
    const { offer: _offer, ...noOffer } = request()
    const response = await post('/request', noOffer)
    expect(response.status).toBe(400)
    expectDspValid(schemaOf.ContractNegotiationError!, await response.json())
    expect((await provider.management('GET', '/negotiations')).body.items).toHaveLength(0)
  })

  it('an oversized body answers 413 and creates nothing', async () => {
    const huge = { ...request(), padding: 'x'.repeat(1024 * 1024 + 10) }
    const response = await post('/request', huge)
    expect(response.status).toBe(413)
    expect((await provider.management('GET', '/negotiations')).body.items).toHaveLength(0)
  })

  it('a message whose pid does not match the path answers 400', async () => {
    const pid = await opened()
    const response = await post(`/${pid}/events`, event('urn:uuid:other', 'ACCEPTED'))
    expect(response.status).toBe(400)
  })

  it('the first request without callbackAddress (a counter offer sent to the wrong path) answers 400', async () => {
    const { callbackAddress: _c, ...rest } = request()
    const response = await post('/request', { ...rest, providerPid: 'urn:uuid:x' })
    expect(response.status).toBe(400)
    expect((await response.json()).reason[0]).toMatch(/send it to \/negotiations\/:providerPid\/request/)
  })
})

describe('provider endpoints: security', () => {
  it('no token or an unknown token answers 401 and creates nothing', async () => {
    expect((await post('/request', request(), null)).status).toBe(401)
    expect((await post('/request', request(), 'forged')).status).toBe(401)
    expect((await provider.management('GET', '/negotiations')).body.items).toHaveLength(0)
  })

  it("another participant's process answers 404 to every message and to GET, and does not change", async () => {
    const pid = await opened()
    const before = await timelineLength(pid)
    for (const response of [
      await post(`/${pid}/termination`, termination(pid), 'token-stranger'),
      await post(`/${pid}/events`, event(pid, 'ACCEPTED'), 'token-stranger'),
      await get(pid, 'token-stranger'),
    ]) {
      expect(response.status).toBe(404)
    }
    expect(await timelineLength(pid)).toBe(before)
    expect((await (await get(pid)).json()).state).toBe('OFFERED')
  })

  it('the same consumerPid from another participant is another process', async () => {
    const mine = await (await post('/request', request())).json()
    const theirs = await (await post('/request', request(), 'token-stranger')).json()
    expect(theirs.providerPid).not.toBe(mine.providerPid)
  })

  it('the management API needs its key', async () => {
    const response = await provider.app.request('/management/v1/negotiations')
    expect(response.status).toBe(401)
  })
})

describe('provider endpoints: open negotiations per peer', () => {
  it('a peer at negotiation.maxOpenPerPeer gets 429 with the reason and nothing is stored; a repeat is still answered, other peers are not affected, and a finished one makes room', async () => {
    const limited = await startTestConnector({
      dialect: 'sqlite',
      participantId: providerId,
      tokens,
      maxOpenPerPeer: 3,
      offers: () => staticOffers({ 'dataset-1': [{ offer: openOffer('offer-1') }] }),
      reactions: () => ({ react: async () => [] }),
      send: async () => ({ status: 200, body: {} }),
    })
    try {
      const ask = async (consumerPid: string, token = 'token-consumer') =>
        await limited.app.request('/dsp/2025-1/negotiations/request', {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify(request(consumerPid)),
        })
      const opened: any[] = []
      for (const n of [1, 2, 3]) opened.push(await (await ask(`urn:uuid:open-${n}`)).json())
      const count = async () => (await limited.management('GET', '/negotiations?limit=100')).body.items.length

      const refused = await ask('urn:uuid:open-4')
      expect(refused.status).toBe(429)
      expect(refused.headers.get('retry-after')).toBe('60')
      const body = (await refused.json()) as any
      expectDspValid(schemaOf.ContractNegotiationError!, body)
      expect(JSON.stringify(body.reason)).toContain(`${consumerId} already has 3 open negotiations with this connector (negotiation.maxOpenPerPeer)`)
      expect(await count()).toBe(3)

      // The answer to an applied request got lost: its repeat is acknowledged, not refused.
      const repeat = await ask('urn:uuid:open-1')
      expect(repeat.status).toBe(201)
      expect(((await repeat.json()) as any).providerPid).toBe(opened[0].providerPid)
      // Another peer has its own room.
      expect((await ask('urn:uuid:open-4', 'token-stranger')).status).toBe(201)

      // One ends: there is room again.
      const ended = await limited.app.request(`/dsp/2025-1/negotiations/${opened[1].providerPid}/termination`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer token-consumer' },
        body: JSON.stringify({ ...termination(opened[1].providerPid), consumerPid: 'urn:uuid:open-2' }),
      })
      expect(ended.status).toBe(200)
      expect((await ask('urn:uuid:open-4')).status).toBe(201)
      expect((await ask('urn:uuid:open-5')).status).toBe(429)
      expect(await count()).toBe(5)
    } finally {
      await limited.stop()
    }
  })
})
