import { randomUUID } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { getRequestListener } from '@hono/node-server'
import { Hono } from 'hono'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fromRoot } from '../../connector/paths.ts'
import { eventually, schemaOf, startTestConnector, type TestConnector } from '../support/negotiation.ts'
import { expectDspValid } from '../support/dsp-schemas.ts'

/**
 * Every contract negotiation case of the official DSP TCK (CN:01-01 … CN:03-04 with Passerelle as
 * provider, CN_C:01-01 … CN_C:03-06 as consumer), replayed against the TCK profile
 * (seeds/tck/passerelle.yaml and its scripts) by a stand-in for the TCK that speaks plain HTTP on
 * 127.0.0.1. Every message either side sends is checked against the published DSP schemas.
 */
const context = ['https://w3id.org/dspace/2025/1/context.jsonld']
const tckToken = 'tck-consumer-token'

interface Received {
  path: string
  body: any
}

/** The TCK's side: records what Passerelle sends it and answers like the TCK's mock connector. */
class FakeTck {
  received: Received[] = []
  server!: Server
  url = ''
  private counter = 0

  async start() {
    const app = new Hono()
    app.post('*', async (c) => {
      const body = await c.req.json()
      expectDspValid(schemaOf[body['@type']]!, body)
      this.received.push({ path: c.req.path, body })
      if (c.req.path.endsWith('/negotiations/request')) {
        const answer = {
          '@context': context,
          '@type': 'ContractNegotiation',
          providerPid: `urn:tck:provider-${++this.counter}`,
          consumerPid: body.consumerPid,
          state: 'REQUESTED',
        }
        return c.json(answer, 201)
      }
      return c.body(null, 200)
    })
    this.server = createServer(getRequestListener(app.fetch))
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
  }

  async stop() {
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  /** Waits for the next message of `type` about the process with this pid. */
  expect(type: string, pid: string, eventType?: string) {
    return eventually(async () =>
      this.received.find(
        (m) => m.body['@type'] === type && (m.body.consumerPid === pid || m.body.providerPid === pid) && (!eventType || m.body.eventType === eventType),
      ),
    )
  }
}

let cut: TestConnector
let tck: FakeTck
beforeAll(async () => {
  tck = new FakeTck()
  await tck.start()
  cut = await startTestConnector({ dialect: 'sqlite', configFile: fromRoot('seeds/tck/passerelle.yaml'), serve: true, maxAttempts: 5, baseDelayMs: 20 })
})
afterAll(async () => {
  await cut?.stop()
  await tck?.stop()
})

async function send(path: string, body: unknown) {
  const response = await fetch(`${cut.dspUrl}/negotiations${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: tckToken },
    body: JSON.stringify(body),
  })
  const text = await response.text()
  const json = text ? JSON.parse(text) : undefined
  if (json) expectDspValid(schemaOf[json['@type']]!, json)
  return { status: response.status, body: json }
}

async function stateOf(pid: string) {
  const response = await fetch(`${cut.dspUrl}/negotiations/${pid}`, { headers: { authorization: tckToken } })
  const body = (await response.json()) as { state: string }
  expectDspValid(schemaOf.ContractNegotiation!, body)
  return body.state as string
}
const reaches = (pid: string, state: string) => eventually(async () => ((await stateOf(pid)) === state ? true : undefined))

/** The TCK as consumer. */
describe('TCK provider cases (Passerelle as provider)', () => {
  let seq = 0
  async function request(dataset: string) {
    const consumerPid = `urn:tck:consumer-${dataset}-${++seq}`
    const offer = { '@id': `CD123:${dataset}:456`, '@type': 'Offer', target: dataset, permission: [{ action: 'use', constraint: [] }] }
    const response = await send('/request', {
      '@context': context,
      '@id': `urn:uuid:${seq}`,
      '@type': 'ContractRequestMessage',
      consumerPid,
      offer,
      callbackAddress: tck.url,
    })
    expect(response.status).toBe(201)
    expect(response.body.state).toBe('REQUESTED')
    return { consumerPid, providerPid: response.body.providerPid as string, offer }
  }
  const pids = (p: { consumerPid: string; providerPid: string }) => ({ providerPid: p.providerPid, consumerPid: p.consumerPid })
  const terminate = (p: { consumerPid: string; providerPid: string }) =>
    send(`/${p.providerPid}/termination`, {
      '@context': context,
      '@type': 'ContractNegotiationTerminationMessage',
      ...pids(p),
      code: '1',
      reason: [{ message: 'TCK terminates' }],
    })
  const accept = (p: { consumerPid: string; providerPid: string }) =>
    send(`/${p.providerPid}/events`, { '@context': context, '@type': 'ContractNegotiationEventMessage', ...pids(p), eventType: 'ACCEPTED' })
  const verify = (p: { consumerPid: string; providerPid: string }) =>
    send(`/${p.providerPid}/agreement/verification`, { '@context': context, '@type': 'ContractAgreementVerificationMessage', ...pids(p) })
  // Like the TCK, every message has an @id of its own: a second counter offer is not a retry of the first.
  const counter = (p: { consumerPid: string; providerPid: string; offer: unknown }) =>
    send(`/${p.providerPid}/request`, { '@context': context, '@id': `urn:uuid:${randomUUID()}`, '@type': 'ContractRequestMessage', ...pids(p), offer: p.offer })

  it('CN:01-01 request, offer received, consumer terminated', async () => {
    const p = await request('ACN0101')
    await tck.expect('ContractOfferMessage', p.consumerPid)
    await reaches(p.providerPid, 'OFFERED')
    expect((await terminate(p)).status).toBe(200)
    expect(await stateOf(p.providerPid)).toBe('TERMINATED')
  })

  it('CN:01-02 request, offer received, consumer counter-offer, provider terminated', async () => {
    const p = await request('ACN0102')
    await tck.expect('ContractOfferMessage', p.consumerPid)
    await reaches(p.providerPid, 'OFFERED')
    const response = await counter(p)
    expect(response.status).toBe(200)
    expect(response.body.state).toBe('REQUESTED')
    await tck.expect('ContractNegotiationTerminationMessage', p.consumerPid)
    expect(await stateOf(p.providerPid)).toBe('TERMINATED')
  })

  it('CN:01-03 request, offer, consumer accepted, agreement, consumer verified, provider finalized', async () => {
    const p = await request('ACN0103')
    await tck.expect('ContractOfferMessage', p.consumerPid)
    await reaches(p.providerPid, 'OFFERED')
    expect((await accept(p)).status).toBe(200)
    await tck.expect('ContractAgreementMessage', p.consumerPid)
    await reaches(p.providerPid, 'AGREED')
    expect((await verify(p)).status).toBe(200)
    await tck.expect('ContractNegotiationEventMessage', p.consumerPid, 'FINALIZED')
    expect(await stateOf(p.providerPid)).toBe('FINALIZED')
  })

  it('CN:01-04 request, agreement, consumer verified, provider finalized', async () => {
    const p = await request('ACN0104')
    const agreement = await tck.expect('ContractAgreementMessage', p.consumerPid)
    expect(agreement.body.agreement).toMatchObject({ target: 'ACN0104', assigner: 'urn:connector:passerelle-tck', assignee: 'urn:connector:tck' })
    await reaches(p.providerPid, 'AGREED')
    expect((await verify(p)).status).toBe(200)
    await tck.expect('ContractNegotiationEventMessage', p.consumerPid, 'FINALIZED')
    expect(await stateOf(p.providerPid)).toBe('FINALIZED')
  })

  it('CN:02-01 request, provider terminated', async () => {
    const p = await request('ACN0201')
    await tck.expect('ContractNegotiationTerminationMessage', p.consumerPid)
    expect(await stateOf(p.providerPid)).toBe('TERMINATED')
  })

  it('CN:02-02 request, consumer terminated', async () => {
    const p = await request('ACN0202')
    expect((await terminate(p)).status).toBe(200)
    expect(await stateOf(p.providerPid)).toBe('TERMINATED')
  })

  it('CN:02-03 request, agreement, consumer terminated', async () => {
    const p = await request('ACN0203')
    await tck.expect('ContractAgreementMessage', p.consumerPid)
    await reaches(p.providerPid, 'AGREED')
    expect((await terminate(p)).status).toBe(200)
    expect(await stateOf(p.providerPid)).toBe('TERMINATED')
  })

  it('CN:02-04 request, offer received, consumer terminated', async () => {
    const p = await request('ACN0204')
    await tck.expect('ContractOfferMessage', p.consumerPid)
    await reaches(p.providerPid, 'OFFERED')
    expect((await terminate(p)).status).toBe(200)
    expect(await stateOf(p.providerPid)).toBe('TERMINATED')
  })

  it('CN:02-05 request, offer received, provider terminated (after a pause)', async () => {
    const p = await request('ACN0205')
    await tck.expect('ContractOfferMessage', p.consumerPid)
    await tck.expect('ContractNegotiationTerminationMessage', p.consumerPid)
    const order = tck.received.filter((m) => m.body.consumerPid === p.consumerPid).map((m) => m.body['@type'])
    expect(order).toEqual(['ContractOfferMessage', 'ContractNegotiationTerminationMessage'])
    expect(await stateOf(p.providerPid)).toBe('TERMINATED')
  })

  it('CN:02-06 request, offer, consumer accepted, provider terminated', async () => {
    const p = await request('ACN0206')
    await tck.expect('ContractOfferMessage', p.consumerPid)
    await reaches(p.providerPid, 'OFFERED')
    expect((await accept(p)).status).toBe(200)
    await tck.expect('ContractNegotiationTerminationMessage', p.consumerPid)
    expect(await stateOf(p.providerPid)).toBe('TERMINATED')
  })

  it('CN:02-07 request, agreement, consumer verified, provider terminated', async () => {
    const p = await request('ACN0207')
    await tck.expect('ContractAgreementMessage', p.consumerPid)
    await reaches(p.providerPid, 'AGREED')
    expect((await verify(p)).status).toBe(200)
    await tck.expect('ContractNegotiationTerminationMessage', p.consumerPid)
    expect(await stateOf(p.providerPid)).toBe('TERMINATED')
  })

  it('CN:03-01 finalized, then an invalid consumer termination is refused (4xx)', async () => {
    const p = await request('ACN0301')
    await tck.expect('ContractAgreementMessage', p.consumerPid)
    await reaches(p.providerPid, 'AGREED')
    expect((await verify(p)).status).toBe(200)
    await tck.expect('ContractNegotiationEventMessage', p.consumerPid, 'FINALIZED')
    await reaches(p.providerPid, 'FINALIZED')
    const refused = await terminate(p)
    expect(refused.status).toBe(400)
    expect(refused.body).toMatchObject({ '@type': 'ContractNegotiationError', ...pids(p) })
    expect(await stateOf(p.providerPid)).toBe('FINALIZED')
  })

  it('CN:03-02 offer received, an invalid consumer verification is refused (4xx)', async () => {
    const p = await request('ACN0302')
    await tck.expect('ContractOfferMessage', p.consumerPid)
    await reaches(p.providerPid, 'OFFERED')
    expect((await verify(p)).status).toBe(400)
    expect(await stateOf(p.providerPid)).toBe('OFFERED')
  })

  it('CN:03-03 offer received, consumer accepted, an illegal consumer verification is refused (4xx)', async () => {
    const p = await request('ACN0303')
    await tck.expect('ContractOfferMessage', p.consumerPid)
    await reaches(p.providerPid, 'OFFERED')
    expect((await accept(p)).status).toBe(200)
    expect((await verify(p)).status).toBe(400)
    expect(await stateOf(p.providerPid)).toBe('ACCEPTED')
  })

  it('CN:03-04 offer received, consumer counter-offer twice: the second is refused (4xx)', async () => {
    const p = await request('ACN0304')
    await tck.expect('ContractOfferMessage', p.consumerPid)
    await reaches(p.providerPid, 'OFFERED')
    expect((await counter(p)).status).toBe(200)
    expect((await counter(p)).status).toBeGreaterThanOrEqual(400)
  })
})

/** The TCK as provider: it triggers Passerelle to request one of its offers. */
describe('TCK consumer cases (Passerelle as consumer)', () => {
  async function initiate(dataset: string, options: { requested?: boolean } = {}) {
    const response = await fetch(`${cut.url}/tck/negotiations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ providerId: 'urn:connector:tck', offerId: `offer${dataset}`, datasetId: dataset, connectorAddress: tck.url }),
    })
    expect(response.status).toBe(201)
    const { consumerPid } = (await response.json()) as { consumerPid: string }
    const request = await tck.expect('ContractRequestMessage', consumerPid)
    expect(request.body).toMatchObject({ callbackAddress: cut.dspUrl, offer: { '@id': `offer${dataset}`, target: dataset } })
    if (options.requested !== false) await reaches(consumerPid, 'REQUESTED')
    const providerPid = tck.received.filter((m) => m.body.consumerPid === consumerPid).length && `urn:tck:provider-${providerCount()}`
    return { consumerPid, providerPid: providerPid as string, dataset }
  }
  // The fake TCK numbers the processes it was asked to open, in order.
  const providerCount = () => tck.received.filter((m) => m.path.endsWith('/negotiations/request')).length
  type P = Awaited<ReturnType<typeof initiate>>
  const pids = (p: P) => ({ providerPid: p.providerPid, consumerPid: p.consumerPid })
  const offer = (p: P) =>
    send(`/${p.consumerPid}/offers`, {
      '@context': context,
      '@type': 'ContractOfferMessage',
      ...pids(p),
      offer: {
        '@type': 'Offer',
        '@id': `offer${p.dataset}`,
        permission: [{ action: 'use', constraint: [] }],
        target: p.dataset,
        assigner: 'urn:connector:tck',
        assignee: 'urn:connector:passerelle-tck',
      },
    })
  const agreement = (p: P) =>
    send(`/${p.consumerPid}/agreement`, {
      '@context': context,
      '@type': 'ContractAgreementMessage',
      ...pids(p),
      agreement: {
        '@type': 'Agreement',
        '@id': `urn:tck:agreement-${p.consumerPid}`,
        target: p.dataset,
        permission: [{ action: 'use', constraint: [] }],
        timestamp: new Date().toISOString(),
        assignee: 'urn:connector:passerelle-tck',
        assigner: 'urn:connector:tck',
      },
      callbackAddress: tck.url,
    })
  const finalized = (p: P) =>
    send(`/${p.consumerPid}/events`, { '@context': context, '@type': 'ContractNegotiationEventMessage', ...pids(p), eventType: 'FINALIZED' })
  const terminate = (p: P) =>
    send(`/${p.consumerPid}/termination`, {
      '@context': context,
      '@type': 'ContractNegotiationTerminationMessage',
      ...pids(p),
      code: '1',
      reason: [{ message: 'TCK terminates' }],
    })

  it('CN_C:01-01 request, offer, consumer accepted, agreement, consumer verified, finalized', async () => {
    const p = await initiate('ACNC0101')
    expect((await offer(p)).status).toBe(200)
    await tck.expect('ContractNegotiationEventMessage', p.consumerPid, 'ACCEPTED')
    await reaches(p.consumerPid, 'ACCEPTED')
    expect((await agreement(p)).status).toBe(200)
    await tck.expect('ContractAgreementVerificationMessage', p.consumerPid)
    await reaches(p.consumerPid, 'VERIFIED')
    expect((await finalized(p)).status).toBe(200)
    expect(await stateOf(p.consumerPid)).toBe('FINALIZED')
  })

  it('CN_C:01-02 request, offer, consumer counter-offer, provider terminated', async () => {
    const p = await initiate('ACNC0102')
    expect((await offer(p)).status).toBe(200)
    const counter = await tck.expect('ContractRequestMessage', p.consumerPid)
    await eventually(async () => tck.received.find((m) => m.body['@type'] === 'ContractRequestMessage' && m.body.providerPid === p.providerPid))
    expect(counter).toBeDefined()
    await reaches(p.consumerPid, 'REQUESTED')
    expect((await terminate(p)).status).toBe(200)
    expect(await stateOf(p.consumerPid)).toBe('TERMINATED')
  })

  it('CN_C:01-03 request, offer, consumer terminated', async () => {
    const p = await initiate('ACNC0103')
    expect((await offer(p)).status).toBe(200)
    await tck.expect('ContractNegotiationTerminationMessage', p.consumerPid)
    expect(await stateOf(p.consumerPid)).toBe('TERMINATED')
  })

  it('CN_C:01-04 request, agreement, consumer verified, finalized', async () => {
    const p = await initiate('ACNC0104')
    expect((await agreement(p)).status).toBe(200)
    await tck.expect('ContractAgreementVerificationMessage', p.consumerPid)
    await reaches(p.consumerPid, 'VERIFIED')
    expect((await finalized(p)).status).toBe(200)
    expect(await stateOf(p.consumerPid)).toBe('FINALIZED')
  })

  it('CN_C:02-01 request, provider terminated', async () => {
    const p = await initiate('ACNC0201')
    expect((await terminate(p)).status).toBe(200)
    expect(await stateOf(p.consumerPid)).toBe('TERMINATED')
  })

  it('CN_C:02-02 request, consumer terminated (after a pause)', async () => {
    // The scripted termination is decided at once and sent after the pause.
    const p = await initiate('ACNC0202', { requested: false })
    await tck.expect('ContractNegotiationTerminationMessage', p.consumerPid)
    const termination = tck.received.find((m) => m.body['@type'] === 'ContractNegotiationTerminationMessage' && m.body.consumerPid === p.consumerPid)!
    expect(termination.body.providerPid).toBe(p.providerPid)
    expect(await stateOf(p.consumerPid)).toBe('TERMINATED')
  })

  it('CN_C:02-03 request, agreement, consumer terminated', async () => {
    const p = await initiate('ACNC0203')
    expect((await agreement(p)).status).toBe(200)
    await tck.expect('ContractNegotiationTerminationMessage', p.consumerPid)
    expect(await stateOf(p.consumerPid)).toBe('TERMINATED')
  })

  it('CN_C:02-04 request, offer, provider terminated', async () => {
    const p = await initiate('ACNC0204')
    expect((await offer(p)).status).toBe(200)
    expect(await stateOf(p.consumerPid)).toBe('OFFERED')
    expect((await terminate(p)).status).toBe(200)
    expect(await stateOf(p.consumerPid)).toBe('TERMINATED')
  })

  it('CN_C:02-05 request, offer, consumer accepted, provider terminated', async () => {
    const p = await initiate('ACNC0205')
    expect((await offer(p)).status).toBe(200)
    await tck.expect('ContractNegotiationEventMessage', p.consumerPid, 'ACCEPTED')
    await reaches(p.consumerPid, 'ACCEPTED')
    expect((await terminate(p)).status).toBe(200)
    expect(await stateOf(p.consumerPid)).toBe('TERMINATED')
  })

  it('CN_C:02-06 request, agreement, consumer verified, provider terminated', async () => {
    const p = await initiate('ACNC0206')
    expect((await agreement(p)).status).toBe(200)
    await tck.expect('ContractAgreementVerificationMessage', p.consumerPid)
    await reaches(p.consumerPid, 'VERIFIED')
    expect((await terminate(p)).status).toBe(200)
    expect(await stateOf(p.consumerPid)).toBe('TERMINATED')
  })

  it('CN_C:03-01 request, an invalid provider FINALIZED is refused (4xx)', async () => {
    const p = await initiate('ACNC0301')
    expect((await finalized(p)).status).toBe(400)
    expect(await stateOf(p.consumerPid)).toBe('REQUESTED')
  })

  it('CN_C:03-02 offer, an invalid provider agreement is refused (4xx)', async () => {
    const p = await initiate('ACNC0302')
    expect((await offer(p)).status).toBe(200)
    expect(await stateOf(p.consumerPid)).toBe('OFFERED')
    expect((await agreement(p)).status).toBe(400)
    expect(await stateOf(p.consumerPid)).toBe('OFFERED')
  })

  it('CN_C:03-03 offer, an invalid provider FINALIZED is refused (4xx)', async () => {
    const p = await initiate('ACNC0303')
    expect((await offer(p)).status).toBe(200)
    expect((await finalized(p)).status).toBe(400)
    expect(await stateOf(p.consumerPid)).toBe('OFFERED')
  })

  it('CN_C:03-04 offer, consumer accepted, an invalid provider FINALIZED is refused (4xx)', async () => {
    const p = await initiate('ACNC0304')
    expect((await offer(p)).status).toBe(200)
    await reaches(p.consumerPid, 'ACCEPTED')
    expect((await finalized(p)).status).toBe(400)
    expect(await stateOf(p.consumerPid)).toBe('ACCEPTED')
  })

  it('CN_C:03-05 offer, consumer accepted, an invalid second provider offer is refused (4xx)', async () => {
    const p = await initiate('ACNC0305')
    expect((await offer(p)).status).toBe(200)
    await reaches(p.consumerPid, 'ACCEPTED')
    expect((await offer(p)).status).toBe(400)
    expect(await stateOf(p.consumerPid)).toBe('ACCEPTED')
  })

  it('CN_C:03-06 offer, consumer accepted, agreement, an invalid provider FINALIZED is refused (4xx)', async () => {
    const p = await initiate('ACNC0306')
    expect((await offer(p)).status).toBe(200)
    await reaches(p.consumerPid, 'ACCEPTED')
    expect((await agreement(p)).status).toBe(200)
    expect((await finalized(p)).status).toBe(400)
    expect(await stateOf(p.consumerPid)).toBe('AGREED')
  })
})
