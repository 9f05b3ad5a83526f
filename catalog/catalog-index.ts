import { keywordEntries, textEntries, type DatasetDescription, type DatasetSource } from './dataset.ts'
import { isEmptyFilter, type CatalogFilter } from './filter.ts'

/**
 * The published catalog, held in memory: one entry per dataset with its DSP JSON already built, kept
 * sorted by id. Built once at start, then changed one dataset at a time; requests only slice it.
 *
 * Visibility: a dataset, and each of its offers, may carry a catalog-visibility policy. Datasets
 * are grouped by the combination they carry (`''` = none). A request decides each distinct policy
 * once; the list of entries it may see for a given set of refused policies is computed once per
 * catalog version and reused.
 */

/** The visibility policies of one dataset: its own, and one per offer (aligned with its policies). */
export interface Gate {
  dataset?: string
  offers: Array<string | undefined>
}

export const gateKey = (gate: Gate | undefined) =>
  !gate || (gate.dataset === undefined && gate.offers.every((o) => o === undefined)) ? '' : `${gate.dataset ?? ''}|${gate.offers.map((o) => o ?? '').join(',')}`

export const gatePolicies = (gate: Gate | undefined): string[] =>
  gate ? [...new Set([gate.dataset, ...gate.offers].filter((p): p is string => p !== undefined))] : []

/**
 * What a requester sees of one dataset: nothing, everything, or the dataset with some offers left
 * out (`refused` says which visibility policies this requester is refused).
 */
export function sight(entry: Pick<CatalogEntry, 'gate'>, refused: (policyId: string) => boolean): 'hidden' | 'all' | 'some' {
  const gate = entry.gate
  if (!gate) return 'all'
  if (gate.dataset !== undefined && refused(gate.dataset)) return 'hidden'
  let shown = 0
  for (const o of gate.offers) if (o === undefined || !refused(o)) shown++
  return shown === 0 ? 'hidden' : shown === gate.offers.length ? 'all' : 'some'
}

export interface CatalogEntry {
  id: string
  dataset: DatasetDescription
  source: DatasetSource
  /** The DSP Dataset as it appears inside a catalog (no `@context`), as JSON text. */
  json: string
  /** Its visibility policies, if any. */
  gate?: Gate
  /** The group it belongs to: `gateKey(gate)`, `''` when it carries no visibility policy. */
  visibility: string
  /** Lowercase id, titles, descriptions and keywords, for full-text filters. */
  text: string
  keywords: ReadonlySet<string>
  themes: ReadonlySet<string>
  modified: number
}

export function searchFields(dataset: DatasetDescription) {
  const keywords = new Set(keywordEntries(dataset.keywords).map(([, k]) => k.toLowerCase()))
  const text = [dataset.id, ...textEntries(dataset.title).map(([, t]) => t), ...textEntries(dataset.description).map(([, t]) => t), ...keywords]
    .join('\n')
    .toLowerCase()
  return { keywords, text, themes: new Set(dataset.themes), modified: Date.parse(dataset.modified) }
}

export interface PageQuery {
  /** Whether the requester may see datasets governed by this visibility policy (never called for `''`). */
  allowed: (policyId: string) => boolean
  filter: CatalogFilter
  offset: number
  limit: number
}

export interface Page {
  items: CatalogEntry[]
  /** How many datasets this requester can see with this filter (never counts hidden ones). */
  total: number
}

const byId = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

export class CatalogIndex {
  #entries: CatalogEntry[] = []
  #byId = new Map<string, CatalogEntry>()
  /** Group key → how many datasets carry it, and their gate. */
  #groups = new Map<string, { count: number; gate: Gate | undefined }>()
  #policies: { version: number; ids: string[] } | undefined
  #visibleCache = new Map<string, CatalogEntry[]>()
  /** Filtered lists, so that walking the pages of one filtered query filters once. */
  #filteredCache = new Map<string, CatalogEntry[]>()
  /** Bumped on every change. */
  version = 0

  get size() {
    return this.#entries.length
  }

  /** Visibility policies in use. */
  visibilityPolicies(): string[] {
    if (this.#policies?.version !== this.version) {
      const ids = new Set<string>()
      for (const { gate } of this.#groups.values()) for (const p of gatePolicies(gate)) ids.add(p)
      this.#policies = { version: this.version, ids: [...ids].sort() }
    }
    return this.#policies.ids
  }

  get(id: string): CatalogEntry | undefined {
    return this.#byId.get(id)
  }

  all(): readonly CatalogEntry[] {
    return this.#entries
  }

  replaceAll(entries: CatalogEntry[]) {
    this.#entries = [...entries].sort((a, b) => byId(a.id, b.id))
    this.#byId = new Map(this.#entries.map((e) => [e.id, e]))
    this.#groups = new Map()
    for (const e of this.#entries) this.#count(e, 1)
    this.#changed()
  }

  /** Adds or replaces one dataset: a binary search and one splice, no rebuild. */
  upsert(entry: CatalogEntry) {
    const previous = this.#byId.get(entry.id)
    const at = this.#position(entry.id)
    if (previous) {
      this.#entries[at] = entry
      this.#count(previous, -1)
    } else {
      this.#entries.splice(at, 0, entry)
    }
    this.#byId.set(entry.id, entry)
    this.#count(entry, 1)
    this.#changed()
  }

  remove(id: string): boolean {
    const previous = this.#byId.get(id)
    if (!previous) return false
    this.#entries.splice(this.#position(id), 1)
    this.#byId.delete(id)
    this.#count(previous, -1)
    this.#changed()
    return true
  }

  /** Whether a requester with these decisions may see this one dataset. */
  canSee(entry: CatalogEntry, allowed: (policyId: string) => boolean) {
    return sight(entry, (p) => !allowed(p)) !== 'hidden'
  }

  /** One page of what the requester may see. Decides each visibility policy at most once. */
  page(query: PageQuery): Page {
    const hidden = this.visibilityPolicies().filter((p) => !query.allowed(p)).sort()
    let list = this.#visible(hidden)
    if (!isEmptyFilter(query.filter)) {
      const key = `${hidden.join('\n')}|${JSON.stringify(query.filter)}`
      let filtered = this.#filteredCache.get(key)
      if (!filtered) {
        const visible = list
        filtered = visible.filter((e) => matches(e, query.filter))
        if (this.#filteredCache.size >= 32) this.#filteredCache.clear()
        this.#filteredCache.set(key, filtered)
      }
      list = filtered
    }
    return { items: list.slice(query.offset, query.offset + query.limit), total: list.length }
  }

  #visible(hidden: string[]): CatalogEntry[] {
    if (hidden.length === 0) return this.#entries
    const key = hidden.join('\n')
    let list = this.#visibleCache.get(key)
    if (!list) {
      const refused = new Set(hidden)
      const isRefused = (p: string) => refused.has(p)
      // Decide per group, not per dataset: a handful of groups cover any number of datasets.
      const hiddenGroups = new Set([...this.#groups].filter(([, g]) => sight({ gate: g.gate }, isRefused) === 'hidden').map(([key]) => key))
      list = hiddenGroups.size === 0 ? this.#entries : this.#entries.filter((e) => !hiddenGroups.has(e.visibility))
      // A handful of combinations exist in practice; keep the cache bounded anyway.
      if (this.#visibleCache.size >= 16) this.#visibleCache.clear()
      this.#visibleCache.set(key, list)
    }
    return list
  }

  #position(id: string) {
    let low = 0
    let high = this.#entries.length
    while (low < high) {
      const mid = (low + high) >>> 1
      if (this.#entries[mid]!.id < id) low = mid + 1
      else high = mid
    }
    return low
  }

  #count(entry: CatalogEntry, delta: number) {
    const n = (this.#groups.get(entry.visibility)?.count ?? 0) + delta
    if (n <= 0) this.#groups.delete(entry.visibility)
    else this.#groups.set(entry.visibility, { count: n, gate: entry.gate })
  }

  #changed() {
    this.version++
    this.#visibleCache.clear()
    this.#filteredCache.clear()
  }
}

export function matches(entry: CatalogEntry, filter: CatalogFilter): boolean {
  if (filter.modifiedSince !== undefined && entry.modified < filter.modifiedSince) return false
  for (const k of filter.keywords) if (!entry.keywords.has(k)) return false
  for (const t of filter.themes) if (!entry.themes.has(t)) return false
  for (const w of filter.words) if (!entry.text.includes(w)) return false
  return true
}
