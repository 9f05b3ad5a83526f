import { readFileSync } from 'node:fs'
import { Parser, Store } from 'n3'
import SHACLValidator from 'rdf-validate-shacl'
import { describe, expect, it } from 'vitest'
import { fromRoot } from '../connector/paths.ts'
import { expectDspValid } from '../test/support/dsp-schemas.ts'
import { DatasetDescription } from './dataset.ts'
import { dcatContext } from './dcat-render.ts'
import { jsonLdProcessor } from './jsonld-processor.ts'
import { emptyFilter } from './filter.ts'
import { generatedDataset, member, testCatalog } from '../test/support/catalog-fixtures.ts'

const jsonld = jsonLdProcessor({
  'https://w3id.org/dspace/2025/1/context.jsonld': fromRoot('spec/dsp-2025-1/context/dspace.jsonld'),
  'https://w3id.org/dspace/2025/1/odrl-profile.jsonld': fromRoot('spec/dsp-2025-1/context/odrl.jsonld'),
})
const tdm = 'http://www.w3.org/ns/tdmrep#'
const reserved = generatedDataset(1, { tdm: { reservation: true, policy: 'https://observatoire-climatique.example/tdm-policy.json' } })
const open = generatedDataset(2, { tdm: { reservation: false } })
const silent = generatedDataset(3)

function catalog() {
  const c = testCatalog()
  for (const d of [reserved, open, silent]) c.publish(d, { kind: 'api' })
  return c
}

describe('text-and-data-mining reservation (TDMRep)', () => {
  it('shows in the DSP catalog entry as tdm reservation 1 or 0 and the policy IRI, and the catalog stays valid DSP', async () => {
    const body = JSON.parse((await catalog().page({ requester: member, now: new Date(), filter: emptyFilter, offset: 0, limit: 10 })).body)
    expectDspValid('catalog/catalog-schema.json', body)
    const byId = new Map(body.dataset.map((d: Record<string, unknown>) => [d['@id'], d]))
    expect(byId.get(reserved.id)).toMatchObject({
      [`${tdm}reservation`]: 1,
      [`${tdm}policy`]: { '@id': 'https://observatoire-climatique.example/tdm-policy.json' },
    })
    expect(byId.get(open.id)).toMatchObject({ [`${tdm}reservation`]: 0 })
    expect(byId.get(open.id)).not.toHaveProperty(`${tdm}policy`)
    expect(byId.get(silent.id)).not.toHaveProperty(`${tdm}reservation`)
  })

  it('shows in the DCAT-AP export, which still passes the DCAT-AP shapes, and the DSP entry says the same triples', async () => {
    const c = catalog()
    const doc = JSON.parse(await c.dcatText())
    const node = doc['dcat:dataset'].find((d: { '@id': string }) => d['@id'] === reserved.id)
    expect(node).toMatchObject({ 'tdm:reservation': 1, 'tdm:policy': { '@id': 'https://observatoire-climatique.example/tdm-policy.json' } })

    const nquads = await jsonld.toNQuads(doc)
    expect(nquads).toContain(`<${reserved.id}> <${tdm}reservation> "1"^^<http://www.w3.org/2001/XMLSchema#integer>`)
    const data = new Store(new Parser({ format: 'N-Quads' }).parse(nquads))
    const shapes = new Store(new Parser({ format: 'text/turtle' }).parse(readFileSync(fromRoot('spec/dcat-ap-3.0.1', 'shapes.ttl'), 'utf8')))
    const report = await new SHACLValidator(shapes).validate(data)
    expect(report.results.map((r) => r.message.map((m) => m.value).join('; '))).toEqual([])

    // The DSP template equals JSON-LD compaction of the DCAT-AP node under the DSP context.
    const projected = { '@id': node['@id'], 'tdm:reservation': node['tdm:reservation'], 'tdm:policy': node['tdm:policy'] }
    const { '@context': _context, ...compacted } = await jsonld.compact(
      { '@context': { ...dcatContext, '@base': doc['@context']['@base'] }, ...projected },
      'https://w3id.org/dspace/2025/1/context.jsonld',
    )
    const dsp = JSON.parse((await c.dataset(reserved.id, member, new Date()))!)
    expect({ '@id': dsp['@id'], [`${tdm}reservation`]: dsp[`${tdm}reservation`], [`${tdm}policy`]: dsp[`${tdm}policy`] }).toEqual(compacted)
  })

  it('refuses a TDM policy without a reservation, and a policy that is not an http(s) URL', async () => {
    const base = { ...reserved, id: 'urn:uuid:00000000-0000-4000-8000-0000000000ff' }
    const unreserved = DatasetDescription.safeParse({ ...base, tdm: { reservation: false, policy: 'https://x.example/p' } })
    expect(unreserved.success).toBe(false)
    expect(unreserved.error!.issues[0]).toMatchObject({ path: ['tdm', 'policy'] })
    expect(DatasetDescription.safeParse({ ...base, tdm: { reservation: true, policy: 'file:///etc/passwd' } }).success).toBe(false)
    expect(DatasetDescription.safeParse({ ...base, tdm: { reservation: 1 } }).success).toBe(false)
    expect(DatasetDescription.safeParse({ ...base, tdm: { reservation: true, mining: 'no' } }).success).toBe(false)
  })
})
