import { metrics } from '@opentelemetry/api'
import { dspContextUrl } from '../../catalog/federation/dsp-catalog.ts'
import { InvalidCatalogError, readCatalogPage, type CatalogEntry, type RejectedDataset } from '../../catalog/federation/read-catalog-page.ts'
import type { Clock } from '../context.ts'
import type { PeerClient } from '../http/peer-client.ts'
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
  | { ok: true; mode: 'full' | 'incremental'; datasets: number; rejected: RejectedDataset[]; pages: number; durationMs: number }
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
  const wantIncremental =
    options.incremental && peer.incremental !== 'no' && peer.lastSuccessAt !== null && peer.crawlsSinceFull + 1 < options.fullCrawlEvery
  try {
    let result: Awaited<ReturnType<typeof fetchCatalog>>
    let incremental: PeerRow['incremental'] = peer.incremental
    let mode: 'full' | 'incremental' = wantIncremental ? 'incremental' : 'full'
    try {
      result = await fetchCatalog(deps, peer, started, wantIncremental ? peer.lastSuccessAt! - 60_000 : null)
      if (wantIncremental) incremental = 'yes'
    } catch (error) {
      // A peer that does not know our filter answers 400: remember it and read the whole catalog.
      if (!(wantIncremental && error instanceof FilterRefused)) throw error
      incremental = 'no'
      mode = 'full'
      result = await fetchCatalog(deps, peer, started, null)
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

async function fetchCatalog(deps: CrawlerDeps, peer: PeerRow, started: number, modifiedSince: number | null) {
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
  while (url) {
    if (visited.has(url)) throw new CrawlFailure(`the catalog's pages link back to ${url}`)
    visited.add(url)
    if (++pages > options.maxPages) throw new CrawlFailure(`more than ${options.maxPages} catalog pages`)
    const remaining = started + options.timeoutMs - clock.now().getTime()
    if (remaining <= 0) throw new CrawlFailure(`no complete catalog within ${options.timeoutMs} ms`)
    const response = await deps.http.request({
      method: 'POST',
      url,
      body,
      headers: authorization ? { authorization } : {},
      timeout: remaining,
      maxBytes: options.maxPageBytes,
    })
    if (response.status === 400 && modifiedSince !== null && pages === 1) throw new FilterRefused('the peer refused the modified-since filter')
    if (response.status !== 200) throw new CrawlFailure(`the peer answered ${response.status} to a catalog request`)
    let page
    try {
      page = readCatalogPage(response.json())
    } catch (error) {
      if (error instanceof InvalidCatalogError) throw new CrawlFailure(`page ${pages}: ${error.message}`)
      throw error
    }
    if (participantId !== null && page.participantId !== participantId) throw new CrawlFailure(`page ${pages} names another participant (${page.participantId})`)
    if (peer.did && page.participantId !== peer.did) throw new CrawlFailure(`the catalog names participant ${page.participantId}, not ${peer.did}`)
    participantId = page.participantId
    rejected.push(...page.rejected)
    for (const entry of page.entries) {
      if (entries.has(entry.datasetId)) rejected.push({ datasetId: entry.datasetId, reason: 'the same dataset id appears on two pages' })
      else entries.set(entry.datasetId, entry)
    }
    if (entries.size > options.maxDatasets) throw new CrawlFailure(`more than ${options.maxDatasets} datasets`)
    const next = nextLink(response.headers['link'], url)
    // Our token goes with every request: never follow a link to another host.
    if (next && new URL(next).origin !== origin) throw new CrawlFailure(`the next page is on another host (${new URL(next).origin})`)
    url = next
  }
  return { participantId: participantId!, entries: [...entries.values()], rejected, pages }
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
