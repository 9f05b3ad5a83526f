/**
 * The one place that talks to the `jsonld` package (its bundled types describe an older version).
 * Contexts come from the copies under spec/, through a static document loader that refuses every
 * other URL; processing runs with `safe: true`, so a term that does not resolve is an error.
 */
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

type Json = Record<string, unknown>

interface JsonLd {
  toRDF(input: unknown, options: Json): Promise<string>
  fromRDF(input: string, options: Json): Promise<unknown>
  flatten(input: unknown, context: unknown, options: Json): Promise<unknown>
}
// Loaded on first use (it costs ~80 ms at start-up and only raw JSON-LD policy files need it).
let loadedJsonLd: JsonLd | undefined
const jsonldLib = (): JsonLd => (loadedJsonLd ??= createRequire(import.meta.url)('jsonld') as JsonLd)

/**
 * The bundled contexts live in the package's spec/ folder: found by walking up from this module,
 * so that the same code works from sources and from any chunk of the built bundle.
 */
let specRoot: string | undefined
function specFile(path: string): string {
  if (!specRoot) {
    let dir = dirname(fileURLToPath(import.meta.url))
    while (!existsSync(join(dir, 'spec', 'odrl-2.2', 'odrl.jsonld'))) {
      const parent = dirname(dir)
      if (parent === dir) throw new Error('cannot find the bundled JSON-LD contexts (spec/)')
      dir = parent
    }
    specRoot = join(dir, 'spec')
  }
  return join(specRoot, path)
}

const contextFiles: Record<string, string> = {
  'http://www.w3.org/ns/odrl.jsonld': 'odrl-2.2/odrl.jsonld',
  'https://www.w3.org/ns/odrl.jsonld': 'odrl-2.2/odrl.jsonld',
  'https://w3id.org/dspace/2025/1/context.jsonld': 'dsp-2025-1/context/dspace.jsonld',
  'https://w3id.org/dspace/2025/1/odrl-profile.jsonld': 'dsp-2025-1/context/odrl.jsonld',
}

/** The context URLs this engine has bundled copies of. */
export const knownContextUrls = Object.keys(contextFiles)

const loaded = new Map<string, unknown>()
/** A bundled context by its URL (parsed once; callers must not change it). Throws for any other URL. */
export function contextDocument(url: string): unknown {
  const file = contextFiles[url]
  if (!file) throw new Error(`refusing to load ${url}: only bundled contexts are available`)
  let document = loaded.get(url)
  if (!document) {
    document = JSON.parse(readFileSync(specFile(file), 'utf8'))
    loaded.set(url, document)
  }
  return document
}

const documentLoader = async (url: string) => ({ contextUrl: null, documentUrl: url, document: contextDocument(url) })

/** The W3C ODRL context, the vocabulary policies are read in. */
export const odrlContextUrl = 'http://www.w3.org/ns/odrl.jsonld'

/** A jsonld error's useful message (loader errors hide in `details.cause`). */
export function jsonldErrorMessage(error: unknown): string {
  const e = error as { message?: string; details?: { cause?: { message?: string }; event?: { message?: string; details?: Json } } }
  const detail = e.details?.event?.message ?? e.details?.cause?.message
  const d = e.details?.event?.details
  const term = d?.property ?? d?.object ?? d?.term ?? d?.relativeIri ?? d?.iri ?? d?.value
  return [detail ?? e.message ?? String(error), term ? `(\`${String(term)}\`)` : ''].filter(Boolean).join(' ')
}

/** N-Quads → the flattened graph, compacted with the ODRL context. */
export async function graphFromNQuads(nquads: string): Promise<Json[]> {
  const expanded = await jsonldLib().fromRDF(nquads, { format: 'application/n-quads', useNativeTypes: false })
  return flattenWithOdrl(expanded)
}

/** Any JSON-LD document → its flattened graph compacted with the ODRL context. Throws on any unresolvable term. */
export async function graphFromJsonLd(document: unknown): Promise<Json[]> {
  // toRDF with safe: true is what refuses terms that do not resolve to absolute IRIs.
  await jsonldLib().toRDF(document, { documentLoader, safe: true, format: 'application/n-quads' })
  return flattenWithOdrl(document)
}

async function flattenWithOdrl(input: unknown): Promise<Json[]> {
  const flat = (await jsonldLib().flatten(input, odrlContextUrl, { documentLoader, safe: true })) as Json
  const graph = flat['@graph']
  if (Array.isArray(graph)) return graph as Json[]
  const { '@context': _context, ...node } = flat
  return Object.keys(node).length > 0 ? [node] : []
}

const nestedFields = [
  'permission',
  'prohibition',
  'obligation',
  'duty',
  'remedy',
  'consequence',
  'constraint',
  'refinement',
  'and',
  'or',
  'xone',
  'andSequence',
  'target',
  'assignee',
  'assigner',
  'action',
]

/** Re-nests a flattened graph from one node: references to nodes of the graph become the nodes. */
export function nest(graph: Json[], rootId: string): Json | undefined {
  // The ODRL context aliases `@id` to `uid` and `@type` to `type`.
  const idOf = (node: Json) => (node['@id'] ?? node.uid) as string | undefined
  const byId = new Map(graph.map((node) => [idOf(node), node]))
  const seen = new Set<string>()
  const resolve = (value: unknown, depth: number): unknown => {
    if (Array.isArray(value)) return value.map((v) => resolve(v, depth))
    const id = typeof value === 'string' ? value : value && typeof value === 'object' && Object.keys(value).length === 1 ? idOf(value as Json) : undefined
    if (typeof id !== 'string') return value
    const node = byId.get(id)
    if (!node || seen.has(id) || depth > 32 || Object.keys(node).length <= 1) return value
    seen.add(id)
    const copy = expandNode(node, depth + 1)
    seen.delete(id)
    return copy
  }
  const expandNode = (node: Json, depth: number): Json => {
    const copy: Json = { ...node }
    for (const key of nestedFields) if (copy[key] !== undefined) copy[key] = resolve(copy[key], depth)
    return copy
  }
  const root = byId.get(rootId)
  return root ? expandNode(root, 0) : undefined
}
