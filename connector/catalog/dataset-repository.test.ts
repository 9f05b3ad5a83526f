import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generatedDataset } from '../../catalog/testing.ts'
import { createTestStore, dialects } from '../../test/support/stores.ts'
import type { Store } from '../store/store.ts'
import { datasetRepository } from './dataset-repository.ts'

describe.each(dialects)('dataset repository on %s', (dialect) => {
  let store: Store
  beforeAll(async () => {
    store = await createTestStore(dialect)
  })
  afterAll(async () => {
    await store?.close()
  })

  it('stores, reads back, updates and deletes a description unchanged', async () => {
    const repo = datasetRepository(store)
    const dataset = generatedDataset(1, { title: { en: 'Ice', fr: 'Glace' } })
    expect(await repo.insert({ id: dataset.id, description: dataset, createdAt: 1000, updatedAt: 1000 })).toBe(true)
    expect(await repo.get(dataset.id)).toEqual({ id: dataset.id, description: dataset, createdAt: 1000, updatedAt: 1000 })
    const changed = { ...dataset, version: '2' }
    expect(await repo.update(dataset.id, changed, 2000)).toBe(true)
    expect((await repo.get(dataset.id))?.description.version).toBe('2')
    expect(await repo.delete(dataset.id)).toBe(true)
    expect(await repo.get(dataset.id)).toBeUndefined()
  })

  it('refuses a second insert with the same id and changes nothing', async () => {
    const repo = datasetRepository(store)
    const dataset = generatedDataset(2)
    expect(await repo.insert({ id: dataset.id, description: dataset, createdAt: 1, updatedAt: 1 })).toBe(true)
    expect(await repo.insert({ id: dataset.id, description: { ...dataset, version: 'x' }, createdAt: 5, updatedAt: 5 })).toBe(false)
    expect((await repo.get(dataset.id))?.createdAt).toBe(1)
    expect(await repo.update('urn:uuid:none', dataset, 3)).toBe(false)
    expect(await repo.delete('urn:uuid:none')).toBe(false)
  })

  it('reads everything back in id order, in batches', async () => {
    const repo = datasetRepository(store)
    await store.transaction(async (tx) => {
      for (let n = 100; n < 120; n++) await repo.insert({ id: generatedDataset(n).id, description: generatedDataset(n), createdAt: n, updatedAt: n }, tx)
    })
    const ids: string[] = []
    for await (const batch of repo.all()) ids.push(...batch.map((r) => r.id))
    expect(ids.length).toBe(await repo.count())
    expect(ids).toEqual([...ids].sort())
    expect(ids).toContain(generatedDataset(119).id)
  })

  it('leaves out and reports a stored row that no longer validates, without throwing', async () => {
    const repo = datasetRepository(store)
    const bad = generatedDataset(200)
    await store.db.insert(store.tables.catalogDatasets).values({ id: bad.id, description: { ...bad, title: undefined }, createdAt: 1, updatedAt: 1 })
    const reported: string[] = []
    const ids: string[] = []
    for await (const batch of repo.all((id) => reported.push(id))) ids.push(...batch.map((r) => r.id))
    expect(reported).toEqual([bad.id])
    expect(ids).not.toContain(bad.id)
    expect(ids.length).toBe((await repo.count()) - 1)
  })
})
