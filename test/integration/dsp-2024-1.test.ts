import { afterEach, describe, expect, it } from 'vitest'
import { dsp2024ContextUrl, to2024 } from '../../connector/dsp/dsp-2024-1.ts'
import type { PolicyCheck } from '../../connector/negotiation/decision.ts'
import { staticOffers } from '../../connector/negotiation/policy-check.ts'
import { dsp2024SchemaErrors, dsp2024SchemaOf } from '../support/dsp-schemas.ts'
import { eventually, startTestConnector, type TestConnector } from '../support/negotiation.ts'

/**
 * A connector that speaks only DSP 2024-1 and one that speaks both, negotiating over real HTTP on
 * 127.0.0.1 (SQLite on one side, PostgreSQL on the other). Each side finds the other's versions in
 * its `/.well-known/dspace-version` and talks 2024-1; every message sent is checked, as it goes on
 * the wire, against the published 2024-1 schemas.
 */
const providerId = 'did:web:provider.test'
const consumerId = 'did:web:consumer.test'
const tokens = { 'token-provider': providerId, 'token-consumer': consumerId }
const allow: PolicyCheck = () => ({ allowed: true, reason: 'open to everyone' })
const offer = { '@id': 'offer-1', '@type': 'Offer', assigner: providerId, permission: [{ action: 'use' }] }
const offers = staticOffers({ 'dataset-1': [{ offer }] })

let running: TestConnector[] = []
afterEach(async () => {
  await Promise.all(running.map((c) => c.stop()))
  running = []
})

async function pair(versions: { provider?: string[]; consumer?: string[] }) {
  const sent: Array<{ from: TestConnector; url: string; body: any; answer: any }> = []
  const observer = (from: () => TestConnector) => (message: { url: string; body: unknown }, answer: unknown) =>
    sent.push({ from: from(), url: message.url, body: message.body, answer })
  const provider: TestConnector = await startTestConnector({
    dialect: 'sqlite',
    participantId: providerId,
    tokens,
    serve: true,
    offers: () => offers,
    check: allow,
    ...(versions.provider ? { dspVersions: versions.provider } : {}),
    onSend: observer(() => provider),
  })
  running.push(provider)
  const consumer: TestConnector = await startTestConnector({
    dialect: 'postgres',
    participantId: consumerId,
    tokens,
    serve: true,
    consumerMode: 'auto',
    ...(versions.consumer ? { dspVersions: versions.consumer } : {}),
    onSend: observer(() => consumer),
  })
  running.push(consumer)
  return { provider, consumer, sent }
}

/** What peerSend puts on the wire for a 2024-1 peer: the codec's output, with our 2024-1 base as callback. */
function expectWireValid(sent: Array<{ from: TestConnector; body: any; answer: any }>) {
  expect(sent.length).toBeGreaterThan(0)
  for (const { from, body, answer } of sent) {
    const wire = to2024(body, { rebase: { from: from.dspUrl, to: from.dspUrl.replace('/dsp/2025-1', '/dsp/2024-1') } }) as any
    expect(dsp2024SchemaErrors(dsp2024SchemaOf(wire['@type']), wire), JSON.stringify(wire)).toEqual([])
    expect(JSON.stringify(wire)).not.toContain('/dsp/2025-1')
    expect(answer instanceof Error ? answer.message : answer.status).toBeLessThan(300)
  }
}

const finalized = async (consumer: TestConnector, provider: TestConnector, id: string) => {
  const done = await eventually(async () => {
    const { body } = await consumer.management('GET', `/negotiations/${id}`)
    return body.state === 'FINALIZED' || body.state === 'TERMINATED' ? body : undefined
  })
  expect(done, JSON.stringify(done)).toMatchObject({ state: 'FINALIZED' })
  const other = await eventually(async () => {
    const { body } = await provider.management('GET', '/negotiations?role=provider')
    return body.items.find((n: any) => n.state === 'FINALIZED')
  })
  expect(other.agreementId).toBe(done.agreementId)
  return done
}

describe('DSP 2024-1 beside 2025-1, over real HTTP', () => {
  it('happy: a consumer speaking both negotiates with a provider speaking only 2024-1 (given its 2025-1 address, it moves to the 2024-1 base)', async () => {
    const { provider, consumer, sent } = await pair({ provider: ['2024-1'] })
    const version = (await (await fetch(`${provider.url}/.well-known/dspace-version`)).json()) as any
    expect(version.protocolVersions.map((v: any) => [v.version, v.path, v.binding])).toEqual([['2024-1', '/dsp/2024-1', 'HTTPS']])
    const closed = await fetch(`${provider.dspUrl}/negotiations/request`, { method: 'POST', body: '{}', headers: { authorization: 'Bearer token-consumer' } })
    expect(closed.status).toBe(404)

    const start = await consumer.management('POST', '/negotiations', { peerUrl: provider.dspUrl, peerId: providerId, datasetId: 'dataset-1', offer })
    expect(start.status).toBe(201)
    await finalized(consumer, provider, start.body.id)
    // A sender records its message once the peer's answer is back, which can follow the peer's change.
    await eventually(() => (sent.length >= 4 ? true : undefined))
    expect(sent.map((s) => s.body['@type'])).toEqual([
      'ContractRequestMessage',
      'ContractAgreementMessage',
      'ContractAgreementVerificationMessage',
      'ContractNegotiationEventMessage',
    ])
    expectWireValid(sent)
  })

  it('happy: a consumer speaking only 2024-1 negotiates with a provider speaking both', async () => {
    const { provider, consumer, sent } = await pair({ consumer: ['2024-1'] })
    const start = await consumer.management('POST', '/negotiations', { peerUrl: provider.dspUrl, peerId: providerId, datasetId: 'dataset-1', offer })
    await finalized(consumer, provider, start.body.id)
    await eventually(() => (sent.length >= 4 ? true : undefined))
    expectWireValid(sent)
  })

  it('error: bad 2024-1 input gets a 2024-1 error (4xx, prefixed terms, the 2024-1 context), never a 5xx, and opens nothing', async () => {
    const { provider } = await pair({ provider: ['2024-1'] })
    const post = async (body: string, token = 'token-consumer') => {
      const response = await fetch(`${provider.url}/dsp/2024-1/negotiations/request`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body,
      })
      return { status: response.status, body: (await response.json()) as any }
    }
    const good = {
      '@context': dsp2024ContextUrl,
      '@type': 'dspace:ContractRequestMessage',
      'dspace:consumerPid': 'urn:uuid:c-1',
      'dspace:offer': {
        '@id': 'offer-1',
        '@type': 'odrl:Offer',
        'odrl:target': 'dataset-1',
        'odrl:assigner': providerId,
        'odrl:permission': [{ 'odrl:action': 'odrl:use' }],
      },
      'dspace:callbackAddress': `${provider.url}/dsp/2024-1`,
    }
    const cases: Array<[string, string]> = [
      ['not json', '{"@context":'],
      ['a 2025-1 context', JSON.stringify({ ...good, '@context': ['https://w3id.org/dspace/2025/1/context.jsonld'] })],
      ['a term spelled twice', JSON.stringify({ ...good, 'https://w3id.org/dspace/2024/1/consumerPid': 'urn:uuid:other' })],
      ['an empty offer', JSON.stringify({ ...good, 'dspace:offer': {} })],
      ['no pid', JSON.stringify({ ...good, 'dspace:consumerPid': undefined })],
      ['a deep body', `${'['.repeat(5000)}${']'.repeat(5000)}`],
      ['a nested context', JSON.stringify({ ...good, 'dspace:offer': { ...good['dspace:offer'], '@context': { odrl: 'https://evil.example/' } } })],
    ]
    for (const [what, body] of cases) {
      const answer = await post(body)
      expect(answer.status, what).toBeGreaterThanOrEqual(400)
      expect(answer.status, what).toBeLessThan(500)
      expect(answer.body, what).toMatchObject({ '@context': dsp2024ContextUrl, '@type': 'dspace:ContractNegotiationError' })
      expect(dsp2024SchemaErrors('negotiation/contract-negotiation-error-schema.json', answer.body), what).toEqual([])
    }
    const stranger = await post(JSON.stringify({ ...good, '@context': 'https://evil.example/' }), 'token-nobody')
    expect(stranger.status).toBe(401)
    expect((await provider.management('GET', '/negotiations?role=provider')).body.items).toEqual([])
    // A callback on a private address is refused as on 2025-1 (egress is a policy), and opens nothing.
    const internal = await post(JSON.stringify({ ...good, 'dspace:callbackAddress': 'http://169.254.169.254/latest' }))
    expect(internal.status).toBe(400)
    expect(internal.body['@type']).toBe('dspace:ContractNegotiationError')
    // Past the body limit: 413, in the 2024-1 shape.
    const huge = await post(JSON.stringify({ ...good, 'dspace:consumerPid': 'x'.repeat(2 * 1024 * 1024) }))
    expect(huge.status).toBe(413)
    expect(huge.body['@context']).toBe(dsp2024ContextUrl)
    expect((await provider.management('GET', '/negotiations?role=provider')).body.items).toEqual([])
    const opened = await post(JSON.stringify(good))
    expect(opened.status).toBe(201)
    expect(opened.body).toMatchObject({ '@type': 'dspace:ContractNegotiation', 'dspace:consumerPid': 'urn:uuid:c-1', 'dspace:state': 'dspace:REQUESTED' })
    expect(dsp2024SchemaErrors('negotiation/contract-negotiation-schema.json', opened.body)).toEqual([])
    // Another participant asking for that process learns nothing: 404, in the 2024-1 shape.
    const providerPid = opened.body['dspace:providerPid']
    const foreign = await fetch(`${provider.url}/dsp/2024-1/negotiations/${encodeURIComponent(providerPid)}`, {
      headers: { authorization: 'Bearer token-provider' },
    })
    expect(foreign.status).toBe(404)
    expect(await foreign.json()).toMatchObject({ '@context': dsp2024ContextUrl, '@type': 'dspace:ContractNegotiationError' })
    const own = await fetch(`${provider.url}/dsp/2024-1/negotiations/${encodeURIComponent(providerPid)}`, {
      headers: { authorization: 'Bearer token-consumer' },
    })
    expect(own.status).toBe(200)
    const state = await own.json()
    expect(state).toMatchObject({ '@type': 'dspace:ContractNegotiation', 'dspace:consumerPid': 'urn:uuid:c-1' })
    expect(dsp2024SchemaErrors('negotiation/contract-negotiation-schema.json', state)).toEqual([])
  })
})
