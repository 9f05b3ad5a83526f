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
 * Variants of rewritten terms, deeper in the policy than the first attack tests went: duplicate
 * spellings inside logical constraints, duties and constraint fields, JSON-LD keywords (`@list`,
 * `@set`, `@graph`, `@context`, `@vocab`) and identity tricks, sent by a consumer signing with its own
 * key to a provider process; and agreements a hostile provider sends our consumer process with terms
 * the engine does not understand (fail closed: refused, never stored).
 */
import {
  context,
  odrl,
  limited,
  guarded,
  published,
  provider,
  consumer,
  hostilePort,
  token,
  request,
  providerState,
  offerOf,
  useRewrittenOfferParticipants,
} from '../support/rewritten-offers.ts'

useRewrittenOfferParticipants()

const c3 = (o: Record<string, any>) => o.permission[0].constraint[0] as Record<string, unknown>
/** The published three-downloads offer, rewritten. */
const limitedVariants: Array<[string, (offer: Record<string, any>) => Record<string, unknown>]> = [
  ['the limit inside an `and` beside an empty `odrl:and`', (o) => ({ ...o, permission: [{ action: 'use', constraint: [{ and: [c3(o)], 'odrl:and': [] }] }] })],
  [
    'the limit inside an `or` with an always-true alternative',
    (o) => ({ ...o, permission: [{ action: 'use', constraint: [{ or: [c3(o), { ...c3(o), rightOperand: 1000 }] }] }] }),
  ],
  ['the limit inside an `xone` beside an `and`', (o) => ({ ...o, permission: [{ action: 'use', constraint: [{ xone: [c3(o)], and: [c3(o)] }] }] })],
  [
    '`operator` beside `odrl:operator` with another value',
    (o) => ({ ...o, permission: [{ action: 'use', constraint: [{ ...c3(o), 'odrl:operator': 'gteq' }] }] }),
  ],
  [
    '`rightOperand` beside its full IRI with another value',
    (o) => ({ ...o, permission: [{ action: 'use', constraint: [{ ...c3(o), [`${odrl}rightOperand`]: 300 }] }] }),
  ],
  ['the limit as `{ "@value": 300 }`', (o) => ({ ...o, permission: [{ action: 'use', constraint: [{ ...c3(o), rightOperand: { '@value': 300 } }] }] })],
  ['the operator as `odrl:gteq`', (o) => ({ ...o, permission: [{ action: 'use', constraint: [{ ...c3(o), operator: 'odrl:gteq' }] }] })],
  [
    'the operator as `{ "@id": "odrl:lteq" }` beside `odrl:operator`',
    (o) => ({ ...o, permission: [{ action: 'use', constraint: [{ ...c3(o), operator: { '@id': 'odrl:lteq' }, 'odrl:operator': 'gt' }] }] }),
  ],
  [
    '`constraint` as an empty `@list` beside `odrl:constraint`',
    (o) => ({ ...o, permission: [{ action: 'use', constraint: { '@list': [] }, 'odrl:constraint': o.permission[0].constraint }] }),
  ],
  ['`constraint` wrapped in `@set`', (o) => ({ ...o, permission: [{ action: 'use', constraint: { '@set': o.permission[0].constraint } }] })],
  ['the rules wrapped in `@graph`', (o) => ({ '@id': o['@id'], '@type': 'Offer', '@graph': [{ permission: o.permission }] })],
  ['an added `@context` that maps `constraint` elsewhere', (o) => ({ '@context': { constraint: 'https://example.org/ignored' }, ...o })],
  ['an added `@context` with a `@vocab`', (o) => ({ '@context': { '@vocab': 'https://example.org/' }, ...o })],
  [
    'an added `@context` aliasing a term, the limit under the alias',
    (o) => ({ '@context': { limit: `${odrl}constraint` }, ...o, permission: [{ action: 'use', limit: o.permission[0].constraint }] }),
  ],
  ['a duty with `action` twice', (o) => ({ ...o, permission: [{ ...o.permission[0], duty: [{ action: 'attribute', 'odrl:action': 'delete' }] }] })],
  ['the rule by `@id` only', (o) => ({ ...o, permission: [{ '@id': 'urn:uuid:6b1c3b0e-0000-4000-8000-000000000001' }] })],
  ['`uid` beside `@id` naming another offer', (o) => ({ ...o, uid: `urn:uuid:${randomUUID()}` })],
  ['the limit written as a string with a space', (o) => ({ ...o, permission: [{ action: 'use', constraint: [{ ...c3(o), rightOperand: ' 3' }] }] })],
]

/** The published no-redistribution offer, rewritten. */
const guardedVariants: Array<[string, (offer: Record<string, any>) => Record<string, unknown>]> = [
  ['the prohibition as an empty `@list` beside `odrl:prohibition`', (o) => ({ ...o, prohibition: { '@list': [] }, 'odrl:prohibition': o.prohibition })],
  ['the prohibited action as `odrl:use`', (o) => ({ ...o, prohibition: [{ action: 'odrl:use' }] })],
  [
    'the prohibition with a refinement that never holds',
    (o) => ({
      ...o,
      prohibition: [{ action: { 'rdf:value': { '@id': 'odrl:distribute' }, refinement: [{ leftOperand: 'count', operator: 'gt', rightOperand: 1000000 }] } }],
    }),
  ],
]

describe('a consumer that rewrites the published offer', () => {
  it.each(limitedVariants)('refused: %s, with a 400 that names the policy or the field, and nothing stored', async (_name, rewrite) => {
    const before = await providerState()
    const answer = await request(rewrite(offerOf(limited)))
    expect(answer.status).toBe(400)
    expectDspValid('negotiation/contract-negotiation-error-schema.json', answer.body)
    // Refused by the message schema (naming the field) or by the offer check (naming the policy).
    expect(answer.body.reason.join(' ')).toMatch(/three-downloads|^body\.offer\./)
    expect(await providerState()).toEqual(before)
  })

  it.each(guardedVariants)('refused: %s, with a 400 that names the policy or the field, and nothing stored', async (_name, rewrite) => {
    const before = await providerState()
    const answer = await request(rewrite(offerOf(guarded)))
    expect(answer.status).toBe(400)
    expect(answer.body.reason.join(' ')).toMatch(/no-redistribution|^body\.offer\./)
    expect(await providerState()).toEqual(before)
  })
})

describe('a consumer that sends the published offer', () => {
  it('happy: with the DSP context named inside it, the offer is accepted and one negotiation stored', async () => {
    const before = await providerState()
    const answer = await request({ '@context': 'https://w3id.org/dspace/2025/1/context.jsonld', ...offerOf(limited) })
    expect(answer.status, JSON.stringify(answer.body)).toBe(201)
    expect((await providerState()).negotiations).toBe(before.negotiations + 1)
  })
})

describe('a consumer that changes the terms later in the negotiation', () => {
  const post = async (path: string, body: Record<string, unknown>) => {
    const response = await fetch(`${provider.url}/dsp/2025-1${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: await token() },
      body: JSON.stringify(body),
    })
    return { status: response.status, body: (await response.json().catch(() => ({}))) as Record<string, any> }
  }
  const message = (consumerPid: string, offer: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    '@context': context,
    '@type': 'ContractRequestMessage',
    consumerPid,
    callbackAddress: `${consumer.url}/dsp/2025-1`,
    offer,
    ...extra,
  })

  it('refused: the same consumerPid again with the limit dropped; the first negotiation keeps its terms and no second is stored', async () => {
    const pid = `urn:uuid:${randomUUID()}`
    const first = await post('/negotiations/request', message(pid, offerOf(limited)))
    expect(first.status).toBe(201)
    const before = await providerState()
    const again = await post('/negotiations/request', message(pid, { ...offerOf(limited), permission: [{ action: 'use' }] }))
    expect(again.status).toBeGreaterThanOrEqual(400)
    expect(again.status).toBeLessThan(500)
    expect(await providerState()).toEqual(before)
  })

  it('refused: a counter-request (with the providerPid) that drops the limit, with a 4xx naming the policy; nothing agreed', async () => {
    const pid = `urn:uuid:${randomUUID()}`
    const first = await post('/negotiations/request', message(pid, offerOf(limited)))
    expect(first.status).toBe(201)
    const providerPid = first.body.providerPid as string
    const before = await providerState()
    const { callbackAddress: _callback, ...counterRequest } = message(pid, { ...offerOf(limited), permission: [{ action: 'use' }] }, { providerPid })
    const counter = await post(`/negotiations/${encodeURIComponent(providerPid)}/request`, counterRequest)
    expect(counter.status, JSON.stringify(counter.body)).toBeGreaterThanOrEqual(400)
    expect(counter.status).toBeLessThan(500)
    expect(JSON.stringify(counter.body.reason ?? '')).toMatch(/three-downloads/)
    expect((await providerState()).agreements).toBe(before.agreements)
  })

  it("refused: another dataset's offer id with this dataset's target", async () => {
    const before = await providerState()
    const answer = await request({ ...offerOf(limited), '@id': published.get(guarded)!['@id'] })
    expect(answer.status).toBe(400)
    expect(await providerState()).toEqual(before)
  })
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

  const notAccepted = /is not a policy we accept|terms differ from the offer/
  const limit = (r: Record<string, any>) => r.permission[0].constraint[0] as Record<string, unknown>
  const variants: Array<[string, (rules: Record<string, any>) => Record<string, unknown>, RegExp]> = [
    [
      'an unknown left operand inside an `or`',
      (r) => ({
        permission: [
          { action: 'use', constraint: [{ or: [limit(r), { leftOperand: 'https://example.org/moonPhase', operator: 'eq', rightOperand: 'full' }] }] },
        ],
      }),
      notAccepted,
    ],
    ['an unknown action', (r) => ({ permission: [{ ...r.permission[0], action: 'https://example.org/teleport' }] }), notAccepted],
    ['an unknown operator', (r) => ({ permission: [{ action: 'use', constraint: [{ ...limit(r), operator: 'roughly' }] }] }), notAccepted],
    [
      'a malformed date',
      (r) => ({
        permission: [
          {
            action: 'use',
            constraint: [limit(r), { leftOperand: 'dateTime', operator: 'lteq', rightOperand: { '@value': '2026-13-45', '@type': 'xsd:date' } }],
          },
        ],
      }),
      notAccepted,
    ],
    ['an unknown profile', (r) => ({ profile: 'https://example.org/profile/lenient', ...r }), notAccepted],
    [
      'a refinement on the action',
      (r) => ({
        permission: [
          {
            ...r.permission[0],
            action: {
              'rdf:value': { '@id': 'odrl:use' },
              refinement: [{ leftOperand: 'https://example.org/moonPhase', operator: 'eq', rightOperand: 'full' }],
            },
          },
        ],
      }),
      notAccepted,
    ],
    [
      'the limit inside an `and` beside an empty `odrl:and`',
      (r) => ({ permission: [{ action: 'use', constraint: [{ and: [limit(r)], 'odrl:and': [] }] }] }),
      notAccepted,
    ],
    [
      'the limit under a `@context` alias',
      (r) => ({ '@context': { limit: `${odrl}constraint` }, permission: [{ action: 'use', limit: r.permission[0].constraint }] }),
      notAccepted,
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
