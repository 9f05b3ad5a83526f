import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import { contextDocument } from '../../policies/jsonld.ts'
import { fromRoot } from '../paths.ts'
import { dspContextUrl } from './context.ts'
import { dspEndpoints } from './endpoints.ts'
import { canonicalMessage, isCanonical } from './json-ld.ts'

/**
 * The official example messages of spec/dsp-2025-1, in every JSON-LD spelling a peer may send:
 * each must come out as the canonical compact form and pass the endpoint's schema.
 */
const example = (path: string) => JSON.parse(readFileSync(fromRoot(`spec/dsp-2025-1/${path}`), 'utf8')) as Record<string, unknown>

const inbound: Array<[string, keyof typeof dspEndpoints]> = [
  ['catalog/example/catalog-request-message.json', 'catalogRequest'],
  ['negotiation/example/contract-request-message_initial.json', 'contractRequest'],
  ['negotiation/example/contract-request-message.json', 'counterRequest'],
  ['negotiation/example/contract-offer-message_initial.json', 'contractOffer'],
  ['negotiation/example/contract-offer-message.json', 'counterOffer'],
  ['negotiation/example/contract-agreement-message.json', 'agreement'],
  ['negotiation/example/contract-agreement-message-full.json', 'agreement'],
  ['negotiation/example/contract-agreement-verification-message.json', 'verification'],
  ['negotiation/example/contract-negotiation-event-message.json', 'negotiationEvent'],
  ['negotiation/example/contract-negotiation-termination-message.json', 'negotiationTermination'],
  ['transfer/example/transfer-request-message.json', 'transferRequest'],
  ['transfer/example/transfer-start-message.json', 'transferStart'],
  ['transfer/example/transfer-completion-message.json', 'transferCompletion'],
  ['transfer/example/transfer-suspension-message.json', 'transferSuspension'],
  ['transfer/example/transfer-termination-message.json', 'transferTermination'],
]

// The test's own expansion uses a fresh context cache every time (see json-ld.ts on the shared one).
const require = createRequire(import.meta.url)
const jsonld = require('jsonld') as { expand(input: unknown, options: object): Promise<unknown> }
const ContextResolver = require('jsonld/lib/ContextResolver.js') as new (o: { sharedCache: Map<string, unknown> }) => unknown
const expand = (message: unknown) =>
  jsonld.expand(message, {
    documentLoader: async (url: string) => ({ contextUrl: null, documentUrl: url, document: structuredClone(contextDocument(url)) }),
    contextResolver: new ContextResolver({ sharedCache: new Map() }),
  })

/** Every key and `@type` that names a bundled term, written `dspace:…` / `odrl:…` instead. */
const prefixedNames = (() => {
  const names = new Map<string, string>()
  const walk = (context: unknown) => {
    if (!context || typeof context !== 'object') return
    for (const [term, definition] of Object.entries(context as Record<string, unknown>)) {
      if (term.startsWith('@')) continue
      const id = typeof definition === 'string' ? definition : (definition as { '@id'?: unknown })?.['@id']
      if (typeof id === 'string' && /^(dspace|odrl):/.test(id) && !names.has(term)) names.set(term, id)
      walk((definition as { '@context'?: unknown })?.['@context'])
    }
  }
  for (const url of [dspContextUrl, 'https://w3id.org/dspace/2025/1/odrl-profile.jsonld']) walk((contextDocument(url) as { '@context': unknown })['@context'])
  return names
})()
const prefixed = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(prefixed)
  if (!value || typeof value !== 'object') return value
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) =>
      key === '@context'
        ? [key, inner]
        : key === '@type'
          ? [key, prefixedNames.get(inner as string) ?? inner]
          : [prefixedNames.get(key) ?? key, prefixed(inner)],
    ),
  )
}

const spellings = async (message: Record<string, unknown>): Promise<Array<[string, unknown]>> => [
  ['compact', message],
  ['a string @context', { ...message, '@context': dspContextUrl }],
  ['an added context', { ...message, '@context': [{ edc: 'https://w3id.org/edc/v0.0.1/ns/', odrl: 'http://www.w3.org/ns/odrl/2/' }, dspContextUrl] }],
  ['prefixed terms', prefixed(message)],
  [
    'prefixed terms with their prefixes declared inline',
    { ...(prefixed(message) as object), '@context': [{ dspace: 'https://w3id.org/dspace/2025/1/', odrl: 'http://www.w3.org/ns/odrl/2/' }] },
  ],
  ['expanded', await expand(message)],
]

describe('any JSON-LD spelling of a DSP message has one canonical form', () => {
  for (const [path, endpoint] of inbound) {
    it(`happy: ${path} in every spelling reads as its compact form and passes the schema`, async () => {
      const schema = dspEndpoints[endpoint].message!
      const compact = example(path)
      expect(isCanonical(compact)).toBe(true)
      const expected = schema.parse(await canonicalMessage(compact))
      for (const [name, spelled] of await spellings(compact)) {
        const canonical = await canonicalMessage(structuredClone(spelled))
        const parsed = schema.safeParse(canonical)
        expect(parsed.success, `${name}: ${JSON.stringify(parsed.error?.issues)}\n${JSON.stringify(canonical)}`).toBe(true)
        expect(parsed.data, name).toEqual(expected)
      }
    })
  }

  it('happy: different message types read one after the other keep their offers and agreements', async () => {
    for (let round = 0; round < 2; round++) {
      for (const [path, endpoint] of inbound) {
        const canonical = await canonicalMessage(prefixed(example(path)))
        expect(dspEndpoints[endpoint].message!.safeParse(canonical).success, path).toBe(true)
      }
    }
  })

  it('error: a context the connector does not have is refused by name, never fetched', async () => {
    const message = { ...example('catalog/example/catalog-request-message.json'), '@context': [dspContextUrl, 'https://evil.example/ctx.jsonld'] }
    await expect(canonicalMessage(message)).rejects.toThrow(/https:\/\/evil\.example\/ctx\.jsonld/)
  })

  it('error: a term spelled twice is refused, even when one spelling is an empty array', async () => {
    const base = example('negotiation/example/contract-request-message.json') as Record<string, any>
    const added = [dspContextUrl, { edc: 'https://w3id.org/edc/v0.0.1/ns/' }]
    const twice = { ...base, '@context': added, offer: { ...base.offer, permission: [], 'odrl:permission': base.offer.permission } }
    await expect(canonicalMessage(twice)).rejects.toThrow(/`permission` is spelled twice/)
    // In the canonical form both spellings stay, for the policy reader to refuse (and record) them.
    const canonicalTwice = { ...base, offer: { ...base.offer, permission: [], 'odrl:permission': base.offer.permission } }
    expect(await canonicalMessage(canonicalTwice)).toBe(canonicalTwice)
    const pidTwice = { ...base, '@context': dspContextUrl, 'dspace:consumerPid': 'urn:uuid:other' }
    await expect(canonicalMessage(pidTwice)).rejects.toThrow(/`consumerPid` is spelled twice/)
  })

  it('error: an inline context that gives an ODRL term another meaning is refused, at the top and inside the offer', async () => {
    const base = example('negotiation/example/contract-request-message.json') as Record<string, any>
    await expect(canonicalMessage({ ...base, '@context': [dspContextUrl, { constraint: 'https://evil.example/ignored' }] })).rejects.toThrow(
      /`constraint` is a DSP or ODRL term/,
    )
    await expect(
      canonicalMessage({
        ...base,
        '@context': [{ '@vocab': 'https://evil.example/' }, dspContextUrl],
        offer: { ...base.offer, '@context': { permission: 'https://evil.example/p' } },
      }),
    ).rejects.toThrow(/inline context inside a message/)
  })

  it("error: a member that means nothing under the message's contexts is refused, not dropped", async () => {
    const base = example('negotiation/example/contract-request-message.json') as Record<string, any>
    await expect(
      canonicalMessage({ ...base, '@context': [dspContextUrl, { edc: 'https://w3id.org/edc/v0.0.1/ns/' }], offer: { ...base.offer, type: 'Agreement' } }),
    ).rejects.toThrow(/`type` means nothing/)
  })

  it('error: an array that is not expanded JSON-LD is no message', async () => {
    const base = example('catalog/example/catalog-request-message.json')
    expect(await canonicalMessage([base])).toEqual([base])
  })

  it('fast path: a canonical message is returned as it is, without JSON-LD processing', async () => {
    const message = example('negotiation/example/contract-request-message.json')
    expect(await canonicalMessage(message)).toBe(message)
  })
})
