import { CatalogDataset, RootCatalogEnvelope, describeIssues, type CatalogEnvelope, type CatalogOffer, type DataService } from './dsp-catalog.ts'
import { permittedActions, summarizeOffer } from './offer-summary.ts'
import type { SearchHit } from './search-hit.ts'
import { fold } from './text.ts'

/** A dataset read from a peer's catalog, ready to index; `stale`, peer name and id are added by the store. */
export type CatalogEntry = Omit<SearchHit, 'stale' | 'peer' | 'crawledAt'> & {
  /** Epoch milliseconds, for filters. */
  temporalStartMs: number | null
  temporalEndMs: number | null
  modifiedMs: number | null
  /** Folded text for the full-text index: every language of the title and description. */
  search: { title: string; keywords: string; description: string }
}

export interface RejectedDataset {
  datasetId: string | null
  reason: string
}

export interface CatalogPage {
  participantId: string
  entries: CatalogEntry[]
  rejected: RejectedDataset[]
}

export class InvalidCatalogError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'InvalidCatalogError'
  }
}

/**
 * Reads one page of a peer's DSP Catalog. The envelope must be valid (else the whole page is
 * refused with `InvalidCatalogError`); each dataset is checked on its own and refused with a
 * reason when invalid, so one bad dataset costs only itself. Nested catalogs are flattened.
 */
export function readCatalogPage(body: unknown): CatalogPage {
  const parsed = RootCatalogEnvelope.safeParse(body)
  if (!parsed.success) throw new InvalidCatalogError(`not a DSP Catalog: ${describeIssues(parsed.error)}`)
  const root = parsed.data as CatalogEnvelope & { participantId: string }
  const entries: CatalogEntry[] = []
  const rejected: RejectedDataset[] = []
  const seen = new Set<string>()
  const walk = (catalog: CatalogEnvelope, depth: number) => {
    if (depth > 8) throw new InvalidCatalogError('catalogs nested more than 8 levels deep')
    const services = catalog.service ?? []
    for (const raw of catalog.dataset ?? []) {
      const checked = CatalogDataset.safeParse(raw)
      const id = typeof (raw as { '@id'?: unknown })?.['@id'] === 'string' ? (raw as { '@id': string })['@id'] : null
      if (!checked.success) {
        rejected.push({ datasetId: id, reason: describeIssues(checked.error) })
        continue
      }
      if (seen.has(checked.data['@id'])) {
        rejected.push({ datasetId: id, reason: 'the same dataset id appears twice in the catalog' })
        continue
      }
      const tooLarge = oversize(checked.data)
      if (tooLarge) {
        rejected.push({ datasetId: id, reason: tooLarge })
        continue
      }
      seen.add(checked.data['@id'])
      entries.push(toEntry(checked.data, services))
    }
    for (const child of catalog.catalog ?? []) walk(child, depth + 1)
  }
  walk(root, 0)
  return { participantId: root.participantId, entries, rejected }
}

/** Limits on what one dataset may make us store (the page size limit bounds the rest). */
export const datasetLimits = { offers: 50, distributions: 100, offerBytes: 64 * 1024 }

function oversize(dataset: CatalogDataset): string | null {
  const offers = dataset.hasPolicy.length + dataset.distribution.reduce((n, d) => n + (d.hasPolicy?.length ?? 0), 0)
  if (offers > datasetLimits.offers) return `more than ${datasetLimits.offers} offers`
  if (dataset.distribution.length > datasetLimits.distributions) return `more than ${datasetLimits.distributions} distributions`
  let bytes = 0
  for (const offer of dataset.hasPolicy) bytes += JSON.stringify(offer).length
  for (const d of dataset.distribution) for (const offer of d.hasPolicy ?? []) bytes += JSON.stringify(offer).length
  return bytes > datasetLimits.offerBytes ? `offers larger than ${datasetLimits.offerBytes / 1024} kB` : null
}

// DCAT terms arrive compacted in several ways depending on the provider's context: bare, with the
// `dct:`/`dcat:` prefixes of the DSP context, or as full IRIs. Read them all.
const dct = 'http://purl.org/dc/terms/'
const dcat = 'http://www.w3.org/ns/dcat#'
const aliasCache = new Map<string, string[]>()
const aliases = (term: string) => {
  let list = aliasCache.get(term)
  if (!list) aliasCache.set(term, (list = [term, `dct:${term}`, `dcterms:${term}`, `dcat:${term}`, dct + term, dcat + term]))
  return list
}

interface Literal {
  value: string
  language: string | null
}

function literals(node: unknown, term: string): Literal[] {
  if (!node || typeof node !== 'object') return []
  const o = node as Record<string, unknown>
  const out: Literal[] = []
  for (const key of aliases(term)) if (o[key] !== undefined) out.push(...flatten(o[key]))
  return out
}

function flatten(v: unknown): Literal[] {
  if (Array.isArray(v)) return v.flatMap(flatten)
  if (typeof v === 'string') return [{ value: v, language: null }]
  if (typeof v === 'number' || typeof v === 'boolean') return [{ value: String(v), language: null }]
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>
    if ('@value' in o) return [{ value: String(o['@value']), language: typeof o['@language'] === 'string' ? o['@language'] : null }]
    if (typeof o['@id'] === 'string') return [{ value: o['@id'], language: null }]
    // A language map: { en: "…", fr: "…" }
    if (Object.values(o).every((x) => typeof x === 'string')) {
      return Object.entries(o).map(([language, value]) => ({ value: value as string, language }))
    }
  }
  return []
}

const cap = (s: string, n: number) => (s.length > n ? s.slice(0, n) : s)
const unique = (values: string[], max = 50) => [...new Set(values.map((v) => cap(v.trim(), 500)).filter((v) => v.length > 0))].slice(0, max)

/** English first (then no language, then the rest) for the text shown; all languages are searchable. */
function preferred(list: Literal[]): string | null {
  if (list.length === 0) return null
  const pick = list.find((l) => l.language?.startsWith('en')) ?? list.find((l) => l.language === null) ?? list[0]!
  return pick.value
}

function date(list: Literal[]): { text: string | null; ms: number | null } {
  for (const l of list) {
    const ms = Date.parse(l.value)
    if (Number.isFinite(ms)) return { text: l.value, ms }
  }
  return { text: null, ms: null }
}

function toEntry(dataset: CatalogDataset, _services: DataService[]): CatalogEntry {
  const titles = literals(dataset, 'title')
  const descriptions = literals(dataset, 'description')
  const temporalNode = temporalObject(dataset)
  const start = temporalNode ? date(literals(temporalNode, 'startDate')) : { text: null, ms: null }
  const end = temporalNode ? date(literals(temporalNode, 'endDate')) : { text: null, ms: null }
  const modified = date(literals(dataset, 'modified'))
  const keywords = unique(literals(dataset, 'keyword').map((l) => l.value))
  const offers = [...dataset.hasPolicy, ...dataset.distribution.flatMap((d) => d.hasPolicy ?? [])]
  const byId = new Map<string, CatalogOffer>()
  for (const offer of offers) if (!byId.has(offer['@id'])) byId.set(offer['@id'], offer)
  return {
    datasetId: dataset['@id'],
    title: cap(preferred(titles) ?? dataset['@id'], 1000),
    description: (() => {
      const d = preferred(descriptions)
      return d === null ? null : cap(d, 10_000)
    })(),
    keywords,
    themes: unique(literals(dataset, 'theme').map((l) => l.value)),
    licenses: unique([...literals(dataset, 'license'), ...dataset.distribution.flatMap((d) => literals(d, 'license'))].map((l) => l.value)),
    spatial: unique(literals(dataset, 'spatial').map((l) => l.value)),
    temporal: temporalNode ? { start: start.text, end: end.text } : null,
    modified: modified.text,
    formats: unique(dataset.distribution.map((d) => d.format)),
    offers: [...byId.values()].map((offer) => ({
      id: offer['@id'],
      actions: permittedActions(offer),
      summary: summarizeOffer(offer),
      policy: offer as Record<string, unknown>,
    })),
    temporalStartMs: start.ms,
    temporalEndMs: end.ms,
    modifiedMs: modified.ms,
    search: {
      title: cap(fold([dataset['@id'], ...titles.map((l) => l.value)].join(' ')), 4000),
      keywords: cap(fold(keywords.join(' ')), 4000),
      description: cap(fold(descriptions.map((l) => l.value).join(' ')), 40_000),
    },
  }
}

function temporalObject(dataset: CatalogDataset): Record<string, unknown> | null {
  const o = dataset as Record<string, unknown>
  for (const key of aliases('temporal')) {
    const v = o[key]
    const first = Array.isArray(v) ? v[0] : v
    if (first && typeof first === 'object') return first as Record<string, unknown>
  }
  return null
}
