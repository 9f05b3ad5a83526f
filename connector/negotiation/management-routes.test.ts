import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { expectDspValid } from '../../test/support/dsp-schemas.ts'
import { eventually, openOffer, schemaOf, startTestConnector, type TestConnector } from './test-support.ts'

/** The consumer side through the management API, with the wire captured (no peer). */
const consumerId = 'did:web:consumer.test'
const providerId = 'did:web:provider.test'
const tokens = { 'token-provider': providerId, 'token-consumer': consumerId }
const context = ['https://w3id.org/dspace/2025/1/context.jsonld']

let consumer: TestConnector
let outbound: Array<{ url: string; body: any }>
beforeEach(async () => {
  outbound = []
  consumer = await startTestConnector({
    dialect: 'sqlite',
    participantId: consumerId,
    tokens,
    send: async (input) => {
      outbound.push({ url: input.url, body: input.body })
      const body = input.body as any
      if (body['@type'] === 'ContractRequestMessage' && input.url.endsWith('/negotiations/request')) {
        return { status: 201, body: { '@context': context, '@type': 'ContractNegotiation', providerPid: 'urn:uuid:provider-1', consumerPid: body.consumerPid, state: 'REQUESTED' } }
      }
      return { status: 200, body: undefined }
    },
  })
})
afterEach(async () => {
  await consumer.stop()
})

const start = (body: Record<string, unknown>) =>
  consumer.management('POST', '/negotiations', { peerUrl: 'http://127.0.0.1:9/dsp/2025-1/', datasetId: 'dataset-1', offer: openOffer('offer-1'), ...body })

describe('management API: negotiations', () => {
  it('happy: start sends a valid request to the peer (trailing / handled) and records the provider pid from its answer', async () => {
    const started = await start({})
    expect(started.status).toBe(201)
    expect(started.body).toMatchObject({ role: 'consumer', state: 'REQUESTED', datasetId: 'dataset-1', offerId: 'offer-1', mode: 'auto' })
    await eventually(async () => (outbound.length === 1 ? true : undefined))
    expect(outbound[0]!.url).toBe('http://127.0.0.1:9/dsp/2025-1/negotiations/request')
    expectDspValid(schemaOf.ContractRequestMessage!, outbound[0]!.body)
    expect(outbound[0]!.body).toMatchObject({ consumerPid: started.body.id, callbackAddress: consumer.dspUrl, offer: { '@id': 'offer-1', target: 'dataset-1' } })
    const read = await eventually(async () => {
      const { body } = await consumer.management('GET', `/negotiations/${started.body.id}`)
      return body.providerPid ? body : undefined
    })
    expect(read.providerPid).toBe('urn:uuid:provider-1')
    expect(read.timeline).toEqual([expect.objectContaining({ seq: 1, kind: 'request', direction: 'outbound', actor: 'management', fromState: null, toState: 'REQUESTED' })])
  })

  it('happy: list filters by state, dataset and role', async () => {
    const a = await start({})
    await start({ datasetId: 'dataset-2' })
    await eventually(async () => (outbound.length === 2 ? true : undefined))
    await consumer.management('POST', `/negotiations/${a.body.id}/terminate`, { reason: 'no longer needed' })
    const byState = await consumer.management('GET', '/negotiations?state=TERMINATED')
    expect(byState.body.items.map((n: any) => n.id)).toEqual([a.body.id])
    const byDataset = await consumer.management('GET', '/negotiations?dataset=dataset-2')
    expect(byDataset.body.items).toHaveLength(1)
    expect((await consumer.management('GET', '/negotiations?role=provider')).body.items).toHaveLength(0)
  })

  it('happy: terminate sends a valid termination with the reason; a second terminate answers 409', async () => {
    const started = await start({})
    await eventually(async () => (outbound.length === 1 ? true : undefined))
    const ended = await consumer.management('POST', `/negotiations/${started.body.id}/terminate`, { reason: 'budget cut' })
    expect(ended.status).toBe(200)
    expect(ended.body).toMatchObject({ state: 'TERMINATED', reason: 'budget cut' })
    await eventually(async () => (outbound.length === 2 ? true : undefined))
    expectDspValid(schemaOf.ContractNegotiationTerminationMessage!, outbound[1]!.body)
    expect(outbound[1]!.url).toBe('http://127.0.0.1:9/dsp/2025-1/negotiations/urn%3Auuid%3Aprovider-1/termination')
    expect(outbound[1]!.body.reason).toEqual(['budget cut'])
    expect((await consumer.management('POST', `/negotiations/${started.body.id}/terminate`, {})).status).toBe(409)
  })

  it('happy: a long poll answers once the timeline goes past `after`, or with the state as it is when the wait ends', async () => {
    const started = await start({})
    const id = started.body.id
    // Already past: answers at once.
    expect((await consumer.management('GET', `/negotiations/${id}?after=0&wait=5`)).body.timeline).toHaveLength(1)
    // Nothing happens: the current state once the wait is over.
    const quiet = await consumer.management('GET', `/negotiations/${id}?after=1&wait=0.2`)
    expect(quiet.body).toMatchObject({ state: 'REQUESTED', timeline: [expect.objectContaining({ seq: 1 })] })
    // A change wakes the waiting reader with what was committed.
    let settled = false
    const polled = consumer.management('GET', `/negotiations/${id}?after=1&wait=20`).finally(() => (settled = true))
    await new Promise((resolve) => setTimeout(resolve, 150))
    expect(settled).toBe(false)
    await consumer.management('POST', `/negotiations/${id}/terminate`, { reason: 'woken' })
    const woken = await polled
    expect(woken.body).toMatchObject({ state: 'TERMINATED', reason: 'woken' })
    expect(woken.body.timeline.map((e: any) => e.seq)).toEqual([1, 2])
    // An ended negotiation never makes a reader wait.
    expect((await consumer.management('GET', `/negotiations/${id}?after=2&wait=20`)).body.state).toBe('TERMINATED')
  })

  it('error: a long poll with a bad wait or after answers 400; on an unknown id 404', async () => {
    const started = await start({})
    for (const query of ['wait=31', 'wait=-1', 'wait=soon', 'after=-2', 'after=1.5']) {
      const response = await consumer.management('GET', `/negotiations/${started.body.id}?${query}`)
      expect(response.status, query).toBe(400)
      expect(response.body.error.message).toMatch(/wait|after/)
    }
    expect((await consumer.management('GET', '/negotiations/urn:uuid:none?wait=1')).status).toBe(404)
  })

  it('error: bad input answers 400 and creates nothing; unknown ids 404; nothing to approve 409', async () => {
    expect((await consumer.management('POST', '/negotiations', { peerUrl: 'ftp://x', datasetId: 'd', offer: openOffer('o') })).status).toBe(400)
    expect((await consumer.management('POST', '/negotiations', { peerUrl: 'http://127.0.0.1:9', datasetId: 'd', offer: openOffer('o'), surprise: 1 })).status).toBe(400)
    expect((await consumer.management('POST', '/negotiations', { peerUrl: 'http://127.0.0.1:9', datasetId: 'd', offerId: 'x', offer: openOffer('o') })).status).toBe(400)
    expect((await consumer.management('GET', '/negotiations')).body.items).toHaveLength(0)
    expect((await consumer.management('GET', '/negotiations/urn:uuid:none')).status).toBe(404)
    expect((await consumer.management('POST', '/negotiations/urn:uuid:none/terminate', {})).status).toBe(404)
    const started = await start({})
    expect((await consumer.management('POST', `/negotiations/${started.body.id}/approve`)).status).toBe(409)
    expect((await consumer.management('GET', '/agreements/urn:uuid:none')).status).toBe(404)
  })
})

describe('consumer endpoints: an offer the provider opens', () => {
  const initialOffer = {
    '@context': context,
    '@type': 'ContractOfferMessage',
    providerPid: 'urn:uuid:provider-9',
    offer: { ...openOffer('offer-9'), target: 'dataset-9' },
    callbackAddress: 'http://127.0.0.1:9/dsp/2025-1',
  }
  const post = (path: string, body: unknown, token = 'token-provider') =>
    consumer.app.request(`/dsp/2025-1/negotiations${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) })

  it('happy: POST /negotiations/offers answers 201 OFFERED, holds it for approval; approval sends ACCEPTED', async () => {
    const response = await post('/offers', initialOffer)
    expect(response.status).toBe(201)
    const body = (await response.json()) as any
    expectDspValid(schemaOf.ContractNegotiation!, body)
    expect(body).toMatchObject({ providerPid: 'urn:uuid:provider-9', state: 'OFFERED' })
    const held = await eventually(async () => {
      const { body: n } = await consumer.management('GET', `/negotiations/${body.consumerPid}`)
      return n.pending ? n : undefined
    })
    expect(held.pending).toBe('an offer we did not ask for waits for approval')
    const approved = await consumer.management('POST', `/negotiations/${body.consumerPid}/approve`)
    expect(approved.body.state).toBe('ACCEPTED')
    await eventually(async () => (outbound.length === 1 ? true : undefined))
    expect(outbound[0]!.url).toBe('http://127.0.0.1:9/dsp/2025-1/negotiations/urn%3Auuid%3Aprovider-9/events')
    expect(outbound[0]!.body).toMatchObject({ eventType: 'ACCEPTED', providerPid: 'urn:uuid:provider-9', consumerPid: body.consumerPid })
  })

  it('happy: the same offer again returns the existing process; security: another sender cannot touch it', async () => {
    const first = (await (await post('/offers', initialOffer)).json()) as any
    const again = (await (await post('/offers', initialOffer)).json()) as any
    expect(again.consumerPid).toBe(first.consumerPid)
    const intruder = await post(`/${first.consumerPid}/termination`, { '@context': context, '@type': 'ContractNegotiationTerminationMessage', providerPid: 'urn:uuid:provider-9', consumerPid: first.consumerPid }, 'token-consumer')
    expect(intruder.status).toBe(404)
  })

  it('error: a ContractOfferMessage with both callbackAddress and consumerPid answers 400', async () => {
    const response = await post('/offers', { ...initialOffer, consumerPid: 'urn:uuid:x' })
    expect(response.status).toBe(400)
  })
})
