import { metrics } from '@opentelemetry/api'
import { dspContextUrl, InvalidCatalogError, readCatalogPage, type PeerCatalogEntry as CatalogEntry, type RejectedDataset } from '../../catalog/index.ts'
import type { Clock } from '../clock.ts'
import type { PeerClient, PeerResponse } from '../http/peer-client.ts'
import type { Logger } from '../telemetry/logger.ts'
import { nextLink } from './link-header.ts'
import type { CrawlerOptions } from './settings.ts'
import type { FederationRepository, PeerRow } from './repository.ts'

export { defaultCrawlerOptions, type CrawlerOptions } from './settings.ts'

export interface CrawlerDeps {
  repo: FederationRepository
  http: PeerClient
  clock: Clock
  logger: Logger
  options: CrawlerOptions
  /** The `Authorization` header for a DSP request to this peer (our identity, so it shows what we may see). */
  authorization?: (peer: PeerRow) => Promise<string | undefined>
  /** In [0, 1); injected so schedules are deterministic in tests. */
  random?: () => number
}

export type CrawlOutcome =
  | { ok: true; mode: 'full' | 'incremental' | 'unchanged'; datasets: number; rejected: RejectedDataset[]; pages: number; durationMs: number }
  | { ok: false; error: string; durationMs: number }

class CrawlFailure extends Error {}

const instruments = (() => {
  let made: ReturnType<typeof make> | undefined
  const counts = new Map<string, number>()
  function make() {
    const meter = metrics.getMeter('passerelle')
    const gauge = meter.createObservableGauge('passerelle.federation.datasets', { description: 'datasets held per peer' })
    gauge.addCallback((result) => {
      for (const [peer, n] of counts) result.observe(n, { 'passerelle.peer': peer })
    })
    return {
      duration: meter.createHistogram('passerelle.federation.crawl.duration', { unit: 'ms', description: 'time to crawl one peer' }),
      crawls: meter.createCounter('passerelle.federation.crawls', { description: 'crawls per peer and outcome' }),
      errors: meter.createCounter('passerelle.federation.crawl.errors', { description: 'failed crawls per peer' }),
      rejected: meter.createCounter('passerelle.federation.datasets.rejected', { description: 'datasets refused as invalid' }),
    }
  }
  return () => ({ ...(made ??= make()), counts })
})()

/** When to crawl next: the interval with jitter after a success, exponential backoff after failures. */
export function nextCrawlAt(now: number, failures: number, options: CrawlerOptions, random: () => number): number {
  const spread = (ms: number) => Math.round(ms * (1 + options.jitter * (2 * random() - 1)))
  if (failures === 0) return now + spread(options.intervalMs)
  const backoff = Math.min(options.backoffBaseMs * 2 ** Math.min(failures - 1, 30), options.backoffMaxMs, options.intervalMs * 8)
  return now + spread(Math.max(backoff, 1))
}

/**
 * Crawls one peer: requests its catalog over DSP, follows `Link: rel="next"` pages, checks each
 * dataset, then stores the result in one transaction. On any failure nothing is stored but the
 * error, and the peer keeps its last good copy (shown as stale).
 */
export async function crawlPeer(deps: CrawlerDeps, peer: PeerRow): Promise<CrawlOutcome> {
  const { options, clock, logger } = deps
  const random = deps.random ?? Math.random
  const started = clock.now().getTime()
  const log = logger.child({ peer: peer.id, dspUrl: peer.dspUrl })
  const m = instruments()
  const attrs = { 'passerelle.peer': peer.id }
  const wantIncremental = options.incremental && peer.incremental !== 'no' && peer.lastSuccessAt !== null && peer.crawlsSinceFull + 1 < options.fullCrawlEvery
  try {
    // A conditional probe first (the first page of the whole catalog with `If-None-Match`), for a peer
    // that tagged its catalog before: unchanged, it answers 304 and nothing more is read.
    let catalogEtag: string | undefined
    // A changed catalog's probe answer is its first page: a whole-catalog read starts from it.
    let probed: PeerResponse | undefined
    if (peer.catalogEtag) {
      const probe = await probeCatalog(deps, peer, started)
      if (probe === 'unchanged' && peer.lastSuccessAt !== null) {
        const now = clock.now().getTime()
        const durationMs = now - started
        await deps.repo.recordUnchanged({ peerId: peer.id, now, durationMs, nextCrawlAt: nextCrawlAt(now, 0, options, random) })
        m.duration.record(durationMs, attrs)
        m.crawls.add(1, { ...attrs, outcome: 'unchanged' })
        log.info('federation: peer unchanged', { durationMs })
        return { ok: true, mode: 'unchanged', datasets: peer.datasetCount, rejected: [], pages: 1, durationMs }
      }
      if (typeof probe === 'object') {
        catalogEtag = probe.etag
        probed = probe.response
      }
    }
    let result: Awaited<ReturnType<typeof fetchCatalog>>
    let incremental: PeerRow['incremental'] = peer.incremental
    // A probe answer without a next page is the whole catalog already: a full read at no cost,
    // which an incremental request would only repeat in part.
    const probedWhole = probed !== undefined && nextLink(probed.headers.link, `${peer.dspUrl.replace(/\/+$/, '')}/catalog/request`) === null
    const readIncremental = wantIncremental && !probedWhole
    let mode: 'full' | 'incremental' = readIncremental ? 'incremental' : 'full'
    try {
      result = await fetchCatalog(deps, peer, started, readIncremental ? peer.lastSuccessAt! - 60_000 : null, readIncremental ? undefined : probed)
      if (readIncremental) incremental = 'yes'
      // The first page of a whole-catalog read is the probe's request: its tag serves next time.
      else catalogEtag ??= result.etag
    } catch (error) {
      // A peer that does not know our filter answers 400: remember it and read the whole catalog.
      if (!(readIncremental && error instanceof FilterRefused)) throw error
      incremental = 'no'
      mode = 'full'
      result = await fetchCatalog(deps, peer, started, null, probed)
      catalogEtag ??= result.etag
    }
    for (const r of result.rejected.slice(0, 20)) log.warn('federation: dataset refused', { datasetId: r.datasetId, reason: r.reason })
    if (result.rejected.length > 20) log.warn('federation: more datasets refused', { count: result.rejected.length - 20 })
    const now = clock.now().getTime()
    const durationMs = now - started
    const datasets = await deps.repo.recordSuccess({
      peerId: peer.id,
      entries: result.entries,
      mode,
      participantId: result.participantId,
      rejected: result.rejected.length,
      incremental,
      now,
      durationMs,
      nextCrawlAt: nextCrawlAt(now, 0, options, random),
      ...(catalogEtag !== undefined ? { catalogEtag } : {}),
    })
    m.duration.record(durationMs, attrs)
    m.crawls.add(1, { ...attrs, outcome: 'success' })
    if (result.rejected.length > 0) m.rejected.add(result.rejected.length, attrs)
    m.counts.set(peer.id, datasets)
    log.info('federation: peer crawled', { mode, datasets, rejected: result.rejected.length, pages: result.pages, durationMs })
    return { ok: true, mode, datasets, rejected: result.rejected, pages: result.pages, durationMs }
  } catch (error) {
    const now = clock.now().getTime()
    const durationMs = now - started
    const message = error instanceof Error ? error.message : String(error)
    await deps.repo.recordFailure({ peerId: peer.id, error: message, now, durationMs, nextCrawlAt: nextCrawlAt(now, peer.failures + 1, options, random) })
    m.duration.record(durationMs, attrs)
    m.crawls.add(1, { ...attrs, outcome: 'failure' })
    m.errors.add(1, attrs)
    log.warn('federation: crawl failed, keeping the last good copy', { error: message, failures: peer.failures + 1 })
    return { ok: false, error: message, durationMs }
  }
}

class FilterRefused extends CrawlFailure {}

/**
 * Asks for the first page of the whole catalog with the tag we hold. 'unchanged' on 304; the tag
 * of a 200 ('' when there is none); undefined when the probe failed (the crawl that follows says why).
 */
/** Only a strong, quoted, short tag is kept ('' otherwise): it is sent back as a header. */
const usableEtag = (etag: string | string[] | undefined) => (typeof etag === 'string' && /^"[\x21\x23-\x7e]{1,200}"$/.test(etag) ? etag : '')

async function probeCatalog(deps: CrawlerDeps, peer: PeerRow, started: number): Promise<'unchanged' | { etag: string; response: PeerResponse } | undefined> {
  const remaining = started + deps.options.timeoutMs - deps.clock.now().getTime()
  if (remaining <= 0) return undefined
  const authorization = deps.authorization ? await deps.authorization(peer) : undefined
  try {
    const response = await deps.http.request({
      method: 'POST',
      url: `${peer.dspUrl.replace(/\/+$/, '')}/catalog/request`,
      body: { '@context': [dspContextUrl], '@type': 'CatalogRequestMessage', filter: [] },
      headers: { ...(authorization ? { authorization } : {}), ...(peer.catalogEtag ? { 'if-none-match': peer.catalogEtag } : {}) },
      timeout: Math.min(remaining, 10_000),
      maxBytes: deps.options.maxPageBytes,
    })
    if (response.status === 304 && peer.catalogEtag) return 'unchanged'
    if (response.status !== 200) return undefined
    return { etag: usableEtag(response.headers.etag), response }
  } catch {
    return undefined
  }
}

/** `firstPage`: the answer to the first request, already read (the probe's), used instead of asking again. */
async function fetchCatalog(deps: CrawlerDeps, peer: PeerRow, started: number, modifiedSince: number | null, firstPage?: PeerResponse) {
  const { options, clock } = deps
  const first = `${peer.dspUrl.replace(/\/+$/, '')}/catalog/request`
  const origin = new URL(first).origin
  const body = {
    '@context': [dspContextUrl],
    '@type': 'CatalogRequestMessage',
    filter: modifiedSince === null ? [] : [{ modifiedSince: new Date(modifiedSince).toISOString() }],
  }
  const authorization = deps.authorization ? await deps.authorization(peer) : undefined
  const entries = new Map<string, CatalogEntry>()
  const rejected: RejectedDataset[] = []
  const visited = new Set<string>()
  let participantId: string | null = null
  let url: string | null = first
  let pages = 0
  let etag = ''
  // Paging by an EDC query in the message (offset, limit) instead of Link headers: see queryPaging.
  let query: { offset: number; limit: number } | undefined
  let linked = false
  while (url) {
    const key = query ? `${url} offset ${query.offset}` : url
    if (visited.has(key)) throw new CrawlFailure(`the catalog's pages link back to ${url}`)
    visited.add(key)
    if (++pages > options.maxPages) throw new CrawlFailure(`more than ${options.maxPages} catalog pages`)
    const remaining = started + options.timeoutMs - clock.now().getTime()
    if (remaining <= 0) throw new CrawlFailure(`no complete catalog within ${options.timeoutMs} ms`)
    const response: PeerResponse =
      pages === 1 && firstPage !== undefined
        ? firstPage
        : await deps.http.request({
            method: 'POST',
            url,
            body: query ? { ...body, filter: [...body.filter, { '@type': 'QuerySpec', offset: query.offset, limit: query.limit }] } : body,
            headers: authorization ? { authorization } : {},
            timeout: remaining,
            maxBytes: options.maxPageBytes,
          })
    if (response.status === 400 && modifiedSince !== null && pages === 1) throw new FilterRefused('the peer refused the modified-since filter')
    // A peer that does not page by query refuses it: what it sent without one was its whole catalog.
    if (query && (response.status === 400 || response.status === 404)) break
    if (response.status !== 200) throw new CrawlFailure(`the peer answered ${response.status} to a catalog request`)
    if (pages === 1) etag = usableEtag(response.headers.etag)
    let page
    try {
      page = readCatalogPage(response.json())
    } catch (error) {
      if (error instanceof InvalidCatalogError) throw new CrawlFailure(`page ${pages}: ${error.message}`)
      throw error
    }
    if (participantId !== null && page.participantId !== participantId)
      throw new CrawlFailure(`page ${pages} names another participant (${page.participantId})`)
    if (peer.did && page.participantId !== peer.did) throw new CrawlFailure(`the catalog names participant ${page.participantId}, not ${peer.did}`)
    participantId = page.participantId
    let added = 0
    for (const entry of page.entries) {
      if (entries.has(entry.datasetId)) {
        // A peer that ignores the query answers its first page again: that is the end, not a fault.
        if (!query) rejected.push({ datasetId: entry.datasetId, reason: 'the same dataset id appears on two pages' })
      } else {
        entries.set(entry.datasetId, entry)
        added++
      }
    }
    // A page answered again by a peer that ignores the query says nothing new, refusals included.
    if (!query || added > 0) rejected.push(...page.rejected)
    if (entries.size > options.maxDatasets) throw new CrawlFailure(`more than ${options.maxDatasets} datasets`)
    const next = nextLink(response.headers.link, url)
    // Our token goes with every request: never follow a link to another host.
    if (next && new URL(next).origin !== origin) throw new CrawlFailure(`the next page is on another host (${new URL(next).origin})`)
    if (response.headers.link !== undefined) linked = true
    // A peer that pages with Link headers is read by them alone.
    query = linked ? undefined : queryPaging(response.headers, page.entries.length, added, query)
    url = next ?? (query ? url : null)
  }
  return { participantId: participantId!, entries: [...entries.values()], rejected, pages, etag }
}

/**
 * The next page of a peer that pages like Eclipse EDC: by the `offset` and `limit` of a QuerySpec in
 * the message, with no `Link` headers. Asked only of a peer whose answer has neither a `Link` nor an
 * `ETag` header (Passerelle sends both), after a first page of at least EDC's default page size
 * (50): a shorter page without links is the whole catalog. The first page's size is taken as the
 * peer's page size. Stops at a short page or one that adds nothing; `maxPages` and `maxDatasets`
 * bound the rest.
 */
const edcDefaultLimit = 50

function queryPaging(headers: Record<string, string | string[] | undefined>, received: number, added: number, previous?: { offset: number; limit: number }) {
  if (headers.etag !== undefined || received === 0 || added === 0) return undefined
  if (!previous) return received >= edcDefaultLimit ? { offset: received, limit: Math.min(received, 1000) } : undefined
  if (received < previous.limit) return undefined
  return { offset: previous.offset + received, limit: previous.limit }
}

export interface Crawler {
  /** Crawls every due peer now (tests and `POST /peers/:id/crawl`), resolving when they are done. */
  crawlDue(): Promise<void>
  /** Crawls one peer now, whatever its schedule. */
  crawl(peerId: string): Promise<CrawlOutcome | undefined>
  stop(): Promise<void>
}

/**
 * The crawl loop: every tick, due peers start, at most `concurrency` at a time. A crawl that is
 * running is never started twice. `beforeTick` lets the caller refresh the peer list (registry).
 */
export function startCrawler(deps: CrawlerDeps & { beforeTick?: () => Promise<void>; autoStart?: boolean }): Crawler {
  const running = new Map<string, Promise<CrawlOutcome>>()
  let stopped = false
  let timer: NodeJS.Timeout | undefined
  let filling: Promise<void> = Promise.resolve()

  const launch = (peer: PeerRow) => {
    const run = crawlPeer(deps, peer).finally(() => {
      running.delete(peer.id)
      // A free slot goes to the next due peer at once: a slow peer holds one slot, never the loop.
      if (!stopped) void fill()
    })
    running.set(peer.id, run)
    return run
  }

  /** Starts due peers in the free slots. Serialised, so a peer is never started twice. */
  const fill = () =>
    (filling = filling
      .then(async () => {
        const free = deps.options.concurrency - running.size
        if (stopped || free <= 0) return
        const due = (await deps.repo.duePeers(deps.clock.now().getTime())).filter((p) => !running.has(p.id))
        for (const peer of due.slice(0, free)) launch(peer)
      })
      .catch((error) => deps.logger.error('federation: crawl loop failed', { error })))

  const refresh = async () => {
    if (deps.beforeTick) await deps.beforeTick().catch((error) => deps.logger.warn('federation: peer list refresh failed', { error }))
  }

  const loop = () => {
    if (stopped) return
    refresh()
      .then(fill)
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, deps.options.tickMs)
      })
  }
  if (deps.autoStart !== false) timer = setTimeout(loop, 0)

  return {
    async crawlDue() {
      await refresh()
      await fill()
      while (running.size > 0) {
        await Promise.race(running.values()).catch(() => undefined)
        await filling
      }
    },
    async crawl(peerId) {
      const peer = await deps.repo.getPeer(peerId)
      if (!peer) return undefined
      return running.get(peer.id) ?? launch(peer)
    },
    async stop() {
      stopped = true
      if (timer) clearTimeout(timer)
      await filling
      await Promise.allSettled([...running.values()])
    },
  }
}
