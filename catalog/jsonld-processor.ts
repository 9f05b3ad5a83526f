import { readFileSync } from 'node:fs'
// jsonld ships no types of its own (and @types/jsonld describes 1.x): this module is its typed face.
// @ts-expect-error no declaration file
import jsonldModule from 'jsonld'

/**
 * JSON-LD processing for where RDF semantics matter (DCAT-AP validation, proofs that templates are
 * right): never on a request path. Contexts come from bundled files; any other URL is refused.
 */
type JsonLd = Record<string, unknown> | Array<Record<string, unknown>>

interface Processor {
  compact(input: JsonLd, context: unknown, options: object): Promise<Record<string, unknown>>
  expand(input: JsonLd, options: object): Promise<Array<Record<string, unknown>>>
  toRDF(input: JsonLd, options: object): Promise<string>
}
const jsonld = jsonldModule as Processor

export function staticDocumentLoader(files: Record<string, string>) {
  const cache = new Map<string, unknown>()
  return async (url: string) => {
    const file = files[url]
    if (!file) throw new Error(`refusing to load ${url}: only bundled contexts are used`)
    if (!cache.has(url)) cache.set(url, JSON.parse(readFileSync(file, 'utf8')))
    return { contextUrl: undefined, documentUrl: url, document: structuredClone(cache.get(url)) }
  }
}

export function jsonLdProcessor(files: Record<string, string>) {
  const options = { documentLoader: staticDocumentLoader(files), safe: true }
  return {
    compact: (input: JsonLd, context: unknown) => jsonld.compact(input, context, options),
    expand: (input: JsonLd) => jsonld.expand(input, options),
    toNQuads: (input: JsonLd) => jsonld.toRDF(input, { ...options, format: 'application/n-quads' }),
  }
}
