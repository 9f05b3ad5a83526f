import { rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { getRequestListener } from '@hono/node-server'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { fixtureDataset } from '../../catalog/federation/fixtures.ts'
import { changeTokenHeader, removedDatasetsKey } from '../../catalog/index.ts'
import { createCatalog, createCatalogArea } from '../../connector/catalog/routes.ts'
import type { CatalogService } from '../../connector/catalog/catalog-service.ts'
import { systemClock } from '../../connector/clock.ts'
import { PasserelleError } from '../../connector/errors.ts'
import { crawlPeer, defaultCrawlerOptions, type CrawlerDeps } from '../../connector/federation/crawler.ts'
import { peerStatus } from '../../connector/federation/peers.ts'
import { federationRepository, type FederationRepository } from '../../connector/federation/repository.ts'
import { createApp } from '../../connector/http/app.ts'
import { createPeerClient, type PeerClient } from '../../connector/http/peer-client.ts'
import type { Identity } from '../../connector/identity/identity.ts'
import type { Authenticator } from '../../connector/identity/types.ts'
import type { Store } from '../../connector/store/store.ts'
import { silentLogger } from '../../connector/telemetry/logger.ts'
import { participantFolder, testPolicySource } from '../support/catalog.ts'
import { generatedDataset } from '../support/catalog-fixtures.ts'
import { fixtureEgress, testConfig, testContext } from '../support/context.ts'
import { startFixturePeer, type FixturePeer } from '../support/fixture-peer.ts'
import { createTestStore, dialects } from '../support/stores.ts'

/**
 * The change feed between Passerelle connectors: a crawl after the first asks for what changed
 * since the peer's token, and datasets deleted or no longer shown to us leave search at once.
 * A real catalog served over HTTP, crawled by the real crawler, on both databases; then hostile
 * feeds from a fixture peer.
 */

const authenticator: Authenticator = {
  async authenticate({ authorization }) {
    if (authorization === 'Bearer member-token')
      return {
        participantId: 'did:web:member.example',
        credentials: [{ types: ['VerifiableCredential', 'MembershipCredential'], issuer: 'did:web:i.example', claims: {} }],
      }
    if (authorization === 'Bearer stranger-token') return { participantId: 'did:web:stranger.example', credentials: [] }
    throw new PasserelleError('unauthorized', 'invalid token')
  },
}

const n = 30
const idOf = (i: number) => generatedDataset(i).id

describe.each(dialects)('the change feed on %s', (dialect) => {
  let providerStore: Store
  let service: CatalogService
  let server: Server
  let root: string
  let dspUrl: string
  let store: Store
  let repo: FederationRepository
  let http: PeerClient
  let deps: CrawlerDeps
  let ids = 0

  beforeAll(async () => {
    providerStore = await createTestStore(dialect)
    root = participantFolder()
    let app: ReturnType<typeof createApp>['app'] | undefined
    server = createServer(getRequestListener((request) => app!.fetch(request)))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const publicUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const ctx = testContext(providerStore, { config: testConfig({ server: { publicUrl } }, root), identity: { authenticator } as unknown as Identity })
    const parts = await createCatalog(ctx, { policies: testPolicySource() })
    service = parts.service
    app = createApp(ctx, [createCatalogArea(parts)]).app
    dspUrl = `${publicUrl}/dsp/2025-1`
    http = createPeerClient({ egress: fixtureEgress })
  })
  afterAll(async () => {
    server?.closeAllConnections()
    await new Promise((resolve) => server?.close(resolve))
    await http?.close()
    await providerStore?.close()
    rmSync(root, { recursive: true, force: true })
  })
  beforeEach(async () => {
    // The provider's catalog: n open datasets (the seeds' are left as they are).
    for (let i = 0; i < n; i++) await service.catalog.publish(generatedDataset(i), { kind: 'api' })
    store = await createTestStore(dialect)
    repo = federationRepository(store)
    deps = {
      repo,
      http,
      clock: systemClock,
      logger: silentLogger,
      options: { ...defaultCrawlerOptions, timeoutMs: 10_000 },
      authorization: async () => 'Bearer stranger-token',
      random: () => 0.5,
    }
  })
  afterEach(async () => {
    for (let i = 0; i < n + 5; i++) await service.catalog.unpublish(idOf(i))
    await store?.close()
  })

  const addPeer = async () => (await repo.addPeer({ id: `peer-${++ids}`, dspUrl, source: 'api' }, Date.now())).peer
  const again = async (id: string) => crawlPeer(deps, (await repo.getPeer(id))!)
  const shown = async (id: string) => (await repo.search({ peer: id, limit: 200 })).hits.map((h) => h.datasetId)

  it('reads only the changes after the first crawl, and a deleted dataset leaves search at once', async () => {
    const a = await addPeer()
    const first = await crawlPeer(deps, a)
    expect(first).toMatchObject({ ok: true, mode: 'full' })
    const all = await shown(a.id)
    expect(all).toContain(idOf(3))
    expect(peerStatus((await repo.getPeer(a.id))!)).toMatchObject({ changeFeed: true, changeFeedNote: null })

    await service.catalog.unpublish(idOf(3))
    await service.catalog.publish(generatedDataset(4, { title: { en: 'Renamed series' } }), { kind: 'api' })
    await service.catalog.publish(generatedDataset(n), { kind: 'api' })
    const changes = await again(a.id)
    expect(changes).toMatchObject({ ok: true, mode: 'changes', datasets: all.length, removed: 1, pages: 1 })
    const after = await shown(a.id)
    expect(after).not.toContain(idOf(3))
    expect(after).toContain(idOf(n))
    expect((await repo.search({ q: 'renamed', peer: a.id })).hits.map((h) => h.datasetId)).toEqual([idOf(4)])
    expect((await repo.search({ q: 'station', peer: a.id, limit: 200 })).hits.map((h) => h.datasetId)).not.toContain(idOf(3))

    // Nothing changed: an empty first page, nothing stored but the status.
    expect(await again(a.id)).toMatchObject({ ok: true, mode: 'changes', datasets: all.length, removed: 0, pages: 1 })
  })

  it('removes a dataset the peer no longer shows us, and never names one we could not see', async () => {
    const a = await addPeer()
    await service.catalog.publish(generatedDataset(n + 1, { visibility: 'members-only' }), { kind: 'api' })
    await crawlPeer(deps, a)
    expect(await shown(a.id)).not.toContain(idOf(n + 1))
    const token = (await repo.getPeer(a.id))!.changeToken!
    // Dataset 5 becomes members-only; n + 1, which we never saw, is deleted.
    await service.catalog.publish(generatedDataset(5, { visibility: 'members-only' }), { kind: 'api' })
    await service.catalog.unpublish(idOf(n + 1))
    const raw = await http.request({
      method: 'POST',
      url: `${dspUrl}/catalog/request`,
      body: { '@context': ['https://w3id.org/dspace/2025/1/context.jsonld'], '@type': 'CatalogRequestMessage', filter: [{ changedSince: token }] },
      headers: { authorization: 'Bearer stranger-token' },
      timeout: 5000,
      maxBytes: 1 << 20,
    })
    expect(raw.status).toBe(200)
    expect((raw.json() as Record<string, unknown>)[removedDatasetsKey]).toEqual([idOf(5)])
    expect(await again(a.id)).toMatchObject({ ok: true, mode: 'changes', removed: 1 })
    expect(await shown(a.id)).not.toContain(idOf(5))
  })

  it('reads in full, with the reason in the peer status, when the peer refuses our token', async () => {
    const a = await addPeer()
    await crawlPeer(deps, a)
    // The token was made under other policies (or is simply not the peer's): refused with a reason.
    const peer = (await repo.getPeer(a.id))!
    const forged = peer.changeToken!.replace(/\.[A-Za-z0-9_-]{22}$/, `.${'x'.repeat(22)}`)
    await repo.recordSuccess({
      ...peer,
      peerId: a.id,
      entries: [],
      mode: 'incremental',
      rejected: 0,
      participantId: peer.participantId!,
      now: Date.now(),
      durationMs: 1,
      nextCrawlAt: 0,
      changeToken: forged,
    })
    await service.catalog.unpublish(idOf(7))
    const outcome = await again(a.id)
    expect(outcome).toMatchObject({ ok: true, mode: 'full' })
    expect(await shown(a.id)).not.toContain(idOf(7))
    const status = peerStatus((await repo.getPeer(a.id))!)
    expect(status).toMatchObject({
      changeFeed: true,
      lastError: null,
      changeFeedNote: expect.stringMatching(/refused our change token.*what this requester may see changed/),
    })
  })
})

describe.each(dialects)('a hostile change feed on %s', (dialect) => {
  let store: Store
  let repo: FederationRepository
  let http: PeerClient
  let hostile: FixturePeer
  let honest: FixturePeer
  let deps: CrawlerDeps

  beforeAll(async () => {
    http = createPeerClient({ egress: fixtureEgress })
    hostile = await startFixturePeer({ participantId: 'did:web:h.example', datasets: [], prefix: 'h' })
    honest = await startFixturePeer({ participantId: 'did:web:b.example', datasets: [], prefix: 'b' })
  })
  afterAll(async () => {
    await Promise.all([hostile?.close(), honest?.close(), http?.close()])
  })
  beforeEach(async () => {
    store = await createTestStore(dialect)
    repo = federationRepository(store)
    deps = { repo, http, clock: systemClock, logger: silentLogger, options: { ...defaultCrawlerOptions, timeoutMs: 5000 }, random: () => 0.5 }
    hostile.behaviour = 'ok'
    hostile.feed = undefined
    hostile.changeToken = 'c1.1.1.token'
    hostile.datasets = Array.from({ length: 10 }, (_, i) => fixtureDataset(i, { prefix: 'h' }))
    // The honest peer's datasets carry the same ids as the hostile one's: only the peer tells them apart.
    honest.datasets = Array.from({ length: 10 }, (_, i) => fixtureDataset(i, { prefix: 'h' }))
  })
  afterEach(() => store?.close())

  /** Both peers crawled once in full; the hostile one has given a token. */
  const start = async () => {
    const h = (await repo.addPeer({ id: 'hostile', dspUrl: hostile.dspUrl, source: 'api' }, Date.now())).peer
    const b = (await repo.addPeer({ id: 'honest', dspUrl: honest.dspUrl, source: 'api' }, Date.now())).peer
    expect(await crawlPeer(deps, h)).toMatchObject({ ok: true, mode: 'full', datasets: 10 })
    expect(await crawlPeer(deps, b)).toMatchObject({ ok: true, mode: 'full', datasets: 10 })
    return { h: h.id, b: b.id }
  }
  const again = async (id: string) => crawlPeer(deps, (await repo.getPeer(id))!)
  const count = async (id: string) => (await repo.search({ peer: id, limit: 200 })).hits.length

  it("deletes only the feed's own peer's entries, whatever ids it names", async () => {
    const { h, b } = await start()
    hostile.feed = { datasets: [], removed: ['urn:h:dataset:1', 'urn:h:dataset:2', 'urn:b:dataset:1'] }
    expect(await again(h)).toMatchObject({ ok: true, mode: 'changes', removed: 3 })
    expect(await count(h)).toBe(8)
    expect(await count(b)).toBe(10)
  })

  it.each([
    ['an endless feed', { behaviour: 'loop' as const, removed: [] }, /link back/],
    ['a list of removals that is not a list', { removed: 'everything' }, /not a list/],
    ['a removal that is not an id', { removed: [42] }, /not a dataset id/],
    ['more removals than a peer may hold', { removed: Array.from({ length: 60 }, (_, i) => `urn:x:${i}`) }, /more than 50 datasets gone/],
    ['no list of removals', { removed: undefined }, /does not list the datasets gone/],
  ])('refuses %s with the reason, keeping every entry, and reads in full next time', async (_name, feed, reason) => {
    deps.options = { ...deps.options, maxDatasets: 50 }
    const { h, b } = await start()
    if ('behaviour' in feed) hostile.behaviour = feed.behaviour
    hostile.feed = { datasets: [fixtureDataset(1, { prefix: 'h' })], removed: feed.removed }
    expect(await again(h)).toMatchObject({ ok: false, error: expect.stringMatching(reason) })
    expect(await count(h)).toBe(10)
    expect(await count(b)).toBe(10)
    const status = peerStatus((await repo.getPeer(h))!)
    expect(status).toMatchObject({
      stale: true,
      lastError: expect.stringMatching(reason),
      changeFeed: false,
      changeFeedNote: expect.stringMatching(/change feed was refused/),
    })
    hostile.behaviour = 'ok'
    expect(await again(h)).toMatchObject({ ok: true, mode: 'full', datasets: 10 })
  })

  it('does not keep a token it could not send back, and says so', async () => {
    hostile.changeToken = 'bad token\twith "quotes"'
    const { h } = await start()
    expect(peerStatus((await repo.getPeer(h))!)).toMatchObject({ changeFeed: false, changeFeedNote: expect.stringMatching(/not one/) })
    expect(await again(h)).toMatchObject({ ok: true, mode: 'full' })
    expect(hostile.requests.at(-1)?.filter).toEqual([])
  })

  it('sends our token only to the peer that gave it', async () => {
    const { h } = await start()
    hostile.feed = { datasets: [], removed: [] }
    await again(h)
    expect(hostile.requests.at(-1)?.filter).toEqual([{ changedSince: 'c1.1.1.token' }])
    expect(honest.requests.some((r) => JSON.stringify(r.filter ?? []).includes('changedSince'))).toBe(false)
    expect(changeTokenHeader).toBe('passerelle-change-token')
  })
})
