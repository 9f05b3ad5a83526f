/**
 * Prints the DCAT-AP 3.0.1 recommended-property warnings (shapes_recommended.ttl) for a participant
 * folder's dataset files, and any violation of the mandatory shapes, their range shapes, the
 * consolidated release shapes and the release's range shapes (what European portals harvest with).
 * Development tool (it loads the SHACL validator, a development dependency); exits 1 on a
 * violation, 0 with warnings only.
 *
 *   node --import tsx catalog/dcat-warnings.ts [PARTICIPANT_DIR]   (default: seeds)
 */
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Parser, Store } from 'n3'
import SHACLValidator from 'rdf-validate-shacl'
import { formatFileError, readDatasetsDir } from './dataset-files.ts'
import { dcatCatalog, dcatDataset } from './dcat-render.ts'
import { jsonLdProcessor } from './jsonld-processor.ts'

// A script run from the sources: the repository is the folder above this one (the library does not import the connector).
const fromRoot = (...segments: string[]) => join(fileURLToPath(new URL('..', import.meta.url)), ...segments)
const root = resolve(process.argv[2] ?? fromRoot('seeds'))
const read = await readDatasetsDir(join(root, 'datasets'), { root })
for (const e of read.errors) console.error(`problem: ${formatFileError(e)}`)

const dspUrl = 'http://127.0.0.1:8181/dsp/2025-1'
const service = { id: `${dspUrl}#data-service`, endpointURL: dspUrl, title: 'Dataspace Protocol endpoint' }
const doc = dcatCatalog(
  {
    id: `${dspUrl}/catalog`,
    title: 'Catalog',
    description: 'Datasets of this participant.',
    publisher: { name: 'Participant' },
    homepage: 'http://127.0.0.1:8181/',
    base: 'http://127.0.0.1:8181/catalog/datasets/',
    service,
  },
  read.datasets.map((d) =>
    dcatDataset(
      d.dataset,
      d.dataset.policies.map((p) => `urn:policy:${p}`),
      service,
    ),
  ),
)
const nquads = await jsonLdProcessor({}).toNQuads(doc)
const data = new Store(new Parser({ format: 'N-Quads' }).parse(nquads))
const shapes = (name: string) => new Store(new Parser({ format: 'text/turtle' }).parse(readFileSync(fromRoot('spec/dcat-ap-3.0.1', name), 'utf8')))

let violations = 0
const files = [
  ['shapes.ttl', 'violation'],
  ['range.ttl', 'violation'],
  ['release-shacl/dcat-ap-SHACL.ttl', 'violation'],
  ['release-shacl/ranges.ttl', 'violation'],
  ['shapes_recommended.ttl', 'warning'],
] as const
for (const [name, label] of files) {
  const report = await new SHACLValidator(shapes(name)).validate(data)
  const grouped = new Map<string, string[]>()
  for (const r of report.results) {
    const key = `${r.path?.value ?? '(node)'}: ${r.message.map((m) => m.value).join('; ')}`
    grouped.set(key, [...(grouped.get(key) ?? []), r.focusNode?.value ?? '?'])
  }
  if (label === 'violation') violations += report.results.length
  console.log(`${name}: ${report.results.length} ${label}${report.results.length === 1 ? '' : 's'}`)
  for (const [key, nodes] of grouped) console.log(`  ${label}: ${key} (${nodes.length}×, e.g. ${nodes[0]})`)
}
console.log(`${read.datasets.length} datasets checked from ${root}`)
process.exitCode = violations > 0 ? 1 : 0
