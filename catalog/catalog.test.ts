import { describe, expect, it } from 'vitest'
import { fromRoot } from '../connector/paths.ts'
import { expectDspValid } from '../test/support/dsp-schemas.ts'
import { readDatasetsDir } from './dataset-files.ts'
import { emptyFilter, parseFilter } from './filter.ts'
import { fakePolicies, generatedDataset, member, stranger, testCatalog } from '../test/support/catalog-fixtures.ts'

const now = new Date('2026-01-01T00:00:00Z')
const seeds = fromRoot('seeds')
const hiddenId = 'urn:uuid:d9c7c33d-9423-4f98-9122-8c84794feb94'

async function seedCatalog(policies = fakePolicies()) {
  const catalog = testCatalog(policies)
  const errors = await catalog.applyFiles(await readDatasetsDir(`${seeds}/datasets`, { root: seeds }))
  expect(errors).toEqual([])
  return catalog
}

const page = (catalog: ReturnType<typeof testCatalog>, requester = member, offset = 0, limit = 100, filter = emptyFilter) =>
  catalog.page({ requester, now, filter, offset, limit })

describe('DSP catalog from the seed datasets', () => {
  it('is a valid DSP Catalog with offers without target and distributions with format and accessService', async () => {
    const body = JSON.parse((await page(await seedCatalog())).body)
    expectDspValid('catalog/catalog-schema.json', body)
    expect(body['@context']).toEqual(['https://w3id.org/dspace/2025/1/context.jsonld'])
    expect(body.participantId).toBe('did:web:127.0.0.1%3A8181')
    expect(body.service[0]).toMatchObject({ '@type': 'DataService', endpointURL: 'http://127.0.0.1:8181/dsp/2025-1' })
    expect(body.dataset).toHaveLength(5)
    for (const dataset of body.dataset) {
      for (const offer of dataset.hasPolicy) {
        expect(offer['@id']).toMatch(/^urn:policy:/)
        expect(offer).not.toHaveProperty('target')
      }
      for (const d of dataset.distribution) expect(d).toMatchObject({ format: expect.any(String), accessService: body.service[0]['@id'] })
    }
  })

  it('answers one dataset as a valid DSP Dataset with its DataService embedded', async () => {
    const catalog = await seedCatalog()
    const body = JSON.parse((await catalog.dataset('urn:uuid:0f3cee7e-e077-4be0-9365-3a791567f70e', stranger, now))!)
    expectDspValid('catalog/dataset-schema.json', body)
    expect(body.distribution[0].accessService).toMatchObject({ '@type': 'DataService', endpointURL: 'http://127.0.0.1:8181/dsp/2025-1' })
    expect(body['dct:title']).toContainEqual({ '@value': 'Arctic sea-ice extent, monthly series 2015–2024', '@language': 'en' })
  })

  it('answers an empty page without a dataset array (the schema wants none rather than an empty one)', async () => {
    const body = JSON.parse((await page(testCatalog())).body)
    expectDspValid('catalog/catalog-schema.json', body)
    expect(body).not.toHaveProperty('dataset')
  })
})

describe('per-requester visibility', () => {
  it('hides the members-only dataset from a stranger, in the list, the count and a direct read', async () => {
    const catalog = await seedCatalog()
    const seen = await page(catalog, stranger)
    const ids = JSON.parse(seen.body).dataset.map((d: { '@id': string }) => d['@id'])
    expect(ids).not.toContain(hiddenId)
    expect(seen.total).toBe(4)
    expect(await catalog.dataset(hiddenId, stranger, now)).toBeUndefined()
    // paging cannot reveal it either: the last page of one is the fourth dataset
    expect((await page(catalog, stranger, 3, 1)).count).toBe(1)
    expect((await page(catalog, stranger, 4, 1)).count).toBe(0)
  })

  it('shows it to a member', async () => {
    const catalog = await seedCatalog()
    const seen = await page(catalog, member)
    expect(JSON.parse(seen.body).dataset.map((d: { '@id': string }) => d['@id'])).toContain(hiddenId)
    expect(seen.total).toBe(5)
    expect(await catalog.dataset(hiddenId, member, now)).toContain(hiddenId)
  })

  it('decides each distinct visibility policy once per request, however many datasets it governs', async () => {
    const policies = fakePolicies()
    const catalog = testCatalog(policies)
    for (let n = 0; n < 300; n++) await catalog.publish(generatedDataset(n, n % 3 === 0 ? { visibility: 'members-only' } : {}), { kind: 'api' })
    const seen = await page(catalog, stranger, 0, 1000)
    expect(policies.decisions).toEqual(['members-only'])
    expect(seen.total).toBe(200)
  })

  it('denies when the policy engine fails (unknown means deny)', async () => {
    const policies = fakePolicies()
    policies.visible = () => {
      throw new Error('engine down')
    }
    const catalog = await seedCatalog(policies)
    expect((await page(catalog, member)).total).toBe(4)
  })
})

describe('offer-level visibility', () => {
  const partly = generatedDataset(1, { policies: ['open-with-attribution', 'members-only'], offerVisibility: { 'members-only': 'members-only' } })
  const wholly = generatedDataset(2, { policies: ['research-only'], offerVisibility: { 'research-only': 'members-only' } })
  const open = generatedDataset(3)
  const setup = async () => {
    const policies = fakePolicies()
    const catalog = testCatalog(policies)
    for (const d of [partly, wholly, open]) await catalog.publish(d, { kind: 'api' })
    return { catalog, policies }
  }
  const offersOf = (body: string, id: string) =>
    JSON.parse(body)
      .dataset.find((d: { '@id': string }) => d['@id'] === id)
      ?.hasPolicy.map((o: { '@id': string }) => o['@id'])

  it('leaves a gated offer out for a stranger, and the dataset too when no offer is left', async () => {
    const { catalog, policies } = await setup()
    const seen = await page(catalog, stranger)
    // one request, one decision for the one distinct policy
    expect(policies.decisions).toEqual(['members-only'])
    expectDspValid('catalog/catalog-schema.json', JSON.parse(seen.body))
    expect(seen.total).toBe(2)
    expect(offersOf(seen.body, partly.id)).toEqual(['urn:policy:open-with-attribution'])
    expect(offersOf(seen.body, wholly.id)).toBeUndefined()
    expect(await catalog.dataset(wholly.id, stranger, now)).toBeUndefined()
    expect(JSON.parse((await catalog.dataset(partly.id, stranger, now))!).hasPolicy).toHaveLength(1)
  })

  it('shows every offer to a member', async () => {
    const { catalog } = await setup()
    const seen = await page(catalog, member)
    expect(seen.total).toBe(3)
    expect(offersOf(seen.body, partly.id)).toEqual(['urn:policy:open-with-attribution', 'urn:policy:members-only'])
    expect(offersOf(seen.body, wholly.id)).toEqual(['urn:policy:research-only'])
  })

  it('keeps gated offers and wholly gated datasets out of the public DCAT-AP document', async () => {
    const { catalog } = await setup()
    const doc = JSON.parse(await catalog.dcatText())
    const byId = new Map(doc['dcat:dataset'].map((d: { '@id': string }) => [d['@id'], d]))
    expect(byId.has(wholly.id)).toBe(false)
    expect((byId.get(partly.id) as Record<string, unknown>)['odrl:hasPolicy']).toEqual([
      { '@id': 'urn:policy:open-with-attribution', '@type': ['odrl:Policy', 'odrl:Offer'] },
    ])
  })

  it('tells negotiation exactly the offers the catalog shows each requester, none of a hidden dataset', async () => {
    const { catalog } = await setup()
    const secret = generatedDataset(5, { policies: ['open-with-attribution'], visibility: 'members-only' })
    await catalog.publish(secret, { kind: 'api' })
    for (const requester of [stranger, member]) {
      const body = (await page(catalog, requester)).body
      for (const d of [partly, wholly, open, secret]) {
        const shown = offersOf(body, d.id)
        expect(
          (await catalog.visibleOffers(d.id, requester, now))?.map((id) => `urn:policy:${id}`),
          `${requester.participantId} ${d.id}`,
        ).toEqual(shown)
      }
    }
    expect(await catalog.visibleOffers(secret.id, stranger, now)).toBeUndefined()
    expect(await catalog.visibleOffers(secret.id, member, now)).toEqual(['open-with-attribution'])
    expect(await catalog.visibleOffers('urn:uuid:unknown', member, now)).toBeUndefined()
  })

  it('refuses an offer visibility for a policy the dataset does not have', async () => {
    expect(() => generatedDataset(4, { offerVisibility: { 'research-only': 'members-only' } })).toThrow(/not one of this dataset's policies/)
  })
})

describe('paging', () => {
  it('walks every visible dataset exactly once', async () => {
    const catalog = testCatalog()
    for (let n = 0; n < 1234; n++) await catalog.publish(generatedDataset(n, n % 10 === 0 ? { visibility: 'members-only' } : {}), { kind: 'api' })
    for (const [requester, expected] of [
      [member, 1234],
      [stranger, 1234 - 124],
    ] as const) {
      const seen: string[] = []
      for (let offset = 0; ; offset += 100) {
        const p = await page(catalog, requester, offset, 100)
        if (p.count === 0) break
        seen.push(...JSON.parse(p.body).dataset.map((d: { '@id': string }) => d['@id']))
      }
      expect(seen).toHaveLength(expected)
      expect(new Set(seen).size).toBe(expected)
    }
  })
})

describe('filters', () => {
  it('selects by keyword, theme, text and modification date, combined with AND', async () => {
    const catalog = await seedCatalog()
    const ids = async (entries: unknown[]) => {
      const parsed = parseFilter(entries)
      if (!parsed.ok) throw new Error(parsed.message)
      return JSON.parse((await page(catalog, member, 0, 100, parsed.filter)).body).dataset?.map((d: { '@id': string }) => d['@id']) ?? []
    }
    expect(await ids([{ keyword: 'Sea Ice' }])).toEqual(['urn:uuid:0f3cee7e-e077-4be0-9365-3a791567f70e'])
    expect(await ids([{ keyword: 'précipitations' }])).toEqual(['urn:uuid:af38b80d-a476-44b5-b132-3a902036bc62'])
    expect(await ids([{ theme: 'http://publications.europa.eu/resource/authority/data-theme/AGRI' }])).toHaveLength(1)
    expect(await ids([{ text: 'estuaire salinité' }])).toEqual(['urn:uuid:f431f209-fe28-41b5-aa8f-c4fd8cf65bf0'])
    expect(await ids([{ modifiedSince: '2025-01-01' }])).toEqual(['urn:uuid:0f3cee7e-e077-4be0-9365-3a791567f70e'])
    expect(await ids([{ keyword: 'climate' }])).toHaveLength(2)
    expect(await ids([{ keyword: 'climate' }, { modifiedSince: '2024-03-01' }])).toEqual(['urn:uuid:37b4f568-20c5-486a-abff-1eaa42633253'])
  })

  it('answers a filtered query again after a change with the change included', async () => {
    const catalog = await seedCatalog()
    const parsed = parseFilter([{ keyword: 'sea ice' }])
    if (!parsed.ok) throw new Error(parsed.message)
    expect((await page(catalog, member, 0, 100, parsed.filter)).total).toBe(1)
    await catalog.publish(generatedDataset(1, { keywords: ['sea ice'] }), { kind: 'api' })
    expect((await page(catalog, member, 0, 100, parsed.filter)).total).toBe(2)
    await catalog.unpublish(generatedDataset(1).id)
    expect((await page(catalog, member, 0, 100, parsed.filter)).total).toBe(1)
  })

  it('refuses an unsupported filter instead of ignoring it', async () => {
    expect(parseFilter([{ colour: 'blue' }])).toMatchObject({ ok: false, message: expect.stringContaining('supported filters are') })
    expect(parseFilter([{ keyword: 'a', theme: 'b' }]).ok).toBe(false)
    expect(parseFilter('keyword=a').ok).toBe(false)
    expect(parseFilter([{ modifiedSince: 'yesterday' }]).ok).toBe(false)
  })
})

describe('incremental publishing', () => {
  it('replaces, adds and removes one dataset without a rebuild', async () => {
    const catalog = testCatalog()
    for (let n = 0; n < 50; n++) await catalog.publish(generatedDataset(n), { kind: 'api' })
    const before = await catalog.rows.version()
    await catalog.publish(generatedDataset(7, { title: 'Renamed' }), { kind: 'api' })
    await catalog.publish(generatedDataset(99), { kind: 'api' })
    await catalog.unpublish(generatedDataset(3).id)
    expect(await catalog.rows.version()).toBe(before + 3)
    const all = JSON.parse((await page(catalog, stranger)).body).dataset
    expect(all).toHaveLength(50)
    expect(all.find((d: { '@id': string }) => d['@id'] === generatedDataset(7).id)['dct:title']).toBe('Renamed')
    expect(all.map((d: { '@id': string }) => d['@id'])).toEqual([...all.map((d: { '@id': string }) => d['@id'])].sort())
  })

  it('keeps what a file published when the file turns bad, and drops it when the file is gone', async () => {
    const catalog = await seedCatalog()
    const before = (await page(catalog, member)).body
    const read = await readDatasetsDir(`${seeds}/datasets`, { root: seeds })
    const bad = read.datasets[0]!
    const errors = await catalog.applyFiles({
      ...read,
      datasets: read.datasets.slice(1),
      errors: [{ file: bad.file, line: 3, field: 'title', message: 'broken' }],
    })
    expect(errors).toHaveLength(1)
    expect((await page(catalog, member)).body).toBe(before)
    await catalog.applyFiles({ ...read, datasets: read.datasets.slice(1), files: read.files.filter((f) => f !== bad.file) })
    expect((await page(catalog, member)).total).toBe(4)
    expect(await catalog.get(bad.dataset.id)).toBeUndefined()
  })

  it('does not publish a file dataset whose policy is unknown, and says why', async () => {
    const catalog = testCatalog(fakePolicies({}))
    const errors = await catalog.applyFiles(await readDatasetsDir(`${seeds}/datasets`, { root: seeds }))
    expect(await catalog.rows.size()).toBe(0)
    expect(errors.some((e) => e.message === 'unknown policy research-only')).toBe(true)
  })
})
