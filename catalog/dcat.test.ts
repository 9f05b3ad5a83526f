import { readFileSync } from 'node:fs'
import { Parser, Store } from 'n3'
import SHACLValidator from 'rdf-validate-shacl'
import { describe, expect, it } from 'vitest'
import { fromRoot } from '../connector/paths.ts'
import { readDatasetsDir } from './dataset-files.ts'
import { dcatContext } from './dcat-render.ts'
import { jsonLdProcessor } from './jsonld-processor.ts'
import { fakePolicies, member, testCatalog } from '../test/support/catalog-fixtures.ts'

/**
 * DCAT-AP 3.0.1 conformance of the full JSON-LD, and the proof that the DSP templates say what the
 * full DCAT says: JSON-LD compaction of the full description under the DSP context gives the
 * template's output, property for property.
 */

const jsonld = jsonLdProcessor({
  'https://w3id.org/dspace/2025/1/context.jsonld': fromRoot('spec/dsp-2025-1/context/dspace.jsonld'),
  'https://w3id.org/dspace/2025/1/odrl-profile.jsonld': fromRoot('spec/dsp-2025-1/context/odrl.jsonld'),
})

const seeds = fromRoot('seeds')
async function seedCatalog() {
  const catalog = testCatalog(fakePolicies())
  expect(await catalog.applyFiles(await readDatasetsDir(`${seeds}/datasets`, { root: seeds }))).toEqual([])
  return catalog
}

async function toStore(doc: object) {
  const nquads = await jsonld.toNQuads(doc as Record<string, unknown>)
  return new Store(new Parser({ format: 'N-Quads' }).parse(nquads))
}

function shapes(name: string) {
  return new Store(new Parser({ format: 'text/turtle' }).parse(readFileSync(fromRoot('spec/dcat-ap-3.0.1', name), 'utf8')))
}

describe('DCAT-AP 3.0.1 document', () => {
  it('passes the mandatory shapes with zero violations', async () => {
    const catalog = await seedCatalog()
    const data = await toStore(JSON.parse(await catalog.dcatText()))
    expect(data.size).toBeGreaterThan(100)
    const report = await new SHACLValidator(shapes('shapes.ttl')).validate(data)
    const violations = report.results.map((r) => `${r.focusNode?.value} ${r.path?.value}: ${r.message.map((m) => m.value).join('; ')}`)
    expect(violations).toEqual([])
    expect(report.conforms).toBe(true)
  })

  it('fails the shapes when a mandatory property is missing (the check can fail)', async () => {
    const doc = JSON.parse(await (await seedCatalog()).dcatText())
    delete doc['dcat:dataset'][0]['dct:title']
    const report = await new SHACLValidator(shapes('shapes.ttl')).validate(await toStore(doc))
    expect(report.conforms).toBe(false)
  })

  it('lists only public datasets (no visibility policy): portals are anonymous', async () => {
    const doc = JSON.parse(await (await seedCatalog()).dcatText())
    const ids = doc['dcat:dataset'].map((d: { '@id': string }) => d['@id'])
    expect(ids).toHaveLength(4)
    expect(ids).not.toContain('urn:uuid:d9c7c33d-9423-4f98-9122-8c84794feb94')
  })

  it('carries byte size, sha256 checksum, media type and licence of each distribution', async () => {
    const doc = JSON.parse(await (await seedCatalog()).dcatText())
    const ice = doc['dcat:dataset'].find((d: { '@id': string }) => d['@id'] === 'urn:uuid:0f3cee7e-e077-4be0-9365-3a791567f70e')
    expect(ice['dcat:distribution'][0]).toMatchObject({
      'dcat:byteSize': { '@value': '3812' },
      'spdx:checksum': { 'spdx:checksumValue': { '@value': 'c89f028c68ac9b694fa27021ea108303898775fdc447de912cac24b8578c886d' } },
      'dcat:mediaType': { '@id': 'https://www.iana.org/assignments/media-types/text/csv' },
      'dct:license': { '@id': 'https://creativecommons.org/licenses/by/4.0/' },
    })
  })
})

describe('DSP templates equal JSON-LD compaction of the full DCAT', () => {
  it('for every seed dataset: id, type, titles, descriptions, keywords, themes, places, time coverage, modification', async () => {
    const catalog = await seedCatalog()
    const full = JSON.parse(await catalog.dcatText())
    const dsp = new Map<string, Record<string, unknown>>(
      JSON.parse(
        (await catalog.page({ requester: member, now: new Date(), filter: { keywords: [], themes: [], words: [] }, offset: 0, limit: 100 })).body,
      ).dataset.map((d: Record<string, unknown>) => [d['@id'], d]),
    )
    const relevant = ['@id', '@type', 'dct:title', 'dct:description', 'dcat:keyword', 'dcat:theme', 'dct:spatial', 'dct:temporal', 'dct:modified']
    for (const node of full['dcat:dataset']) {
      const projected = Object.fromEntries(Object.entries(node).filter(([k]) => relevant.includes(k)))
      // Themes are typed skos:Concept in the full document; the DSP view names them only.
      if (projected['dcat:theme']) projected['dcat:theme'] = (projected['dcat:theme'] as Array<{ '@id': string }>).map((t) => ({ '@id': t['@id'] }))
      // Places carry their extent (bbox, centroid) in the full document; the DSP view names them only.
      if (projected['dct:spatial'])
        projected['dct:spatial'] = (projected['dct:spatial'] as Array<{ '@id': string; '@type': string }>).map((p) => ({
          '@id': p['@id'],
          '@type': p['@type'],
        }))
      const compacted = await jsonld.compact(
        { '@context': { ...dcatContext, '@base': full['@context']['@base'] }, ...projected },
        'https://w3id.org/dspace/2025/1/context.jsonld',
      )
      const { '@context': _context, ...body } = compacted as Record<string, unknown>
      const template = dsp.get(node['@id'])!
      const templateRelevant = Object.fromEntries(Object.entries(template).filter(([k]) => relevant.includes(k)))
      expect(templateRelevant).toEqual(body)
    }
  })

  it('for the offers and distributions: the template expands to the DSP triples it should', async () => {
    const catalog = await seedCatalog()
    const text = (await catalog.dataset('urn:uuid:0f3cee7e-e077-4be0-9365-3a791567f70e', member, new Date()))!
    const expanded = await jsonld.expand(JSON.parse(text))
    const node = expanded[0]!
    expect(node['@type']).toEqual(['http://www.w3.org/ns/dcat#Dataset'])
    const policy = (node['http://www.w3.org/ns/odrl/2/hasPolicy'] as Array<Record<string, unknown>>)[0]!
    expect(policy['@id']).toBe('urn:policy:open-with-attribution')
    expect(policy['@type']).toEqual(['http://www.w3.org/ns/odrl/2/Offer'])
    const distribution = (node['http://www.w3.org/ns/dcat#distribution'] as Array<Record<string, unknown>>)[0]!
    expect(distribution['http://www.w3.org/ns/dcat#accessService']).toBeDefined()
    expect(distribution['http://purl.org/dc/terms/format']).toBeDefined()
    // The license where DCAT-AP puts it, on each distribution.
    expect(distribution['http://purl.org/dc/terms/license']).toEqual([
      { '@id': 'https://creativecommons.org/licenses/by/4.0/', '@type': ['http://purl.org/dc/terms/LicenseDocument'] },
    ])
  })
})
