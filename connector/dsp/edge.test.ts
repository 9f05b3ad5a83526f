import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { expectDspValid } from '../../test/support/dsp-schemas.ts'
import { dialects } from '../../test/support/stores.ts'
import { staticOffers } from '../negotiation/policy-check.ts'
import type { Reactions } from '../negotiation/reactions.ts'
import { eventually, openOffer, schemaOf, startTestConnector, type TestConnector } from '../../test/support/negotiation.ts'
import { dspContextUrl } from './context.ts'

/**
 * The DSP edge as peers meet it: lenient where the schema is (JSON-LD spellings, empty rule arrays,
 * a pid beside a callbackAddress), strict where the state machine is (ids already in use are
 * refused with a DSP error, and nothing changes).
 */
const providerId = 'did:web:provider.test'
const consumerId = 'did:web:consumer.test'
const tokens = { 'token-provider': providerId, 'token-consumer': consumerId }
const context = [dspContextUrl]

type Answer = { status: number; body: any }
const post = async (connector: TestConnector, path: string, body: unknown, token: string): Promise<Answer> => {
  const response = await connector.app.request(`/dsp/2025-1${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  })
  return { status: response.status, body: await response.json() }
}

describe('provider: what Eclipse EDC sends is read', () => {
  let provider: TestConnector
  let outbound: Array<{ url: string; body: any }>
  const offering: Reactions = {
    async react({ negotiation, trigger }) {
      if (negotiation.role === 'provider' && trigger === 'request') return [{ kind: 'counter-offer', offer: openOffer('offer-1') }]
      return []
    },
  }
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
  afterEach(() => provider.stop())

  it('happy: a request with a string @context, prefixed names and empty rule arrays opens a process (201)', async () => {
    const response = await post(
      provider,
      '/negotiations/request',
      {
        '@context': dspContextUrl,
        '@type': 'dspace:ContractRequestMessage',
        'dspace:consumerPid': 'urn:uuid:edc-1',
        'dspace:callbackAddress': 'http://127.0.0.1:9/callback',
        offer: { '@id': 'offer-1', '@type': 'odrl:Offer', 'odrl:target': 'dataset-1', permission: [{ action: 'use' }], prohibition: [], obligation: [] },
      },
      'token-consumer',
    )
    expect(response.status).toBe(201)
    expectDspValid(schemaOf.ContractNegotiation!, response.body)
    expect(response.body).toMatchObject({ consumerPid: 'urn:uuid:edc-1', state: 'REQUESTED' })
  })

  it('happy: a counter request carrying providerPid and callbackAddress is read, the process keeps its callback', async () => {
    const opened = await post(
      provider,
      '/negotiations/request',
      {
        '@context': context,
        '@type': 'ContractRequestMessage',
        consumerPid: 'urn:uuid:edc-2',
        callbackAddress: 'http://127.0.0.1:9/callback',
        offer: { ...openOffer('offer-1'), target: 'dataset-1' },
      },
      'token-consumer',
    )
    const pid = opened.body.providerPid as string
    await eventually(async () => (outbound.length === 1 ? true : undefined))
    const counter = await post(
      provider,
      `/negotiations/${pid}/request`,
      {
        '@context': context,
        '@type': 'ContractRequestMessage',
        providerPid: pid,
        consumerPid: 'urn:uuid:edc-2',
        callbackAddress: 'http://127.0.0.1:9/elsewhere',
        offer: { ...openOffer('offer-1'), target: 'dataset-1', prohibition: [] },
      },
      'token-consumer',
    )
    expect(counter.status).toBe(200)
    expect(counter.body).toMatchObject({ providerPid: pid, state: 'REQUESTED' })
    const view = await provider.management('GET', `/negotiations/${pid}`)
    expect(JSON.stringify(view.body)).not.toContain('elsewhere')
  })

  it('error: a first request naming a providerPid is refused with 400 and creates nothing', async () => {
    const response = await post(
      provider,
      '/negotiations/request',
      {
        '@context': context,
        '@type': 'ContractRequestMessage',
        consumerPid: 'urn:uuid:edc-3',
        providerPid: 'urn:uuid:someone-elses',
        callbackAddress: 'http://127.0.0.1:9/callback',
        offer: { ...openOffer('offer-1'), target: 'dataset-1' },
      },
      'token-consumer',
    )
    expect(response.status).toBe(400)
    expectDspValid(schemaOf.ContractNegotiationError!, response.body)
    expect((await provider.management('GET', '/negotiations')).body.items).toHaveLength(0)
  })
})

describe.each(dialects)('consumer on %s: an agreement @id already in use', (dialect) => {
  let consumer: TestConnector
  let next = 0
  beforeEach(async () => {
    consumer = await startTestConnector({
      dialect,
      participantId: consumerId,
      tokens,
      send: async ({ body }) => {
        const message = body as Record<string, any>
        if (message['@type'] === 'ContractRequestMessage') {
          return {
            status: 201,
            body: {
              '@context': context,
              '@type': 'ContractNegotiation',
              providerPid: `urn:uuid:provider-${++next}`,
              consumerPid: message.consumerPid,
              state: 'REQUESTED',
            },
          }
        }
        return { status: 200, body: {} }
      },
    })
  })
  afterEach(() => consumer.stop())

  const start = async () => {
    const started = await consumer.management('POST', '/negotiations', {
      peerUrl: 'http://127.0.0.1:9/dsp/2025-1/',
      peerId: providerId,
      datasetId: 'dataset-1',
      offer: openOffer('offer-1'),
    })
    expect(started.status).toBe(201)
    const id = started.body.id as string
    const providerPid = (await eventually(async () => (await consumer.management('GET', `/negotiations/${id}`)).body.providerPid ?? undefined)) as string
    return { id, providerPid }
  }
  const agreementMessage = (consumerPid: string, providerPid: string, agreementId: string) => ({
    '@context': context,
    '@type': 'ContractAgreementMessage',
    providerPid,
    consumerPid,
    agreement: {
      '@id': agreementId,
      '@type': 'Agreement',
      target: 'dataset-1',
      assigner: providerId,
      assignee: consumerId,
      timestamp: '2026-12-07T10:00:00Z',
      permission: [{ action: 'use' }],
    },
  })

  it('error: the same agreement @id for a second process answers 409 ContractNegotiationError and leaves that process as it was', async () => {
    const first = await start()
    const agreed = await post(
      consumer,
      `/negotiations/${first.id}/agreement`,
      agreementMessage(first.id, first.providerPid, 'urn:uuid:agreement-1'),
      'token-provider',
    )
    expect(agreed.status, JSON.stringify(agreed.body)).toBe(200)
    expect(agreed.body.state).toBe('AGREED')

    const second = await start()
    const before = (await consumer.management('GET', `/negotiations/${second.id}`)).body
    const replayed = await post(
      consumer,
      `/negotiations/${second.id}/agreement`,
      agreementMessage(second.id, second.providerPid, 'urn:uuid:agreement-1'),
      'token-provider',
    )
    expect(replayed.status).toBe(409)
    expectDspValid(schemaOf.ContractNegotiationError!, replayed.body)
    const after = (await consumer.management('GET', `/negotiations/${second.id}`)).body
    expect(after.state).toBe('REQUESTED')
    expect(after.timeline).toHaveLength(before.timeline.length)
  })
})
