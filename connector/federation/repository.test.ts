import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fixtureCatalog, fixtureDataset } from '../../catalog/federation/fixtures.ts'
import { readCatalogPage } from '../../catalog/federation/read-catalog-page.ts'
import { createTestStore, dialects } from '../../test/support/stores.ts'
import type { SearchPage } from '../../catalog/index.ts'
import type { Store } from '../store/store.ts'
import { federationRepository, type FederationRepository } from './repository.ts'

const entries = (prefix: string, from: number, to: number, extra: (i: number) => Record<string, unknown> = () => ({})) =>
  readCatalogPage(
    fixtureCatalog(
      `did:web:${prefix}.example`,
      Array.from({ length: to - from }, (_, k) => ({ ...fixtureDataset(from + k, { prefix }), ...extra(from + k) })),
      prefix,
    ),
  ).entries

describe.each(dialects)('federation repository on %s', (dialect) => {
  let store: Store
  let repo: FederationRepository
  beforeAll(async () => {
    store = await createTestStore(dialect)
    repo = federationRepository(store)
    await repo.addPeer({ id: 'peer-a', dspUrl: 'http://a.example/dsp', source: 'config', name: 'A' }, 1000)
    await repo.addPeer({ id: 'peer-b', dspUrl: 'http://b.example/dsp', source: 'api' }, 1001)
    const success = { mode: 'full' as const, rejected: 0, incremental: 'unknown' as const, now: 2000, durationMs: 5, nextCrawlAt: 9000 }
    await repo.recordSuccess({ ...success, peerId: 'peer-a', participantId: 'did:web:a.example', entries: entries('a', 0, 40) })
    await repo.recordSuccess({ ...success, peerId: 'peer-b', participantId: 'did:web:b.example', entries: entries('b', 0, 40) })
  })
  afterAll(() => store?.close())

  it('finds datasets by words in any language, without diacritics, ranked by title first', async () => {
    const page = await repo.search({ q: 'précipitation QUEBEC' })
    // subjects cycle by 8 and places by 40: datasets 0..7 are in Quebec, 0 is precipitation.
    expect(page.hits.map((h) => h.datasetId).sort()).toEqual(['urn:a:dataset:0', 'urn:b:dataset:0'])
    expect(page.total).toBe(2)
    const hit = page.hits.find((h) => h.peer.id === 'peer-a')!
    expect(hit.peer).toEqual({ id: 'peer-a', name: 'A', participantId: 'did:web:a.example', dspUrl: 'http://a.example/dsp' })
    expect(hit.offers[0]).toMatchObject({ id: 'urn:a:offer:research', actions: ['use'] })
    expect(hit.stale).toBe(false)
    // French only words are found too.
    expect((await repo.search({ q: 'glace de mer', peer: 'peer-a' })).total).toBe(5)
  })

  it('matches words as prefixes and requires every word', async () => {
    expect((await repo.search({ q: 'precip' })).total).toBe(10)
    expect((await repo.search({ q: 'precip nunavut' })).total).toBe(2)
    expect((await repo.search({ q: 'precip atlantis' })).total).toBe(0)
  })

  it('ranks a title match above a description-only match', async () => {
    await repo.addPeer({ id: 'peer-r', dspUrl: 'http://r.example/dsp', source: 'api' }, 1002)
    const ranked = entries('r', 0, 2, (i) =>
      i === 0
        ? { 'dct:title': 'Ice cores', 'dct:description': 'Mentions zanzibarite once in passing.' }
        : { 'dct:title': 'Zanzibarite survey', 'dct:description': 'Nothing else.' },
    )
    await repo.recordSuccess({
      peerId: 'peer-r',
      participantId: 'r',
      entries: ranked,
      mode: 'full',
      rejected: 0,
      incremental: 'unknown',
      now: 3000,
      durationMs: 1,
      nextCrawlAt: 9000,
    })
    const page = await repo.search({ q: 'zanzibarite' })
    expect(page.hits.map((h) => h.datasetId)).toEqual(['urn:r:dataset:1', 'urn:r:dataset:0'])
    await repo.removePeer('peer-r')
  })

  it('filters by peer, theme, license, spatial, format, action, time coverage and modification', async () => {
    expect((await repo.search({ peer: 'http://b.example/dsp', limit: 200 })).total).toBe(40)
    expect((await repo.search({ theme: 'data-theme/AGRI', limit: 200 })).total).toBe(2 * 13)
    expect((await repo.search({ license: 'by-nc', limit: 200 })).total).toBe(40)
    expect((await repo.search({ spatial: 'geonames.org/6091732', limit: 200 })).total).toBe(16)
    expect((await repo.search({ format: 'httpdata-push', limit: 200 })).total).toBe(40)
    expect((await repo.search({ action: 'use' })).total).toBe(80)
    expect((await repo.search({ action: 'us' })).total).toBe(0)
    // Coverage [year, year+5] with year = 1990 + i % 30: overlaps 2030-01-01 only for years ≥ 2025 → none.
    expect((await repo.search({ temporalFrom: Date.parse('2030-01-01') })).total).toBe(0)
    expect((await repo.search({ temporalFrom: Date.parse('2019-06-01'), temporalTo: Date.parse('2019-07-01'), peer: 'peer-a' })).total).toBe(6)
    expect((await repo.search({ modifiedSince: Date.parse('2026-09-01'), peer: 'peer-a' })).total).toBe(4)
  })

  it('pages through results without repeating or losing any', async () => {
    const seen: string[] = []
    for (let offset = 0; ; offset += 7) {
      const page = await repo.search({ q: 'climate', limit: 7, offset })
      expect(page.total).toBe(80)
      if (page.hits.length === 0) break
      seen.push(...page.hits.map((h) => `${h.peer.id} ${h.datasetId}`))
    }
    expect(seen).toHaveLength(80)
    expect(new Set(seen).size).toBe(80)
  })

  it('pages with the next cursor, with and without words, without repeating or losing any', async () => {
    for (const query of [{ q: 'climate' }, {}, { q: 'quebec precip' }, { theme: 'envi' }]) {
      const seen: string[] = []
      let cursor: string | undefined
      let total = 0
      do {
        const page: SearchPage = await repo.search({ ...query, limit: 7, ...(cursor ? { cursor } : {}) })
        total = page.total
        seen.push(...page.hits.map((h) => `${h.peer.id} ${h.datasetId}`))
        cursor = page.next
      } while (cursor)
      expect(seen).toHaveLength(total)
      expect(new Set(seen).size).toBe(total)
      const first = await repo.search({ ...query, limit: 200 })
      expect(seen).toEqual(first.hits.map((h) => `${h.peer.id} ${h.datasetId}`))
    }
  })

  it('refuses a cursor it did not give, or one of another search, and a cursor with an offset', async () => {
    const next = (await repo.search({ q: 'climate', limit: 1 })).next!
    for (const cursor of ['garbage', Buffer.from('{"k":"rank","s":"x","p":1}').toString('base64url'), next.slice(0, -3)]) {
      await expect(repo.search({ q: 'climate', cursor })).rejects.toMatchObject({ code: 'bad_request', message: expect.stringMatching(/cursor/) })
    }
    await expect(repo.search({ cursor: next })).rejects.toMatchObject({ code: 'bad_request', message: expect.stringMatching(/other words/) })
    await expect(repo.search({ q: 'climate', cursor: next, offset: 1 })).rejects.toMatchObject({ code: 'bad_request' })
  })

  it('does bounded work: counts up to a bound, ranks and facets at most a bound of matches, and says so', async () => {
    const bounded = federationRepository(store, { searchBounds: { ranked: 10, counted: 30 } })
    const many = await bounded.search({ q: 'climate', facets: true, limit: 200 })
    expect(many).toMatchObject({ total: 30, totalExact: false, facetsExact: false })
    expect(many.hits).toHaveLength(10)
    expect(many.facets!.publisher.reduce((n, v) => n + v.count, 0)).toBe(10)
    // A prefix that whole words do not reach is counted exactly when under the bound.
    const few = await bounded.search({ q: 'precip', facets: true })
    expect(few).toMatchObject({ total: 10, totalExact: true, facetsExact: true })
    expect(few.facets!.publisher.reduce((n, v) => n + v.count, 0)).toBe(10)
    // Without words or filters the total comes from the peers' counts: exact whatever its size.
    expect(await bounded.search({})).toMatchObject({ total: 80, totalExact: true })
    expect(await bounded.search({ theme: 'envi' })).toMatchObject({ total: 28, totalExact: true })
    expect(await bounded.search({ license: 'by' })).toMatchObject({ total: 30, totalExact: false })
    // The best candidates come first, and the pages of a bounded search stay consistent.
    const pages = [await bounded.search({ q: 'climate', limit: 4 })]
    while (pages.at(-1)!.next) pages.push(await bounded.search({ q: 'climate', limit: 4, cursor: pages.at(-1)!.next }))
    expect(pages.flatMap((p) => p.hits.map((h) => h.datasetId))).toEqual(many.hits.map((h) => h.datasetId))
  })

  it('treats query syntax as words, never as SQL or FTS operators', async () => {
    for (const q of [`"`, `') OR 1=1 --`, 'NEAR(precip quebec)', '*', 'a & b | !c', 'précip:*']) {
      await expect(repo.search({ q })).resolves.toMatchObject({ total: expect.any(Number) })
    }
    expect((await repo.search({ q: "') OR 1=1 --" })).total).toBe(0)
    expect((await repo.search({ theme: '%' })).total).toBe(0)
  })

  it('replaces a peer as a whole on a full crawl and only the seen datasets on an incremental one', async () => {
    await repo.addPeer({ id: 'peer-c', dspUrl: 'http://c.example/dsp', source: 'api' }, 1003)
    const base = { peerId: 'peer-c', participantId: 'c', rejected: 0, incremental: 'yes' as const, durationMs: 1, nextCrawlAt: 9000 }
    await repo.recordSuccess({ ...base, entries: entries('c', 0, 10), mode: 'full', now: 3000 })
    const renamed = entries('c', 5, 12, (i) => (i === 5 ? { 'dct:title': 'Quokka census' } : {}))
    expect(await repo.recordSuccess({ ...base, entries: renamed, mode: 'incremental', now: 4000 })).toBe(12)
    // The full-text index follows: the new title is found, the old one is gone, nothing is counted twice.
    expect((await repo.search({ q: 'quokka' })).hits.map((h) => h.datasetId)).toEqual(['urn:c:dataset:5'])
    expect((await repo.search({ q: 'épaisseur', peer: 'peer-c' })).total).toBe(0)
    expect((await repo.search({ q: 'climate', peer: 'peer-c' })).total).toBe(12)
    expect(await repo.recordSuccess({ ...base, entries: entries('c', 0, 3), mode: 'full', now: 5000 })).toBe(3)
    expect((await repo.search({ q: 'quokka' })).total).toBe(0)
    expect((await repo.search({ q: 'climate', peer: 'peer-c' })).total).toBe(3)
    const peer = await repo.getPeer('peer-c')
    expect(peer).toMatchObject({ datasetCount: 3, crawlsSinceFull: 0, lastSuccessAt: 5000 })
  })

  it('keeps the last good copy on failure and marks it stale', async () => {
    await repo.recordFailure({ peerId: 'peer-c', error: 'connection refused', now: 6000, durationMs: 3, nextCrawlAt: 7000 })
    const page = await repo.search({ peer: 'peer-c' })
    expect(page.total).toBe(3)
    expect(page.hits.every((h) => h.stale)).toBe(true)
    expect(await repo.getPeer('peer-c')).toMatchObject({ failures: 1, lastError: 'connection refused', lastErrorAt: 6000, datasetCount: 3 })
  })

  it('forgets everything of a removed peer and keeps a paused peer out of the due list', async () => {
    expect(await repo.removePeer('peer-c')).toBe(true)
    expect(await repo.removePeer('peer-c')).toBe(false)
    expect((await repo.search({ peer: 'peer-c' })).total).toBe(0)
    expect((await repo.search({ q: 'climate' })).total).toBe(80)
    await repo.setPaused('peer-b', true, 9500)
    expect((await repo.duePeers(10_000)).map((p) => p.id)).toEqual(['peer-a'])
    await repo.setPaused('peer-b', false, 9500)
    expect((await repo.duePeers(10_000)).map((p) => p.id).sort()).toEqual(['peer-a', 'peer-b'])
  })

  it('keeps a crawl asked for while one ran: the finished crawl does not push it back by an interval', async () => {
    await repo.addPeer({ id: 'peer-c', dspUrl: 'http://c.example/dsp', source: 'api' }, 10_000)
    // A crawl starts at 10 000; at 10 300 someone asks for one (crawl now); the first ends at 10 500.
    await repo.crawlAllNow(10_300)
    await repo.recordFailure({ peerId: 'peer-c', error: 'down', now: 10_500, durationMs: 500, nextCrawlAt: 50_000 })
    expect((await repo.duePeers(10_500)).map((p) => p.id)).toContain('peer-c')
    // The crawl asked for runs and ends: now the schedule moves on.
    const entriesC = entries('c', 0, 1)
    await repo.recordSuccess({
      peerId: 'peer-c',
      entries: entriesC,
      mode: 'full',
      participantId: 'did:web:c.example',
      rejected: 0,
      incremental: 'unknown',
      now: 10_700,
      durationMs: 100,
      nextCrawlAt: 60_000,
    })
    expect((await repo.getPeer('peer-c'))!.nextCrawlAt).toBe(60_000)
    await repo.removePeer('peer-c')
  })

  it('replaces a schedule still in the future when a crawl run outside it ends (a failure backs off from its end)', async () => {
    await repo.addPeer({ id: 'peer-d', dspUrl: 'http://d.example/dsp', source: 'api' }, 10_000)
    await repo.recordFailure({ peerId: 'peer-d', error: 'down', now: 10_500, durationMs: 500, nextCrawlAt: 310_500 })
    // Crawled again at once (not due until 310 500): it fails, and the retry comes one back-off later.
    await repo.recordFailure({ peerId: 'peer-d', error: 'down', now: 11_000, durationMs: 200, nextCrawlAt: 12_000 })
    expect((await repo.getPeer('peer-d'))!.nextCrawlAt).toBe(12_000)
    await repo.removePeer('peer-d')
  })

  it('refuses a second peer with the same DSP URL, returning the first', async () => {
    const again = await repo.addPeer({ id: 'other', dspUrl: 'http://a.example/dsp', source: 'api' }, 5)
    expect(again).toMatchObject({ created: false, peer: { id: 'peer-a' } })
  })
})
