import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { fixtureDataset } from '../../catalog/federation/fixtures.ts'
import { defaultCrawlerOptions, startCrawler, crawlPeer, type CrawlerDeps } from '../../connector/federation/crawler.ts'
import { federationRepository, type FederationRepository } from '../../connector/federation/repository.ts'
import { startFixturePeer, type FixturePeer } from '../support/fixture-peer.ts'
import { systemClock } from '../../connector/clock.ts'
import { createPeerClient, type PeerClient } from '../../connector/http/peer-client.ts'
import { fixtureEgress } from '../support/context.ts'
import { createLogger } from '../../connector/telemetry/logger.ts'
import type { Store } from '../../connector/store/store.ts'
import { expectDspValid } from '../support/dsp-schemas.ts'
import { createTestStore } from '../support/stores.ts'

/** The crawler against fixture DSP peers on 127.0.0.1: paging, identity, failures, hostile answers. */

const datasets = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => fixtureDataset(i, { prefix }))

describe('federation crawler against fixture peers', () => {
  let store: Store
  let repo: FederationRepository
  let http: PeerClient
  let peerA: FixturePeer
  let peerB: FixturePeer
  let logLines: string[]
  let deps: CrawlerDeps
  let ids = 0

  beforeAll(async () => {
    http = createPeerClient({ egress: fixtureEgress })
    peerA = await startFixturePeer({ participantId: 'did:web:a.example', datasets: datasets('a', 30), pageSize: 7, prefix: 'a' })
    peerB = await startFixturePeer({ participantId: 'did:web:b.example', datasets: datasets('b', 12), pageSize: 5, prefix: 'b' })
  })
  afterAll(async () => {
    await Promise.all([peerA?.close(), peerB?.close(), http?.close()])
  })
  beforeEach(async () => {
    store = await createTestStore('sqlite')
    repo = federationRepository(store)
    logLines = []
    deps = {
      repo,
      http,
      clock: systemClock,
      logger: createLogger({ write: (line) => logLines.push(line) }),
      options: { ...defaultCrawlerOptions, timeoutMs: 5000, backoffBaseMs: 1000, tickMs: 50 },
      authorization: async (peer) => `Bearer token-for-${peer.dspUrl}`,
      random: () => 0.5,
    }
    for (const peer of [peerA, peerB]) {
      peer.behaviour = 'ok'
      peer.requests = []
      peer.visibleTo = undefined
      peer.etag = undefined
    }
    peerA.datasets = datasets('a', 30)
  })
  afterEach(() => store?.close())

  const add = async (peer: FixturePeer, extra: { did?: string } = {}) =>
    (await repo.addPeer({ id: `peer-${++ids}`, dspUrl: peer.dspUrl, source: 'api', ...extra }, Date.now())).peer

  describe('happy cases', () => {
    it('reads every page of every peer, as this participant, with valid DSP messages', async () => {
      const a = await add(peerA, { did: 'did:web:a.example' })
      await add(peerB)
      const crawler = startCrawler({ ...deps, autoStart: false })
      await crawler.crawlDue()
      await crawler.stop()
      expect((await repo.search({ peer: a.id, limit: 100 })).total).toBe(30)
      expect((await repo.search({ limit: 100 })).total).toBe(42)
      expect(peerA.requests).toHaveLength(5) // 30 datasets in pages of 7
      expect(peerA.requests.map((r) => new URL(r.path).searchParams.get('page'))).toEqual([null, '1', '2', '3', '4'])
      for (const r of peerA.requests) {
        expect(r.authorization).toBe(`Bearer token-for-${peerA.dspUrl}`)
        expectDspValid('catalog/catalog-request-message-schema.json', r.body)
      }
      // What the fixture served is a valid DSP catalog page.
      const served = await http.request({ method: 'POST', url: `${peerA.dspUrl}/catalog/request`, body: {} })
      expectDspValid('catalog/catalog-schema.json', served.json())
      expect(await repo.getPeer(a.id)).toMatchObject({ datasetCount: 30, failures: 0, lastError: null, participantId: 'did:web:a.example' })
    })

    it('stores only what each peer shows to this participant', async () => {
      peerA.visibleTo = (authorization, d) => authorization === `Bearer token-for-${peerA.dspUrl}` && !String(d['@id']).endsWith(':1')
      const a = await add(peerA)
      const outcome = await crawlPeer(deps, a)
      expect(outcome).toMatchObject({ ok: true, datasets: 29 })
      peerA.visibleTo = () => false
      expect(await crawlPeer(deps, (await repo.getPeer(a.id))!)).toMatchObject({ ok: true, datasets: 0 })
    })

    it('drops a dataset the peer deleted at the next crawl', async () => {
      const a = await add(peerA)
      await crawlPeer(deps, a)
      peerA.datasets = peerA.datasets.filter((d) => d['@id'] !== 'urn:a:dataset:3')
      await crawlPeer(deps, (await repo.getPeer(a.id))!)
      const page = await repo.search({ peer: a.id, limit: 100 })
      expect(page.total).toBe(29)
      expect(page.hits.map((h) => h.datasetId)).not.toContain('urn:a:dataset:3')
    })

    it('keeps serving the previous copy while a crawl is in progress', async () => {
      const a = await add(peerA)
      await crawlPeer(deps, a)
      peerA.datasets = datasets('a', 10)
      peerA.behaviour = 'slow'
      peerA.slowMs = 300
      const running = crawlPeer(deps, (await repo.getPeer(a.id))!)
      await new Promise((resolve) => setTimeout(resolve, 100))
      expect((await repo.search({ peer: a.id })).total).toBe(30)
      await running
      expect((await repo.search({ peer: a.id })).total).toBe(10)
    })

    it('asks for changes only, where the peer supports a modified-since filter', async () => {
      const options = { ...deps.options, incremental: true }
      const a = await add(peerA)
      await crawlPeer({ ...deps, options }, a)
      expect(peerA.requests[0]!.filter).toEqual([])
      peerA.requests = []
      const second = await crawlPeer({ ...deps, options }, (await repo.getPeer(a.id))!)
      expect(second).toMatchObject({ ok: true, mode: 'incremental' })
      expect(peerA.requests[0]!.filter).toEqual([{ modifiedSince: expect.any(String) }])
      expectDspValid('catalog/catalog-request-message-schema.json', peerA.requests[0]!.body)
      expect(await repo.getPeer(a.id)).toMatchObject({ incremental: 'yes', datasetCount: 30, crawlsSinceFull: 1 })
    })

    it('reads nothing more from a peer whose catalog tag has not changed, and crawls again when it has', async () => {
      peerA.etag = '"v1"'
      const a = await add(peerA)
      expect(await crawlPeer(deps, a)).toMatchObject({ ok: true, mode: 'full', datasets: 30 })
      expect(await repo.getPeer(a.id)).toMatchObject({ catalogEtag: '"v1"' })
      peerA.requests = []
      const unchanged = await crawlPeer(deps, (await repo.getPeer(a.id))!)
      expect(unchanged).toMatchObject({ ok: true, mode: 'unchanged', datasets: 30 })
      // One conditional probe, answered 304, and nothing else.
      expect(peerA.requests).toHaveLength(1)
      expect((await repo.search({ peer: a.id, limit: 100 })).total).toBe(30)
      const peer = (await repo.getPeer(a.id))!
      expect(peer).toMatchObject({ failures: 0, datasetCount: 30 })
      expect(peer.lastSuccessAt).toBeGreaterThanOrEqual(a.addedAt)
      // The peer changes: a new tag, so the crawl reads it again.
      peerA.datasets = datasets('a', 31)
      peerA.etag = '"v2"'
      peerA.requests = []
      const changed = await crawlPeer(deps, (await repo.getPeer(a.id))!)
      expect(changed).toMatchObject({ ok: true, datasets: 31 })
      // 31 datasets in pages of 7: five pages, the probe's answer being the first (not asked twice).
      expect(peerA.requests).toHaveLength(5)
      expect(peerA.requests.slice(1).map((r) => new URL(r.path).searchParams.get('page'))).toEqual(['1', '2', '3', '4'])
      expect(await repo.getPeer(a.id)).toMatchObject({ catalogEtag: '"v2"' })
    })

    it('takes a changed one-page catalog from the probe alone, even when crawls are incremental', async () => {
      const small = await startFixturePeer({ participantId: 'did:web:small.example', datasets: datasets('s', 5), prefix: 's' })
      try {
        small.etag = '"v1"'
        const options = { ...deps.options, incremental: true }
        const s = await add(small)
        await crawlPeer({ ...deps, options }, s)
        small.datasets = datasets('s', 4)
        small.etag = '"v2"'
        small.requests = []
        // The probe's 200 holds the whole catalog: no second request, and a deletion is seen at once.
        expect(await crawlPeer({ ...deps, options }, (await repo.getPeer(s.id))!)).toMatchObject({ ok: true, mode: 'full', datasets: 4, pages: 1 })
        expect(small.requests).toHaveLength(1)
        expect(await repo.getPeer(s.id)).toMatchObject({ catalogEtag: '"v2"', datasetCount: 4 })
      } finally {
        await small.close()
      }
    })

    it('does not probe a peer that sends no tag', async () => {
      const a = await add(peerA)
      await crawlPeer(deps, a)
      expect(await repo.getPeer(a.id)).toMatchObject({ catalogEtag: '' })
      peerA.requests = []
      await crawlPeer(deps, (await repo.getPeer(a.id))!)
      // An incremental crawl of 30 datasets in pages of 7: five requests, no probe.
      expect(peerA.requests).toHaveLength(5)
    })

    it('falls back to full crawls for a peer that refuses the filter', async () => {
      const options = { ...deps.options, incremental: true }
      const a = await add(peerA)
      await crawlPeer({ ...deps, options }, a)
      peerA.behaviour = 'refuse-filter'
      const second = await crawlPeer({ ...deps, options }, (await repo.getPeer(a.id))!)
      expect(second).toMatchObject({ ok: true, mode: 'full', datasets: 30 })
      expect(await repo.getPeer(a.id)).toMatchObject({ incremental: 'no', failures: 0 })
      peerA.requests = []
      await crawlPeer({ ...deps, options }, (await repo.getPeer(a.id))!)
      expect(peerA.requests[0]!.filter).toEqual([])
    })

    it('reads every page of a peer that pages like EDC, by the offset and limit of a QuerySpec', async () => {
      const edc = await startFixturePeer({ participantId: 'did:web:edc.example', datasets: datasets('e', 120), prefix: 'e' })
      try {
        edc.behaviour = 'edc-query'
        const e = await add(edc)
        expect(await crawlPeer(deps, e)).toMatchObject({ ok: true, datasets: 120, rejected: [], pages: 3 })
        expect(edc.requests.map((r) => r.filter)).toEqual([
          [],
          [{ '@type': 'QuerySpec', offset: 50, limit: 50 }],
          [{ '@type': 'QuerySpec', offset: 100, limit: 50 }],
        ])
        for (const r of edc.requests) expectDspValid('catalog/catalog-request-message-schema.json', r.body)
      } finally {
        await edc.close()
      }
    })

    it('takes a page without links as the whole catalog when the peer ignores or refuses the query', async () => {
      const plain = await startFixturePeer({ participantId: 'did:web:plain.example', datasets: datasets('p', 60), pageSize: 100, prefix: 'p' })
      try {
        const p = await add(plain)
        // Ignored: the first page again, which adds nothing.
        expect(await crawlPeer(deps, p)).toMatchObject({ ok: true, datasets: 60, rejected: [], pages: 2 })
        plain.behaviour = 'refuse-filter'
        expect(await crawlPeer(deps, (await repo.getPeer(p.id))!)).toMatchObject({ ok: true, datasets: 60, rejected: [] })
        expect(await repo.getPeer(p.id)).toMatchObject({ datasetCount: 60, failures: 0 })
        // A short page without links is complete: no second request.
        plain.datasets = datasets('p', 49)
        plain.requests = []
        expect(await crawlPeer(deps, (await repo.getPeer(p.id))!)).toMatchObject({ ok: true, datasets: 49, pages: 1 })
        expect(plain.requests).toHaveLength(1)
      } finally {
        await plain.close()
      }
    })

    it('crawls no more peers at once than the concurrency allows', async () => {
      const extra = await Promise.all(Array.from({ length: 4 }, (_, i) => startFixturePeer({ participantId: `did:web:x${i}`, datasets: datasets(`x${i}`, 3) })))
      try {
        for (const p of extra) {
          p.behaviour = 'slow'
          p.slowMs = 150
          await add(p)
        }
        let inFlight = 0
        let most = 0
        const counting: PeerClient = {
          egress: http.egress,
          request: async (input) => {
            most = Math.max(most, ++inFlight)
            try {
              return await http.request(input)
            } finally {
              inFlight--
            }
          },
          open: (input) => http.open(input),
          upload: (input) => http.upload(input),
          close: async () => {},
        }
        const crawler = startCrawler({ ...deps, http: counting, options: { ...deps.options, concurrency: 2 }, autoStart: false })
        await crawler.crawlDue()
        await crawler.stop()
        expect(most).toBe(2)
        expect((await repo.listPeers()).every((p) => p.datasetCount === 3)).toBe(true)
      } finally {
        await Promise.all(extra.map((p) => p.close()))
      }
    })

    it('gives a free slot to the next peer while a slow peer is still being crawled', async () => {
      const slow = await startFixturePeer({ participantId: 'did:web:slow', datasets: datasets('s', 2) })
      try {
        slow.behaviour = 'slow'
        slow.slowMs = 3000
        const s = await add(slow)
        const crawler = startCrawler({ ...deps, options: { ...deps.options, concurrency: 2, intervalMs: 60_000 } })
        // The slow peer holds one slot; a peer added meanwhile is crawled in the other one.
        await new Promise((r) => setTimeout(r, 200))
        const b = await add(peerB)
        for (let i = 0; i < 50 && !(await repo.getPeer(b.id))!.lastSuccessAt; i++) await new Promise((r) => setTimeout(r, 20))
        expect(await repo.getPeer(b.id)).toMatchObject({ datasetCount: 12 })
        expect(await repo.getPeer(s.id)).toMatchObject({ lastAttemptAt: null })
        await crawler.stop()
        expect(await repo.getPeer(s.id)).toMatchObject({ datasetCount: 2 })
      } finally {
        await slow.close()
      }
    })

    it('runs on its own, on schedule, until stopped', async () => {
      await add(peerB)
      const crawler = startCrawler({ ...deps, options: { ...deps.options, intervalMs: 60_000 } })
      for (let i = 0; i < 100 && (await repo.search({})).total < 12; i++) await new Promise((r) => setTimeout(r, 20))
      await crawler.stop()
      expect((await repo.search({})).total).toBe(12)
      const [peer] = await repo.listPeers()
      // Next crawl one interval later (jitter is centred by random() = 0.5).
      expect(peer!.nextCrawlAt - peer!.lastSuccessAt!).toBe(60_000)
    })
  })

  describe('failing and hostile peers never harm the cache', () => {
    it.each([
      ['down', /answered 503/],
      ['malformed', /not JSON/],
      ['not-a-catalog', /not a DSP Catalog/],
      ['oversized', /more than \d+ bytes/],
      ['slow', /no answer in time|within/],
      ['foreign-next', /another host/],
      ['loop', /link back/],
    ] as const)('keeps the last good copy, marked stale, when the peer is %s', async (behaviour, error) => {
      const a = await add(peerA)
      await crawlPeer(deps, a)
      const before = await repo.search({ peer: a.id, limit: 100 })
      peerA.behaviour = behaviour
      peerA.slowMs = 2000
      const options = { ...deps.options, timeoutMs: behaviour === 'slow' ? 500 : 5000, maxPageBytes: 1024 * 1024 }
      const outcome = await crawlPeer({ ...deps, options }, (await repo.getPeer(a.id))!)
      expect(outcome).toMatchObject({ ok: false, error: expect.stringMatching(error) })
      const after = await repo.search({ peer: a.id, limit: 100 })
      expect(after.total).toBe(30)
      expect(after.hits.map((h) => h.datasetId)).toEqual(before.hits.map((h) => h.datasetId))
      expect(after.hits.every((h) => h.stale)).toBe(true)
      const peer = await repo.getPeer(a.id)
      expect(peer).toMatchObject({ failures: 1, datasetCount: 30, lastError: expect.stringMatching(error) })
      // Backoff: the first retry comes after backoffBase (1 s), not a whole interval.
      expect(peer!.nextCrawlAt - peer!.lastErrorAt!).toBe(1000)
      // A later success clears the stale mark.
      peerA.behaviour = 'ok'
      await crawlPeer(deps, peer!)
      expect((await repo.search({ peer: a.id })).hits.every((h) => !h.stale)).toBe(true)
    })

    it('backs off exponentially while a peer keeps failing', async () => {
      const a = await add(peerA)
      peerA.behaviour = 'down'
      const gaps: number[] = []
      for (let i = 0; i < 4; i++) {
        await crawlPeer(deps, (await repo.getPeer(a.id))!)
        const p = (await repo.getPeer(a.id))!
        gaps.push(p.nextCrawlAt - p.lastErrorAt!)
      }
      expect(gaps).toEqual([1000, 2000, 4000, 8000])
    })

    it('refuses invalid datasets one by one, with a logged reason, and keeps the valid ones', async () => {
      peerA.datasets = [...datasets('a', 5), { '@id': 'urn:a:bad:1', hasPolicy: [] }, { ...fixtureDataset(9, { prefix: 'a' }), distribution: 'x' }]
      const a = await add(peerA)
      const outcome = await crawlPeer(deps, a)
      expect(outcome).toMatchObject({ ok: true, datasets: 5, rejected: [{ datasetId: 'urn:a:bad:1' }, { datasetId: 'urn:a:dataset:9' }] })
      const refused = logLines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'federation: dataset refused')
      expect(refused.map((l) => l.datasetId)).toEqual(['urn:a:bad:1', 'urn:a:dataset:9'])
      expect(refused[0].reason).toMatch(/hasPolicy/)
      expect(await repo.getPeer(a.id)).toMatchObject({ rejectedCount: 2 })
    })

    it('refuses a catalog that names another participant than the peer DID', async () => {
      const a = await add(peerA, { did: 'did:web:someone-else.example' })
      expect(await crawlPeer(deps, a)).toMatchObject({ ok: false, error: expect.stringMatching(/names participant did:web:a.example/) })
      expect((await repo.search({ peer: a.id })).total).toBe(0)
    })

    it('refuses a peer with more datasets than allowed, keeping the previous copy', async () => {
      const a = await add(peerA)
      await crawlPeer(deps, a)
      peerA.datasets = datasets('a', 40)
      const outcome = await crawlPeer({ ...deps, options: { ...deps.options, maxDatasets: 35 } }, (await repo.getPeer(a.id))!)
      expect(outcome).toMatchObject({ ok: false, error: expect.stringMatching(/more than 35 datasets/) })
      expect((await repo.search({ peer: a.id })).total).toBe(30)
    })
  })
})
