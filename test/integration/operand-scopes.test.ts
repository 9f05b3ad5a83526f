import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { compilePolicyText, type CompiledPolicy } from '../../policies/index.ts'
import { enginePolicyCheck, staticOffers } from '../../connector/negotiation/policy-check.ts'
import { eventually, startTestConnector, type TestConnector } from '../support/negotiation.ts'

/**
 * A policy's scope override changes what happens through DSP: two connectors over 127.0.0.1, the
 * provider deciding with the policy engine. The same release date lets a consumer sign today when
 * it is left to the accesses (the default), and refuses the signing when the policy decides the
 * date at negotiation too.
 */
const providerId = 'did:web:provider.test'
const consumerId = 'did:web:consumer.test'
const tokens = { 'token-provider': providerId, 'token-consumer': consumerId }

const release = (id: string, scopes: string) => `id: ${id}
title: Released in 2099
${scopes}permissions:
  - action: use
    constraints:
      - { leftOperand: dateTime, operator: gteq, rightOperand: "2099-01-01T00:00:00Z" }
`

async function compile(text: string): Promise<CompiledPolicy> {
  const { policy, errors } = await compilePolicyText(text, 'release.yaml')
  if (!policy) throw new Error(JSON.stringify(errors))
  return policy
}

describe('operand scopes through DSP and the management API', () => {
  let provider: TestConnector
  let consumer: TestConnector
  const policies: Record<string, CompiledPolicy> = {}

  beforeAll(async () => {
    policies.later = await compile(release('released-later', ''))
    policies.signLater = await compile(release('signed-after-release', 'scopes:\n  dateTime: [catalog, negotiation, transfer, monitor]\n'))
    provider = await startTestConnector({
      dialect: 'sqlite',
      participantId: providerId,
      tokens,
      serve: true,
      offers: () =>
        staticOffers({
          'dataset-later': [{ offer: policies.later!.odrl, policy: policies.later! }],
          'dataset-sign-later': [{ offer: policies.signLater!.odrl, policy: policies.signLater! }],
        }),
      check: enginePolicyCheck,
    })
    consumer = await startTestConnector({ dialect: 'sqlite', participantId: consumerId, tokens, serve: true })
  })
  afterAll(async () => {
    await Promise.all([provider?.stop(), consumer?.stop()])
  })

  const negotiate = async (datasetId: string, offer: Record<string, unknown>) => {
    const start = await consumer.management('POST', '/negotiations', { peerUrl: provider.dspUrl, peerId: providerId, datasetId, offer })
    expect(start.status).toBe(201)
    return eventually(async () => {
      const { body } = await consumer.management('GET', `/negotiations/${start.body.id}`)
      return ['FINALIZED', 'TERMINATED'].includes(body.state) ? body : undefined
    })
  }

  it('happy: without an override, the release date does not block signing (it is decided at each access)', async () => {
    const n = await negotiate('dataset-later', policies.later!.odrl)
    expect(n.state).toBe('FINALIZED')
  })

  it('error: with the date scoped to negotiation, the same date refuses the signing, naming the date and the policy', async () => {
    const n = await negotiate('dataset-sign-later', policies.signLater!.odrl)
    expect(n.state).toBe('TERMINATED')
    expect(n.reason).toContain('2099-01-01')
    expect(n.reason).toContain('policy `signed-after-release` (“Released in 2099”)')
  })

  it('attack: a consumer that strips the override from the offer it sends back is refused (the offer is not the one published)', async () => {
    const stripped = JSON.parse(
      JSON.stringify(policies.signLater!.odrl).replaceAll(',"https://w3id.org/passerelle/ns#scopes":["catalog","negotiation","transfer","monitor"]', ''),
    )
    expect(JSON.stringify(stripped)).not.toContain('#scopes')
    const n = await negotiate('dataset-sign-later', stripped)
    expect(n.state).toBe('TERMINATED')
    expect(n.reason).toMatch(/differs from the one published for dataset dataset-sign-later/)
  })
})
