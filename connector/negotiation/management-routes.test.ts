import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { egressPolicy } from '../http/egress.ts'
import { expectDspValid } from '../../test/support/dsp-schemas.ts'
import { eventually, openOffer, schemaOf, startTestConnector, type TestConnector } from '../../test/support/negotiation.ts'

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
        return {
          status: 201,
          body: { '@context': context, '@type': 'ContractNegotiation', providerPid: 'urn:uuid:provider-1', consumerPid: body.consumerPid, state: 'REQUESTED' },
        }
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
    expect(outbound[0]!.body).toMatchObject({
      consumerPid: started.body.id,
      callbackAddress: consumer.dspUrl,
      offer: { '@id': 'offer-1', target: 'dataset-1' },
    })
    const read = await eventually(async () => {
      const { body } = await consumer.management('GET', `/negotiations/${started.body.id}`)
      return body.providerPid ? body : undefined
    })
    expect(read.providerPid).toBe('urn:uuid:provider-1')
    expect(read.timeline).toEqual([
      expect.objectContaining({ seq: 1, kind: 'request', direction: 'outbound', actor: 'management', fromState: null, toState: 'REQUESTED' }),
    ])
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

  it('happy: counts give every state, with the number of negotiations in it', async () => {
    const a = await start({})
    await start({ datasetId: 'dataset-2' })
    await eventually(async () => (outbound.length === 2 ? true : undefined))
    await consumer.management('POST', `/negotiations/${a.body.id}/terminate`, { reason: 'no longer needed' })
    const counts = await consumer.management('GET', '/negotiations/counts')
    expect(counts.status).toBe(200)
    expect(counts.body.byState).toEqual({ REQUESTED: 1, OFFERED: 0, ACCEPTED: 0, AGREED: 0, VERIFIED: 0, FINALIZED: 0, TERMINATED: 1 })
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
    expect(
      (await consumer.management('POST', '/negotiations', { peerUrl: 'http://127.0.0.1:9', datasetId: 'd', offer: openOffer('o'), surprise: 1 })).status,
    ).toBe(400)
    expect(
      (await consumer.management('POST', '/negotiations', { peerUrl: 'http://127.0.0.1:9', datasetId: 'd', offerId: 'x', offer: openOffer('o') })).status,
    ).toBe(400)
    // An offer we could not compare the provider's answer with: a term spelled twice.
    const twice = await consumer.management('POST', '/negotiations', {
      peerUrl: 'http://127.0.0.1:9',
      datasetId: 'd',
      offer: { ...openOffer('o'), 'odrl:permission': [] },
    })
    expect(twice.status).toBe(400)
    expect(JSON.stringify(twice.body)).toMatch(/offer: .*permission/)
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
    consumer.app.request(`/dsp/2025-1/negotiations${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    })

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
    const intruder = await post(
      `/${first.consumerPid}/termination`,
      { '@context': context, '@type': 'ContractNegotiationTerminationMessage', providerPid: 'urn:uuid:provider-9', consumerPid: first.consumerPid },
      'token-consumer',
    )
    expect(intruder.status).toBe(404)
  })

  it('error: an offer or agreement we cannot read (a term spelled twice, nested thousands deep) answers 4xx and keeps nothing', async () => {
    const deep = (depth: number) => `${'{"and":['.repeat(depth)}{"leftOperand":"count","operator":"lteq","rightOperand":3}${']}'.repeat(depth)}`
    const raw = (path: string, text: string) =>
      consumer.app.request(`/dsp/2025-1/negotiations${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer token-provider' },
        body: text,
      })
    const twice = await post('/offers', {
      ...initialOffer,
      offer: {
        ...initialOffer.offer,
        permission: [{ action: 'use', constraint: [], 'odrl:constraint': [{ leftOperand: 'count', operator: 'lteq', rightOperand: 3 }] }],
      },
    })
    expect(twice.status).toBe(400)
    expect(((await twice.json()) as any).reason.join(' ')).toMatch(/offer-9 is not a policy this connector accepts: .*constraint/)
    const deepOffer = await raw(
      '/offers',
      JSON.stringify({ ...initialOffer, offer: { ...initialOffer.offer, permission: [{ action: 'use', constraint: ['DEEP'] }] } }).replace(
        '"DEEP"',
        deep(20_000),
      ),
    )
    expect(deepOffer.status).toBeGreaterThanOrEqual(400)
    expect(deepOffer.status).toBeLessThan(500)
    expect((await consumer.management('GET', '/negotiations')).body.items).toHaveLength(0)
    // An agreement nested thousands deep, for a negotiation we started.
    const started = await start({})
    const agreement = {
      '@id': 'urn:uuid:agreement-1',
      '@type': 'Agreement',
      target: 'dataset-1',
      assigner: 'did:web:provider.test',
      assignee: consumerId,
      timestamp: new Date().toISOString(),
      permission: [{ action: 'use', constraint: ['DEEP'] }],
    }
    const message = { '@context': context, '@type': 'ContractAgreementMessage', providerPid: 'urn:uuid:provider-1', consumerPid: started.body.id, agreement }
    const deepAgreement = await raw(`/${started.body.id}/agreement`, JSON.stringify(message).replace('"DEEP"', deep(20_000)))
    expect(deepAgreement.status).toBeGreaterThanOrEqual(400)
    expect(deepAgreement.status).toBeLessThan(500)
    expect((await consumer.management('GET', `/negotiations/${started.body.id}`)).body).toMatchObject({ state: 'REQUESTED', agreementId: null })
    expect((await consumer.management('GET', '/agreements/urn:uuid:agreement-1')).status).toBe(404)
  })

  it('error: a counter offer that spells a term twice or changes the terms ends our negotiation with the reason, and keeps nothing of it', async () => {
    const counterOffer = (consumerPid: string, offer: Record<string, unknown>) => ({
      '@context': context,
      '@type': 'ContractOfferMessage',
      providerPid: 'urn:uuid:provider-1',
      consumerPid,
      offer,
    })
    const limit = [{ leftOperand: 'count', operator: 'lteq', rightOperand: 3 }]
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [
        { ...openOffer('offer-1'), target: 'dataset-1', permission: [{ action: 'use', constraint: [], 'odrl:constraint': limit }] },
        /the offer offer-1 is not a policy we accept: .*constraint/,
      ],
      [
        { ...openOffer('offer-1'), target: 'dataset-1', permission: [{ action: 'use', constraint: limit }] },
        /the offer offer-1 has other terms than the offer offer-1 we asked for/,
      ],
    ]
    for (const [offer, reason] of cases) {
      const started = await start({})
      await eventually(async () => ((await consumer.management('GET', `/negotiations/${started.body.id}`)).body.providerPid ? true : undefined))
      expect((await post(`/${started.body.id}/offers`, counterOffer(started.body.id, offer))).status).toBe(200)
      const done = await eventually(async () => {
        const { body } = await consumer.management('GET', `/negotiations/${started.body.id}`)
        return body.state === 'TERMINATED' ? body : undefined
      })
      expect(done.reason).toMatch(reason)
      const termination = await eventually(async () =>
        outbound.find((m) => m.body['@type'] === 'ContractNegotiationTerminationMessage' && m.body.consumerPid === started.body.id),
      )
      expect(JSON.stringify(termination.body.reason)).toMatch(reason)
      // The timeline keeps the offer in our own spelling, or not at all.
      expect(JSON.stringify(done.timeline.map((e: any) => e.detail?.offer ?? null))).not.toContain('"odrl:constraint"')
    }
  })

  it('error: a ContractOfferMessage with both callbackAddress and consumerPid answers 400', async () => {
    const response = await post('/offers', { ...initialOffer, consumerPid: 'urn:uuid:x' })
    expect(response.status).toBe(400)
  })
})

describe('offer read from the peer catalog (no offer given)', () => {
  /** The provider's catalog, as a real HTTP server on 127.0.0.1 that counts its requests. */
  async function peerCatalog() {
    const hits: string[] = []
    const server = createServer((req, res) => {
      hits.push(`${req.url} ${req.headers.authorization ? 'with token' : 'without token'}`)
      const titled = {
        ...openOffer('offer-titled'),
        'https://w3id.org/passerelle/ns#policyId': 'open-data',
        'https://w3id.org/passerelle/ns#policyTitle': 'Open to everyone',
      }
      // A hostile entry among them (not an object) is skipped, never a 5xx.
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ '@id': 'dataset-1', hasPolicy: [openOffer('offer-from-catalog'), 42, titled] }))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const dspUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/dsp/2025-1`
    return { dspUrl, hits, close: () => new Promise((resolve) => server.close(resolve)) }
  }

  it('reads the offer through the peer client, with our token', async () => {
    const peer = await peerCatalog()
    try {
      const started = await consumer.management('POST', '/negotiations', { peerUrl: peer.dspUrl, peerId: providerId, datasetId: 'dataset-1' })
      expect(started.status).toBe(201)
      expect(started.body.offerId).toBe('offer-from-catalog')
      // The version document first (public, no token), then the dataset in the version both speak.
      expect(peer.hits).toEqual(['/.well-known/dspace-version without token', '/dsp/2025-1/catalog/datasets/dataset-1 with token'])
    } finally {
      await peer.close()
    }
  })

  it('happy: names the offer by the readable id of its policy', async () => {
    const peer = await peerCatalog()
    try {
      const started = await consumer.management('POST', '/negotiations', {
        peerUrl: peer.dspUrl,
        peerId: providerId,
        datasetId: 'dataset-1',
        offerId: 'open-data',
      })
      expect(started.status).toBe(201)
      expect(started.body.offerId).toBe('offer-titled')
      expect(started.body.offer['https://w3id.org/passerelle/ns#policyTitle']).toBe('Open to everyone')
    } finally {
      await peer.close()
    }
  })

  it('error: an offer the catalog does not have answers 404 listing the offers it has, and stores nothing', async () => {
    const peer = await peerCatalog()
    try {
      const before = (await consumer.management('GET', '/negotiations')).body.items.length
      const started = await consumer.management('POST', '/negotiations', {
        peerUrl: peer.dspUrl,
        peerId: providerId,
        datasetId: 'dataset-1',
        offerId: 'no-such',
      })
      expect(started.status).toBe(404)
      expect(started.body.error.message).toBe(
        "dataset dataset-1 has no offer no-such in the peer's catalog; its offers: offer-from-catalog, `open-data` (“Open to everyone”) offer-titled",
      )
      expect((await consumer.management('GET', '/negotiations')).body.items.length).toBe(before)
    } finally {
      await peer.close()
    }
  })

  it('obeys the egress policy: a peer on a loopback address not allowed is never contacted, and nothing is stored', async () => {
    const peer = await peerCatalog()
    const strict = await startTestConnector({ dialect: 'sqlite', participantId: consumerId, tokens, egress: egressPolicy({}) })
    try {
      const started = await strict.management('POST', '/negotiations', { peerUrl: peer.dspUrl, peerId: providerId, datasetId: 'dataset-1' })
      expect(started.status).toBe(502)
      expect(JSON.stringify(started.body)).toContain("the peer's catalog")
      expect(peer.hits).toEqual([])
      expect((await strict.management('GET', '/negotiations')).body.items).toEqual([])
    } finally {
      await strict.stop()
      await peer.close()
    }
  })
})
