import { readFileSync } from 'node:fs'
import { Parser, Store } from 'n3'
import SHACLValidator from 'rdf-validate-shacl'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { jsonLdProcessor } from '../../catalog/jsonld-processor.ts'
import { fromRoot } from '../../connector/paths.ts'
import { copyParticipant, startConnectorProcess, type ConnectorProcess, type ParticipantFolder } from '../support/processes.ts'

/**
 * The DCAT-AP document the seed participant serves, validated as European open-data portals harvest:
 * the mandatory shapes, their range shapes, the consolidated release shapes and the release's range
 * shapes (no RDFS inference: every object must carry the exact class), and the recommended shapes,
 * whose warnings are reported.
 */
const shapeFiles = {
  violations: ['shapes.ttl', 'range.ttl', 'release-shacl/dcat-ap-SHACL.ttl', 'release-shacl/ranges.ttl'],
  warnings: ['shapes_recommended.ttl'],
}

const shapes = new Map<string, Store>()
function shapesOf(name: string): Store {
  if (!shapes.has(name)) shapes.set(name, new Store(new Parser({ format: 'text/turtle' }).parse(readFileSync(fromRoot('spec/dcat-ap-3.0.1', name), 'utf8'))))
  return shapes.get(name)!
}

async function validate(doc: Record<string, unknown>, names: string[]) {
  const data = new Store(new Parser({ format: 'N-Quads' }).parse(await jsonLdProcessor({}).toNQuads(doc)))
  const results: string[] = []
  for (const name of names) {
    const report = await new SHACLValidator(shapesOf(name)).validate(data)
    for (const r of report.results)
      results.push(`${name}: ${r.focusNode?.termType === 'BlankNode' ? '_' : r.focusNode?.value} ${r.path?.value}: ${r.message.map((m) => m.value).join('; ')}`)
  }
  return results
}

describe('DCAT-AP export of the seed participant, with the full DCAT-AP 3.0.1 shapes', () => {
  let participant: ParticipantFolder
  let connector: ConnectorProcess
  let served: Record<string, unknown>

  beforeAll(async () => {
    participant = await copyParticipant()
    connector = await startConnectorProcess(participant)
    const response = await fetch(`${participant.url}/catalog.jsonld`)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toMatch(/application\/ld\+json/)
    served = (await response.json()) as Record<string, unknown>
  }, 120_000)
  afterAll(async () => {
    await connector?.stop()
    participant?.remove()
  })

  it('has no violation of the mandatory, release and range shapes', async () => {
    expect((served['dcat:dataset'] as unknown[]).length).toBeGreaterThan(0)
    expect(await validate(served, shapeFiles.violations)).toEqual([])
  })

  it('raises fewer than 5 recommended-property warnings, and says which', async () => {
    const warnings = await validate(served, shapeFiles.warnings)
    console.log(`DCAT-AP recommended-property warnings on the seed participant: ${warnings.length}\n  ${warnings.join('\n  ')}`)
    expect(warnings.length).toBeLessThan(5)
  })

  it('fills the catalog-wide recommended properties from the datasets', () => {
    expect(served).toMatchObject({
      'dct:language': expect.arrayContaining([{ '@id': 'http://publications.europa.eu/resource/authority/language/ENG', '@type': 'dct:LinguisticSystem' }]),
      'dct:issued': { '@value': expect.any(String) },
      'dct:modified': { '@value': expect.any(String) },
      'dcat:themeTaxonomy': [{ '@id': 'http://publications.europa.eu/resource/authority/data-theme', '@type': 'skos:ConceptScheme' }],
    })
    const [service] = served['dcat:service'] as Array<Record<string, unknown>>
    expect((service!['dcat:servesDataset'] as unknown[]).length).toBe((served['dcat:dataset'] as unknown[]).length)
  })

  it("names each offer by the steward's policy id and title (and stays valid: the violations test above runs on it)", () => {
    const offers = (served['dcat:dataset'] as Array<Record<string, unknown>>).flatMap((d) => d['odrl:hasPolicy'] as unknown[])
    expect(offers).toContainEqual(expect.objectContaining({ 'dct:identifier': 'research-only', 'dct:title': 'Research use only' }))
  })

  /** The document with every node `id` untyped: RDF merges the nodes of one IRI, so one typed copy would do. */
  function untyped(id: string) {
    const strip = (value: unknown): unknown => {
      if (Array.isArray(value)) return value.map(strip)
      if (!value || typeof value !== 'object') return value
      const entries = Object.entries(value).filter(([key]) => !(key === '@type' && (value as Record<string, unknown>)['@id'] === id))
      return Object.fromEntries(entries.map(([key, v]) => [key, strip(v)]))
    }
    return strip(served) as Record<string, unknown>
  }

  // The checks can fail: what the range shapes caught before the export typed its objects.
  it('reports an untyped policy as a violation', async () => {
    const dataset = (served['dcat:dataset'] as Array<Record<string, any>>).find((d) => d['dcat:distribution'][0]['odrl:hasPolicy'])!
    const violations = await validate(untyped(dataset['dcat:distribution'][0]['odrl:hasPolicy']['@id']), shapeFiles.violations)
    expect(violations.join('\n')).toMatch(/odrl\/2\/hasPolicy/)
  })

  it('reports an untyped checksum algorithm as a violation', async () => {
    const violations = await validate(untyped('spdx:checksumAlgorithm_sha256'), shapeFiles.violations)
    expect(violations.join('\n')).toMatch(/spdx.org\/rdf\/terms#algorithm/)
  })

  it('reports an untyped endpoint URL as a violation', async () => {
    const [service] = served['dcat:service'] as Array<Record<string, any>>
    expect((await validate(untyped(service!['dcat:endpointURL']['@id']), ['release-shacl/ranges.ttl'])).join('\n')).toMatch(/endpointURL/)
  })
})
