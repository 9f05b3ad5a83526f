import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { fixtureDataset } from '../../catalog/federation/fixtures.ts'
import { systemClock } from '../../connector/clock.ts'
import { crawlPeer, defaultCrawlerOptions, type CrawlerDeps } from '../../connector/federation/crawler.ts'
import { federationRepository, type FederationRepository } from '../../connector/federation/repository.ts'
import { createPeerClient, type PeerClient } from '../../connector/http/peer-client.ts'
import type { Store } from '../../connector/store/store.ts'
import { silentLogger } from '../../connector/telemetry/logger.ts'
import { fixtureEgress } from '../support/context.ts'
import { startFixturePeer, type FixturePeer } from '../support/fixture-peer.ts'
import { createTestStore, dialects } from '../support/stores.ts'

/**
 * A dataset gone from a peer's catalog (deleted, or no longer shown to us) disappears from search
 * on both databases, whatever the crawl mode; a hostile answer changes nothing we hold.
 */

const datasets = (n: number) => Array.from({ length: n }, (_, i) => fixtureDataset(i, { prefix: 'a' }))

describe.each(dialects)('deletions reach the federated search on %s', (dialect) => {
  let store: Store
  let repo: FederationRepository
  let http: PeerClient
  let peer: FixturePeer
  let deps: CrawlerDeps
  let ids = 0

  beforeAll(async () => {
    http = createPeerClient({ egress: fixtureEgress })
    peer = await startFixturePeer({ participantId: 'did:web:a.example', datasets: datasets(20), pageSize: 6, prefix: 'a' })
  })
  afterAll(async () => {
    await Promise.all([peer?.close(), http?.close()])
  })
  beforeEach(async () => {
    store = await createTestStore(dialect)
    repo = federationRepository(store)
    deps = {
      repo,
      http,
      clock: systemClock,
      logger: silentLogger,
      options: { ...defaultCrawlerOptions, timeoutMs: 5000, maxPageBytes: 256 * 1024 },
      random: () => 0.5,
    }
    peer.behaviour = 'ok'
    peer.visibleTo = undefined
    peer.etag = undefined
    peer.datasets = datasets(20)
  })
  afterEach(() => store?.close())

  const addPeer = async () => (await repo.addPeer({ id: `peer-${++ids}`, dspUrl: peer.dspUrl, source: 'api' }, Date.now())).peer
  const again = async (id: string, options = deps.options) => crawlPeer({ ...deps, options }, (await repo.getPeer(id))!)
  /** What search shows of the peer: by peer, and by words (the full-text index in step). */
  const shown = async (id: string) => {
    const all = await repo.search({ peer: id, limit: 200 })
    const byWords = await repo.search({ q: 'climate', peer: id, limit: 200 })
    expect(byWords.hits.map((h) => h.datasetId).sort()).toEqual(all.hits.map((h) => h.datasetId).sort())
    expect(all.total).toBe(all.hits.length)
    return all.hits.map((h) => h.datasetId)
  }

  it('drops a deleted dataset at the next full crawl', async () => {
    const a = await addPeer()
    await crawlPeer(deps, a)
    expect(await shown(a.id)).toContain('urn:a:dataset:3')
    peer.datasets = peer.datasets.filter((d) => d['@id'] !== 'urn:a:dataset:3')
    expect(await again(a.id)).toMatchObject({ ok: true, mode: 'full', datasets: 19 })
    const after = await shown(a.id)
    expect(after).toHaveLength(19)
    expect(after).not.toContain('urn:a:dataset:3')
    expect((await repo.search({ q: 'climate' })).total).toBe(19)
    expect(await repo.getPeer(a.id)).toMatchObject({ datasetCount: 19 })
  })

  it('drops a dataset the peer no longer shows us', async () => {
    const a = await addPeer()
    await crawlPeer(deps, a)
    peer.visibleTo = (_authorization, dataset) => dataset['@id'] !== 'urn:a:dataset:5'
    await again(a.id)
    expect(await shown(a.id)).not.toContain('urn:a:dataset:5')
    expect(await shown(a.id)).toHaveLength(19)
  })

  it('drops a deleted dataset at the next crawl of a peer whose catalog tag changed', async () => {
    peer.etag = '"v1"'
    const a = await addPeer()
    await crawlPeer(deps, a)
    peer.datasets = peer.datasets.slice(1)
    peer.etag = '"v2"'
    expect(await again(a.id)).toMatchObject({ ok: true, mode: 'full', datasets: 19 })
    expect(await shown(a.id)).not.toContain('urn:a:dataset:0')
  })

  it('with incremental crawls, drops a deleted dataset at the next full crawl, not before', async () => {
    const options = { ...deps.options, incremental: true, fullCrawlEvery: 3 }
    const a = await addPeer()
    await crawlPeer({ ...deps, options }, a)
    peer.datasets = peer.datasets.filter((d) => d['@id'] !== 'urn:a:dataset:7')
    // A modified-since answer cannot say what is gone: the dataset stays for the crawls in between.
    expect(await again(a.id, options)).toMatchObject({ ok: true, mode: 'incremental' })
    expect(await again(a.id, options)).toMatchObject({ ok: true, mode: 'incremental' })
    expect(await shown(a.id)).toContain('urn:a:dataset:7')
    expect(await again(a.id, options)).toMatchObject({ ok: true, mode: 'full', datasets: 19 })
    expect(await shown(a.id)).not.toContain('urn:a:dataset:7')
  })

  it.each([
    ['loop', /link back/],
    ['oversized', /more than \d+ bytes/],
    ['malformed', /not JSON/],
    ['not-a-catalog', /not a DSP Catalog/],
  ] as const)('cuts off a peer whose catalog is %s, with the reason, keeping what it had shown', async (behaviour, reason) => {
    const a = await addPeer()
    await crawlPeer(deps, a)
    const before = await shown(a.id)
    peer.behaviour = behaviour
    expect(await again(a.id)).toMatchObject({ ok: false, error: expect.stringMatching(reason) })
    expect(await shown(a.id)).toEqual(before)
    expect(await repo.getPeer(a.id)).toMatchObject({ failures: 1, datasetCount: 20, lastError: expect.stringMatching(reason) })
    expect((await repo.search({ peer: a.id })).hits.every((h) => h.stale)).toBe(true)
  })
})
