import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { entryFields, MemoryCatalogRows, type CatalogRows, type RowsQuery } from '../../catalog/catalog-index.ts'
import { emptyFilter, parseFilter } from '../../catalog/filter.ts'
import { generatedDataset } from '../../test/support/catalog-fixtures.ts'
import type { DatasetDescription } from '../../catalog/dataset.ts'
import { createTestStore, dialects } from '../../test/support/stores.ts'
import type { Store } from '../store/store.ts'
import { databaseCatalogRows } from './catalog-repository.ts'

const written = (dataset: DatasetDescription, now = 1000, published = true) => ({
  dataset,
  source: { kind: 'api' as const },
  fields: entryFields(dataset),
  published,
  now,
})
const query = (over: Partial<RowsQuery> = {}): RowsQuery => ({ hiddenGroups: [], filter: emptyFilter, offset: 0, limit: 100, ...over })
const filter = (entries: unknown[]) => {
  const parsed = parseFilter(entries)
  if (!parsed.ok) throw new Error(parsed.message)
  return parsed.filter
}

// The database rows and the memory rows answer the same: one contract, three stores.
describe.each([...dialects, 'memory' as const])('catalog rows on %s', (kind) => {
  let store: Store | undefined
  let rows: CatalogRows
  beforeAll(async () => {
    if (kind === 'memory') rows = new MemoryCatalogRows()
    else {
      store = await createTestStore(kind)
      const db = databaseCatalogRows(store)
      expect(await db.ensureState()).toBe(true)
      expect(await db.ensureState()).toBe(false)
      rows = db
    }
    for (let n = 0; n < 30; n++) {
      const hidden = n % 10 === 3 ? { visibility: 'members-only' } : {}
      await rows.put(written(generatedDataset(n, hidden), 1000 + n))
    }
  })
  afterAll(async () => {
    await store?.close()
  })

  it('stores a description and reads it back unchanged, with its source and times', async () => {
    const dataset = generatedDataset(1)
    const entry = await rows.get(dataset.id)
    expect(entry).toMatchObject({ id: dataset.id, dataset, source: { kind: 'api' }, published: true, createdAt: 1001, updatedAt: 1001 })
  })

  it('bumps the version on every change and gives the changed row that version', async () => {
    const before = await rows.version()
    const dataset = generatedDataset(5, { version: '2' })
    expect(await rows.put(written(dataset, 5000), { onlyIfExists: true })).toBe(true)
    const after = await rows.version()
    expect(after).toBe(before + 1)
    const entry = await rows.get(dataset.id)
    expect(entry).toMatchObject({ seq: after, createdAt: 1005, updatedAt: 5000 })
    expect(entry?.dataset.version).toBe('2')
  })

  it('reads a description as last written, read before or not, written at the same moment or not', async () => {
    const first = generatedDataset(7, { version: 'a' })
    expect((await rows.get(first.id))?.dataset.version).not.toBe('a')
    // Same moment (update time) twice: only the version tells the writes apart.
    await rows.put(written(first, 7000), { onlyIfExists: true })
    expect((await rows.get(first.id))?.dataset.version).toBe('a')
    await rows.put(written(generatedDataset(7, { version: 'b' }), 7000), { onlyIfExists: true })
    expect((await rows.get(first.id))?.dataset.version).toBe('b')
    expect(await rows.remove(first.id)).toBe(true)
    expect(await rows.get(first.id)).toBeUndefined()
    await rows.put(written(generatedDataset(7, { version: 'c' }), 7000), { onlyIfAbsent: true })
    expect((await rows.get(first.id))?.dataset.version).toBe('c')
    expect((await rows.get(first.id))?.dataset.version).toBe('c')
  })

  it('refuses to insert an existing id, or to replace an unknown one, and changes nothing', async () => {
    const before = await rows.version()
    expect(await rows.put(written(generatedDataset(2, { version: '9' })), { onlyIfAbsent: true })).toBe(false)
    expect(await rows.put(written(generatedDataset(999)), { onlyIfExists: true })).toBe(false)
    expect(await rows.version()).toBe(before)
    expect((await rows.get(generatedDataset(2).id))?.dataset.version).toBeUndefined()
    expect(await rows.get(generatedDataset(999).id)).toBeUndefined()
  })

  it('walks pages in id order by keyset and by offset alike, leaving hidden groups out', async () => {
    const groups = await rows.groups()
    const hiddenKey = [...groups.keys()].find((k) => k !== '')!
    expect(groups.get('')?.count).toBe(27)
    expect(groups.get(hiddenKey)).toMatchObject({ count: 3, gate: { dataset: 'members-only' } })
    const byKeyset: string[] = []
    let after: string | undefined
    for (;;) {
      const page = await rows.page(query({ hiddenGroups: [hiddenKey], limit: 7, ...(after ? { after } : {}) }))
      if (page.length === 0) break
      byKeyset.push(...page.map((e) => e.id))
      after = page.at(-1)!.id
    }
    const byOffset: string[] = []
    for (let offset = 0; offset < 30; offset += 7) byOffset.push(...(await rows.page(query({ hiddenGroups: [hiddenKey], offset, limit: 7 }))).map((e) => e.id))
    expect(byKeyset).toHaveLength(27)
    expect(byKeyset).toEqual([...byKeyset].sort())
    expect(byOffset).toEqual(byKeyset)
    expect(byKeyset).not.toContain(generatedDataset(3).id)
  })

  it('filters by keyword, theme, words and date in the store, and counts the matches', async () => {
    const station7 = filter([{ keyword: 'Station-7' }])
    expect((await rows.page(query({ filter: station7 }))).map((e) => e.id)).toEqual([generatedDataset(7).id])
    // "station-1" as a keyword matches exactly one keyword, never "station-10".
    expect(await rows.count({ hiddenGroups: [], filter: filter([{ keyword: 'station-1' }]) })).toBe(1)
    expect(await rows.count({ hiddenGroups: [], filter: filter([{ text: 'Series 21' }]) })).toBe(1)
    expect(await rows.count({ hiddenGroups: [], filter: filter([{ theme: 'http://publications.europa.eu/resource/authority/data-theme/ENVI' }]) })).toBe(30)
    expect(await rows.count({ hiddenGroups: [], filter: filter([{ theme: 'http://publications.europa.eu/resource/authority/data-theme/AGRI' }]) })).toBe(0)
    expect(await rows.count({ hiddenGroups: [], filter: filter([{ modifiedSince: '2024-12-01' }]) })).toBe(2)
  })

  it('keeps an unpublished row out of pages and groups but lists it for management', async () => {
    const id = generatedDataset(8).id
    const before = (await rows.groups()).get('')!.count
    await rows.setPublished([id], false)
    await rows.setPublished([id], false) // again: no double count
    expect((await rows.groups()).get('')!.count).toBe(before - 1)
    expect((await rows.get(id))?.published).toBe(false)
    expect((await rows.page(query())).map((e) => e.id)).not.toContain(id)
    expect((await rows.page(query({ all: true }))).map((e) => e.id)).toContain(id)
    await rows.setPublished([id], true)
    expect((await rows.groups()).get('')!.count).toBe(before)
    expect((await rows.page(query())).map((e) => e.id)).toContain(id)
  })

  it('deletes a row once, and bumps the version', async () => {
    const id = generatedDataset(29).id
    const before = await rows.version()
    const groupSize = (await rows.groups()).get('')!.count
    expect(await rows.remove(id)).toBe(true)
    expect(await rows.remove(id)).toBe(false)
    expect((await rows.groups()).get('')!.count).toBe(groupSize - 1)
    expect(await rows.version()).toBe(before + 1)
    expect(await rows.get(id)).toBeUndefined()
  })

  it('counts the datasets naming each policy, kept with every write and removal', async () => {
    const first = generatedDataset(40, { policies: ['ref-offer-a', 'ref-offer-b'], offerVisibility: { 'ref-offer-b': 'ref-members' } })
    const second = generatedDataset(41, { policies: ['ref-offer-a'] })
    await rows.put(written(first))
    await rows.put(written(second))
    const usage = await rows.policyUsage(['ref-offer-a', 'ref-offer-b', 'ref-members', 'ref-unused'], 1)
    expect(Object.fromEntries(usage)).toEqual({
      'ref-offer-a': { ids: [first.id], total: 2 },
      'ref-offer-b': { ids: [first.id], total: 1 },
      'ref-members': { ids: [first.id], total: 1 },
      'ref-unused': { ids: [], total: 0 },
    })
    // A replacement names other policies: the old references go with the old description.
    await rows.put(written(generatedDataset(40, { policies: ['ref-offer-b'] })), { onlyIfExists: true })
    await rows.remove(second.id)
    const after = await rows.policyUsage(['ref-offer-a', 'ref-offer-b', 'ref-members'], 10)
    expect(Object.fromEntries(after)).toEqual({
      'ref-offer-a': { ids: [], total: 0 },
      'ref-offer-b': { ids: [first.id], total: 1 },
      'ref-members': { ids: [], total: 0 },
    })
    await rows.remove(first.id)
  })

  it('finds the datasets whose distributions name a local file or folder, however the path is spelled', async () => {
    const csv = { mediaType: 'text/csv', byteSize: 10, sha256: 'b'.repeat(64) }
    const file = generatedDataset(42, { distributions: [{ ...csv, file: './files/refs.csv' }] })
    const folder = generatedDataset(43, { distributions: [{ mediaType: 'text/csv', folder: 'files/refs-folder/' }] })
    await rows.put(written(file))
    await rows.put(written(folder))
    expect(await rows.fileUsage(['files/refs.csv'], 10)).toEqual({ ids: [file.id], total: 1 })
    expect(await rows.fileUsage(['files/refs-folder', 'files/refs.csv', 'files/other.csv'], 1)).toEqual({ ids: [file.id], total: 2 })
    expect(await rows.fileUsage(['files/other.csv'], 10)).toEqual({ ids: [], total: 0 })
    await rows.remove(file.id)
    expect(await rows.fileUsage(['files/refs.csv'], 10)).toEqual({ ids: [], total: 0 })
    await rows.remove(folder.id)
  })

  it('remembers the policy fingerprint', async () => {
    await rows.setPoliciesFingerprint('a\nb')
    expect(await rows.policiesFingerprint()).toBe('a\nb')
  })
})
