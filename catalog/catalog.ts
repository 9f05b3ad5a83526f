import { createHash, randomUUID } from 'node:crypto'
import type { CredentialInfo, OdrlOffer } from '../policies/index.ts'
import { entryFields, gatePolicies, MemoryCatalogRows, sight, type CatalogEntry, type CatalogRows, type Group } from './catalog-index.ts'
import type { DatasetDescription, DatasetSource } from './dataset.ts'
import type { DatasetFileError, ReadResult } from './dataset-files.ts'
import { checkChangeToken, ChangeTokenRefused, encodeChangeToken, maxDepartures, removedDatasetsKey, sightKey } from './change-token.ts'
import { catalogSummary, dcatCatalogHead, dcatDataset, servedDataset, type DcatCatalogInfo } from './dcat-render.ts'
import { catalogText, datasetText, dspDataset, type DspService } from './dsp-render.ts'
import { emptyFilter, isEmptyFilter, type CatalogFilter } from './filter.ts'
import { Lru } from './lru.ts'

/** Who asks, as far as the catalog cares. */
export interface CatalogRequester {
  participantId: string
  credentials: CredentialInfo[]
}

/** What the catalog needs from the policy engine. */
export interface CatalogPolicies {
  /** The Offer body (stable `@id`, no `target`) of a policy, or undefined when there is no such policy. */
  offer(policyId: string): OdrlOffer | undefined
  /** The catalog-scope decision of a visibility policy for one requester. Unknown means deny. */
  visible(policyId: string, requester: CatalogRequester, now: Date): { allowed: boolean; reason: string }
}

export interface CatalogOptions {
  participantId: string
  /** The catalog's `@id`. */
  catalogId: string
  service: DspService
  policies: CatalogPolicies
  /** For the DCAT-AP document. */
  dcat: Omit<DcatCatalogInfo, 'id' | 'service'> & { serviceTitle: DcatCatalogInfo['service']['title'] }
}

export interface PublishProblem {
  field: string
  message: string
}

export interface CatalogPage {
  /** The DSP Catalog as JSON text. */
  body: string
  /** The same, UTF-8 encoded once (pages served again are not re-encoded). */
  bytes(): Uint8Array
  total: number
  count: number
  /** The last dataset's id: the keyset cursor of the next page. */
  last?: string
  /**
   * An entity tag for this answer: it changes whenever anything in the catalog, its policies or this
   * requester's visibility decisions could change the page, so a peer that sends it back in
   * `If-None-Match` can be told "not modified" without a body.
   */
  etag: string
  /** The change feed's token of this answer: `changedSince` with it asks for what changed after it. */
  changeToken: string
}

export interface CatalogCacheOptions {
  /** Encoded pages kept (least recently used forgotten first). */
  pages: number
  /** Rendered datasets kept. */
  datasets: number
}

/** What a change of a dataset file did to the published catalog. */
export interface FileChange {
  kind: 'added' | 'changed' | 'removed'
  id: string
  file: string
}

/**
 * The published catalog: queries over its rows, plus what is needed to render them. Nothing is held
 * per dataset in memory but a bounded cache of rendered datasets and encoded pages, warmed by requests
 * and keyed by the catalog version (which every change, on any replica, bumps): a page served from
 * the cache is the page the rows give now. Changes to one dataset write that row only.
 */
export class Catalog {
  readonly rows: CatalogRows
  #options: CatalogOptions
  /** Bumped when the policies change (renderings embed the offers). */
  #policiesVersion = 0
  #pageCache: Lru<string, CatalogPage>
  #datasetCache: Lru<string, string>
  #counts: Lru<string, number>
  #groups: { version: number; groups: Map<string, Group>; policies: string[] } | undefined
  /** Tags of this instance's answers: renderings of another process (other policy files) never match them. */
  readonly #instance = randomUUID().slice(0, 8)
  /** The policies' contents, hashed: a change token is honoured only under the same policies. */
  #policiesKey: string

  constructor(options: CatalogOptions & { rows?: CatalogRows; cache?: CatalogCacheOptions }) {
    this.#options = options
    this.rows = options.rows ?? new MemoryCatalogRows()
    this.#pageCache = new Lru(options.cache?.pages ?? 1000)
    this.#datasetCache = new Lru(options.cache?.datasets ?? 10_000)
    this.#counts = new Lru(256)
    this.#policiesKey = policiesKey(options.policies, this.#instance)
  }

  get participantId() {
    return this.#options.participantId
  }

  /** Problems that would stop this dataset from being published (its policies must exist). */
  problems(dataset: DatasetDescription): PublishProblem[] {
    const problems: PublishProblem[] = []
    dataset.policies.forEach((id, i) => {
      if (!this.#options.policies.offer(id)) problems.push({ field: `policies.${i}`, message: `unknown policy ${id}` })
    })
    if (dataset.visibility && !this.#options.policies.offer(dataset.visibility))
      problems.push({ field: 'visibility', message: `unknown policy ${dataset.visibility}` })
    for (const [offer, gate] of Object.entries(dataset.offerVisibility ?? {}))
      if (!this.#options.policies.offer(gate)) problems.push({ field: `offerVisibility.${offer}`, message: `unknown policy ${gate}` })
    return problems
  }

  /** The dataset's offers, leaving out those whose visibility policy `refused` says no to. */
  #offers(dataset: DatasetDescription, refused?: (policyId: string) => boolean): OdrlOffer[] {
    return (refused ? shownOffers(dataset, refused) : dataset.policies)
      .map((id) => this.#options.policies.offer(id))
      .filter((o): o is OdrlOffer => o !== undefined)
  }

  /** An entry's DSP JSON for a requester: the cached full rendering, or one without refused offers. */
  #jsonFor(entry: CatalogEntry, refused: (policyId: string) => boolean): string {
    if (sight(entry, refused) === 'some') return JSON.stringify(dspDataset(entry.dataset, this.#offers(entry.dataset, refused), this.#options.service))
    const key = `${entry.id}\n${entry.seq}\n${this.#policiesVersion}`
    let json = this.#datasetCache.get(key)
    if (json === undefined) {
      json = JSON.stringify(dspDataset(entry.dataset, this.#offers(entry.dataset), this.#options.service))
      this.#datasetCache.set(key, json)
    }
    return json
  }

  /**
   * Publishes (or replaces) one dataset: one row written. Callers check `problems()` first.
   * `onlyIfAbsent` refuses an existing id and `onlyIfExists` an unknown one (false).
   */
  async publish(
    dataset: DatasetDescription,
    source: DatasetSource,
    options: { now?: number; onlyIfAbsent?: boolean; onlyIfExists?: boolean } = {},
  ): Promise<boolean> {
    return this.rows.put(
      { dataset, source, fields: entryFields(dataset), published: this.problems(dataset).length === 0, now: options.now ?? Date.now() },
      options,
    )
  }

  unpublish(id: string) {
    return this.rows.remove(id)
  }

  get(id: string) {
    return this.rows.get(id)
  }

  /**
   * Publishes what a read of the datasets folder found. A file that now has errors keeps what it
   * published before; a file that is gone takes its dataset with it; an unchanged file changes
   * nothing. Returns the problems found.
   */
  async applyFiles(read: ReadResult, report?: (change: FileChange) => void): Promise<DatasetFileError[]> {
    const present = new Set(read.files)
    const published = await this.rows.files()
    for (const file of published.keys()) if (!present.has(file)) await this.applyFile(file, 'deleted', published, report)
    const errors = [...read.errors]
    const failed = new Set(read.errors.map((e) => e.file))
    for (const one of read.datasets) if (!failed.has(one.file)) errors.push(...(await this.applyFile(one.file, { dataset: one.dataset }, published, report)))
    return errors
  }

  /**
   * One file changed (or is gone): republish its dataset alone, if it is valid and different.
   * `report` hears what was published or withdrawn (nothing for an unchanged or refused file).
   */
  async applyFile(
    file: string,
    change: 'deleted' | { dataset: DatasetDescription },
    known?: Map<string, string>,
    report?: (change: FileChange) => void,
  ): Promise<DatasetFileError[]> {
    const fileIds = known ?? (await this.rows.files())
    if (change === 'deleted') {
      const id = fileIds.get(file)
      if (id !== undefined && (await this.unpublish(id))) report?.({ kind: 'removed', id, file })
      fileIds.delete(file)
      return []
    }
    const { dataset } = change
    const problems = this.problems(dataset)
    const other = await this.rows.get(dataset.id)
    if (other && !(other.source.kind === 'file' && other.source.file === file)) {
      problems.push({
        field: 'id',
        message: `dataset id ${dataset.id} is already published by ${other.source.kind === 'file' ? other.source.file : 'the management API'}`,
      })
    }
    if (problems.length > 0) return problems.map((p) => ({ file, line: 1, field: p.field, message: p.message }))
    const previousId = fileIds.get(file)
    if (previousId !== undefined && previousId !== dataset.id && (await this.unpublish(previousId))) report?.({ kind: 'removed', id: previousId, file })
    fileIds.set(file, dataset.id)
    if (other?.published && JSON.stringify(other.dataset) === JSON.stringify(dataset)) return []
    await this.publish(dataset, { kind: 'file', file })
    report?.({ kind: other ? 'changed' : 'added', id: dataset.id, file })
    return []
  }

  /**
   * The policies changed: renderings are redone lazily (the caches are keyed by the policies' version)
   * and datasets whose policies appeared or vanished are published or withdrawn. The scan that finds
   * them runs only when the set of policy ids differs from the one the rows were last checked with.
   */
  async setPolicies(policies: CatalogPolicies & { ids?: ReadonlySet<string> }) {
    this.#options = { ...this.#options, policies }
    this.#policiesVersion++
    this.#policiesKey = policiesKey(policies, this.#instance)
    this.#pageCache.clear()
    this.#datasetCache.clear()
    await this.checkPublished(policies.ids)
  }

  /** Brings the `published` flags in line with the policies, when their set of ids changed (or is unknown). */
  async checkPublished(ids?: ReadonlySet<string>) {
    const fingerprint = ids ? [...ids].sort().join('\n') : undefined
    if (fingerprint !== undefined && fingerprint === (await this.rows.policiesFingerprint())) return
    for await (const batch of this.rows.scan()) {
      const on: string[] = []
      const off: string[] = []
      for (const entry of batch) {
        const ok = this.problems(entry.dataset).length === 0
        if (ok !== entry.published) (ok ? on : off).push(entry.id)
      }
      if (on.length > 0) await this.rows.setPublished(on, true)
      if (off.length > 0) await this.rows.setPublished(off, false)
    }
    if (fingerprint !== undefined) await this.rows.setPoliciesFingerprint(fingerprint)
  }

  /** The visibility decisions for one request: each distinct policy decided at most once. */
  decider(requester: CatalogRequester, now: Date): (policyId: string) => boolean {
    const decided = new Map<string, boolean>()
    return (policyId) => {
      let allowed = decided.get(policyId)
      if (allowed === undefined) {
        try {
          allowed = this.#options.policies.visible(policyId, requester, now).allowed === true
        } catch {
          allowed = false // unknown means deny
        }
        decided.set(policyId, allowed)
      }
      return allowed
    }
  }

  /** The visibility groups and the policies they use, as of `version` (read again when it moved). */
  async #groupsAt(version: number) {
    if (this.#groups?.version !== version) {
      const groups = await this.rows.groups()
      const policies = new Set<string>()
      for (const g of groups.values()) for (const p of gatePolicies(g.gate)) policies.add(p)
      this.#groups = { version, groups, policies: [...policies].sort() }
    }
    return this.#groups
  }

  /**
   * Visibility policies in use by published datasets (which credentials to ask a requester for). The
   * last read is reused without a version check: pages check it, so it is at most one request behind.
   */
  async visibilityPolicies(): Promise<string[]> {
    return (this.#groups ?? (await this.#groupsAt(await this.rows.version()))).policies
  }

  /**
   * One page of the DSP catalog for a requester. With a change token (`filter.changedSince`), the
   * datasets changed after it, and on the first page the ids of those that left what this requester
   * could see (`removedDatasetsKey`); a token that cannot be honoured is refused (`ChangeTokenRefused`).
   */
  async page(input: { requester: CatalogRequester; now: Date; filter: CatalogFilter; offset: number; limit: number; after?: string }): Promise<CatalogPage> {
    const allowed = this.decider(input.requester, input.now)
    const refused = (p: string) => !allowed(p)
    const version = await this.rows.version()
    const { groups, policies } = await this.#groupsAt(version)
    const refusedPolicies = policies.filter(refused)
    const seen = sightKey(this.#policiesKey, refusedPolicies)
    let filter = input.filter
    if (filter.changedSince !== undefined) {
      const { changedSince, ...rest } = filter
      filter = { ...rest, seqAfter: checkChangeToken(changedSince, { version, time: input.now.getTime(), sight: seen }) }
    }
    const feed = filter.seqAfter !== undefined
    const filterKey = isEmptyFilter(filter) ? '' : JSON.stringify(filter)
    const key = `${version}|${this.#policiesVersion}|${refusedPolicies.join(' ')}|${filterKey}|${input.after ?? ''}|${input.offset}|${input.limit}`
    const changeToken = encodeChangeToken({ version, issuedAt: input.now.getTime(), sight: seen })
    const cached = this.#pageCache.get(key)
    if (cached) return { ...cached, changeToken }
    const hiddenGroups = [...groups].filter(([, g]) => sight(g, refused) === 'hidden').map(([k]) => k)
    const query = { hiddenGroups, filter }
    let total: number
    if (filterKey === '') {
      total = 0
      for (const [k, g] of groups) if (!hiddenGroups.includes(k)) total += g.count
    } else {
      const countKey = `${version}|${hiddenGroups.join(' ')}|${filterKey}`
      const known = this.#counts.get(countKey)
      total = known ?? (await this.rows.count(query))
      if (known === undefined) this.#counts.set(countKey, total)
    }
    // Departures are listed once, on the feed's first page.
    const removed = feed && input.after === undefined && input.offset === 0 ? await this.#departures(filter.seqAfter!, hiddenGroups, refused) : undefined
    const items = await this.rows.page({ ...query, ...(input.after !== undefined ? { after: input.after } : {}), offset: input.offset, limit: input.limit })
    const text = catalogText(
      this.#header(),
      items.map((e) => this.#jsonFor(e, refused)),
    )
    const body = removed === undefined ? text : `${text.slice(0, -1)},${JSON.stringify(removedDatasetsKey)}:${JSON.stringify(removed)}}`
    let bytes: Uint8Array | undefined
    const result: CatalogPage = {
      body,
      bytes: () => (bytes ??= new TextEncoder().encode(body)),
      total,
      count: items.length,
      // Hashed: the tag must not tell a peer which policies refused it.
      etag: `"${this.#instance}-${version}-${this.#policiesVersion}-${createHash('sha256').update(key).digest('base64url').slice(0, 16)}"`,
      changeToken,
      ...(items.length > 0 ? { last: items.at(-1)!.id } : {}),
    }
    this.#pageCache.set(key, result)
    return result
  }

  /**
   * The ids that left what this requester could see after version `seq`: departures from a group
   * whose gate it may see, and not visible now. Only what it could have seen is named, so a hidden
   * dataset's id is never told.
   */
  async #departures(seq: number, hiddenGroups: string[], refused: (policyId: string) => boolean): Promise<string[]> {
    const left = await this.rows.leftSince(seq, hiddenGroups, maxDepartures + 1)
    if (left.length > maxDepartures)
      throw new ChangeTokenRefused(`changedSince: more than ${maxDepartures} datasets left the catalog since the token (read the whole catalog)`)
    const ids = new Set<string>()
    for (const d of left) if (sight(d, refused) !== 'hidden') ids.add(d.id)
    return [...ids].sort()
  }

  /**
   * The policy ids of the offers of one dataset this requester may see, or undefined when the
   * dataset is unknown or hidden from them. Negotiation decides with this what the catalog shows:
   * an offer the catalog hides is neither offered nor accepted.
   */
  async visibleOffers(id: string, requester: CatalogRequester, now: Date): Promise<string[] | undefined> {
    const entry = await this.rows.get(id)
    if (!entry?.published) return undefined
    const allowed = this.decider(requester, now)
    const refused = (p: string) => !allowed(p)
    return sight(entry, refused) === 'hidden' ? undefined : shownOffers(entry.dataset, refused)
  }

  /** One dataset as a DSP `Dataset` text, or undefined when unknown or hidden from this requester. */
  async dataset(id: string, requester: CatalogRequester, now: Date): Promise<string | undefined> {
    const entry = await this.rows.get(id)
    const allowed = this.decider(requester, now)
    const refused = (p: string) => !allowed(p)
    if (!entry?.published || sight(entry, refused) === 'hidden') return undefined
    return datasetText(dspDataset(entry.dataset, this.#offers(entry.dataset, refused), this.#options.service, 'embedded'))
  }

  /** The groups the public DCAT-AP document leaves out: what a requester refused every visibility policy may not see. */
  async #publicQuery() {
    const { groups } = await this.#groupsAt(await this.rows.version())
    const hiddenGroups = [...groups].filter(([, g]) => sight(g, refuseAll) === 'hidden').map(([k]) => k)
    let total = 0
    for (const [k, g] of groups) if (!hiddenGroups.includes(k)) total += g.count
    return { hiddenGroups, total }
  }

  /** How many datasets the public DCAT-AP document lists. */
  async publicCount(): Promise<number> {
    return (await this.#publicQuery()).total
  }

  /**
   * The public DCAT-AP document, as chunks of JSON text: datasets and offers without a visibility
   * policy only. Datasets are read in keyset batches and rendered one batch at a time, so the whole
   * document is never held in memory; a page (`offset`, `limit`) lists only its slice.
   */
  async *dcatChunks(page?: { offset: number; limit: number }): AsyncGenerator<string> {
    const service = { id: this.#options.service.id, endpointURL: this.#options.service.endpointURL, title: this.#options.dcat.serviceTitle }
    const info = { ...this.#options.dcat, id: this.#options.catalogId, service }
    const { hiddenGroups } = await this.#publicQuery()
    const summary = catalogSummary(info)
    const head = JSON.stringify(dcatCatalogHead(info))
    const render = (e: CatalogEntry) => {
      const node = dcatDataset(e.dataset, this.#offers(e.dataset, refuseAll), service)
      summary.add(node)
      return JSON.stringify(node)
    }
    // The datasets of the document (or of its page), in keyset batches.
    const self = this
    async function* batches() {
      const batchSize = 500
      let remaining = page ? page.limit : Number.POSITIVE_INFINITY
      let after: string | undefined
      let offset = page?.offset ?? 0
      while (remaining > 0) {
        const limit = Math.min(batchSize, remaining)
        const batch = await self.rows.page({ hiddenGroups, filter: emptyFilter, ...(after !== undefined ? { after } : {}), offset, limit })
        if (batch.length === 0) return
        yield batch
        remaining -= batch.length
        after = batch.at(-1)!.id
        offset = 0
        if (batch.length < limit) return
      }
    }
    let first = true
    yield head.slice(0, -1)
    for await (const batch of batches()) {
      yield `${first ? ',"dcat:dataset":[' : ','}${batch.map(render).join(',')}`
      first = false
    }
    if (!first) yield ']'
    // What the catalog says as a whole is known once its datasets were written: JSON-LD does not
    // care about the order of members. The data service lists what it serves in a second pass.
    const { service: dataService, ...tail } = summary.tail()
    const tailText = JSON.stringify(tail).slice(1, -1)
    if (tailText) yield `,${tailText}`
    yield `,"dcat:service":[${JSON.stringify(dataService).slice(0, -1)}`
    let served = true
    for await (const batch of batches()) {
      yield `${served ? ',"dcat:servesDataset":[' : ','}${batch.map((e) => JSON.stringify(servedDataset({ '@id': e.dataset.id }))).join(',')}`
      served = false
    }
    yield `${served ? '' : ']'}}]}`
  }

  /** The whole public DCAT-AP document (or a page of it) as one string: for tests and small catalogs. */
  async dcatText(page?: { offset: number; limit: number }): Promise<string> {
    let text = ''
    for await (const chunk of this.dcatChunks(page)) text += chunk
    return text
  }

  #header() {
    return { id: this.#options.catalogId, participantId: this.#options.participantId, service: this.#options.service }
  }
}

const refuseAll = () => true

/** The policies' contents as one hash (offers in id order); without a list of ids, this process's own key. */
function policiesKey(policies: CatalogPolicies & { ids?: ReadonlySet<string> }, instance: string): string {
  if (!policies.ids) return instance
  const hash = createHash('sha256')
  for (const id of [...policies.ids].sort()) hash.update(`${id}\n${JSON.stringify(policies.offer(id) ?? null)}\n`)
  return hash.digest('base64url')
}

/**
 * The visibility decision for the offers of a dataset: the policy ids whose offer-visibility
 * policy (if any) `refused` does not refuse. The catalog's rendering and negotiation both use it.
 */
export function shownOffers(dataset: Pick<DatasetDescription, 'policies' | 'offerVisibility'>, refused: (policyId: string) => boolean): string[] {
  return dataset.policies.filter((id) => {
    const gate = dataset.offerVisibility?.[id]
    return gate === undefined || !refused(gate)
  })
}
