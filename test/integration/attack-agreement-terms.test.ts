import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { systemClock } from '../../connector/clock.ts'
import { randomIds } from '../../connector/ids.ts'
import { expectDspValid } from '../support/dsp-schemas.ts'
import { management, until } from '../support/processes.ts'
import { createTestStore } from '../support/stores.ts'
import { startParticipant, type TestParticipant } from '../support/identity.ts'
import type { Store } from '../../connector/store/store.ts'

/**
 * A consumer that rewrites the offer it requests, against a provider process with real DCP identity
 * (did:web, signed self-issued tokens, presentations from the consumer's credential service). Every
 * rewriting that changes the terms, or spells a term twice so that the provider and the reader of
 * the agreement might see different terms, is refused with a 400 and nothing stored; the agreement
 * the provider signs is its own published policy, and its limit holds when the data is downloaded.
 */
import {
  context,
  odrl,
  limited,
  guarded,
  processes,
  published,
  provider,
  consumer,
  hostilePort,
  request,
  providerState,
  offerOf,
  useRewrittenOfferParticipants,
} from '../support/rewritten-offers.ts'

useRewrittenOfferParticipants()

/** The published three-downloads offer, rewritten. */
const limitedVariants: Array<[string, (offer: Record<string, any>) => Record<string, unknown>]> = [
  [
    'an empty `constraint` beside `odrl:constraint`',
    (o) => ({ ...o, permission: [{ action: 'use', constraint: [], 'odrl:constraint': o.permission[0].constraint }] }),
  ],
  [
    'an empty `constraint` beside its full IRI',
    (o) => ({ ...o, permission: [{ action: 'use', constraint: [], [`${odrl}constraint`]: o.permission[0].constraint }] }),
  ],
  ['`permission` without the limit beside `odrl:permission` with it', (o) => ({ ...o, permission: [{ action: 'use' }], 'odrl:permission': o.permission })],
  ['`@type` beside `type`', (o) => ({ ...o, '@type': 'Offer', type: 'Agreement' })],
  [
    '`leftOperand` beside `odrl:leftOperand`',
    (o) => ({ ...o, permission: [{ action: 'use', constraint: [{ ...o.permission[0].constraint[0], 'odrl:leftOperand': 'elapsedTime' }] }] }),
  ],
  ['a raised limit', (o) => ({ ...o, permission: [{ action: 'use', constraint: [{ ...o.permission[0].constraint[0], rightOperand: 300 }] }] })],
  ['the limit dropped', (o) => ({ ...o, permission: [{ action: 'use' }] })],
  ['an extra permission', (o) => ({ ...o, permission: [...o.permission, { action: 'distribute' }] })],
]

/** The published no-redistribution offer, rewritten. */
const guardedVariants: Array<[string, (offer: Record<string, any>) => Record<string, unknown>]> = [
  ['an empty `prohibition` beside `odrl:prohibition`', (o) => ({ ...o, prohibition: [], 'odrl:prohibition': o.prohibition })],
  ['`prohibition` beside an empty full-IRI prohibition', (o) => ({ ...o, [`${odrl}prohibition`]: [] })],
  ['the prohibition dropped', (o) => ({ ...o, prohibition: [] })],
]

describe('a consumer that rewrites the published offer', () => {
  it.each(limitedVariants)('refused: %s, with a 400 that names the policy, and nothing stored', async (_name, rewrite) => {
    const before = await providerState()
    const answer = await request(rewrite(offerOf(limited)))
    expect(answer.status).toBe(400)
    expectDspValid('negotiation/contract-negotiation-error-schema.json', answer.body)
    expect(answer.body.reason.join(' ')).toMatch(/three-downloads/)
    expect(await providerState()).toEqual(before)
  })

  it.each(guardedVariants)('refused: %s, with a 400 that names the policy, and nothing stored', async (_name, rewrite) => {
    const before = await providerState()
    const answer = await request(rewrite(offerOf(guarded)))
    expect(answer.status).toBe(400)
    expect(answer.body.reason.join(' ')).toMatch(/no-redistribution/)
    expect(await providerState()).toEqual(before)
  })

  it('refused: constraints nested thousands deep get a 4xx, not a 500, and nothing stored', async () => {
    const before = await providerState()
    // Written as text: too deep for JSON.stringify, as it was for storing it.
    const depth = 20_000
    const deep = `${'{"and":['.repeat(depth)}{"leftOperand":"count","operator":"lteq","rightOperand":3}${']}'.repeat(depth)}`
    const offer = offerOf(limited)
    const json = JSON.stringify({ ...offer, permission: [{ action: 'use', constraint: ['DEEP'] }] }).replace('"DEEP"', deep)
    const answer = await request({ json })
    expect(answer.status).toBeGreaterThanOrEqual(400)
    expect(answer.status).toBeLessThan(500)
    expect(await providerState()).toEqual(before)
  })

  it('refused: the refusal is in the provider log with its reason', async () => {
    await request({ ...offerOf(limited), permission: [{ action: 'use' }] })
    const log = processes[0]!.output.join('\n')
    expect(log).toMatch(/contract request refused.*three-downloads.*differs from the one published/)
  })

  it('happy: the published offer spelled with `odrl:` terms and IRIs is agreed; both sides hold the published terms with their limit', async () => {
    const offer = published.get(limited)!
    const constraint = offer.permission[0].constraint[0]
    const spelled = {
      '@id': offer['@id'],
      '@type': 'Offer',
      permission: [
        {
          action: 'use',
          'odrl:constraint': [
            { 'odrl:rightOperand': constraint.rightOperand, [`${odrl}leftOperand`]: constraint.leftOperand, 'odrl:operator': constraint.operator },
          ],
        },
      ],
    }
    const started = await management(consumer, 'POST', '/negotiations', {
      peerUrl: `${provider.url}/dsp/2025-1`,
      peerId: provider.did,
      datasetId: limited,
      offer: spelled,
    })
    expect(started.status).toBe(201)
    const done = await until(async () => {
      const { body } = await management(consumer, 'GET', `/negotiations/${started.body.id}`)
      return body.state === 'FINALIZED' || body.state === 'TERMINATED' ? body : undefined
    })
    expect(done.state, done.reason).toBe('FINALIZED')
    // The provider signed its own published terms, in its own spelling.
    const { body: signed } = await management(provider, 'GET', `/agreements/${encodeURIComponent(done.agreementId)}`)
    expect(signed).toMatchObject({ '@type': 'Agreement', target: limited, assigner: provider.did, assignee: consumer.did, permission: offer.permission })
    expect(signed).not.toHaveProperty('odrl:permission')
    const { body: held } = await management(consumer, 'GET', `/agreements/${encodeURIComponent(done.agreementId)}`)
    expect(held).toMatchObject({ '@id': done.agreementId, permission: offer.permission })
  }, 120_000)
})

/**
 * A hostile provider (its own did:web, signed tokens, a credential service) answers our consumer
 * process's request with an agreement it rewrote. Our consumer terminates with a readable reason
 * and keeps no agreement.
 */
describe('a provider that rewrites the agreement it sends', () => {
  let hostile: TestParticipant
  let hostileStore: Store
  /** How the hostile provider rewrites the offer it was asked for into its agreement. */
  let rewrite: (offer: Record<string, any>) => Record<string, unknown> = (o) => o
  const received: Array<Record<string, any>> = []

  beforeAll(async () => {
    hostileStore = await createTestStore('sqlite')
    hostile = await startParticipant({ store: hostileStore, clock: systemClock, ids: randomIds, port: hostilePort })
    hostile.app.post('/dsp/2025-1/negotiations/request', async (c) => {
      const message = (await c.req.json()) as Record<string, any>
      const providerPid = `urn:uuid:${randomUUID()}`
      const callback = String(message.callbackAddress).replace(/\/$/, '')
      setTimeout(async () => {
        const { '@id': _id, '@type': _type, target, ...rules } = message.offer
        const agreement = {
          '@id': `urn:uuid:${randomUUID()}`,
          '@type': 'Agreement',
          target,
          assigner: hostile.did,
          assignee: consumer.did,
          timestamp: new Date().toISOString(),
          ...rewrite(rules),
        }
        const authorization = await hostile.identity.tokenIssuer.authorizationFor({ participantId: consumer.did, dspUrl: callback })
        await fetch(`${callback}/negotiations/${encodeURIComponent(message.consumerPid)}/agreement`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization },
          body: JSON.stringify({ '@context': context, '@type': 'ContractAgreementMessage', providerPid, consumerPid: message.consumerPid, agreement }),
        })
      }, 50)
      return c.json({ '@context': context, '@type': 'ContractNegotiation', providerPid, consumerPid: message.consumerPid, state: 'REQUESTED' }, 201)
    })
    hostile.app.post('/dsp/2025-1/negotiations/:pid/termination', async (c) => {
      received.push((await c.req.json()) as Record<string, any>)
      return c.body(null, 200)
    })
  })
  afterAll(async () => {
    await hostile?.close()
    await hostileStore?.close()
  })

  const variants: Array<[string, (rules: Record<string, any>) => Record<string, unknown>, RegExp]> = [
    [
      'an empty `constraint` beside `odrl:constraint`',
      (r) => ({ permission: [{ action: 'use', constraint: [], 'odrl:constraint': r.permission[0].constraint }] }),
      /is not a policy we accept: .*constraint/,
    ],
    ['the limit dropped', () => ({ permission: [{ action: 'use' }] }), /terms differ from the offer/],
    [
      'a raised limit',
      (r) => ({ permission: [{ action: 'use', constraint: [{ ...r.permission[0].constraint[0], rightOperand: 300 }] }] }),
      /terms differ from the offer/,
    ],
  ]

  it.each(variants)('refused: %s; our consumer terminates with the reason and keeps no agreement', async (_name, rewritten, reason) => {
    rewrite = rewritten
    const started = await management(consumer, 'POST', '/negotiations', {
      peerUrl: `${hostile.url}/dsp/2025-1`,
      peerId: hostile.did,
      datasetId: limited,
      offer: published.get(limited),
    })
    expect(started.status).toBe(201)
    const done = await until(async () => {
      const { body } = await management(consumer, 'GET', `/negotiations/${started.body.id}`)
      return body.state === 'TERMINATED' || body.state === 'VERIFIED' || body.state === 'FINALIZED' ? body : undefined
    })
    expect(done.state).toBe('TERMINATED')
    expect(done.reason).toMatch(reason)
    expect(done.agreementId ?? null).toBeNull()
    expect(
      (await management(consumer, 'GET', `/agreements?dataset=${encodeURIComponent(limited)}`)).body.items.filter((a: any) => a.assigner === hostile.did),
    ).toEqual([])
    const termination = await until(async () => received.find((m) => m.consumerPid === started.body.id))
    expect(termination.reason.join(' ')).toMatch(reason)
  })
})
