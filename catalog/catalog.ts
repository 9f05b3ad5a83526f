import type { CredentialInfo, OdrlOffer } from '../policies/index.ts'
import { CatalogIndex, gateKey, searchFields, sight, type CatalogEntry, type Gate } from './catalog-index.ts'
import type { DatasetDescription, DatasetSource } from './dataset.ts'
import type { DatasetFileError, ReadResult } from './dataset-files.ts'
import { dcatCatalog, dcatDataset, type DcatCatalogInfo } from './dcat-render.ts'
import { catalogText, datasetText, dspDataset, type DspService } from './dsp-render.ts'
import { isEmptyFilter, type CatalogFilter } from './filter.ts'

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
}

/**
 * The published catalog: the index plus what is needed to (re)build entries. Changes to one dataset
 * rebuild that dataset's entry only; a change of policies rebuilds every entry.
 */
export class Catalog {
  readonly index = new CatalogIndex()
  #options: CatalogOptions
  #dcatCache: { version: number; text: string } | undefined
  #publicCache: { version: number; entries: CatalogEntry[] } | undefined
  /** Rendered pages of unfiltered requests, by catalog version, hidden groups, offset and limit. */
  #pageCache = new Map<string, CatalogPage>()
  /** File → ids it published, to replace a folder's datasets without touching the API's. */
  #fileIds = new Map<string, string>()

  constructor(options: CatalogOptions) {
    this.#options = options
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

  entryFor(dataset: DatasetDescription, source: DatasetSource): CatalogEntry {
    const gate: Gate | undefined =
      dataset.visibility !== undefined || dataset.offerVisibility !== undefined
        ? { ...(dataset.visibility !== undefined ? { dataset: dataset.visibility } : {}), offers: dataset.policies.map((id) => dataset.offerVisibility?.[id]) }
        : undefined
    const visibility = gateKey(gate)
    return {
      id: dataset.id,
      dataset,
      source,
      json: JSON.stringify(dspDataset(dataset, this.#offers(dataset), this.#options.service)),
      ...(visibility !== '' ? { gate } : {}),
      visibility,
      ...searchFields(dataset),
    }
  }

  /** The dataset's offers, leaving out those whose visibility policy `refused` says no to. */
  #offers(dataset: DatasetDescription, refused?: (policyId: string) => boolean): OdrlOffer[] {
    return dataset.policies
      .filter((id) => {
        const gate = dataset.offerVisibility?.[id]
        return !refused || gate === undefined || !refused(gate)
      })
      .map((id) => this.#options.policies.offer(id))
      .filter((o): o is OdrlOffer => o !== undefined)
  }

  /** An entry's DSP JSON for a requester: the prebuilt text, or a rendering without refused offers. */
  #jsonFor(entry: CatalogEntry, refused: (policyId: string) => boolean): string {
    if (sight(entry, refused) !== 'some') return entry.json
    return JSON.stringify(dspDataset(entry.dataset, this.#offers(entry.dataset, refused), this.#options.service))
  }

  /** Publishes (or replaces) one dataset. Callers check `problems()` first. */
  publish(dataset: DatasetDescription, source: DatasetSource) {
    this.index.upsert(this.entryFor(dataset, source))
    if (source.kind === 'file') this.#fileIds.set(source.file, dataset.id)
  }

  unpublish(id: string) {
    const entry = this.index.get(id)
    if (entry?.source.kind === 'file') this.#fileIds.delete(entry.source.file)
    return this.index.remove(id)
  }

  /**
   * Publishes what a read of the datasets folder found. A file that now has errors keeps what it
   * published before; a file that is gone takes its dataset with it; an unchanged file changes
   * nothing. Returns the problems found.
   */
  applyFiles(read: ReadResult): DatasetFileError[] {
    const present = new Set(read.files)
    for (const file of [...this.#fileIds.keys()]) if (!present.has(file)) this.applyFile(file, 'deleted')
    const errors = [...read.errors]
    const failed = new Set(read.errors.map((e) => e.file))
    for (const one of read.datasets) if (!failed.has(one.file)) errors.push(...this.applyFile(one.file, { dataset: one.dataset }))
    return errors
  }

  /** One file changed (or is gone): republish its dataset alone, if it is valid and different. */
  applyFile(file: string, change: 'deleted' | { dataset: DatasetDescription }): DatasetFileError[] {
    if (change === 'deleted') {
      const id = this.#fileIds.get(file)
      if (id !== undefined) this.unpublish(id)
      return []
    }
    const { dataset } = change
    const problems = this.problems(dataset)
    const other = this.index.get(dataset.id)
    if (other && !(other.source.kind === 'file' && other.source.file === file)) {
      problems.push({ field: 'id', message: `dataset id ${dataset.id} is already published by ${other.source.kind === 'file' ? other.source.file : 'the management API'}` })
    }
    if (problems.length > 0) return problems.map((p) => ({ file, line: 1, field: p.field, message: p.message }))
    const previousId = this.#fileIds.get(file)
    if (previousId !== undefined && previousId !== dataset.id) this.unpublish(previousId)
    if (other && JSON.stringify(other.dataset) === JSON.stringify(dataset)) return []
    this.publish(dataset, { kind: 'file', file })
    return []
  }

  /** Rebuilds every entry (policies changed). */
  setPolicies(policies: CatalogPolicies) {
    this.#options = { ...this.#options, policies }
    const entries = this.index.all().filter((e) => this.problems(e.dataset).length === 0).map((e) => this.entryFor(e.dataset, e.source))
    this.index.replaceAll(entries)
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

  page(input: { requester: CatalogRequester; now: Date; filter: CatalogFilter; offset: number; limit: number }): CatalogPage {
    const allowed = this.decider(input.requester, input.now)
    const cacheable = isEmptyFilter(input.filter)
    const key = cacheable
      ? `${this.index.version}|${this.index.visibilityPolicies().filter((p) => !allowed(p)).sort().join(' ')}|${input.offset}|${input.limit}`
      : ''
    const cached = cacheable ? this.#pageCache.get(key) : undefined
    if (cached) return cached
    const page = this.index.page({ allowed, filter: input.filter, offset: input.offset, limit: input.limit })
    const refused = (p: string) => !allowed(p)
    const body = catalogText(this.#header(), page.items.map((e) => this.#jsonFor(e, refused)))
    let bytes: Uint8Array | undefined
    const result: CatalogPage = {
      body,
      bytes: () => (bytes ??= new TextEncoder().encode(body)),
      total: page.total,
      count: page.items.length,
    }
    if (cacheable) {
      // Entries of older versions are never read again; a small bound keeps memory flat.
      if (this.#pageCache.size >= 64) this.#pageCache.clear()
      this.#pageCache.set(key, result)
    }
    return result
  }

  /** One dataset as a DSP `Dataset` text, or undefined when unknown or hidden from this requester. */
  dataset(id: string, requester: CatalogRequester, now: Date): string | undefined {
    const entry = this.index.get(id)
    const allowed = this.decider(requester, now)
    const refused = (p: string) => !allowed(p)
    if (!entry || sight(entry, refused) === 'hidden') return undefined
    return datasetText(dspDataset(entry.dataset, this.#offers(entry.dataset, refused), this.#options.service, 'embedded'))
  }

  /** Datasets the public DCAT-AP document lists: what a requester refused every visibility policy sees. */
  publicEntries(): CatalogEntry[] {
    if (this.#publicCache?.version !== this.index.version) {
      this.#publicCache = { version: this.index.version, entries: this.index.all().filter((e) => sight(e, refuseAll) !== 'hidden') }
    }
    return this.#publicCache.entries
  }

  /**
   * The public DCAT-AP document: datasets and offers without a visibility policy only. The whole document is
   * cached per catalog version; a page (`offset`, `limit`) lists only its slice of the datasets.
   */
  dcatText(page?: { offset: number; limit: number }): string {
    if (!page && this.#dcatCache?.version === this.index.version) return this.#dcatCache.text
    const service = { id: this.#options.service.id, endpointURL: this.#options.service.endpointURL, title: this.#options.dcat.serviceTitle }
    const entries = this.publicEntries()
    const datasets = (page ? entries.slice(page.offset, page.offset + page.limit) : entries).map((e) =>
      dcatDataset(e.dataset, this.#offers(e.dataset, refuseAll).map((o) => o['@id']), service),
    )
    const text = JSON.stringify(dcatCatalog({ ...this.#options.dcat, id: this.#options.catalogId, service }, datasets))
    if (!page) this.#dcatCache = { version: this.index.version, text }
    return text
  }

  #header() {
    return { id: this.#options.catalogId, participantId: this.#options.participantId, service: this.#options.service }
  }
}

const refuseAll = () => true
