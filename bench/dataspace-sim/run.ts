/**
 * Data-space simulation: 1,000 participants (default), each with a real catalog (catalog/catalog.ts,
 * rows in memory) behind a DSP catalog endpoint, a registry listing them all, and changes published
 * at a steady rate. Observers (participants that search the data space) run the real federation
 * code: the registry reading (`refreshRegistry`), the crawler (`startCrawler`, driven tick by tick
 * on a simulated clock) and the repository with its full-text search, each on its own database.
 *
 * The network is in-process (transport.ts), for the simulation only: it counts the bytes a real
 * exchange would move (bodies and headers), not TCP/TLS. Time is simulated: the crawl interval and
 * publication rate are data-space figures (minutes), the run takes what the work takes.
 *
 * Measured per crawl mode (full: peers without ETag, every crawl reads every page; conditional: ETag
 * and If-None-Match; incremental: conditional plus the modified-since filter, a full crawl every
 * 12th), over the measured period after a first full crawl:
 * - the time from a change's publication to the moment an observer's search finds it (checked with
 *   a real search for the word the change put in the title), per observer and everywhere (the last
 *   observer);
 * - bytes and requests per change, all observers together, and per observer per interval.
 *
 *   node --import tsx bench/dataspace-sim/run.ts [--participants 1000] [--datasets 20] [--observers 2]
 *     [--interval 300] [--rate 1] [--duration 900] [--tick 10] [--modes full,conditional,incremental] [--dialect sqlite]
 */
import { parseArgs } from 'node:util'
import type { Clock } from '../../connector/clock.ts'
import { startCrawler } from '../../connector/federation/crawler.ts'
import { refreshRegistry } from '../../connector/federation/peers.ts'
import { federationRepository } from '../../connector/federation/repository.ts'
import { defaultCrawlerOptions } from '../../connector/federation/settings.ts'
import { openStore, type Store } from '../../connector/store/store.ts'
import { silentLogger } from '../../connector/telemetry/logger.ts'
import { testConfig, testContext } from '../../test/support/context.ts'
import { createTestDatabase, type Dialect } from '../../test/support/stores.ts'
import { median, percentile, printTable } from '../stats.ts'
import { SimParticipant } from './participant.ts'
import { inProcessTransport, type SimHandler } from './transport.ts'

const { values } = parseArgs({
  options: {
    participants: { type: 'string', default: '1000' },
    datasets: { type: 'string', default: '20' },
    observers: { type: 'string', default: '2' },
    interval: { type: 'string', default: '300' },
    rate: { type: 'string', default: '1' },
    duration: { type: 'string', default: '900' },
    tick: { type: 'string', default: '10' },
    modes: { type: 'string', default: 'full,conditional,incremental' },
    dialect: { type: 'string', default: 'sqlite' },
  },
})
const participantCount = Number(values.participants)
const perParticipant = Number(values.datasets)
const observerCount = Number(values.observers)
const intervalS = Number(values.interval)
const rate = Number(values.rate)
const durationS = Number(values.duration)
const tickS = Number(values.tick)
const dialect = values.dialect as Dialect
type Mode = 'full' | 'conditional' | 'incremental'

/** A seeded generator (mulberry32), so that every mode sees the same changes and schedules. */
function seeded(seed: number) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

interface Change {
  peer: number
  token: string
  publishedAt: number
  seenAt: Array<number | undefined>
}

async function simulate(mode: Mode) {
  const start = Date.parse('2026-06-01T00:00:00Z')
  let nowMs = start
  const clock: Clock = { now: () => new Date(nowMs) } as Clock
  const participants = Array.from({ length: participantCount }, (_, i) => new SimParticipant(i, { datasets: perParticipant, conditional: mode !== 'full' }))
  for (const p of participants) await p.fill(new Date(nowMs - 86_400_000))
  const handlers = new Map<string, SimHandler>(participants.map((p) => [new URL(p.dspUrl).host, p.handler(() => new Date(nowMs))]))
  const registry = { participants: participants.map((p) => ({ participantId: p.did, name: `Participant ${p.index}`, dspUrl: p.dspUrl })) }
  handlers.set('registry.sim', async () => ({ status: 200, headers: { 'content-type': 'application/json' }, text: JSON.stringify(registry) }))
  const { client, traffic } = inProcessTransport((host) => handlers.get(host))

  const observers: Array<{
    store: Store
    drop: () => Promise<void>
    crawler: ReturnType<typeof startCrawler>
    repo: ReturnType<typeof federationRepository>
    crawlMs: number
  }> = []
  for (let o = 0; o < observerCount; o++) {
    const database = await createTestDatabase(dialect)
    const store = await openStore({ url: database.url, poolSize: 4 })
    const base = testConfig()
    const ctx = testContext(store, { peers: client, clock, config: { ...base, participant: { ...base.participant, id: participants[o]!.did } } })
    await refreshRegistry({ ctx, input: { registryUrl: 'http://registry.sim/participants.json' } })
    const repo = federationRepository(store)
    const crawler = startCrawler({
      repo,
      http: client,
      clock,
      logger: silentLogger,
      autoStart: false,
      random: seeded(1000 + o),
      options: { ...defaultCrawlerOptions, intervalMs: intervalS * 1000, jitter: 0.1, concurrency: 4, incremental: mode === 'incremental', fullCrawlEvery: 12 },
    })
    observers.push({ store, drop: database.drop, crawler, repo, crawlMs: 0 })
  }

  // The first crawl of every peer (not measured), then the period with changes.
  for (const o of observers) await o.crawler.crawlDue()
  const initial = { ...traffic }
  traffic.requests = 0
  traffic.bytes = 0
  traffic.notModified = 0
  const random = seeded(42)
  const changes: Change[] = []
  const latest = new Map<string, Change>()
  let superseded = 0
  let owed = 0
  let seq = 0
  const end = start + durationS * 1000
  // After the last change, time enough for every observer to crawl every peer once more.
  const drainUntil = end + intervalS * 1000 * 1.2
  while (nowMs < drainUntil) {
    nowMs += tickS * 1000
    if (nowMs <= end) {
      owed += rate * tickS
      for (; owed >= 1; owed--) {
        // Changes come from the participants that do not observe, so every observer must crawl to see them.
        const peer = observerCount + Math.floor(random() * (participantCount - observerCount))
        const token = `chg${(++seq).toString(36)}x${Math.floor(random() * 1e6).toString(36)}`
        // Spread over the tick: published at some point before the crawls of this tick.
        const publishedAt = nowMs - Math.floor(random() * tickS * 1000)
        const k = Math.floor(random() * perParticipant)
        await participants[peer]!.change(k, token, new Date(publishedAt))
        // A change overwritten before every observer saw it can no longer be found: not counted.
        const previous = latest.get(`${peer}:${k}`)
        if (previous?.seenAt.some((s) => s === undefined)) {
          changes.splice(changes.indexOf(previous), 1)
          superseded++
        }
        const change = { peer, token, publishedAt, seenAt: observers.map(() => undefined) }
        latest.set(`${peer}:${k}`, change)
        changes.push(change)
      }
    }
    for (const [i, o] of observers.entries()) {
      const before = performance.now()
      await o.crawler.crawlDue()
      o.crawlMs += performance.now() - before
      // What this observer's search finds now (one search per change still unseen whose peer was crawled).
      const crawled = new Map((await o.repo.listPeers()).map((p) => [p.dspUrl, p.lastSuccessAt ?? 0]))
      for (const change of changes) {
        if (change.seenAt[i] !== undefined || (crawled.get(participants[change.peer]!.dspUrl) ?? 0) < change.publishedAt) continue
        const found = await o.repo.search({ q: change.token, limit: 1 })
        if (found.hits[0]?.peer.participantId === participants[change.peer]!.did) change.seenAt[i] = nowMs
      }
    }
  }
  for (const o of observers) {
    await o.crawler.stop()
    await o.store.close()
    await o.drop()
  }
  const perObserver = changes.flatMap((c) => c.seenAt.map((s) => (s === undefined ? Number.POSITIVE_INFINITY : (s - c.publishedAt) / 1000)))
  const everywhere = changes.map((c) => Math.max(...c.seenAt.map((s) => (s === undefined ? Number.POSITIVE_INFINITY : (s - c.publishedAt) / 1000))))
  const missed = changes.reduce((n, c) => n + c.seenAt.filter((s) => s === undefined).length, 0)
  const measuredS = (drainUntil - start) / 1000
  const intervals = measuredS / intervalS
  return {
    mode,
    changes: changes.length,
    superseded,
    missed,
    perObserver,
    everywhere,
    bytes: traffic.bytes,
    requests: traffic.requests,
    notModified: traffic.notModified,
    initialBytes: initial.bytes,
    bytesPerObserverInterval: traffic.bytes / observerCount / intervals,
    requestsPerObserverInterval: traffic.requests / observerCount / intervals,
    crawlMsPerObserverInterval: observers.reduce((n, o) => n + o.crawlMs, 0) / observerCount / intervals,
  }
}

const fmt = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : 'never')
const mb = (bytes: number) => (bytes / 1e6).toFixed(2)

console.log(
  `data-space simulation: ${participantCount} participants × ${perParticipant} datasets, ${observerCount} observers, crawl interval ${intervalS} s (±10 %), ${rate} change(s)/s for ${durationS} s, tick ${tickS} s, ${dialect}, Node ${process.versions.node}`,
)
const results = []
for (const mode of values.modes!.split(',') as Mode[]) {
  const wall = performance.now()
  results.push(await simulate(mode))
  console.log(`${mode}: simulated in ${((performance.now() - wall) / 1000).toFixed(1)} s`)
}
printTable('time from publication to searchable (s; tick granularity)', [
  ['mode', 'changes (overwritten before seen, left out)', 'per observer median', 'p95', 'max', 'everywhere median', 'everywhere max', 'missed'],
  ...results.map((r) => [
    r.mode,
    `${r.changes} (${r.superseded})`,
    fmt(median(r.perObserver)),
    fmt(percentile(r.perObserver, 95)),
    fmt(Math.max(...r.perObserver)),
    fmt(median(r.everywhere)),
    fmt(Math.max(...r.everywhere)),
    String(r.missed),
  ]),
])
printTable('traffic (all observers, measured period)', [
  [
    'mode',
    'bytes per change',
    'requests per change',
    'answered 304',
    'per observer per interval (MB)',
    'requests per observer per interval',
    'crawl work per observer per interval (ms)',
    'first full crawl, one observer (MB)',
  ],
  ...results.map((r) => [
    r.mode,
    fmt(r.bytes / r.changes),
    (r.requests / r.changes).toFixed(1),
    `${((100 * r.notModified) / Math.max(1, r.requests)).toFixed(0)} %`,
    mb(r.bytesPerObserverInterval),
    fmt(r.requestsPerObserverInterval),
    fmt(r.crawlMsPerObserverInterval),
    mb(r.initialBytes / observerCount),
  ]),
])
// Extrapolation: every member observes every other; per observer, the work per interval grows with
// the number of peers, and with a fixed change rate per member the changed peers grow alike.
const scale = 10_000 / participantCount
printTable(`extrapolated to 10,000 members (×${scale} peers per observer, ×${scale} changes; every member observes)`, [
  [
    'mode',
    'per observer per interval (MB)',
    'requests per observer per interval',
    'crawl work per observer per interval (s)',
    'whole data space per interval (TB)',
  ],
  ...results.map((r) => [
    r.mode,
    mb(r.bytesPerObserverInterval * scale),
    fmt(r.requestsPerObserverInterval * scale),
    ((r.crawlMsPerObserverInterval * scale) / 1000).toFixed(1),
    ((r.bytesPerObserverInterval * scale * 10_000) / 1e12).toFixed(3),
  ]),
])
