import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fromRoot } from '../paths.ts'
import { loadPolicies } from '../../policies/index.ts'
import { expectDspValid } from '../../test/support/dsp-schemas.ts'
import { declaredUseKey } from '../dsp/declared-use.ts'
import { enginePolicyCheck, staticOffers } from './policy-check.ts'
import { eventually, startTestConnector, type TestConnector } from '../../test/support/negotiation.ts'

/**
 * A consumer declares its intended use (purpose, place of processing) with its contract request;
 * the provider decides the offer's `purpose` and `spatial` constraints on that declaration.
 */
const providerId = 'did:web:provider.test'
const consumerId = 'did:web:consumer.test'
const tokens = { 'token-provider': providerId, 'token-consumer': consumerId }

describe('declared use in a contract request', () => {
  let provider: TestConnector
  let consumer: TestConnector
  const sent: Array<{ url: string; body: any }> = []
  let offer: Record<string, unknown> & { '@id': string }

  beforeAll(async () => {
    const { policies } = await loadPolicies(fromRoot('seeds/policies'))
    const policy = policies.get('research-only')!
    offer = policy.odrl as typeof offer
    provider = await startTestConnector({
      dialect: 'sqlite',
      participantId: providerId,
      tokens,
      serve: true,
      offers: () => staticOffers({ 'dataset-1': [{ offer, policy }] }),
      check: enginePolicyCheck,
    })
    consumer = await startTestConnector({ dialect: 'sqlite', participantId: consumerId, tokens, serve: true, onSend: (m) => sent.push(m as never) })
  })
  afterAll(async () => {
    await Promise.all([provider?.stop(), consumer?.stop()])
  })

  const negotiate = async (body: Record<string, unknown>) => {
    const start = await consumer.management('POST', '/negotiations', { peerUrl: provider.dspUrl, peerId: providerId, datasetId: 'dataset-1', offer, ...body })
    expect(start.status).toBe(201)
    return eventually(async () => {
      const { body: n } = await consumer.management('GET', `/negotiations/${start.body.id}`)
      return ['FINALIZED', 'TERMINATED'].includes(n.state) ? n : undefined
    })
  }

  it('happy: a declared research purpose meets a research-only offer, and the request stays valid DSP', async () => {
    const n = await negotiate({ declaredUse: { purpose: 'climate-research', spatial: 'CA' } })
    expect(n.state).toBe('FINALIZED')
    const request = sent.find((m) => m.body['@type'] === 'ContractRequestMessage' && m.body[declaredUseKey])!
    expect(request.body[declaredUseKey]).toEqual({ purpose: 'climate-research', spatial: 'CA' })
    expectDspValid('negotiation/contract-request-message-schema.json', request.body)
  })

  it('error: a commercial purpose is refused with the reason on the consumer side', async () => {
    const n = await negotiate({ declaredUse: { purpose: 'marketing' } })
    expect(n.state).toBe('TERMINATED')
    expect(JSON.stringify(n)).toMatch(/purpose `marketing` is not a kind of `research`/)
  })

  it('error: no declaration is refused, saying the purpose is missing', async () => {
    const n = await negotiate({})
    expect(n.state).toBe('TERMINATED')
    expect(JSON.stringify(n)).toMatch(/does not say what the purpose is/)
  })

  it('error: a malformed declaration is refused by the management API and starts nothing', async () => {
    const before = (await consumer.management('GET', '/negotiations')).body.total ?? (await consumer.management('GET', '/negotiations')).body.items.length
    const bad = await consumer.management('POST', '/negotiations', { peerUrl: provider.dspUrl, datasetId: 'dataset-1', offer, declaredUse: { purpose: 42 } })
    expect(bad.status).toBe(400)
    const after = (await consumer.management('GET', '/negotiations')).body.total ?? (await consumer.management('GET', '/negotiations')).body.items.length
    expect(after).toBe(before)
  })

  it('error: a malformed declaration in a DSP request answers 400 and creates no process', async () => {
    const response = await fetch(`${provider.dspUrl}/negotiations/request`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer token-consumer' },
      body: JSON.stringify({
        '@context': ['https://w3id.org/dspace/2025/1/context.jsonld'],
        '@type': 'ContractRequestMessage',
        consumerPid: 'urn:uuid:00000000-0000-4000-8000-00000000abcd',
        offer: { ...offer, target: 'dataset-1' },
        callbackAddress: consumer.dspUrl,
        [declaredUseKey]: { purpose: 'research', unknown: 'x' },
      }),
    })
    expect(response.status).toBe(400)
    const { body } = await provider.management('GET', '/negotiations?role=provider')
    expect(body.items.some((n: any) => n.consumerPid === 'urn:uuid:00000000-0000-4000-8000-00000000abcd')).toBe(false)
  })
})
