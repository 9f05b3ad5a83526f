/**
 * Recrawl benchmark: a federated catalog of `--peers` Passerelle catalogs (default 50 × 2,000
 * datasets), each a real catalog (its own SQLite store, the DSP catalog route) served over HTTP on
 * 127.0.0.1 in this process. After a first crawl, `--changed` of each peer's datasets change
 * (default 1 %: four in five re-published with a new title, one in five deleted), then every peer
 * is recrawled, alternately:
 *
 * - full: what a crawl did before the change feed (a conditional probe, then every page);
 * - changes: the change feed (the datasets changed since the peer's token, and those gone).
 *
 * Both read the same kind of change in the same run, `--rounds` times each; the figures are medians
 * of the whole recrawl of all peers (wall time, and response bytes counted at the peers). After
 * each changes round, the deleted datasets must be gone from search (checked, not timed).
 * The peers run in this process, so their work is in the times too, as it is for both modes.
 *
 *   node --import tsx bench/federation-recrawl.ts [--peers 50] [--datasets 2000] [--changed 0.01] [--rounds 3] [--dialects sqlite,postgres]
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { getRequestListener } from '@hono/node-server'
import { createCatalog, createCatalogArea } from '../connector/catalog/routes.ts'
import type { CatalogService } from '../connector/catalog/catalog-service.ts'
import { systemClock } from '../connector/clock.ts'
import { crawlPeer, defaultCrawlerOptions, type CrawlerDeps, type CrawlOutcome } from '../connector/federation/crawler.ts'
import { federationRepository } from '../connector/federation/repository.ts'
import { createApp } from '../connector/http/app.ts'
import { createPeerClient } from '../connector/http/peer-client.ts'
import type { Identity } from '../connector/identity/identity.ts'
import type { Authenticator } from '../connector/identity/types.ts'
import { openStore, type Store } from '../connector/store/store.ts'
import { silentLogger } from '../connector/telemetry/logger.ts'
import { testPolicySource } from '../test/support/catalog.ts'
import { generatedDataset } from '../test/support/catalog-fixtures.ts'
import { fixtureEgress, testConfig, testContext } from '../test/support/context.ts'
import { createTestDatabase, type Dialect } from '../test/support/stores.ts'
import { median, printTable } from './stats.ts'

const { values } = parseArgs({
  options: {
    peers: { type: 'string', default: '50' },
    datasets: { type: 'string', default: '2000' },
    changed: { type: 'string', default: '0.01' },
    rounds: { type: 'string', default: '3' },
    dialects: { type: 'string', default: 'sqlite,postgres' },
  },
})
const peerCount = Number(values.peers)
const perPeer = Number(values.datasets)
const changedPerPeer = Math.max(1, Math.round(perPeer * Number(values.changed)))
const rounds = Number(values.rounds)

const authenticator: Authenticator = {
  async authenticate() {
    return { participantId: 'did:web:consumer.example', credentials: [] }
  },
}

interface Peer {
  service: CatalogService
  store: Store
  server: Server
  dspUrl: string
  /** Ids currently published (changes pick from them). */
  ids: string[]
  next: number
}

/** Response bytes served by every peer (bodies, counted as they leave). */
let servedBytes = 0

async function startPeer(k: number, root: string): Promise<Peer> {
  const store = await openStore({ url: join(root, `peer-${k}.db`) })
  let app: ReturnType<typeof createApp>['app'] | undefined
  const server = createServer(
    getRequestListener(async (request) => {
      const response = await app!.fetch(request)
      const body = await response.arrayBuffer()
      servedBytes += body.byteLength
      return new Response(response.status === 304 ? null : body, response)
    }),
  )
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const publicUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const ctx = testContext(store, { config: testConfig({ server: { publicUrl } }, join(root, `p${k}`)), identity: { authenticator } as unknown as Identity })
  const parts = await createCatalog(ctx, { policies: testPolicySource() })
  app = createApp(ctx, [createCatalogArea(parts)]).app
  const ids: string[] = []
  for (let i = 0; i < perPeer; i++) {
    const dataset = generatedDataset(k * 1_000_000 + i)
    await parts.service.catalog.publish(dataset, { kind: 'api' })
    ids.push(dataset.id)
  }
  return { service: parts.service, store, server, dspUrl: `${publicUrl}/dsp/2025-1`, ids, next: perPeer }
}

/** 1 % of a peer's datasets change: four in five re-published with a new title, one in five deleted, as many added. */
async function change(peer: Peer, k: number, round: number): Promise<string[]> {
  const deleted: string[] = []
  for (let c = 0; c < changedPerPeer; c++) {
    const at = (c * 7919 + round * 104_729) % peer.ids.length
    const id = peer.ids[at]!
    if (c % 5 === 4) {
      await peer.service.catalog.unpublish(id)
      deleted.push(id)
      const added = generatedDataset(k * 1_000_000 + peer.next++)
      await peer.service.catalog.publish(added, { kind: 'api' })
      peer.ids[at] = added.id
    } else {
      const n = Number.parseInt(id.slice(-12), 16)
      await peer.service.catalog.publish(generatedDataset(n, { title: { en: `Station series ${n}, revised in round ${round}` } }), { kind: 'api' })
    }
  }
  return deleted
}

async function crawlAll(deps: CrawlerDeps, peerIds: string[]): Promise<{ ms: number; bytes: number; outcomes: CrawlOutcome[] }> {
  const before = servedBytes
  const started = performance.now()
  const outcomes: CrawlOutcome[] = []
  let next = 0
  const worker = async () => {
    while (next < peerIds.length) {
      const id = peerIds[next++]!
      outcomes.push(await crawlPeer(deps, (await deps.repo.getPeer(id))!))
    }
  }
  await Promise.all(Array.from({ length: deps.options.concurrency }, worker))
  return { ms: performance.now() - started, bytes: servedBytes - before, outcomes }
}

async function main() {
  console.log(
    `federation recrawl bench: ${peerCount} Passerelle peers × ${perPeer} datasets, ${changedPerPeer} changed per peer per round (${(Number(values.changed) * 100).toFixed(1)} %), ${rounds} rounds, Node ${process.versions.node}`,
  )
  const root = mkdtempSync(join(tmpdir(), 'recrawl-bench-'))
  const fillStarted = performance.now()
  const peers: Peer[] = []
  for (let k = 0; k < peerCount; k++) peers.push(await startPeer(k, root))
  console.log(`peers filled in ${((performance.now() - fillStarted) / 1000).toFixed(1)} s`)
  const http = createPeerClient({ egress: fixtureEgress })
  const rows: string[][] = [['store', 'mode', 'recrawl (ms, median)', 'bytes (median)', 'ratio time', 'ratio bytes', 'modes seen']]
  for (const dialect of values.dialects!.split(',') as Dialect[]) {
    const database = await createTestDatabase(dialect)
    const store = await openStore({ url: database.url, poolSize: 4 })
    const repo = federationRepository(store)
    const base = { ...defaultCrawlerOptions, timeoutMs: 120_000, fullCrawlEvery: 1_000_000, maxDatasets: perPeer * 2 }
    const deps = (changeFeed: boolean): CrawlerDeps => ({
      repo,
      http,
      clock: systemClock,
      logger: silentLogger,
      options: { ...base, changeFeed },
      authorization: async () => 'Bearer consumer',
    })
    const peerIds: string[] = []
    for (const [k, p] of peers.entries()) peerIds.push((await repo.addPeer({ id: `peer-${k}`, dspUrl: p.dspUrl, source: 'api' }, Date.now())).peer.id)
    const first = await crawlAll(deps(true), peerIds)
    const failed = first.outcomes.find((o) => !o.ok)
    if (failed) throw new Error(`first crawl failed: ${JSON.stringify(failed)}`)
    console.log(`${dialect}: first crawl ${(first.ms / 1000).toFixed(1)} s, ${(first.bytes / 1e6).toFixed(1)} MB`)
    const results = { full: [] as Array<{ ms: number; bytes: number }>, changes: [] as Array<{ ms: number; bytes: number }> }
    const modes = { full: new Set<string>(), changes: new Set<string>() }
    for (let r = 0; r < rounds * 2; r++) {
      const mode = r % 2 === 0 ? 'full' : 'changes'
      const deleted: string[][] = []
      for (const [k, p] of peers.entries()) deleted.push(await change(p, k, r + 1 + rounds * 2 * (dialect === 'postgres' ? 1 : 0)))
      const run = await crawlAll(deps(mode === 'changes'), peerIds)
      for (const o of run.outcomes) modes[mode].add(o.ok ? o.mode : `failed: ${o.error}`)
      results[mode].push({ ms: run.ms, bytes: run.bytes })
      // The deleted datasets are gone from search (either mode), the others still there.
      const gone = deleted.flat()
      for (const id of gone.slice(0, 20)) {
        const hits = await repo.search({ q: `station ${Number.parseInt(id.slice(-12), 16) % 1_000_000}`, limit: 200 })
        if (hits.hits.some((h) => h.datasetId === id)) throw new Error(`${mode} round ${r}: ${id} still searchable`)
      }
    }
    const fullMs = median(results.full.map((x) => x.ms))
    const fullBytes = median(results.full.map((x) => x.bytes))
    for (const mode of ['full', 'changes'] as const) {
      const ms = median(results[mode].map((x) => x.ms))
      const bytes = median(results[mode].map((x) => x.bytes))
      rows.push([dialect, mode, ms.toFixed(0), String(Math.round(bytes)), (ms / fullMs).toFixed(3), (bytes / fullBytes).toFixed(3), [...modes[mode]].join(' ')])
    }
    await store.close()
    await database.drop()
  }
  printTable('recrawl of every peer after 1 % changed (full = baseline, same run)', rows)
  await http.close()
  for (const p of peers) {
    p.server.closeAllConnections()
    await new Promise((resolve) => p.server.close(resolve))
    await p.store.close()
  }
  rmSync(root, { recursive: true, force: true })
}

await main()
