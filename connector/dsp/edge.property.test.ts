import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { staticOffers } from '../negotiation/policy-check.ts'
import { eventually, openOffer, startTestConnector, type TestConnector } from '../../test/support/negotiation.ts'
import { dspContextUrl } from './context.ts'

/**
 * Mutated DSP messages against every DSP endpoint of a running connector (real HTTP on 127.0.0.1,
 * SQLite and PostgreSQL): valid messages for live processes (one where it provides, one where it
 * consumes) with fields dropped, spelled twice, retyped, respelled, made huge or deep, or naming
 * other participants' processes, sent with the right, another or a stranger's token. Whatever
 * arrives: never a 5xx, and a refused message changes no process.
 */
const providerId = 'did:web:provider.test'
const consumerId = 'did:web:consumer.test'
const strangerId = 'did:web:stranger.test'
const tokens = { 'token-provider': providerId, 'token-consumer': consumerId, 'token-stranger': strangerId }
const context = [dspContextUrl]
const dsp = '/dsp/2025-1'

let connector: TestConnector
let next = 0

type Json = Record<string, any>
const send = async (method: string, path: string, body: unknown, token: string) => {
  const response = await fetch(`${connector.url}${dsp}${path}`, {
    method,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    ...(method === 'GET' ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  })
  return { status: response.status, text: await response.text() }
}

/**
 * Every process and agreement in the database, without the columns a refusal may touch (a timeline
 * may record a refusal, and so bump the row's version and time; its state may not change).
 */
async function snapshot() {
  const { db, tables } = connector.store as unknown as { db: any; tables: Record<string, unknown> }
  // Sorted by id: PostgreSQL returns unordered rows in their physical order, which a bookkeeping update (the fields left out) changes.
  const rows = async (table: string) =>
    ((await db.select().from(tables[table])) as Json[])
      .map(({ updatedAt: _u, version: _v, pending: _p, ...row }) => row)
      .sort((a, b) => String(a.id).localeCompare(String(b.id)))
  return JSON.stringify({ negotiations: await rows('negotiations'), agreements: await rows('agreements'), transfers: await rows('transfers') })
}

/** A fresh process where the connector provides (REQUESTED) and one where it consumes (REQUESTED, provider's pid known). */
async function processes() {
  const consumerPid = `urn:uuid:peer-consumer-${++next}`
  const opened = await send(
    'POST',
    '/negotiations/request',
    {
      '@context': context,
      '@type': 'ContractRequestMessage',
      consumerPid,
      callbackAddress: 'http://127.0.0.1:9/callback',
      offer: { ...openOffer('offer-1'), target: 'dataset-1' },
    },
    'token-consumer',
  )
  expect(opened.status).toBe(201)
  const provided = { providerPid: JSON.parse(opened.text).providerPid as string, consumerPid }
  const started = await connector.management('POST', '/negotiations', {
    peerUrl: 'http://127.0.0.1:9/dsp/2025-1/',
    peerId: consumerId,
    datasetId: 'dataset-1',
    offer: openOffer('offer-1'),
    mode: 'manual',
  })
  expect(started.status).toBe(201)
  const id = started.body.id as string
  const providerPid = (await eventually(async () => (await connector.management('GET', `/negotiations/${id}`)).body.providerPid ?? undefined)) as string
  return { provided, consumed: { providerPid, consumerPid: id } }
}

type Pids = { providerPid: string; consumerPid: string }
const offer = { ...openOffer('offer-1'), target: 'dataset-1' }
const agreement = {
  '@id': 'urn:uuid:agreement-x',
  '@type': 'Agreement',
  target: 'dataset-1',
  assigner: consumerId,
  assignee: providerId,
  timestamp: '2026-12-07T10:00:00Z',
  permission: [{ action: 'use' }],
}

/** A valid message for each endpoint: [method, path, body, the pid the path names]. */
function messages(p: { provided: Pids; consumed: Pids }): Array<[string, string, Json | undefined]> {
  const { provided: a, consumed: b } = p
  const m = (type: string, pids: Pids, extra: Json = {}) => ({ '@context': context, '@type': type, ...pids, ...extra })
  return [
    ['POST', '/catalog/request', { '@context': context, '@type': 'CatalogRequestMessage', filter: [] }],
    ['GET', '/catalog/datasets/dataset-1', undefined],
    ['GET', `/negotiations/${a.providerPid}`, undefined],
    [
      'POST',
      '/negotiations/request',
      { '@context': context, '@type': 'ContractRequestMessage', consumerPid: `urn:uuid:new-${next}`, callbackAddress: 'http://127.0.0.1:9/cb', offer },
    ],
    ['POST', `/negotiations/${a.providerPid}/request`, m('ContractRequestMessage', a, { offer })],
    [
      'POST',
      '/negotiations/offers',
      { '@context': context, '@type': 'ContractOfferMessage', providerPid: `urn:uuid:new-${next}`, callbackAddress: 'http://127.0.0.1:9/cb', offer },
    ],
    ['POST', `/negotiations/${b.consumerPid}/offers`, m('ContractOfferMessage', b, { offer })],
    ['POST', `/negotiations/${a.providerPid}/events`, m('ContractNegotiationEventMessage', a, { eventType: 'ACCEPTED' })],
    ['POST', `/negotiations/${b.consumerPid}/events`, m('ContractNegotiationEventMessage', b, { eventType: 'FINALIZED' })],
    ['POST', `/negotiations/${b.consumerPid}/agreement`, m('ContractAgreementMessage', b, { agreement })],
    ['POST', `/negotiations/${a.providerPid}/agreement/verification`, m('ContractAgreementVerificationMessage', a)],
    ['POST', `/negotiations/${a.providerPid}/termination`, m('ContractNegotiationTerminationMessage', a, { code: 'C1', reason: ['changed our mind'] })],
    ['GET', `/transfers/${a.providerPid}`, undefined],
    [
      'POST',
      '/transfers/request',
      {
        '@context': context,
        '@type': 'TransferRequestMessage',
        consumerPid: `urn:uuid:t-${next}`,
        agreementId: 'urn:uuid:agreement-x',
        format: 'HttpData-PULL',
        callbackAddress: 'http://127.0.0.1:9/cb',
      },
    ],
    ['POST', `/transfers/${a.providerPid}/start`, m('TransferStartMessage', a)],
    ['POST', `/transfers/${a.providerPid}/completion`, m('TransferCompletionMessage', a)],
    ['POST', `/transfers/${a.providerPid}/suspension`, m('TransferSuspensionMessage', a, { code: 'S', reason: ['pause'] })],
    ['POST', `/transfers/${a.providerPid}/termination`, m('TransferTerminationMessage', a, { code: 'T', reason: ['stop'] })],
  ]
}

/** Every (object, key) in the tree. */
function slots(node: unknown, found: Array<[Json, string]> = []): Array<[Json, string]> {
  if (Array.isArray(node)) for (const item of node) slots(item, found)
  else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      found.push([node as Json, key])
      slots(value, found)
    }
  }
  return found
}
const pick = <T>(list: T[], n: number): T | undefined => (list.length === 0 ? undefined : list[n % list.length])
const deep = (depth: number): unknown => (depth === 0 ? 'x' : { nested: [deep(depth - 1)] })
const prefixes = ['dspace:', 'odrl:', 'https://w3id.org/dspace/2025/1/', 'http://www.w3.org/ns/odrl/2/']

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('none' as const) }),
  fc.record({ kind: fc.constant('drop' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('twice' as const), at: fc.nat(), prefix: fc.constantFrom(...prefixes), value: fc.jsonValue({ maxDepth: 2 }) }),
  fc.record({
    kind: fc.constant('retype' as const),
    at: fc.nat(),
    value: fc.oneof(
      fc.constant(null),
      fc.boolean(),
      fc.integer(),
      fc.constant([]),
      fc.constant({}),
      fc.string({ maxLength: 8 }),
      fc.jsonValue({ maxDepth: 3 }),
    ),
  }),
  fc.record({
    kind: fc.constant('respell' as const),
    how: fc.constantFrom('string context', 'added context', 'prefixed type', 'unknown context', 'inline remap', 'nested context'),
  }),
  fc.record({ kind: fc.constant('huge' as const), at: fc.nat(), size: fc.constantFrom(3000, 70_000, 1_100_000) }),
  fc.record({ kind: fc.constant('deep' as const), at: fc.nat(), depth: fc.constantFrom(20, 40, 200) }),
  fc.record({ kind: fc.constant('other ids' as const), swap: fc.boolean() }),
  fc.record({ kind: fc.constant('not json' as const), text: fc.constantFrom('{', '[]', 'null', '"x"', '{"@context": [', '\u0000') }),
)
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never

function mutate(body: Json, m: Mutation, p: { provided: Pids; consumed: Pids }): unknown {
  const copy = structuredClone(body)
  const slot = 'at' in m ? pick(slots(copy), m.at) : undefined
  switch (m.kind) {
    case 'none':
      return copy
    case 'drop':
      if (slot) delete slot[0][slot[1]]
      return copy
    case 'twice':
      if (slot && !slot[1].startsWith('@')) slot[0][`${m.prefix}${slot[1]}`] = m.value
      return copy
    case 'retype':
      if (slot) slot[0][slot[1]] = m.value
      return copy
    case 'respell':
      if (m.how === 'string context') return { ...copy, '@context': dspContextUrl }
      if (m.how === 'added context') return { ...copy, '@context': [dspContextUrl, { edc: 'https://w3id.org/edc/v0.0.1/ns/' }] }
      if (m.how === 'prefixed type') return { ...copy, '@type': `dspace:${copy['@type']}` }
      if (m.how === 'unknown context') return { ...copy, '@context': [dspContextUrl, 'https://evil.example/ctx.jsonld'] }
      if (m.how === 'inline remap') return { ...copy, '@context': [dspContextUrl, { consumerPid: 'https://evil.example/pid' }] }
      return { ...copy, offer: { '@context': { permission: 'https://evil.example/p' }, ...(copy.offer ?? {}) } }
    case 'huge':
      if (slot) slot[0][slot[1]] = 'x'.repeat(m.size)
      return copy
    case 'deep':
      if (slot) slot[0][slot[1]] = deep(m.depth)
      return copy
    case 'other ids':
      // The other process's pids (the connector's other role), or a stranger's.
      return m.swap
        ? { ...copy, ...(copy.consumerPid === p.provided.consumerPid ? p.consumed : p.provided) }
        : { ...copy, providerPid: 'urn:uuid:not-ours', consumerPid: 'urn:uuid:not-theirs' }
    case 'not json':
      return m.text
  }
}

describe.each(['sqlite', 'postgres'] as const)('DSP edge under mutated messages, on %s', (dialect) => {
  beforeAll(async () => {
    // The connector under test is the provider of one process and the consumer of another; it
    // takes no step of its own (no reactions, manual consumer), so only the messages sent move them.
    connector = await startTestConnector({
      dialect,
      participantId: providerId,
      tokens,
      serve: true,
      consumerMode: 'manual',
      offers: () => staticOffers({ 'dataset-1': [{ offer: openOffer('offer-1') }] }),
      reactions: () => ({ react: async () => [] }),
      send: async ({ body }) => {
        const message = body as Record<string, any>
        if (message['@type'] === 'ContractRequestMessage') {
          return {
            status: 201,
            body: {
              '@context': context,
              '@type': 'ContractNegotiation',
              providerPid: `urn:uuid:peer-provider-${++next}`,
              consumerPid: message.consumerPid,
              state: 'REQUESTED',
            },
          }
        }
        return { status: 200, body: {} }
      },
    })
  }, 60_000)
  afterAll(async () => {
    await connector?.stop()
  })

  it('property: never a 5xx, and a refused message changes no process', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(), mutation, fc.constantFrom('token-consumer', 'token-provider', 'token-stranger'), async (which, m, token) => {
        const p = await processes()
        const endpoints = messages(p)
        const [method, path, body] = endpoints[which % endpoints.length]!
        const before = await snapshot()
        const sent = method === 'GET' ? undefined : mutate(body!, m, p)
        const answer = await send(method, path, sent, token)
        expect(answer.status, `${method} ${path} ${answer.text.slice(0, 300)}`).toBeLessThan(500)
        // The answer of a refusal is a DSP error message (JSON) or, for paths that are no DSP area, plain JSON.
        expect(() => JSON.parse(answer.text)).not.toThrow()
        if (answer.status >= 400) expect(await snapshot(), `${method} ${path} answered ${answer.status} but changed a process`).toBe(before)
      }),
      { numRuns: Number(process.env.DSP_PROPERTY_RUNS ?? 120), seed: process.env.DSP_PROPERTY_SEED ? Number(process.env.DSP_PROPERTY_SEED) : undefined },
    )
  }, 180_000)
})
