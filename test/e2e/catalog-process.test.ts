import { cpSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Parser, Store } from 'n3'
import SHACLValidator from 'rdf-validate-shacl'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { jsonLdProcessor } from '../../catalog/jsonld-processor.ts'
import { generatedDataset } from '../support/catalog-fixtures.ts'
import { expectDspValid } from '../support/dsp-schemas.ts'
import { copyParticipant, startConnectorProcess, type ConnectorProcess, type ParticipantFolder } from '../support/processes.ts'
import { fromRoot } from '../../connector/paths.ts'

/**
 * The catalog of a running connector, read over HTTP like an independent client would: the TCK
 * profile (static tokens) holding the TCK's catalog datasets, the seed datasets and 250 datasets
 * created through the management API.
 */
describe('catalog of a running connector', () => {
  let participant: ParticipantFolder
  let connector: ConnectorProcess
  const token = { authorization: 'Bearer tck-consumer-token' }
  const message = JSON.stringify({ '@context': ['https://w3id.org/dspace/2025/1/context.jsonld'], '@type': 'CatalogRequestMessage', filter: [] })

  beforeAll(async () => {
    participant = await copyParticipant({ from: fromRoot('seeds/tck') })
    cpSync(fromRoot('connector/catalog/fixtures/tck/datasets'), join(participant.dir, 'datasets'), { recursive: true })
    cpSync(fromRoot('seeds/datasets'), join(participant.dir, 'datasets'), { recursive: true })
    cpSync(fromRoot('seeds/files'), join(participant.dir, 'files'), { recursive: true })
    cpSync(fromRoot('seeds/policies'), join(participant.dir, 'policies'), { recursive: true, filter: (f) => !f.endsWith('.test.yaml') })
    writeFileSync(join(participant.dir, 'policies/tck-open.yaml'), 'id: tck-open\ntitle: Open to every TCK participant\npermissions:\n  - action: use\n')
    connector = await startConnectorProcess(participant)
    const manage = { authorization: `Bearer ${participant.managementKey}`, 'content-type': 'application/json' }
    for (let n = 0; n < 250; n++) {
      const response = await fetch(`${participant.url}/management/v1/datasets`, { method: 'POST', headers: manage, body: JSON.stringify(generatedDataset(n)) })
      expect(response.status).toBe(201)
    }
  }, 120_000)
  afterAll(async () => {
    await connector?.stop()
    participant?.remove()
  })

  it('lists every visible dataset exactly once through Link rel="next", each page a valid DSP Catalog', async () => {
    const seen: string[] = []
    let url: string | undefined = `${participant.url}/dsp/2025-1/catalog/request?limit=40`
    while (url) {
      const response: Response = await fetch(url, { method: 'POST', headers: { ...token, 'content-type': 'application/json' }, body: message })
      expect(response.status).toBe(200)
      const body = (await response.json()) as { dataset: Array<{ '@id': string }> }
      expectDspValid('catalog/catalog-schema.json', body)
      seen.push(...body.dataset.map((d) => d['@id']))
      url = /<([^>]+)>; rel="next"/.exec(response.headers.get('link') ?? '')?.[1]
    }
    // 2 TCK datasets + 4 public seed datasets (the members-only one is hidden: no credentials) + 250
    expect(seen).toHaveLength(256)
    expect(new Set(seen).size).toBe(256)
    expect(seen).toContain('CAT0101')
    expect(seen).not.toContain('urn:uuid:d9c7c33d-9423-4f98-9122-8c84794feb94')
  })

  it('answers the TCK catalog cases', async () => {
    const read = (id: string) => fetch(`${participant.url}/dsp/2025-1/catalog/datasets/${encodeURIComponent(id)}`, { headers: token })
    const found = await read('CAT0102')
    expect(found.status).toBe(200)
    expectDspValid('catalog/dataset-schema.json', await found.json())
    const missing = await read('CAT0103')
    expect(missing.status).toBe(404)
    expectDspValid('catalog/catalog-error-schema.json', await missing.json())
  })

  it('serves a DCAT-AP document that passes the mandatory shapes', async () => {
    const response = await fetch(`${participant.url}/catalog.jsonld`)
    expect(response.status).toBe(200)
    const doc = (await response.json()) as Record<string, unknown>
    expect((doc['dcat:dataset'] as unknown[]).length).toBe(256)
    const data = new Store(new Parser({ format: 'N-Quads' }).parse(await jsonLdProcessor({}).toNQuads(doc)))
    const shapes = new Store(new Parser({ format: 'text/turtle' }).parse(readFileSync(fromRoot('spec/dcat-ap-3.0.1/shapes.ttl'), 'utf8')))
    const report = await new SHACLValidator(shapes).validate(data)
    expect(report.results.map((r) => `${r.focusNode?.value} ${r.path?.value}: ${r.message.map((m) => m.value).join('; ')}`)).toEqual([])
  })
})
