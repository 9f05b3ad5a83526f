import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { dspSchemaErrors, expectDspValid } from '../../test/support/dsp-schemas.ts'
import { fromRoot } from '../../connector/paths.ts'
import { dspDataset } from '../dsp-render.ts'
import { generatedDataset, offerBodies } from '../../test/support/catalog-fixtures.ts'
import { CatalogDataset } from './dsp-catalog.ts'
import { fixtureCatalog, fixtureDataset } from './fixtures.ts'
import { InvalidCatalogError, readCatalogPage } from './read-catalog-page.ts'

const example = (name: string) => JSON.parse(readFileSync(fromRoot('spec/dsp-2025-1/catalog/example', name), 'utf8'))

describe('readCatalogPage: happy cases', () => {
  it('reads the published example catalog into one entry with its offer', () => {
    const page = readCatalogPage(example('catalog.json'))
    expect(page.participantId).toBe('urn:example:DataProviderA')
    expect(page.rejected).toEqual([])
    expect(page.entries).toHaveLength(1)
    const [entry] = page.entries
    expect(entry!.datasetId).toBe('urn:uuid:3dd1add8-4d2d-569e-d634-8394a8836a88')
    expect(entry!.formats).toEqual(['HttpData-PULL'])
    expect(entry!.offers[0]!.actions).toEqual(['use'])
    expect(entry!.offers[0]!.summary).toBe('You may use it if the location is EU.')
  })

  it('reads DCAT metadata in English and French, folded for the index', () => {
    const catalog = fixtureCatalog('did:web:a.example', [fixtureDataset(0, { prefix: 'a' })], 'a')
    expectDspValid('catalog/catalog-schema.json', catalog)
    const [entry] = readCatalogPage(catalog).entries
    expect(entry!.title).toBe('Daily precipitation — Quebec stations, 1990 (a 0)')
    expect(entry!.keywords).toEqual(['precipitation', 'quebec', 'climate'])
    expect(entry!.spatial).toEqual(['http://sws.geonames.org/6115047/'])
    expect(entry!.licenses).toEqual(['http://creativecommons.org/licenses/by/4.0/'])
    expect(entry!.temporal).toEqual({ start: '1990-01-01', end: '1995-12-31' })
    expect(entry!.temporalStartMs).toBe(Date.parse('1990-01-01'))
    expect(entry!.search.title).toContain('precipitations quotidiennes stations de quebec')
    expect(entry!.offers[0]!.summary).toBe('You may use it if the purpose is research. You may not share it.')
  })

  it('reads what this connector publishes: places, time coverage, modification and the license of its distributions', () => {
    const description = generatedDataset(1, {
      spatial: ['https://sws.geonames.org/2960860/', 'https://sws.geonames.org/6251999/'],
      temporal: { start: '2015-01-01', end: '2024-12-31T12:00:00Z' },
      modified: '2025-02-03T08:30:00Z',
      license: 'https://creativecommons.org/licenses/by-nc/4.0/',
    })
    const published = dspDataset(description, [offerBodies['open-with-attribution']!], { id: 'urn:a:service', endpointURL: 'https://a.example/dsp' })
    const catalog = fixtureCatalog('did:web:a.example', [published], 'a')
    expectDspValid('catalog/catalog-schema.json', catalog)
    const [entry] = readCatalogPage(catalog).entries
    expect(entry).toMatchObject({
      spatial: ['https://sws.geonames.org/2960860/', 'https://sws.geonames.org/6251999/'],
      temporal: { start: '2015-01-01', end: '2024-12-31T12:00:00Z' },
      temporalStartMs: Date.parse('2015-01-01'),
      temporalEndMs: Date.parse('2024-12-31T12:00:00Z'),
      modified: '2025-02-03T08:30:00Z',
      modifiedMs: Date.parse('2025-02-03T08:30:00Z'),
      licenses: ['https://creativecommons.org/licenses/by-nc/4.0/'],
    })
  })

  it('flattens nested catalogs', () => {
    const child = { '@id': 'urn:child', '@type': 'Catalog', dataset: [fixtureDataset(1, { prefix: 'c' })] }
    const root = { ...fixtureCatalog('did:web:a.example', [fixtureDataset(0, { prefix: 'a' })]), catalog: [child] }
    expectDspValid('catalog/catalog-schema.json', root)
    expect(readCatalogPage(root).entries.map((e) => e.datasetId)).toEqual(['urn:a:dataset:0', 'urn:c:dataset:1'])
  })

  it('reads an empty catalog as no entries', () => {
    expect(readCatalogPage(fixtureCatalog('did:web:a.example', [])).entries).toEqual([])
  })
})

describe('readCatalogPage: hostile and invalid input', () => {
  it.each([
    ['not an object', 'hello'],
    ['null', null],
    ['an array', []],
    ['the wrong @type', { ...fixtureCatalog('p', []), '@type': 'Dataset' }],
    ['no DSP @context', { ...fixtureCatalog('p', []), '@context': ['https://example.org/other'] }],
    ['no participantId', (({ participantId: _, ...rest }) => rest)(fixtureCatalog('p', []))],
    ['a dataset list that is not an array', { ...fixtureCatalog('p', []), dataset: { '@id': 'x' } }],
  ])('refuses the whole page when it is %s', (_name, body) => {
    expect(() => readCatalogPage(body)).toThrow(InvalidCatalogError)
    // The published schema agrees the page is invalid.
    expect(dspSchemaErrors('catalog/catalog-schema.json', body)).not.toEqual([])
  })

  it('refuses only the invalid datasets, each with a reason, and keeps the rest', () => {
    const good = fixtureDataset(0)
    const noPolicy = { ...fixtureDataset(1), hasPolicy: undefined }
    const withTarget = { ...fixtureDataset(2), hasPolicy: [{ '@id': 'o', permission: [{ action: 'use' }], target: 'x' }] }
    const badOperator = {
      ...fixtureDataset(3),
      hasPolicy: [{ '@id': 'o', permission: [{ action: 'use', constraint: [{ leftOperand: 'a', operator: 'like', rightOperand: 'b' }] }] }],
    }
    const noDistribution = { ...fixtureDataset(4), distribution: [] }
    const page = readCatalogPage(fixtureCatalog('p', [good, JSON.parse(JSON.stringify(noPolicy)), withTarget, badOperator, noDistribution, 42]))
    expect(page.entries.map((e) => e.datasetId)).toEqual(['urn:fixture:dataset:0'])
    expect(page.rejected.map((r) => r.datasetId)).toEqual([
      'urn:fixture:dataset:1',
      'urn:fixture:dataset:2',
      'urn:fixture:dataset:3',
      'urn:fixture:dataset:4',
      null,
    ])
    for (const r of page.rejected) expect(r.reason.length).toBeGreaterThan(5)
  })

  it('agrees with the published dataset schema on valid and invalid datasets', () => {
    const cases: unknown[] = [
      fixtureDataset(0),
      { ...fixtureDataset(1), hasPolicy: [] },
      { ...fixtureDataset(2), hasPolicy: [{ '@id': 'o', prohibition: [{ action: 'use' }] }] },
      { ...fixtureDataset(3), hasPolicy: [{ '@id': 'o' }] },
      { ...fixtureDataset(4), distribution: [{ format: 'x' }] },
      { ...fixtureDataset(5), distribution: [{ format: 'x', accessService: { '@id': 's', '@type': 'DataService', endpointURL: 'https://x' } }] },
      {
        ...fixtureDataset(6),
        hasPolicy: [{ '@id': 'o', permission: [{ action: 'use', constraint: [{ and: [{ leftOperand: 'a', operator: 'eq', rightOperand: 'b' }] }] }] }],
      },
    ]
    for (const dataset of cases) {
      const ours = CatalogDataset.safeParse(dataset).success
      const published =
        dspSchemaErrors('catalog/dataset-schema.json', { '@context': ['https://w3id.org/dspace/2025/1/context.jsonld'], ...(dataset as object) }).length === 0
      expect({ dataset, ours }).toEqual({ dataset, ours: published })
    }
  })

  it('refuses a dataset with too many or too large offers, keeping the others', () => {
    const offer = (i: number, size = 10) => ({
      '@id': `o${i}`,
      permission: [{ action: 'use', constraint: [{ leftOperand: 'purpose', operator: 'eq', rightOperand: 'x'.repeat(size) }] }],
    })
    const many = { ...fixtureDataset(1), hasPolicy: Array.from({ length: 51 }, (_, i) => offer(i)) }
    const huge = { ...fixtureDataset(2), hasPolicy: [offer(0, 70_000)] }
    const page = readCatalogPage(fixtureCatalog('p', [fixtureDataset(0), many, huge]))
    expect(page.entries.map((e) => e.datasetId)).toEqual(['urn:fixture:dataset:0'])
    expect(page.rejected.map((r) => r.reason)).toEqual(['more than 50 offers', 'offers larger than 64 kB'])
  })

  it('refuses a dataset id that appears twice', () => {
    const page = readCatalogPage(fixtureCatalog('p', [fixtureDataset(0), fixtureDataset(0)]))
    expect(page.entries).toHaveLength(1)
    expect(page.rejected[0]!.reason).toMatch(/twice/)
  })
})
