/**
 * Federated catalog benchmark: a crawl of simulated peers (default 20 × 5,000 datasets, served by
 * fixture DSP peers in a child process on 127.0.0.1, 100 datasets per page with Link paging),
 * into SQLite and into PostgreSQL; then search latency over the resulting entries.
 *
 * CPU columns are this process's CPU time (on PostgreSQL the server's work is not in it): on a
 * shared machine they show the work done, where wall-clock time also shows the other load. When
 * the PostgreSQL server runs on this machine, a "server CPU" column adds the CPU time its backends
 * spent per search (mean, read from /proc), the figure that other load changes least.
 *
 * Baselines measured in the same run: the raw fetch of every page (no parsing, no checks, no
 * storage) for the crawl, and a plain `LIKE '%word%'` scan of the same columns for search.
 *
 * Each query is also run with facet counts (`facets: true`), whose own cost is printed beside.
 * `--bulk` skips the peers and the crawl: the entries (checked like a crawl's) are stored straight
 * through the repository, one peer at a time, which is how the million-entry search is measured
 * (`--peers 20 --datasets 50000 --bulk --skip-like --queries 36`: at least 5 samples per query after 2 warm-ups in bulk mode); `--skip-like` leaves out the
 * LIKE baseline, which takes seconds per query at that size.
 *
 * `--reuse sqlite=FILE,postgres=URL` (with `--bulk`) searches databases filled by an earlier run
 * instead of filling new ones (and leaves them in place).
 *
 * The baseline in the same run is the same search without bounds ("exact": every match ranked,
 * counted and faceted, `--exact-samples` samples per query), the work the search did before it
 * was bounded.
 *
 *   node --import tsx bench/federation.ts [--peers 20] [--datasets 5000] [--dialects sqlite,postgres] [--queries 400] [--bulk] [--skip-like] [--reuse …]
 */
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { and, count, like, or, sql, type SQL } from 'drizzle-orm'
import { Agent, request } from 'undici'
import { fixtureCatalog, fixtureDataset } from '../catalog/federation/fixtures.ts'
import { readCatalogPage } from '../catalog/federation/read-catalog-page.ts'
import { queryTokens } from '../catalog/federation/text.ts'
import { systemClock } from '../connector/clock.ts'
import { startCrawler } from '../connector/federation/crawler.ts'
import { nextLink } from '../connector/federation/link-header.ts'
import { federationRepository } from '../connector/federation/repository.ts'
import { defaultCrawlerOptions } from '../connector/federation/settings.ts'
import { startFixturePeer } from '../test/support/fixture-peer.ts'
import { createPeerClient } from '../connector/http/peer-client.ts'
import { fixtureEgress } from '../test/support/context.ts'
import { openStore, type Store } from '../connector/store/store.ts'
import { silentLogger } from '../connector/telemetry/logger.ts'
import { createTestDatabase, type Dialect } from '../test/support/stores.ts'
import { median, percentile, printTable } from './stats.ts'

const { values } = parseArgs({
  options: {
    peers: { type: 'string', default: '20' },
    datasets: { type: 'string', default: '5000' },
    page: { type: 'string', default: '100' },
    concurrency: { type: 'string', default: String(defaultCrawlerOptions.concurrency) },
    dialects: { type: 'string', default: 'sqlite,postgres' },
    queries: { type: 'string', default: '400' },
    serve: { type: 'boolean', default: false },
    bulk: { type: 'boolean', default: false },
    'skip-like': { type: 'boolean', default: false },
    reuse: { type: 'string', default: '' },
    'exact-samples': { type: 'string', default: '3' },
    /** `exact` (no bounds), or other bounds as the same-run baseline: `ranked=1000,counted=5000`. */
    baseline: { type: 'string', default: 'exact' },
  },
})
/** The search the "exact" columns measure: without bounds, or with the bounds `--baseline` gives. */
const baselineBounds =
  values.baseline === 'exact'
    ? { ranked: 1e9, counted: 1e9 }
    : (Object.fromEntries(
        values
          .baseline!.split(',')
          .map((pair) => pair.split('=', 2))
          .map(([k, v]) => [k, Number(v)]),
      ) as { ranked: number; counted: number })
if (values.baseline !== 'exact') console.log(`baseline ("exact" columns): bounds ${JSON.stringify(baselineBounds)}`)
const peerCount = Number(values.peers)
const perPeer = Number(values.datasets)
const pageSize = Number(values.page)
const concurrency = Number(values.concurrency)

/** The million-entry path: entries stored straight through the repository, no peers, no crawl. */
async function bulkMain() {
  console.log(
    `federation bench (bulk fill): ${values.reuse ? `reusing ${values.reuse}` : `${peerCount} peers × ${perPeer} datasets`}, Node ${process.versions.node}`,
  )
  const fillRows: string[][] = [['store', 'fill (s)', 'entries', 'peak RSS (MB)']]
  const searchRows: string[][] = [searchHeader]
  const reused = new Map(values.reuse ? values.reuse.split(',').map((pair) => pair.split('=', 2) as [string, string]) : [])
  for (const dialect of values.dialects!.split(',') as Dialect[]) {
    const database = reused.has(dialect) ? { url: reused.get(dialect)!, drop: async () => undefined } : await createTestDatabase(dialect)
    const store = await openStore({ url: database.url, poolSize: 10 })
    try {
      const repo = federationRepository(store)
      const start = performance.now()
      for (let p = 0; p < (reused.has(dialect) ? 0 : peerCount); p++) {
        const { peer } = await repo.addPeer({ id: `peer-${p}`, dspUrl: `http://127.0.0.1:9/peer${p}/dsp`, source: 'config', name: `Participant ${p}` }, 0)
        const participantId = `did:web:peer${p}.example`
        const entries = []
        for (let i = 0; i < perPeer; i += 1000) {
          const batch = Array.from({ length: Math.min(1000, perPeer - i) }, (_, k) => fixtureDataset(i + k + p * 7, { prefix: `peer${p}` }))
          entries.push(...readCatalogPage(fixtureCatalog(participantId, batch, `peer${p}`)).entries)
        }
        const now = Date.now()
        await repo.recordSuccess({
          peerId: peer.id,
          entries,
          mode: 'full',
          participantId,
          rejected: 0,
          incremental: 'unknown',
          now,
          durationMs: 0,
          nextCrawlAt: now + 3_600_000,
        })
      }
      const ms = performance.now() - start
      const held = (await repo.listPeers()).reduce((n, p) => n + p.datasetCount, 0)
      fillRows.push([dialect, reused.has(dialect) ? 'reused' : (ms / 1000).toFixed(1), String(held), (process.resourceUsage().maxRSS / 1024).toFixed(0)])
      console.log(`${dialect}: ${held} entries ${reused.has(dialect) ? 'already stored' : `stored in ${(ms / 1000).toFixed(1)} s`}`)
      const rows = await searchLatency(store, dialect)
      searchRows.push(...rows)
      // Each store's figures as soon as they are known: a million-entry run is long.
      printTable(`${dialect} search`, [searchHeader, ...rows])
    } finally {
      await store.close()
      await database.drop()
    }
  }
  printTable('bulk fill', fillRows)
  printTable('search (target: < 30 ms median); facets: the same search with facet counts', searchRows)
  console.log(
    `\nload average ${(await import('node:os'))
      .loadavg()
      .map((n) => n.toFixed(1))
      .join(' ')}`,
  )
}

const searchHeader = [
  'store',
  'query',
  'matches (exact)',
  'median (ms)',
  'p95 (ms)',
  'CPU median (ms)',
  'server CPU mean (ms)',
  'with facets median (ms)',
  'facets p99 (ms)',
  'exact median (ms)',
  'exact facets median (ms)',
  'vs exact',
  'LIKE scan median (ms)',
  'LIKE p99 (ms)',
  'speed-up',
]

async function main() {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(import.meta.url), '--serve', '--peers', String(peerCount), '--datasets', String(perPeer), '--page', String(pageSize)],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  )
  const firstLine = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve))
  const dspUrls = JSON.parse(firstLine) as string[]
  console.log(
    `federation bench: ${peerCount} peers × ${perPeer} datasets (${pageSize} per page), crawl concurrency ${concurrency}, Node ${process.versions.node}`,
  )
  try {
    // Warm the peers' page caches (their first answer builds the pages), then the raw-fetch baseline.
    await rawFetchAll(dspUrls)
    const raw = await rawFetchAll(dspUrls)
    const crawlRows: string[][] = [['store', 'crawl (s)', 'crawler CPU (s)', 'datasets', 'pages', 'peak RSS (MB)', 'vs raw fetch']]
    crawlRows.push(['raw fetch (baseline)', (raw.ms / 1000).toFixed(2), '', String(peerCount * perPeer), String(raw.pages), '', '1.0×'])
    const searchRows: string[][] = [searchHeader]
    for (const dialect of values.dialects!.split(',') as Dialect[]) {
      const database = await createTestDatabase(dialect)
      const store = await openStore({ url: database.url, poolSize: 10 })
      try {
        const crawl = await crawlAll(store, dspUrls)
        crawlRows.push([
          dialect,
          (crawl.ms / 1000).toFixed(2),
          (crawl.cpuMs / 1000).toFixed(2),
          String(crawl.datasets),
          String(crawl.pages),
          crawl.peakRssMb.toFixed(0),
          `${(crawl.ms / raw.ms).toFixed(1)}×`,
        ])
        searchRows.push(...(await searchLatency(store, dialect)))
      } finally {
        await store.close()
        await database.drop()
      }
    }
    printTable('crawl (target: < 30 s)', crawlRows)
    printTable('search (target: < 30 ms median)', searchRows)
    console.log(
      `\nprocess peak RSS (whole run): ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB; load average ${(await import('node:os'))
        .loadavg()
        .map((n) => n.toFixed(1))
        .join(' ')}`,
    )
  } finally {
    child.stdin!.end()
    child.kill('SIGTERM')
  }
}

/** Every page of every peer, bodies read and dropped: the floor for any crawl. */
async function rawFetchAll(dspUrls: string[]) {
  const agent = new Agent({ connections: 64 })
  const body = JSON.stringify({ '@context': ['https://w3id.org/dspace/2025/1/context.jsonld'], '@type': 'CatalogRequestMessage', filter: [] })
  let pages = 0
  const start = performance.now()
  const queue = [...dspUrls]
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let dsp = queue.shift(); dsp; dsp = queue.shift()) {
        let url: string | null = `${dsp}/catalog/request`
        while (url) {
          const response = await request(url, { method: 'POST', dispatcher: agent, body, headers: { 'content-type': 'application/json' } })
          await response.body.text()
          pages++
          url = nextLink(response.headers.link as string | undefined, url)
        }
      }
    }),
  )
  const ms = performance.now() - start
  await agent.close()
  return { ms, pages }
}

async function crawlAll(store: Store, dspUrls: string[]) {
  const repo = federationRepository(store)
  for (const [i, dspUrl] of dspUrls.entries()) await repo.addPeer({ id: `peer-${i}`, dspUrl, source: 'config' }, 0)
  const http = createPeerClient({ egress: fixtureEgress })
  let peakRss = process.memoryUsage.rss()
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 20)
  const crawler = startCrawler({
    repo,
    http,
    clock: systemClock,
    logger: silentLogger,
    options: { ...defaultCrawlerOptions, concurrency, timeoutMs: 120_000 },
    autoStart: false,
  })
  const cpu = process.cpuUsage()
  const start = performance.now()
  await crawler.crawlDue()
  const ms = performance.now() - start
  const cpuUsed = process.cpuUsage(cpu)
  clearInterval(sampler)
  await crawler.stop()
  await http.close()
  const peers = await repo.listPeers()
  const failed = peers.filter((p) => p.lastError !== null)
  if (failed.length > 0) throw new Error(`crawl failed for ${failed.length} peers: ${failed[0]!.lastError}`)
  const datasets = peers.reduce((n, p) => n + p.datasetCount, 0)
  return { ms, cpuMs: (cpuUsed.user + cpuUsed.system) / 1000, datasets, pages: Math.ceil(perPeer / pageSize) * peerCount, peakRssMb: peakRss / 1024 / 1024 }
}

const queries: Array<{ name: string; q: string; filters?: Record<string, string> }> = [
  { name: 'two words', q: 'precipitation quebec' },
  { name: 'French, accents', q: 'étendue glace' },
  { name: 'prefix', q: 'wildf' },
  { name: 'three words', q: 'snow depth nunavut' },
  { name: 'word + filter', q: 'temperature', filters: { license: 'by-nc' } },
  { name: 'common word (every entry)', q: 'climate' },
]

async function searchLatency(store: Store, dialect: Dialect): Promise<string[][]> {
  const repo = federationRepository(store)
  const exact = federationRepository(store, { searchBounds: baselineBounds })
  const allExact: number[] = []
  const allExactFacets: number[] = []
  let exactMatches = 0
  const rows: string[][] = []
  const samples = Math.max(values.bulk ? 5 : 20, Math.floor(Number(values.queries) / queries.length))
  const warmup = values.bulk ? 2 : 5
  const all: number[] = []
  const allCpu: number[] = []
  const allLike: number[] = []
  const allFacets: number[] = []
  const skipLike = values['skip-like']
  const server = dialect === 'postgres' ? await serverCpu(store) : undefined
  let allServerMs = 0
  for (const query of queries) {
    const input = { q: query.q, limit: 20, ...query.filters }
    const times: number[] = []
    const cpuTimes: number[] = []
    const likeTimes: number[] = []
    const facetTimes: number[] = []
    let matches = 0
    let serverMs = 0
    for (let i = 0; i < samples + warmup; i++) {
      const cpu = process.cpuUsage()
      const serverBefore = server?.ms()
      let start = performance.now()
      const page = await repo.search(input)
      const t = performance.now() - start
      const used = process.cpuUsage(cpu)
      if (i >= warmup && server) serverMs += server.ms() - serverBefore!
      if (page.total === 0) throw new Error(`no result for ${query.q}`)
      matches = page.total
      start = performance.now()
      const faceted = await repo.search({ ...input, facets: true })
      const f = performance.now() - start
      const counted = faceted.facets!.publisher.reduce((n, v) => n + v.count, 0)
      if (faceted.facetsExact ? counted !== page.total : counted > page.total) throw new Error(`facet counts do not add up for ${query.q}`)
      start = performance.now()
      if (!skipLike) await likeScan(store, query.q, query.filters?.license)
      const l = performance.now() - start
      if (i >= warmup) {
        times.push(t)
        cpuTimes.push((used.user + used.system) / 1000)
        facetTimes.push(f)
        if (!skipLike) likeTimes.push(l)
      }
    }
    // The baseline: the same search without bounds (every match ranked, counted and faceted).
    const exactTimes: number[] = []
    const exactFacetTimes: number[] = []
    for (let i = 0; i < Number(values['exact-samples']); i++) {
      let start = performance.now()
      const whole = await exact.search(input)
      exactTimes.push(performance.now() - start)
      start = performance.now()
      await exact.search({ ...input, facets: true })
      exactFacetTimes.push(performance.now() - start)
      exactMatches = whole.total
    }
    allExact.push(...exactTimes)
    allExactFacets.push(...exactFacetTimes)
    all.push(...times)
    allCpu.push(...cpuTimes)
    allLike.push(...likeTimes)
    allFacets.push(...facetTimes)
    allServerMs += serverMs
    const serverCell = server ? (serverMs / times.length).toFixed(1) : ''
    const likeCells = skipLike
      ? ['', '', '']
      : [median(likeTimes).toFixed(2), percentile(likeTimes, 99).toFixed(2), `${(median(likeTimes) / median(times)).toFixed(1)}×`]
    rows.push([
      dialect,
      `${query.name}: "${query.q}"`,
      `${matches} (${exactMatches})`,
      median(times).toFixed(2),
      percentile(times, 95).toFixed(2),
      median(cpuTimes).toFixed(2),
      serverCell,
      median(facetTimes).toFixed(2),
      percentile(facetTimes, 99).toFixed(2),
      median(exactTimes).toFixed(1),
      median(exactFacetTimes).toFixed(1),
      `${(median(exactTimes) / median(times)).toFixed(1)}×`,
      ...likeCells,
    ])
  }
  const serverCell = server ? (allServerMs / all.length).toFixed(1) : ''
  const likeCells = skipLike ? ['', '', ''] : [median(allLike).toFixed(2), percentile(allLike, 99).toFixed(2), `${(median(allLike) / median(all)).toFixed(1)}×`]
  rows.push([
    dialect,
    'all queries',
    '',
    median(all).toFixed(2),
    percentile(all, 95).toFixed(2),
    median(allCpu).toFixed(2),
    serverCell,
    median(allFacets).toFixed(2),
    percentile(allFacets, 99).toFixed(2),
    median(allExact).toFixed(1),
    median(allExactFacets).toFixed(1),
    `${(median(allExact) / median(all)).toFixed(1)}×`,
    ...likeCells,
  ])
  return rows
}

/**
 * CPU time used so far by the PostgreSQL backends serving the store's database, from /proc: only
 * when the server runs on this machine (else undefined). The backends are those of the pool's
 * connections, opened before they are listed; clock ticks are 10 ms, so only sums over many
 * searches mean anything.
 */
async function serverCpu(store: Store): Promise<{ ms(): number } | undefined> {
  const { readFileSync } = await import('node:fs')
  const { execFileSync } = await import('node:child_process')
  let ticksPerSecond: number
  try {
    ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())
  } catch {
    return undefined
  }
  const execute = (query: SQL) => (store.db as unknown as { execute(q: SQL): Promise<{ rows: Array<{ pid: number }> }> }).execute(query)
  // Open the pool's connections first, so that the backends exist before they are listed.
  await Promise.all(Array.from({ length: 4 }, () => execute(sql`SELECT pg_sleep(0.05)`)))
  const pids = (await execute(sql`SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)).rows.map((r) => r.pid)
  const ticks = (pid: number) => {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
      return Number(fields[11]) + Number(fields[12]) // utime, stime
    } catch {
      return undefined
    }
  }
  if (pids.length === 0 || pids.every((pid) => ticks(pid) === undefined)) return undefined
  // A connection the pool closes when idle takes its backend along: keep its last reading.
  const last = new Map<number, number>()
  return {
    ms() {
      for (const pid of pids) {
        const t = ticks(pid)
        if (t !== undefined) last.set(pid, t)
      }
      return ([...last.values()].reduce((a, b) => a + b, 0) * 1000) / ticksPerSecond
    },
  }
}

/** The baseline: every word as `LIKE '%word%'` on the same folded columns, first page and count. */
async function likeScan(store: Store, q: string, license?: string) {
  const d = store.tables.federatedDatasets
  const conditions: SQL[] = queryTokens(q).map((t) => or(like(d.searchTitle, `%${t}%`), like(d.searchKeywords, `%${t}%`), like(d.searchDescription, `%${t}%`))!)
  if (license) conditions.push(like(d.license, `%${license}%`))
  const where = and(...conditions)
  await Promise.all([store.db.select({ entry: d.entry }).from(d).where(where).limit(20), store.db.select({ n: count() }).from(d).where(where)])
}

if (values.serve) {
  // Child process: the simulated peers, so that their memory and CPU are not the crawler's.
  const peers = await Promise.all(
    Array.from({ length: peerCount }, (_, p) =>
      startFixturePeer({
        participantId: `did:web:peer${p}.example`,
        prefix: `peer${p}`,
        pageSize,
        datasets: Array.from({ length: perPeer }, (_, i) => fixtureDataset(i + p * 7, { prefix: `peer${p}` })),
      }),
    ),
  )
  process.stdout.write(`${JSON.stringify(peers.map((p) => p.dspUrl))}\n`)
  process.stdin.resume()
  process.stdin.on('end', () => process.exit(0))
  process.on('SIGTERM', () => process.exit(0))
} else if (values.bulk) {
  await bulkMain()
} else {
  await main()
}
