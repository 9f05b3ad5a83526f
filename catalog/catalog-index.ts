import { posix } from 'node:path'
import { keywordEntries, textEntries, type DatasetDescription, type DatasetSource } from './dataset.ts'
import type { CatalogFilter } from './filter.ts'
import { likeExpression, type PropertyCondition } from './query-spec.ts'

/**
 * Where the published catalog lives, and how it is queried. The catalog answers from rows (the
 * database in the connector, memory in tests and tools): nothing is rebuilt at start, a page is one
 * keyset query in id order, and a change writes one row.
 *
 * Visibility: a dataset, and each of its offers, may carry a catalog-visibility policy. Datasets
 * are grouped by the combination they carry (`''` = none). A request decides each distinct policy
 * once, turns the decisions into the groups it may not see, and the query leaves those groups out.
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

export function gateOf(dataset: DatasetDescription): Gate | undefined {
  if (dataset.visibility === undefined && dataset.offerVisibility === undefined) return undefined
  const gate: Gate = {
    ...(dataset.visibility !== undefined ? { dataset: dataset.visibility } : {}),
    offers: dataset.policies.map((id) => dataset.offerVisibility?.[id]),
  }
  return gateKey(gate) === '' ? undefined : gate
}

/**
 * What a requester sees of one dataset: nothing, everything, or the dataset with some offers left
 * out (`refused` says which visibility policies this requester is refused).
 */
export function sight(entry: { gate?: Gate | undefined }, refused: (policyId: string) => boolean): 'hidden' | 'all' | 'some' {
  const gate = entry.gate
  if (!gate) return 'all'
  if (gate.dataset !== undefined && refused(gate.dataset)) return 'hidden'
  let shown = 0
  for (const o of gate.offers) if (o === undefined || !refused(o)) shown++
  return shown === 0 ? 'hidden' : shown === gate.offers.length ? 'all' : 'some'
}

/** One published (or stored but unpublished) dataset. */
export interface CatalogEntry {
  id: string
  dataset: DatasetDescription
  source: DatasetSource
  /** Its visibility policies, if any. */
  gate?: Gate
  /** The catalog version of its last change: cached renderings are keyed by it. */
  seq: number
  /** False while a policy it names is unknown (it is kept, but nobody sees it). */
  published: boolean
  createdAt: number
  updatedAt: number
}

/** The columns derived from a description for queries (see the catalog tables). */
export interface EntryFields {
  visibility: string
  gate?: Gate
  /** Lowercase id, titles, descriptions and keywords, for full-text filters. */
  search: string
  /** `\n`-delimited, with a `\n` at each end, lowercase. */
  keywords: string
  themes: string
  /** Titles in every language, delimited like `keywords`, lowercase. */
  titles: string
  /** The publisher's IRI and its names in every language, delimited like `keywords`, lowercase. */
  publishers: string
  modified: number
  policyRefs: string[]
  /** The local files and folders its distributions name, relative to the participant folder (`localPath`). */
  fileRefs: string[]
}

/** One spelling of a path relative to the participant folder: forward slashes, no `.` segments, no trailing slash. */
export const localPath = (path: string): string => posix.normalize(path.replaceAll('\\', '/')).replace(/\/+$/, '') || '.'

export function entryFields(dataset: DatasetDescription): EntryFields {
  const keywords = [...new Set(keywordEntries(dataset.keywords).map(([, k]) => k.toLowerCase()))]
  const search = [dataset.id, ...textEntries(dataset.title).map(([, t]) => t), ...textEntries(dataset.description).map(([, t]) => t), ...keywords]
    .join('\n')
    .toLowerCase()
  const gate = gateOf(dataset)
  return {
    visibility: gateKey(gate),
    ...(gate ? { gate } : {}),
    search,
    keywords: delimited(keywords),
    themes: delimited(dataset.themes),
    titles: delimited([...new Set(textEntries(dataset.title).map(([, t]) => t.toLowerCase()))]),
    publishers: delimited([
      ...new Set(
        [...(dataset.publisher.id ? [dataset.publisher.id] : []), ...textEntries(dataset.publisher.name).map(([, t]) => t)].map((v) => v.toLowerCase()),
      ),
    ]),
    modified: Date.parse(dataset.modified),
    policyRefs: [...new Set([...dataset.policies, ...(dataset.visibility ? [dataset.visibility] : []), ...Object.values(dataset.offerVisibility ?? {})])],
    fileRefs: [...new Set(dataset.distributions.flatMap((d) => [d.file, d.folder].filter((p): p is string => p !== undefined).map(localPath)))],
  }
}

const delimited = (values: string[]) => (values.length === 0 ? '' : `\n${values.join('\n')}\n`)

export interface RowsQuery {
  /** Visibility groups left out (what the requester may not see). */
  hiddenGroups: readonly string[]
  filter: CatalogFilter
  /** Keyset: only ids after this one. Takes precedence over `offset`. */
  after?: string
  offset: number
  limit: number
  /** Every row, published or not, whatever its group (the management list). */
  all?: boolean
}

/** The datasets that name a policy (or a file): the first ids in id order, and how many. */
export interface PolicyUsage {
  ids: string[]
  total: number
}

/** Counts the rows naming each policy, keeping the first `limit` ids of each (in id order). */
export function collectPolicyUsage(rows: Iterable<{ id: string; policyRefs: string[] }>, limit: number): Map<string, PolicyUsage> {
  const usage = new Map<string, PolicyUsage>()
  for (const row of rows) {
    for (const policy of row.policyRefs) {
      const entry = usage.get(policy) ?? usage.set(policy, { ids: [], total: 0 }).get(policy)!
      entry.total++
      entry.ids.push(row.id)
      // Bounded: the smallest ids are kept, sorted now and then.
      if (entry.ids.length > limit * 4) entry.ids = entry.ids.sort().slice(0, limit)
    }
  }
  for (const entry of usage.values()) entry.ids = entry.ids.sort().slice(0, limit)
  return usage
}

export interface Group {
  gate: Gate | undefined
  count: number
}

export interface WrittenEntry {
  dataset: DatasetDescription
  source: DatasetSource
  fields: EntryFields
  published: boolean
  /** Epoch ms; kept from the existing row when it exists. */
  now: number
}

/** The catalog's storage. Every write bumps `version()` (in the same transaction, for databases). */
export interface CatalogRows {
  /** A counter every change anywhere bumps: one cheap read tells whether caches are current. */
  version(): Promise<number>
  /** Published datasets per visibility group. */
  groups(): Promise<Map<string, Group>>
  get(id: string): Promise<CatalogEntry | undefined>
  /** Published datasets, in id order. */
  page(query: RowsQuery): Promise<CatalogEntry[]>
  /** How many published datasets match (only asked with a filter: the groups count the rest). */
  count(query: Pick<RowsQuery, 'hiddenGroups' | 'filter'>): Promise<number>
  /** Inserts or replaces; `onlyIfAbsent` refuses (false) an existing id. */
  put(entry: WrittenEntry, options?: { onlyIfAbsent?: boolean; onlyIfExists?: boolean }): Promise<boolean>
  remove(id: string): Promise<boolean>
  /** Datasets published from files: file → id. */
  files(): Promise<Map<string, string>>
  /** Every row in id order, in batches (published or not). */
  scan(): AsyncGenerator<CatalogEntry[]>
  /** Sets `published` of these ids (policies changed). */
  setPublished(ids: string[], published: boolean): Promise<void>
  /** The fingerprint of the policy set the `published` flags were computed with. */
  policiesFingerprint(): Promise<string | undefined>
  setPoliciesFingerprint(fingerprint: string): Promise<void>
  /** All rows (published or not). */
  size(): Promise<number>
  /**
   * For each of these policy ids, the rows (published or not) whose description names it (offer or
   * visibility): the first `limit` ids in id order, and how many.
   */
  policyUsage(policyIds: readonly string[], limit: number): Promise<Map<string, PolicyUsage>>
  /** The rows (published or not) with a distribution naming one of these paths (`localPath` spellings): the first `limit` ids, and how many. */
  fileUsage(paths: readonly string[], limit: number): Promise<PolicyUsage>
  /**
   * The change feed's departures: datasets that left a visibility group after catalog version `seq`
   * (deleted, withdrawn, or moved to another group), with the gate of the group they left, leaving
   * out those published now in a group not in `hiddenGroups`. At most `limit` rows, an id possibly
   * more than once; the catalog keeps those whose former gate the requester may see.
   */
  leftSince(seq: number, hiddenGroups: readonly string[], limit: number): Promise<Departure[]>
}

/** A dataset that left a visibility group: what it was visible under until then. */
export interface Departure {
  id: string
  gate: Gate | undefined
}

type FilterFields = Pick<EntryFields, 'search' | 'keywords' | 'themes' | 'titles' | 'publishers' | 'modified'> & { id: string }

export function matchesFilter(fields: FilterFields, filter: CatalogFilter): boolean {
  if (filter.modifiedSince !== undefined && fields.modified < filter.modifiedSince) return false
  for (const k of filter.keywords) if (!fields.keywords.includes(`\n${k}\n`)) return false
  for (const t of filter.themes) if (!fields.themes.includes(`\n${t}\n`)) return false
  for (const w of filter.words) if (!fields.search.includes(w)) return false
  for (const c of filter.conditions ?? []) if (!matchesCondition(fields, c)) return false
  return true
}

/**
 * How a criterion compares, the same in the database: ids and themes (IRIs) exactly, titles,
 * keywords and publishers case-insensitively; `like` is case-insensitive on every property.
 */
export function conditionColumn(property: PropertyCondition['property']): { column: 'id' | 'keywords' | 'themes' | 'titles' | 'publishers'; folded: boolean } {
  switch (property) {
    case 'id':
      return { column: 'id', folded: false }
    case 'theme':
      return { column: 'themes', folded: false }
    case 'keyword':
      return { column: 'keywords', folded: true }
    case 'title':
      return { column: 'titles', folded: true }
    case 'publisher':
      return { column: 'publishers', folded: true }
  }
}

function matchesCondition(fields: FilterFields, condition: PropertyCondition): boolean {
  const { column, folded } = conditionColumn(condition.property)
  const text = column === 'id' ? `\n${fields.id}\n` : fields[column]
  if ('like' in condition) return likeExpression(condition.like).test(text)
  return condition.anyOf.some((v) => text.includes(`\n${folded ? v.toLowerCase() : v}\n`))
}

type MemoryRow = CatalogEntry & { fields: EntryFields }

/** The catalog's rows in memory, for tests and command-line tools (same semantics as the database). */
export class MemoryCatalogRows implements CatalogRows {
  #rows: MemoryRow[] = []
  #byId = new Map<string, MemoryRow>()
  #version = 0
  #fingerprint: string | undefined
  /** Departures from visibility groups, in version order (the change feed's deletions). */
  #left: Array<{ id: string; seq: number; visibility: string; gate: Gate | undefined }> = []

  async version() {
    return this.#version
  }
  async groups() {
    const groups = new Map<string, Group>()
    for (const r of this.#rows) {
      if (!r.published) continue
      const g = groups.get(r.fields.visibility)
      if (g) g.count++
      else groups.set(r.fields.visibility, { gate: r.gate, count: 1 })
    }
    return groups
  }
  async get(id: string) {
    return this.#byId.get(id)
  }
  #matching(query: Pick<RowsQuery, 'hiddenGroups' | 'filter'>) {
    const hidden = new Set(query.hiddenGroups)
    const after = query.filter.seqAfter
    return this.#rows.filter(
      (r) =>
        r.published && !hidden.has(r.fields.visibility) && (after === undefined || r.seq > after) && matchesFilter({ ...r.fields, id: r.id }, query.filter),
    )
  }
  /** Records that a published row leaves its group (at the version of the change). */
  #leave(row: MemoryRow | undefined, seq: number, next?: { published: boolean; visibility: string }) {
    if (!row?.published || (next?.published && next.visibility === row.fields.visibility)) return
    this.#left.push({ id: row.id, seq, visibility: row.fields.visibility, gate: row.gate })
  }
  async leftSince(seq: number, hiddenGroups: readonly string[], limit: number) {
    const hidden = new Set(hiddenGroups)
    const shown = (id: string) => {
      const r = this.#byId.get(id)
      return r?.published === true && !hidden.has(r.fields.visibility)
    }
    return this.#left
      .filter((l) => l.seq > seq && !shown(l.id))
      .slice(0, limit)
      .map((l) => ({ id: l.id, gate: l.gate }))
  }
  async page(query: RowsQuery) {
    const list = query.all ? this.#rows : this.#matching(query)
    const start = query.after !== undefined ? list.findIndex((r) => r.id > query.after!) : query.offset
    return start < 0 ? [] : list.slice(start, start + query.limit)
  }
  async count(query: Pick<RowsQuery, 'hiddenGroups' | 'filter'>) {
    return this.#matching(query).length
  }
  async put(entry: WrittenEntry, options: { onlyIfAbsent?: boolean; onlyIfExists?: boolean } = {}) {
    const id = entry.dataset.id
    const previous = this.#byId.get(id)
    if ((previous && options.onlyIfAbsent) || (!previous && options.onlyIfExists)) return false
    const row: MemoryRow = {
      id,
      dataset: entry.dataset,
      source: entry.source,
      ...(entry.fields.gate ? { gate: entry.fields.gate } : {}),
      seq: ++this.#version,
      published: entry.published,
      createdAt: previous?.createdAt ?? entry.now,
      updatedAt: entry.now,
      fields: entry.fields,
    }
    this.#leave(previous, row.seq, { published: row.published, visibility: row.fields.visibility })
    if (previous) this.#rows[this.#position(id)] = row
    else this.#rows.splice(this.#position(id), 0, row)
    this.#byId.set(id, row)
    return true
  }
  async remove(id: string) {
    if (!this.#byId.has(id)) return false
    this.#leave(this.#byId.get(id), ++this.#version)
    this.#rows.splice(this.#position(id), 1)
    this.#byId.delete(id)
    return true
  }
  async files() {
    const files = new Map<string, string>()
    for (const r of this.#rows) if (r.source.kind === 'file') files.set(r.source.file, r.id)
    return files
  }
  async *scan() {
    yield [...this.#rows]
  }
  async setPublished(ids: string[], published: boolean) {
    if (ids.length === 0) return
    const seq = ++this.#version
    for (const id of ids) {
      const row = this.#byId.get(id)
      if (!row || row.published === published) continue
      if (!published) this.#leave(row, seq)
      row.published = published
      row.seq = seq
    }
  }
  async policiesFingerprint() {
    return this.#fingerprint
  }
  async setPoliciesFingerprint(fingerprint: string) {
    this.#fingerprint = fingerprint
  }
  async size() {
    return this.#rows.length
  }
  async policyUsage(policyIds: readonly string[], limit: number) {
    const usage = collectPolicyUsage(
      this.#rows.map((r) => ({ id: r.id, policyRefs: r.fields.policyRefs })),
      limit,
    )
    return new Map(policyIds.map((id) => [id, usage.get(id) ?? { ids: [], total: 0 }]))
  }
  async fileUsage(paths: readonly string[], limit: number) {
    const wanted = new Set(paths)
    const ids = this.#rows.filter((r) => r.fields.fileRefs.some((f) => wanted.has(f))).map((r) => r.id)
    return { ids: ids.slice(0, limit), total: ids.length }
  }
  #position(id: string) {
    let low = 0
    let high = this.#rows.length
    while (low < high) {
      const mid = (low + high) >>> 1
      if (this.#rows[mid]!.id < id) low = mid + 1
      else high = mid
    }
    return low
  }
}
