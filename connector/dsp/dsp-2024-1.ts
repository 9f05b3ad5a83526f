import { PasserelleError } from '../errors.ts'
import { dspContextUrl } from './context.ts'

/**
 * The DSP 2024-1 codec: 2024-1 messages in and out at the edge, our one canonical (2025-1) form
 * inside. The two versions carry the same messages over the same state machines; 2024-1 writes
 * them as compact JSON-LD under `https://w3id.org/dspace/2024/1/context.json`, which defines no
 * bare terms: every name is prefixed (`dspace:consumerPid`, `dct:format`, `dcat:dataset`,
 * `odrl:permission`), types and states too (`dspace:ContractRequestMessage`, `dspace:REQUESTED`),
 * and `@context` is a string. The codec is structural (renaming, no JSON-LD processing): what it
 * produces inbound is then read by the same canonicalisation and schemas as a 2025-1 message.
 *
 * Differences beyond spelling, from the 2024-1 schemas:
 * - `ContractRequestMessage`, `ContractOfferMessage` and `ContractAgreementMessage` always carry
 *   `dspace:callbackAddress` (2025-1 drops it from the agreement and from counter messages): our
 *   2024-1 base is added on the way out.
 * - Version metadata is served once for both versions (see `http/version.ts`).
 */

export const dsp2024ContextUrl = 'https://w3id.org/dspace/2024/1/context.json'
export const dsp2024Namespace = 'https://w3id.org/dspace/2024/1/'

const namespaces: Record<string, string> = {
  dspace: dsp2024Namespace,
  odrl: 'http://www.w3.org/ns/odrl/2/',
  dct: 'http://purl.org/dc/terms/',
  dcat: 'http://www.w3.org/ns/dcat#',
  foaf: 'http://xmlns.com/foaf/0.1/',
}

/** Each bare 2025-1 term, to its 2024-1 prefix (terms not listed are left as they are). */
const prefixOf: Record<string, string> = {}
const terms = (prefix: string, names: string) => {
  for (const name of names.split(/\s+/).filter(Boolean)) prefixOf[name] = prefix
}
terms(
  'dspace',
  `providerPid consumerPid offer agreement callbackAddress eventType state code reason agreementId dataAddress
   endpointType endpoint endpointProperties name value timestamp participantId filter dataset`,
)
terms('dct', 'format title description issued modified identifier creator')
terms('dcat', 'distribution service accessService endpointURL endpointDescription keyword theme mediaType byteSize catalog servesDataset')
terms(
  'odrl',
  `permission prohibition obligation duty constraint action leftOperand operator rightOperand rightOperandReference target
   assigner assignee hasPolicy profile and or xone andSequence refinement uid remedy consequence`,
)
terms('foaf', 'homepage')

/** `dataset` is `dcat:dataset` in a catalog; no 2024-1 message uses `dspace:dataset` as a member we send. */
const catalogTerms: Record<string, string> = { dataset: 'dcat', catalog: 'dcat' }

/** Types, to their 2024-1 prefix. */
const typePrefix = (type: string) =>
  /^(Offer|Agreement|Permission|Prohibition|Duty|Constraint|LogicalConstraint|Policy|Set)$/.test(type)
    ? 'odrl'
    : /^(Catalog|Dataset|Distribution|DataService)$/.test(type)
      ? 'dcat'
      : 'dspace'

/** ODRL members whose values are ODRL vocabulary (`use`, `eq`, `dateTime`): prefixed too. */
const vocabularyValued = new Set(['action', 'leftOperand', 'operator'])
/** DSP members whose values are DSP vocabulary (`REQUESTED`, `ACCEPTED`). */
const dspValued = new Set(['state', 'eventType'])

type Json = Record<string, unknown>
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value)

export interface To2024Options {
  /** Our 2025-1 base and our 2024-1 base: our own addresses in a message are rewritten to the 2024-1 one. */
  rebase?: { from: string; to: string }
}

/** A canonical (2025-1) message or answer, as its 2024-1 peer expects it. */
export function to2024(message: unknown, options: To2024Options = {}): unknown {
  if (!isObject(message)) return message
  const out = convertOut(message, options, true, isCatalogLike(message)) as Json
  out['@context'] = dsp2024ContextUrl
  const type = message['@type']
  if (typeof type === 'string' && needsCallback.has(type) && out['dspace:callbackAddress'] === undefined && options.rebase)
    out['dspace:callbackAddress'] = options.rebase.to
  return out
}

/** 2024-1 requires a callback address on these, even where 2025-1 dropped it. */
const needsCallback = new Set(['ContractRequestMessage', 'ContractOfferMessage', 'ContractAgreementMessage'])

const isCatalogLike = (message: Json) => message['@type'] === 'Catalog' || message['@type'] === 'Dataset'

function convertOut(value: unknown, options: To2024Options, top: boolean, catalog: boolean): unknown {
  if (Array.isArray(value)) return value.map((item) => convertOut(item, options, false, catalog))
  if (typeof value === 'string') return rebased(value, options)
  if (!isObject(value)) return value
  const out: Json = {}
  for (const [key, inner] of Object.entries(value)) {
    if (key === '@context') continue
    if (key === '@type') {
      out[key] = typeof inner === 'string' && !inner.includes(':') ? `${typePrefix(inner)}:${inner}` : inner
      continue
    }
    if (key.startsWith('@') || key.includes(':')) {
      out[key] = key === '@id' ? rebased(inner, options) : convertOut(inner, options, false, catalog)
      continue
    }
    const prefix = (catalog && catalogTerms[key]) || prefixOf[key]
    const name = prefix ? `${prefix}:${key}` : key
    if (vocabularyValued.has(key) && typeof inner === 'string' && !inner.includes(':')) out[name] = `odrl:${inner}`
    else if (dspValued.has(key) && typeof inner === 'string' && !inner.includes(':')) out[name] = `dspace:${inner}`
    else out[name] = convertOut(inner, options, false, catalog)
  }
  void top
  return out
}

function rebased(value: unknown, options: To2024Options): unknown {
  const rebase = options.rebase
  if (!rebase || typeof value !== 'string') return value
  if (value === rebase.from) return rebase.to
  if (value.startsWith(`${rebase.from}/`) || value.startsWith(`${rebase.from}#`)) return rebase.to + value.slice(rebase.from.length)
  return value
}

/**
 * A 2024-1 message (or a 2024-1 peer's answer) in its canonical 2025-1 form, for the schemas to
 * read. Refused with a `bad_request` naming the reason: a context other than the 2024-1 one (or
 * prefixes of our namespaces bound elsewhere), a nested `@context`, a member spelled twice
 * (`dspace:consumerPid` beside its full IRI), and anything that is not a JSON object is left for
 * the schema to refuse.
 */
export function from2024(raw: unknown): unknown {
  if (!isObject(raw)) return raw
  const prefixes = contextPrefixes(raw['@context'])
  const out = convertIn(raw, prefixes, '') as Json
  out['@context'] = [dspContextUrl]
  return out
}

function contextPrefixes(context: unknown): Map<string, string> {
  const prefixes = new Map(Object.entries(namespaces))
  const entries = Array.isArray(context) ? context : [context]
  if (context === undefined || !entries.includes(dsp2024ContextUrl))
    throw bad2024(`@context must be ${JSON.stringify(dsp2024ContextUrl)} (the DSP 2024-1 context); this endpoint speaks DSP 2024-1`)
  for (const entry of entries) {
    if (entry === dsp2024ContextUrl) continue
    if (!isObject(entry)) throw bad2024(`@context: ${JSON.stringify(String(entry)).slice(0, 200)} is not a context this connector has (it never fetches one)`)
    // Inline prefixes (what EDC sends beside the context): they may add namespaces, never move ours.
    for (const [prefix, namespace] of Object.entries(entry)) {
      if (prefix === '@vocab') continue
      if (typeof namespace !== 'string' || prefix.startsWith('@'))
        throw bad2024(`@context: \`${prefix.slice(0, 100)}\` must be a prefix bound to a namespace IRI; a DSP message may not define terms`)
      const ours = namespaces[prefix]
      if (ours !== undefined && ours !== namespace) throw bad2024(`@context: the prefix \`${prefix}\` must stand for ${ours}`)
      prefixes.set(prefix, namespace)
    }
  }
  return prefixes
}

/**
 * The bare term a DSP 2024-1 or ODRL name stands for (`dspace:x`, `odrl:x`, their IRIs, and
 * `dct:format`, which 2025-1 calls `format`), or undefined for any other name.
 */
function dspTermOf(key: string, prefixes: Map<string, string>): string | undefined {
  for (const namespace of [dsp2024Namespace, namespaces.odrl!]) if (key.startsWith(namespace)) return key.slice(namespace.length) || undefined
  if (key === `${namespaces.dct}format`) return 'format'
  const colon = key.indexOf(':')
  if (colon <= 0) return undefined
  const namespace = prefixes.get(key.slice(0, colon))
  const local = key.slice(colon + 1)
  if (local === '' || local.startsWith('/')) return undefined
  if (namespace === dsp2024Namespace || namespace === namespaces.odrl) return local
  if (namespace === namespaces.dct && local === 'format') return 'format'
  return undefined
}

function convertIn(value: unknown, prefixes: Map<string, string>, where: string): unknown {
  if (Array.isArray(value)) return value.map((item, index) => convertIn(item, prefixes, `${where}.${index}`))
  if (!isObject(value)) return value
  const out: Json = {}
  const seen = new Map<string, string>()
  for (const [key, inner] of Object.entries(value)) {
    if (key === '@context') {
      if (where !== '') throw bad2024(`${where}.@context: an inline context inside a message could give its terms another meaning`)
      continue
    }
    const term = key === '@type' ? key : (dspTermOf(key, prefixes) ?? key)
    const other = seen.get(term)
    if (other !== undefined)
      throw bad2024(`${where ? `${where}: ` : ''}\`${term}\` is spelled twice (\`${other}\` and \`${key}\`); which one counts would be ambiguous`)
    seen.set(term, key)
    const path = where ? `${where}.${term}` : term
    if (key === '@type') out[key] = typeof inner === 'string' ? dspValue(inner, prefixes) : inner
    else if ((dspValued.has(term) || vocabularyValued.has(term)) && typeof inner === 'string') out[term] = dspValue(inner, prefixes)
    else out[term] = convertIn(inner, prefixes, path)
  }
  return out
}

/** `dspace:REQUESTED`, `odrl:use` (or their IRIs) as `REQUESTED`, `use`; anything else unchanged. */
function dspValue(value: string, prefixes: Map<string, string>): string {
  return dspTermOf(value, prefixes) ?? value
}

const bad2024 = (message: string) => new PasserelleError('bad_request', message)
