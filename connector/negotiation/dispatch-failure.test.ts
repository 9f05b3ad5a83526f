import { afterEach, describe, expect, it } from 'vitest'
import { expectDspValid } from '../../test/support/dsp-schemas.ts'
import type { Reactions } from './reactions.ts'
import { staticOffers } from './policy-check.ts'
import { eventually, openOffer, schemaOf, startTestConnector, type TestConnector } from '../../test/support/negotiation.ts'

/**
 * A process that ends on our side because a message could not be delivered tells the peer, so that
 * both sides end in the same state.
 */
const providerId = 'did:web:provider.test'
const consumerId = 'did:web:consumer.test'
const tokens = { 'token-provider': providerId, 'token-consumer': consumerId }
const agreeing: Reactions = {
  react: async ({ negotiation, trigger }) => (negotiation.role === 'provider' && trigger === 'request' ? [{ kind: 'agreement' }] : []),
}

let provider: TestConnector | undefined
afterEach(async () => {
  await provider?.stop()
  provider = undefined
})

describe.each(['sqlite', 'postgres'] as const)('a dispatch that finally fails (%s)', (dialect) => {
  it('terminates the process and sends the peer a ContractNegotiationTerminationMessage with the reason', async () => {
    const outbound: Array<{ url: string; body: any }> = []
    provider = await startTestConnector({
      dialect,
      participantId: providerId,
      tokens,
      maxAttempts: 2,
      offers: () => staticOffers({ 'dataset-1': [{ offer: openOffer('offer-1') }] }),
      reactions: () => agreeing,
      // The consumer refuses our agreement (a 400 is final); everything else it takes.
      send: async (input) => {
        outbound.push({ url: input.url, body: input.body })
        const type = (input.body as { '@type': string })['@type']
        return type === 'ContractAgreementMessage' ? { status: 400, body: { reason: ['no thanks'] } } : { status: 200, body: {} }
      },
    })
    const response = await provider.app.request('/dsp/2025-1/negotiations/request', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer token-consumer' },
      body: JSON.stringify({
        '@context': ['https://w3id.org/dspace/2025/1/context.jsonld'],
        '@type': 'ContractRequestMessage',
        consumerPid: 'urn:uuid:consumer-1',
        offer: { ...openOffer('offer-1'), target: 'dataset-1' },
        callbackAddress: 'http://127.0.0.1:9/callback',
      }),
    })
    expect(response.status).toBe(201)
    const { providerPid } = (await response.json()) as { providerPid: string }
    const told = await eventually(async () => outbound.find((m) => m.body['@type'] === 'ContractNegotiationTerminationMessage'))
    expectDspValid(schemaOf.ContractNegotiationTerminationMessage!, told.body)
    expect(told.url).toBe('http://127.0.0.1:9/callback/negotiations/urn%3Auuid%3Aconsumer-1/termination')
    expect(told.body).toMatchObject({
      providerPid,
      consumerPid: 'urn:uuid:consumer-1',
      code: 'dispatch-failed',
      reason: [expect.stringMatching(/^our ContractAgreementMessage could not be delivered: .*the peer answered 400/)],
    })
    const { body } = await provider.management('GET', `/negotiations/${providerPid}`)
    expect(body.state).toBe('TERMINATED')
    expect(body.timeline.at(-1)).toMatchObject({ kind: 'dispatch-failed', toState: 'TERMINATED' })
  })
})
