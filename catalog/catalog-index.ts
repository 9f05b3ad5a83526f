import { keywordEntries, textEntries, type DatasetDescription, type DatasetSource } from './dataset.ts'
import { isEmptyFilter, type CatalogFilter } from './filter.ts'

/**
 * The published catalog, held in memory: one entry per dataset with its DSP JSON already built, kept
 * sorted by id. Built once at start, then changed one dataset at a time; requests only slice it.
 *
 * Visibility: datasets are grouped by their catalog-visibility policy (`''` = public). A request
 * decides each distinct policy once and gets the entries of the groups it may see; the list for a
 * given set of hidden groups is computed once per catalog version and reused.
 */

export interface CatalogEntry {
  id: string
  dataset: DatasetDescription
  source: DatasetSource
  /** The DSP Dataset as it appears inside a catalog (no `@context`), as JSON text. */
  json: string
  /** Its catalog-visibility policy id, `''` when public. */
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
  /** Visibility policy id → how many datasets it governs. */
  #groups = new Map<string, number>()
  #visibleCache = new Map<string, CatalogEntry[]>()
  /** Bumped on every change. */
  version = 0

  get size() {
    return this.#entries.length
  }

  /** Visibility policies in use (not `''`). */
  visibilityPolicies(): string[] {
    return [...this.#groups.keys()].filter((k) => k !== '')
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
    for (const e of this.#entries) this.#groups.set(e.visibility, (this.#groups.get(e.visibility) ?? 0) + 1)
    this.#changed()
  }

  /** Adds or replaces one dataset: a binary search and one splice, no rebuild. */
  upsert(entry: CatalogEntry) {
    const previous = this.#byId.get(entry.id)
    const at = this.#position(entry.id)
    if (previous) {
      this.#entries[at] = entry
      this.#count(previous.visibility, -1)
    } else {
      this.#entries.splice(at, 0, entry)
    }
    this.#byId.set(entry.id, entry)
    this.#count(entry.visibility, 1)
    this.#changed()
  }

  remove(id: string): boolean {
    const previous = this.#byId.get(id)
    if (!previous) return false
    this.#entries.splice(this.#position(id), 1)
    this.#byId.delete(id)
    this.#count(previous.visibility, -1)
    this.#changed()
    return true
  }

  /** Whether a requester with these decisions may see this one dataset. */
  canSee(entry: CatalogEntry, allowed: (policyId: string) => boolean) {
    return entry.visibility === '' || allowed(entry.visibility)
  }

  /** One page of what the requester may see. Decides each visibility policy at most once. */
  page(query: PageQuery): Page {
    const hidden = this.visibilityPolicies().filter((p) => !query.allowed(p)).sort()
    let list = this.#visible(hidden)
    if (!isEmptyFilter(query.filter)) list = list.filter((e) => matches(e, query.filter))
    return { items: list.slice(query.offset, query.offset + query.limit), total: list.length }
  }

  #visible(hidden: string[]): CatalogEntry[] {
    if (hidden.length === 0) return this.#entries
    const key = hidden.join('\n')
    let list = this.#visibleCache.get(key)
    if (!list) {
      const set = new Set(hidden)
      list = this.#entries.filter((e) => !set.has(e.visibility))
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

  #count(group: string, delta: number) {
    const n = (this.#groups.get(group) ?? 0) + delta
    if (n <= 0) this.#groups.delete(group)
    else this.#groups.set(group, n)
  }

  #changed() {
    this.version++
    this.#visibleCache.clear()
  }
}

export function matches(entry: CatalogEntry, filter: CatalogFilter): boolean {
  if (filter.modifiedSince !== undefined && entry.modified < filter.modifiedSince) return false
  for (const k of filter.keywords) if (!entry.keywords.has(k)) return false
  for (const t of filter.themes) if (!entry.themes.has(t)) return false
  for (const w of filter.words) if (!entry.text.includes(w)) return false
  return true
}
