import { rmSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { emptyFilter } from '../../catalog/filter.ts'
import { generatedDataset, member, stranger } from '../../test/support/catalog-fixtures.ts'
import { testClock, testConfig } from '../../test/support/context.ts'
import { createTestDatabase, dialects, type TestDatabase } from '../../test/support/stores.ts'
import { openStore, type Store } from '../store/store.ts'
import { silentLogger } from '../telemetry/logger.ts'
import { createCatalogService, type CatalogService } from './catalog-service.ts'
import { participantFolder, testPolicySource } from '../../test/support/catalog.ts'

// Two connector processes on one database (replicas behind a load balancer), each with its own store
// handle and its own caches: what one publishes, the other's next page shows, and a warm cache never
// shows a requester what the visibility decision hides from them.
describe.each(dialects)('catalog replicas on one %s database', (dialect) => {
  let database: TestDatabase
  let stores: Store[]
  let root: string
  let a: CatalogService
  let b: CatalogService
  const ids = async (service: CatalogService, requester = member) =>
    (JSON.parse((await service.catalog.page({ requester, now: new Date(), filter: emptyFilter, offset: 0, limit: 1000 })).body).dataset ?? []).map(
      (d: { '@id': string }) => d['@id'],
    ) as string[]

  beforeAll(async () => {
    database = await createTestDatabase(dialect)
    root = participantFolder()
    stores = [await openStore({ url: database.url, poolSize: 2 }), await openStore({ url: database.url, poolSize: 2 })]
    const open = (store: Store) =>
      createCatalogService({ config: testConfig({}, root), store, clock: testClock(), logger: silentLogger, policies: testPolicySource() })
    a = await open(stores[0]!)
    b = await open(stores[1]!)
  })
  afterAll(async () => {
    for (const store of stores ?? []) await store.close()
    await database?.drop()
    rmSync(root, { recursive: true, force: true })
  })

  it('shows on one replica, at its next page, what the other created, replaced and deleted', async () => {
    const before = await ids(b) // warms b's page cache
    const dataset = generatedDataset(77)
    await a.create({ input: dataset })
    expect(await ids(b)).toEqual([...before, dataset.id].sort())
    await a.replace({ id: dataset.id, input: generatedDataset(77, { title: 'Renamed on the other replica' }) })
    expect(JSON.parse((await b.catalog.dataset(dataset.id, member, new Date()))!)['dct:title']).toBe('Renamed on the other replica')
    expect((await b.catalog.page({ requester: member, now: new Date(), filter: emptyFilter, offset: 0, limit: 1000 })).body).toContain(
      'Renamed on the other replica',
    )
    await a.remove({ id: dataset.id })
    expect(await ids(b)).toEqual(before)
    expect(await b.catalog.dataset(dataset.id, member, new Date())).toBeUndefined()
  })

  it('never serves a page cached for a member to a stranger, even when the other replica made the dataset members-only', async () => {
    const dataset = generatedDataset(78)
    await a.create({ input: dataset })
    expect(await ids(b, stranger)).toContain(dataset.id)
    expect(await ids(b, member)).toContain(dataset.id)
    await a.replace({ id: dataset.id, input: generatedDataset(78, { visibility: 'members-only' }) })
    expect(await ids(b, member)).toContain(dataset.id)
    expect(await ids(b, stranger)).not.toContain(dataset.id)
    expect(await b.catalog.visibleOffers(dataset.id, stranger, new Date())).toBeUndefined()
    expect(await b.catalog.dataset(dataset.id, stranger, new Date())).toBeUndefined()
    expect((await b.catalog.page({ requester: stranger, now: new Date(), filter: emptyFilter, offset: 0, limit: 1000 })).total).toBe(
      (await ids(b, stranger)).length,
    )
  })

  it('serves the same page from a third replica started on the same rows', async () => {
    const c = await createCatalogService({
      config: testConfig({}, root),
      store: stores[1]!,
      clock: testClock(),
      logger: silentLogger,
      policies: testPolicySource(),
    })
    expect((await c.catalog.page({ requester: member, now: new Date(), filter: emptyFilter, offset: 0, limit: 1000 })).body).toBe(
      (await a.catalog.page({ requester: member, now: new Date(), filter: emptyFilter, offset: 0, limit: 1000 })).body,
    )
  })
})
