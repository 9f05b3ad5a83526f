import { createRequire } from 'node:module'
import { PasserelleError } from '../errors.ts'
import { contextDocument, knownContextUrls } from '../../policies/index.ts'
import { dspContextUrl } from './context.ts'

/**
 * Any JSON-LD spelling of a DSP message in, one canonical form out: the compact form under the DSP
 * 2025-1 context, terms bare, `@context` the array `[DSP context]`. The schemas only ever see that
 * form.
 *
 * A message already in it (what Passerelle and most peers send) is returned as it is: the fast path,
 * a scan and no JSON-LD processing. The policy it carries (`offer`, `agreement`) is not scanned: the
 * strict ODRL reader reads it next, in any spelling of its terms. Anything else (a string `@context`, added contexts, prefixed or
 * full-IRI terms, expanded JSON-LD) is expanded and compacted with the `jsonld` library, against the
 * bundled contexts only: a context we do not have is refused by name, never fetched.
 *
 * What JSON-LD processing would otherwise blur is refused before it starts:
 * - a term spelled twice in one object (`permission` beside `odrl:permission`): expansion would merge
 *   the two, and which one counts is exactly what a sender would choose;
 * - an inline context below the top level, or one at the top that defines a DSP or ODRL term (say,
 *   `constraint`) its own way: the policy read afterwards would not be the one the sender meant;
 * - a member that means nothing under the message's contexts: JSON-LD would drop it silently.
 *
 * Extension members under a full IRI whose values use no vocabulary (our own declared use) are only
 * read on the fast path.
 */

const dspNamespace = 'https://w3id.org/dspace/2025/1/'
const odrlNamespace = 'http://www.w3.org/ns/odrl/2/'

type Json = Record<string, unknown>
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value)

/** True when `raw` is already canonical: nothing to do. */
export function isCanonical(raw: unknown): boolean {
  if (!isObject(raw)) return false
  const context = raw['@context']
  if (!Array.isArray(context) || context.length !== 1 || context[0] !== dspContextUrl) return false
  return plainTerms(raw, true)
}

/** The members that hold an ODRL policy. */
const policyKeys = new Set(['offer', 'agreement'])

/**
 * No nested `@context`, no prefixed or DSP/ODRL-IRI keys, no prefixed `@type` (absolute IRIs of
 * other vocabularies are extension terms). A policy (`offer`, `agreement`) is left to the one strict
 * ODRL reader (`policies/odrl-read.ts`), which reads every spelling of its terms, refuses a term
 * spelled twice and records why: JSON-LD processing would merge the two spellings.
 */
function plainTerms(node: unknown, top: boolean): boolean {
  if (Array.isArray(node)) return node.every((item) => plainTerms(item, false))
  if (!isObject(node)) return true
  for (const key in node) {
    const value = node[key]
    if (key === '@context') {
      if (!top) return false
    } else if (key === '@type') {
      if (typeof value !== 'string' || value.includes(':')) return false
    } else if (top && policyKeys.has(key)) continue
    else if (key.includes(':') && (!/^https?:\/\//.test(key) || key.startsWith(dspNamespace) || key.startsWith(odrlNamespace))) return false
    if (typeof value === 'object' && value !== null && !plainTerms(value, false)) return false
  }
  return true
}

/**
 * On the fast path, the members of a policy the schema names (`target`, `permission`, …) may be
 * written `odrl:`-prefixed or as IRIs: those are renamed, unless the bare term is there too (a term
 * spelled twice, for the policy reader to refuse).
 */
function barePolicyMembers(message: Json): Json {
  let changed: Json | undefined
  for (const key of policyKeys) {
    const policy = message[key]
    if (!isObject(policy)) continue
    let renamed: Json | undefined
    for (const [member, value] of Object.entries(policy)) {
      const bare = member.startsWith('odrl:') ? member.slice(5) : member.startsWith(odrlNamespace) ? member.slice(odrlNamespace.length) : undefined
      const type = member === '@type' && typeof value === 'string' && value.startsWith('odrl:') ? value.slice(5) : undefined
      if ((bare === undefined || bare in policy) && type === undefined) continue
      renamed ??= { ...policy }
      if (type !== undefined) renamed['@type'] = type
      else {
        delete renamed[member]
        renamed[bare!] = value
      }
    }
    if (renamed) {
      changed ??= { ...message }
      changed[key] = renamed
    }
  }
  return changed ?? message
}

/** The canonical form of a DSP message; a `bad_request` naming the problem when it cannot have one. */
export async function canonicalMessage(raw: unknown): Promise<unknown> {
  if (isCanonical(raw)) return barePolicyMembers(raw as Json)
  // The specification's own pagination example writes the context as a string.
  if (isObject(raw) && raw['@context'] === dspContextUrl) {
    const wrapped = { ...raw, '@context': [dspContextUrl] }
    if (isCanonical(wrapped)) return barePolicyMembers(wrapped)
  }
  // Expanded JSON-LD is an array of one node without a context; any other array is no message.
  const expanded = Array.isArray(raw) && raw.length === 1 && isObject(raw[0]) && raw[0]['@context'] === undefined
  if (!isObject(raw) && !expanded) return raw // the schema says what is wrong
  const node = (Array.isArray(raw) ? raw[0] : raw) as Json
  const prefixes = checkContexts(node)
  checkSpelledOnce(node, prefixes, '')
  // A prefixed name or IRI of a DSP or ODRL term becomes the term, under the DSP context (to JSON-LD,
  // `dspace:consumerPid` holds a plain string where `consumerPid` holds an IRI, and would not compact
  // to the term: peers mean the term).
  const contexts = node['@context'] === undefined ? [] : Array.isArray(node['@context']) ? node['@context'] : [node['@context']]
  const input = { ...(bareTerms(node, prefixes) as Json), '@context': [dspContextUrl, ...contexts.filter((c) => c !== dspContextUrl)] }
  const compacted = await expandAndCompact(input, cacheKey(input))
  return { ...compacted, '@context': [dspContextUrl] }
}

/** The IRI each bundled term stands for, to the term. */
let termsByIri: Map<string, string> | undefined
function termOfIri(iri: string): string | undefined {
  if (!termsByIri) {
    termsByIri = new Map()
    for (const [term, definition] of definedTerms()) {
      const id = typeof definition === 'string' ? definition : isObject(definition) ? definition['@id'] : undefined
      if (typeof id !== 'string') continue
      const full = id.startsWith('dspace:') ? dspNamespace + id.slice(7) : id.startsWith('odrl:') ? odrlNamespace + id.slice(5) : id
      if (!termsByIri.has(full)) termsByIri.set(full, term)
    }
  }
  return termsByIri.get(iri)
}

/** A key or type written as a prefixed name or IRI of a bundled term, as that term. */
function bareTerm(name: string, prefixes: Map<string, string>): string {
  let iri = name
  const colon = name.indexOf(':')
  if (colon > 0 && !/^https?:\/\//.test(name)) {
    const namespace = prefixes.get(name.slice(0, colon))
    if (namespace === undefined) return name
    iri = namespace + name.slice(colon + 1)
  }
  return termOfIri(iri) ?? name
}

function bareTerms(value: unknown, prefixes: Map<string, string>): unknown {
  if (Array.isArray(value)) return value.map((item) => bareTerms(item, prefixes))
  if (!isObject(value)) return value
  const out: Json = {}
  for (const [key, inner] of Object.entries(value)) {
    if (key === '@context') continue
    if (key === '@type')
      out[key] = Array.isArray(inner)
        ? inner.map((t) => (typeof t === 'string' ? bareTerm(t, prefixes) : t))
        : typeof inner === 'string'
          ? bareTerm(inner, prefixes)
          : inner
    else out[key.startsWith('@') ? key : bareTerm(key, prefixes)] = bareTerms(inner, prefixes)
  }
  return out
}

/** Term names the bundled DSP and ODRL contexts define (at any level), with their top-level definitions. */
let bundledTerms: Map<string, unknown> | undefined
function definedTerms(): Map<string, unknown> {
  if (bundledTerms) return bundledTerms
  const terms = new Map<string, unknown>()
  const walk = (context: unknown) => {
    if (!isObject(context)) return
    for (const [term, definition] of Object.entries(context)) {
      if (term.startsWith('@')) continue
      if (!terms.has(term)) terms.set(term, definition)
      if (isObject(definition)) walk(definition['@context'])
    }
  }
  for (const url of [dspContextUrl, 'https://w3id.org/dspace/2025/1/odrl-profile.jsonld']) walk((contextDocument(url) as Json)['@context'])
  bundledTerms = terms
  return terms
}

/**
 * Checks every `@context` and returns the prefixes the top-level one adds (prefix → namespace). A
 * top-level context may name bundled contexts and add prefixes or a `@vocab`; below the top level
 * only bundled contexts may be named.
 */
function checkContexts(node: Json): Map<string, string> {
  const prefixes = new Map<string, string>([
    ['odrl', odrlNamespace],
    ['dspace', dspNamespace],
  ])
  const entries = node['@context'] === undefined ? [] : Array.isArray(node['@context']) ? node['@context'] : [node['@context']]
  for (const entry of entries) {
    if (typeof entry === 'string') {
      knownContext(entry)
      continue
    }
    if (!isObject(entry)) throw badJsonLd('@context entries must be context URLs or objects')
    for (const [term, definition] of Object.entries(entry)) {
      if (term === '@vocab' || term === '@version') continue
      if (term.startsWith('@')) throw badJsonLd(`@context: \`${term}\` is not supported in a DSP message`)
      if (typeof definition !== 'string')
        throw badJsonLd(`@context: \`${term}\` must be a prefix (a namespace IRI); a DSP message may not define terms of its own`)
      const bundled = definedTerms().get(term)
      if (bundled !== undefined && bundled !== definition)
        throw badJsonLd(`@context: \`${term}\` is a DSP or ODRL term; a message may not give it another meaning`)
      prefixes.set(term, definition)
    }
  }
  const nested = (value: unknown, where: string): void => {
    if (Array.isArray(value)) {
      for (const [index, item] of value.entries()) nested(item, `${where}.${index}`)
      return
    }
    if (!isObject(value)) return
    for (const [key, inner] of Object.entries(value)) {
      if (key === '@context') {
        for (const entry of Array.isArray(inner) ? inner : [inner]) {
          if (typeof entry !== 'string')
            throw badJsonLd(
              `${where}.@context: an inline context inside a message could give its terms another meaning; only the message's own @context may add prefixes`,
            )
          knownContext(entry)
        }
      } else nested(inner, where ? `${where}.${key}` : key)
    }
  }
  for (const [key, value] of Object.entries(node)) if (key !== '@context') nested(value, key)
  return prefixes
}

function knownContext(url: string) {
  if (!knownContextUrls.includes(url)) {
    throw badJsonLd(
      `@context names ${JSON.stringify(url.slice(0, 200))}, which this connector does not have (it reads the DSP 2025-1 and ODRL contexts only and never fetches one)`,
    )
  }
}

/** The term a key names in the DSP or ODRL namespace, whatever its spelling (bare, prefixed, IRI). */
function termOf(key: string, prefixes: Map<string, string>): string {
  for (const namespace of [dspNamespace, odrlNamespace]) if (key.startsWith(namespace)) return key.slice(namespace.length)
  const colon = key.indexOf(':')
  if (colon > 0) {
    const namespace = prefixes.get(key.slice(0, colon))
    if (namespace === dspNamespace || namespace === odrlNamespace) return key.slice(colon + 1)
  }
  return key
}

function checkSpelledOnce(value: unknown, prefixes: Map<string, string>, where: string): void {
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) checkSpelledOnce(item, prefixes, `${where}.${index}`)
    return
  }
  if (!isObject(value)) return
  const seen = new Map<string, string>()
  for (const [key, inner] of Object.entries(value)) {
    const term = termOf(key, prefixes)
    const other = seen.get(term)
    if (other !== undefined)
      throw badJsonLd(`${where ? `${where}: ` : ''}\`${term}\` is spelled twice (\`${other}\` and \`${key}\`); which one counts would be ambiguous`)
    seen.set(term, key)
    checkSpelledOnce(inner, prefixes, where ? `${where}.${term}` : term)
  }
}

// The `jsonld` package shares resolved contexts between calls, and the DSP context's `@import`
// poisons that cache across message types (upstream issue digitalbazaar/jsonld.js#537: `offer` and
// `agreement` vanish). Each message type (with its contexts) therefore gets a cache of its own.
interface JsonLdLibrary {
  expand(input: unknown, options: Json): Promise<unknown>
  compact(input: unknown, context: unknown, options: Json): Promise<Json>
}
type ResolverClass = new (options: { sharedCache: Map<string, unknown> }) => unknown
let library: { jsonld: JsonLdLibrary; ContextResolver: ResolverClass } | undefined
const load = () => {
  if (!library) {
    const require = createRequire(import.meta.url)
    library = { jsonld: require('jsonld') as JsonLdLibrary, ContextResolver: require('jsonld/lib/ContextResolver.js') as ResolverClass }
  }
  return library
}
const caches = new Map<string, Map<string, unknown>>()
const messageTypes = new Set([
  'CatalogRequestMessage',
  'DatasetRequestMessage',
  'ContractRequestMessage',
  'ContractOfferMessage',
  'ContractAgreementMessage',
  'ContractAgreementVerificationMessage',
  'ContractNegotiationEventMessage',
  'ContractNegotiationTerminationMessage',
  'TransferRequestMessage',
  'TransferStartMessage',
  'TransferCompletionMessage',
  'TransferSuspensionMessage',
  'TransferTerminationMessage',
])

/**
 * The cache a message may share: one per message type and set of contexts. Contexts are the
 * sender's: the key is bounded in length and the number of caches too (the oldest is dropped).
 */
function cacheKey(node: Json): string | undefined {
  const contexts = JSON.stringify(node['@context'] ?? null)
  if (contexts.length > 2048) return undefined
  const type = Array.isArray(node['@type']) ? node['@type'][0] : node['@type']
  if (typeof type !== 'string') return undefined
  const name = type.slice(Math.max(type.lastIndexOf('/'), type.lastIndexOf(':')) + 1)
  return messageTypes.has(name) ? `${name} ${contexts}` : undefined
}
const maxCaches = 64

const documentLoader = async (url: string) => {
  knownContext(url)
  return { contextUrl: null, documentUrl: url, document: structuredClone(contextDocument(url)) }
}

async function expandAndCompact(raw: unknown, key: string | undefined): Promise<Json> {
  const { jsonld, ContextResolver } = load()
  let cache = key ? caches.get(key) : undefined
  if (!cache) {
    cache = new Map()
    if (key) {
      caches.set(key, cache)
      if (caches.size > maxCaches) caches.delete(caches.keys().next().value!)
    }
  }
  // A member that means nothing under the message's contexts would be dropped silently: refused
  // instead (fail closed), naming it. Relative IRIs (`"leftOperand": "dateTime"`) are fine.
  const eventHandler = ({ event }: { event: { code: string; details?: Json } }) => {
    if (event.code === 'relative @id reference' || event.code === 'relative @type reference' || event.code === 'relative @vocab reference') return
    const what = event.details?.property ?? event.details?.type ?? event.details?.value
    throw badJsonLd(
      `\`${String(what ?? event.code).slice(0, 200)}\` means nothing under the contexts this message names (${event.code}); a DSP message uses DSP and ODRL terms, or full IRIs`,
    )
  }
  const options = () => ({ documentLoader, eventHandler, contextResolver: new ContextResolver({ sharedCache: cache }) })
  try {
    const expanded = await jsonld.expand(raw, options())
    return await jsonld.compact(expanded, dspContextUrl, options())
  } catch (error) {
    if (error instanceof PasserelleError) throw error
    throw badJsonLd(`the message is not JSON-LD this connector can read: ${jsonLdReason(error)}`)
  }
}

/** A jsonld error's useful part (a loader refusal hides in `details.cause`). */
function jsonLdReason(error: unknown): string {
  const e = error as { message?: string; details?: { cause?: unknown; code?: string } }
  if (e.details?.cause instanceof PasserelleError) throw e.details.cause
  return [e.details?.code, e.message].filter(Boolean).join(': ').slice(0, 300) || 'unreadable'
}

const badJsonLd = (message: string) => new PasserelleError('bad_request', message)
