import { metrics } from '@opentelemetry/api'
import {
  changeTokenHeader,
  dspContextUrl,
  InvalidCatalogError,
  removedDatasetsKey,
  readCatalogPage,
  type PeerCatalogEntry as CatalogEntry,
  type RejectedDataset,
} from '../../catalog/index.ts'
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
  | {
      ok: true
      /** `changes`: the peer's change feed (changed datasets and those gone since our token). */
      mode: 'full' | 'incremental' | 'changes' | 'unchanged'
      datasets: number
      rejected: RejectedDataset[]
      pages: number
      durationMs: number
      /** Datasets the change feed said are gone. */
      removed?: number
    }
  | { ok: false; error: string; durationMs: number }

class CrawlFailure extends Error {}
/** The peer's change feed could not be trusted: the crawl fails and the token is dropped. */
class FeedFailure extends CrawlFailure {}
/** The peer did not honour our change token (400): it is read in full instead. */
class FeedRefused extends CrawlFailure {}

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
  const incrementalDue = peer.lastSuccessAt !== null && peer.crawlsSinceFull + 1 < options.fullCrawlEvery
  const wantIncremental = options.incremental && peer.incremental !== 'no' && incrementalDue
  // Why the change feed was not used this time, for the peer's status (undefined: nothing to say).
  let feedNote: string | null | undefined
  try {
    // A peer that gave a change token is asked for its changes since: deletions included, and an
    // unchanged catalog answers an empty first page, as small as a conditional probe.
    if (options.changeFeed && peer.changeToken && incrementalDue) {
      try {
        const result = await fetchCatalog(deps, peer, started, { changedSince: peer.changeToken })
        return await stored(result, 'changes', peer.incremental, undefined)
      } catch (error) {
        // A feed that breaks our rules (endless, too large, not a catalog) loses its token; a peer
        // that is down keeps it for the next attempt.
        if (error instanceof CrawlFailure && !(error instanceof FeedRefused) && !(error instanceof FeedFailure)) throw new FeedFailure(error.message)
        if (!(error instanceof FeedRefused)) throw error
        feedNote = `the peer refused our change token (${error.message}); read in full`
        log.info('federation: change token refused, reading in full', { reason: error.message })
      }
    }
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
      result = await fetchCatalog(
        deps,
        peer,
        started,
        readIncremental ? { modifiedSince: peer.lastSuccessAt! - 60_000 } : {},
        readIncremental ? undefined : probed,
      )
      if (readIncremental) incremental = 'yes'
      // The first page of a whole-catalog read is the probe's request: its tag serves next time.
      else catalogEtag ??= result.etag
    } catch (error) {
      // A peer that does not know our filter answers 400: remember it and read the whole catalog.
      if (!(readIncremental && error instanceof FilterRefused)) throw error
      incremental = 'no'
      mode = 'full'
      result = await fetchCatalog(deps, peer, started, {}, probed)
      catalogEtag ??= result.etag
    }
    return await stored(result, mode, incremental, catalogEtag)
  } catch (error) {
    const now = clock.now().getTime()
    const durationMs = now - started
    const message = error instanceof Error ? error.message : String(error)
    const feedFailed = error instanceof FeedFailure ? `the change feed was refused: ${message}; the next crawl reads in full` : undefined
    await deps.repo.recordFailure({
      peerId: peer.id,
      error: message,
      now,
      durationMs,
      nextCrawlAt: nextCrawlAt(now, peer.failures + 1, options, random),
      ...(feedFailed ? { changeFeedNote: feedFailed } : {}),
    })
    m.duration.record(durationMs, attrs)
    m.crawls.add(1, { ...attrs, outcome: 'failure' })
    m.errors.add(1, attrs)
    log.warn('federation: crawl failed, keeping the last good copy', { error: message, failures: peer.failures + 1 })
    return { ok: false, error: message, durationMs }
  }

  /** Stores a crawl's result (one transaction) and reports it. */
  async function stored(
    result: Awaited<ReturnType<typeof fetchCatalog>>,
    mode: 'full' | 'incremental' | 'changes',
    incremental: PeerRow['incremental'],
    catalogEtag: string | undefined,
  ): Promise<CrawlOutcome> {
    // The token the first page gave: one we can send back as it is, or none (and why).
    let changeToken: string | null = null
    if (result.changeToken !== undefined) {
      if (usableChangeToken(result.changeToken)) changeToken = result.changeToken
      else feedNote = 'the peer sent a change token that is not one (at most 200 letters, digits and ._~-): it is read in full'
    } else if (mode === 'changes') feedNote = 'the peer sent no change token with its changes: it is read in full'
    if (changeToken !== null && feedNote === undefined) feedNote = null
    for (const r of result.rejected.slice(0, 20)) log.warn('federation: dataset refused', { datasetId: r.datasetId, reason: r.reason })
    if (result.rejected.length > 20) log.warn('federation: more datasets refused', { count: result.rejected.length - 20 })
    const now = clock.now().getTime()
    const durationMs = now - started
    const datasets = await deps.repo.recordSuccess({
      peerId: peer.id,
      entries: result.entries,
      removed: result.removed,
      mode: mode === 'changes' ? 'incremental' : mode,
      participantId: result.participantId,
      rejected: result.rejected.length,
      incremental,
      now,
      durationMs,
      nextCrawlAt: nextCrawlAt(now, 0, options, random),
      ...(catalogEtag !== undefined ? { catalogEtag } : {}),
      changeToken,
      ...(feedNote !== undefined ? { changeFeedNote: feedNote } : {}),
    })
    m.duration.record(durationMs, attrs)
    m.crawls.add(1, { ...attrs, outcome: 'success' })
    if (result.rejected.length > 0) m.rejected.add(result.rejected.length, attrs)
    m.counts.set(peer.id, datasets)
    const removed = result.removed.length
    log.info('federation: peer crawled', { mode, datasets, removed, rejected: result.rejected.length, pages: result.pages, durationMs })
    return { ok: true, mode, datasets, rejected: result.rejected, pages: result.pages, durationMs, ...(mode === 'changes' ? { removed } : {}) }
  }
}

/** A change token is sent back in a JSON body: only a short one of plain characters is kept. */
const usableChangeToken = (token: string) => /^[A-Za-z0-9._~-]{1,200}$/.test(token)

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
async function fetchCatalog(
  deps: CrawlerDeps,
  peer: PeerRow,
  started: number,
  since: { modifiedSince?: number; changedSince?: string },
  firstPage?: PeerResponse,
) {
  const { options, clock } = deps
  const first = `${peer.dspUrl.replace(/\/+$/, '')}/catalog/request`
  const origin = new URL(first).origin
  const modifiedSince = since.modifiedSince ?? null
  const feed = since.changedSince !== undefined
  const body = {
    '@context': [dspContextUrl],
    '@type': 'CatalogRequestMessage',
    filter:
      since.changedSince !== undefined
        ? [{ changedSince: since.changedSince }]
        : modifiedSince === null
          ? []
          : [{ modifiedSince: new Date(modifiedSince).toISOString() }],
  }
  // Dataset ids the change feed says are gone since our token.
  const removed = new Set<string>()
  let changeToken: string | undefined
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
    if (response.status === 400 && feed && pages === 1) throw new FeedRefused(errorReason(response))
    // A peer that does not page by query refuses it: what it sent without one was its whole catalog.
    if (query && (response.status === 400 || response.status === 404)) break
    if (response.status !== 200) throw new CrawlFailure(`the peer answered ${response.status} to a catalog request`)
    if (pages === 1) {
      etag = usableEtag(response.headers.etag)
      const token = response.headers[changeTokenHeader]
      if (token !== undefined) changeToken = Array.isArray(token) ? '' : token
    }
    let page
    try {
      const json = response.json()
      page = readCatalogPage(json)
      if (feed) readRemoved(json, pages, removed, options.maxDatasets)
    } catch (error) {
      if (error instanceof InvalidCatalogError) throw new CrawlFailure(`page ${pages}: ${error.message}`)
      throw error
    }
    if (participantId !== null && page.participantId !== participantId)
      throw new CrawlFailure(`page ${pages} names another participant (${page.participantId})`)
    if (peer.did && page.participantId !== peer.did) throw new CrawlFailure(`the catalog names participant ${page.participantId}, not ${peer.did}`)
    // A change feed adds to what we hold from this participant: it must be the same one.
    if (feed && peer.participantId !== null && page.participantId !== peer.participantId)
      throw new FeedFailure(`the change feed names participant ${page.participantId}, not ${peer.participantId}`)
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
  // A dataset listed as changed is there now, whatever the list of those gone says.
  for (const id of entries.keys()) removed.delete(id)
  return { participantId: participantId!, entries: [...entries.values()], removed: [...removed], rejected, pages, etag, changeToken }
}

/**
 * The ids a change feed's page says are gone (`removedDatasetsKey`): required on the first page
 * (an answer without it did not understand our token), a list of dataset ids, at most `max` in all.
 * They are matched only against this peer's own entries when stored.
 */
function readRemoved(json: unknown, page: number, into: Set<string>, max: number) {
  const list = json && typeof json === 'object' ? (json as Record<string, unknown>)[removedDatasetsKey] : undefined
  if (list === undefined) {
    if (page === 1) throw new FeedFailure('the answer to our change token does not list the datasets gone since it')
    return
  }
  if (!Array.isArray(list)) throw new FeedFailure("the change feed's list of datasets gone is not a list")
  for (const id of list) {
    if (typeof id !== 'string' || id.length === 0 || id.length > 2048) throw new FeedFailure('the change feed lists a dataset gone that is not a dataset id')
    into.add(id)
    if (into.size > max) throw new FeedFailure(`the change feed lists more than ${max} datasets gone`)
  }
}

/** The reason of a peer's DSP error answer, one bounded line (the peer's bytes: no control characters). */
function errorReason(response: PeerResponse): string {
  let reason: unknown
  try {
    const body = response.json() as { reason?: unknown }
    reason = Array.isArray(body?.reason) ? body.reason[0] : body?.reason
  } catch {
    reason = undefined
  }
  const text = typeof reason === 'string' ? reason : typeof reason === 'object' && reason !== null ? JSON.stringify(reason) : `status ${response.status}`
  return text.replace(/[\u0000-\u001f\u007f]+/g, ' ').slice(0, 300)
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
