import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadPolicies, readPolicy, samePolicy, type CompiledPolicy } from '../../policies/index.ts'
import { fromRoot } from '../paths.ts'
import type { Send } from '../dispatch/dispatcher.ts'
import { staticOffers } from './policy-check.ts'
import { agreementProblem } from './reactions.ts'
import type { Negotiation } from './repository.ts'
import { eventually, startTestConnector, type TestConnector } from '../../test/support/negotiation.ts'

/**
 * Mutated offers against a provider that publishes the seed policies: whatever a consumer does to a
 * published offer (a term spelled twice, empty lists, IRIs for terms, reordered lists, extra rules,
 * dropped constraints, changed operands, wrapped values), the provider either refuses the request
 * (4xx, nothing stored) or signs an agreement whose policy is exactly the published one.
 */
const odrl = 'http://www.w3.org/ns/odrl/2/'
const providerId = 'did:web:provider.test'
const consumerId = 'did:web:consumer.test'
const token = 'token-consumer'
const context = ['https://w3id.org/dspace/2025/1/context.jsonld']
const identity = ['uid', 'type', 'target', 'assigner', 'assignee', 'timestamp'] as const

let provider: TestConnector
let policies: Map<string, CompiledPolicy>
/** Agreements the provider sent, by consumerPid. */
const agreements = new Map<string, Record<string, unknown>>()

beforeAll(async () => {
  policies = (await loadPolicies(fromRoot('seeds/policies'))).policies
  const send: Send = async ({ body }) => {
    const message = body as Record<string, any>
    if (message['@type'] === 'ContractAgreementMessage') agreements.set(message.consumerPid, message.agreement)
    return { status: 200, body: undefined }
  }
  provider = await startTestConnector({
    dialect: 'sqlite',
    participantId: providerId,
    tokens: { [token]: consumerId, 'token-provider': providerId },
    offers: () => staticOffers(Object.fromEntries([...policies].map(([id, policy]) => [`dataset-${id}`, [{ offer: policy.odrl, policy, name: id }]]))),
    // Every requester meets every policy: what is tested is the terms, not the decision.
    check: () => ({ allowed: true, reason: 'allowed' }),
    send,
  })
}, 60_000)
afterAll(async () => {
  await provider?.stop()
})

type Json = Record<string, any>
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Every object in the tree with its keys, in a fixed order. */
function objects(node: unknown, found: Json[] = []): Json[] {
  if (Array.isArray(node)) for (const item of node) objects(item, found)
  else if (isObject(node)) {
    found.push(node)
    for (const value of Object.values(node)) objects(value, found)
  }
  return found
}
/** Every array in the tree, with the object and key holding it. */
function arrays(node: unknown, found: Array<{ owner: Json; key: string }> = []): Array<{ owner: Json; key: string }> {
  if (Array.isArray(node)) for (const item of node) arrays(item, found)
  else if (isObject(node)) {
    for (const [key, value] of Object.entries(node)) {
      if (Array.isArray(value)) found.push({ owner: node, key })
      arrays(value, found)
    }
  }
  return found
}
const pick = <T>(list: T[], n: number): T | undefined => (list.length === 0 ? undefined : list[n % list.length])
const termKeys = (o: Json) => Object.keys(o).filter((k) => !k.startsWith('@') && !k.includes(':'))

const mutations = {
  /** The same term under a second spelling, with the same, an empty or another value. */
  duplicate(offer: Json, a: number, b: number, flag: boolean) {
    const node = pick(objects(offer), a)
    const key = node && pick(termKeys(node), b)
    if (!node || !key) return
    const spelling = flag ? `odrl:${key}` : `${odrl}${key}`
    node[spelling] = b % 3 === 0 ? structuredClone(node[key]) : b % 3 === 1 ? [] : 'use'
    if (b % 2 === 0) node[key] = Array.isArray(node[key]) ? [] : node[key]
  },
  /** A term written as `odrl:x` or its full IRI (the same meaning). */
  iri(offer: Json, a: number, b: number, flag: boolean) {
    const node = pick(objects(offer), a)
    const key = node && pick(termKeys(node), b)
    if (!node || !key) return
    node[flag ? `odrl:${key}` : `${odrl}${key}`] = node[key]
    delete node[key]
  },
  /** An empty list added to a rule, or a list emptied. */
  empty(offer: Json, a: number, _b: number, flag: boolean) {
    if (flag) {
      const rule = pick(
        objects(offer).filter((o) => 'action' in o),
        a,
      )
      if (rule && !('constraint' in rule)) rule.constraint = []
    } else {
      const list = pick(arrays(offer), a)
      if (list) list.owner[list.key] = []
    }
  },
  reorder(offer: Json, a: number) {
    const list = pick(arrays(offer), a)
    if (list) list.owner[list.key] = [...list.owner[list.key]].reverse()
  },
  extraRule(offer: Json, _a: number, b: number, flag: boolean) {
    const kind = flag ? 'permission' : 'prohibition'
    offer[kind] = [...(offer[kind] ?? []), { action: pick(['use', 'distribute', 'read', 'modify'], b) }]
  },
  dropConstraint(offer: Json, a: number, b: number) {
    const rule = pick(
      objects(offer).filter((o) => Array.isArray(o.constraint) && o.constraint.length > 0),
      a,
    )
    if (rule) rule.constraint.splice(b % rule.constraint.length, 1)
  },
  changeOperand(offer: Json, a: number, b: number) {
    const constraint = pick(
      objects(offer).filter((o) => 'rightOperand' in o),
      a,
    )
    if (!constraint) return
    const value = constraint.rightOperand
    constraint.rightOperand = typeof value === 'number' ? value + 1 + b : Array.isArray(value) ? value.slice(1) : `${String(value)}-${b}`
  },
  /** A value written as `{ "@value": … }` (the same meaning). */
  wrapValue(offer: Json, a: number) {
    const constraint = pick(
      objects(offer).filter((o) => typeof o.rightOperand === 'string' || typeof o.rightOperand === 'number'),
      a,
    )
    if (constraint) constraint.rightOperand = { '@value': constraint.rightOperand }
  },
}
type Mutation = keyof typeof mutations

async function request(consumerPid: string, offer: unknown) {
  const response = await provider.app.request('/dsp/2025-1/negotiations/request', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: token },
    body: JSON.stringify({ '@context': context, '@type': 'ContractRequestMessage', consumerPid, offer, callbackAddress: 'http://127.0.0.1:9/dsp/2025-1' }),
  })
  return response.status
}
const negotiationCount = async () => (await provider.management('GET', '/negotiations?role=provider&limit=1')).body.total as number

describe('mutated offers', () => {
  let seq = 0
  const published = (id: string) => ({ ...structuredClone(policies.get(id)!.odrl as Json), target: `dataset-${id}` })
  const agreementOf = (consumerPid: string) => eventually(async () => agreements.get(consumerPid), 5_000)

  it('happy: every published offer as it is gets an agreement with exactly its policy', async () => {
    for (const id of policies.keys()) {
      const consumerPid = `urn:uuid:unchanged-${id}`
      expect(await request(consumerPid, published(id))).toBe(201)
      const read = readPolicy(await agreementOf(consumerPid), { expect: 'Agreement', registry: policies.get(id)!.registry })
      expect(read.errors).toBeUndefined()
      expect(samePolicy(read.model!, policies.get(id)!.model, { ignore: [...identity] })).toBe(true)
    }
  })

  it('property: a mutated offer is refused with a 4xx and nothing stored, or agreed on exactly the published policy', async () => {
    const mutation = fc.tuple(fc.constantFrom(...(Object.keys(mutations) as Mutation[])), fc.nat(50), fc.nat(50), fc.boolean())
    const outcomes = { refused: 0, agreed: 0 }
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...policies.keys()), fc.array(mutation, { minLength: 1, maxLength: 3 }), async (id, steps) => {
        const offer = published(id)
        for (const [name, a, b, flag] of steps) mutations[name](offer, a, b, flag)
        const consumerPid = `urn:uuid:mutated-${++seq}`
        const before = await negotiationCount()
        const status = await request(consumerPid, offer)
        expect(status === 201 || (status >= 400 && status < 500), `status ${status}`).toBe(true)
        if (status !== 201) {
          outcomes.refused++
          expect(await negotiationCount()).toBe(before)
          return
        }
        outcomes.agreed++
        const read = readPolicy(await agreementOf(consumerPid), { expect: 'Agreement', registry: policies.get(id)!.registry })
        expect(read.errors).toBeUndefined()
        expect(samePolicy(read.model!, policies.get(id)!.model, { ignore: [...identity] })).toBe(true)
      }),
      { numRuns: 150 },
    )
    // Both outcomes happen: meaning-preserving mutations are agreed, the others refused.
    expect(outcomes.refused).toBeGreaterThan(0)
    expect(outcomes.agreed).toBeGreaterThan(0)
  }, 120_000)
})

describe('mutated agreements (a hostile provider)', () => {
  it('property: our consumer accepts an agreement only when its policy is exactly the offer it asked for', () => {
    const mutation = fc.tuple(fc.constantFrom(...(Object.keys(mutations) as Mutation[])), fc.nat(50), fc.nat(50), fc.boolean())
    const outcomes = { refused: 0, accepted: 0 }
    fc.assert(
      fc.property(fc.constantFrom(...policies.keys()), fc.array(mutation, { minLength: 0, maxLength: 3 }), (id, steps) => {
        const datasetId = `dataset-${id}`
        const asked: Json = { ...structuredClone(policies.get(id)!.odrl as Json), target: datasetId }
        const n = { datasetId, offerId: asked['@id'], offer: asked, counterpartyId: providerId } as unknown as Negotiation
        const { '@id': _id, '@type': _type, ...rules } = structuredClone(asked)
        const agreement: Json = {
          '@id': 'urn:uuid:agreement',
          '@type': 'Agreement',
          ...rules,
          assigner: providerId,
          assignee: consumerId,
          timestamp: '2026-12-07T12:00:00Z',
        }
        for (const [name, a, b, flag] of steps) mutations[name](agreement, a, b, flag)
        const problem = agreementProblem(agreement, n, consumerId)
        if (problem) {
          outcomes.refused++
          return
        }
        outcomes.accepted++
        const read = readPolicy(agreement, { expect: 'Agreement' })
        expect(read.errors).toBeUndefined()
        expect(samePolicy(read.model!, policies.get(id)!.model, { ignore: [...identity] })).toBe(true)
      }),
      { numRuns: 300 },
    )
    expect(outcomes.refused).toBeGreaterThan(0)
    expect(outcomes.accepted).toBeGreaterThan(0)
  })
})
