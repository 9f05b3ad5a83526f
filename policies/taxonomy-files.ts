import { LineCounter, parseDocument, isMap, isSeq, isScalar, type Node } from 'yaml'
import type { ConceptInput, SourcePosition, TaxonomyProblem } from './taxonomy.ts'

/**
 * Reading SKOS concept schemes written by stewards or published by a data space, as Turtle,
 * JSON-LD or YAML, into concepts the taxonomy builder takes. What is read from each concept:
 * `skos:broader` (and `skos:broaderTransitive`, and `skos:narrower` the other way round),
 * `skos:prefLabel` (English or untagged first) and `skos:notation` (its short names). Problems come
 * back with `file:line:column`, what is wrong and, when possible, a suggestion; never as exceptions.
 */

export type TaxonomyFormat = 'turtle' | 'jsonld' | 'yaml'

export interface TaxonomyText {
  concepts: ConceptInput[]
  problems: TaxonomyProblem[]
}

const skos = 'http://www.w3.org/2004/02/skos/core#'
const rdfType = 'http://www.w3.org/1999/02/22-rdf-syntax-ns#type'
export const maxTaxonomyBytes = 8_000_000

/** The format a file name (or a media type) says, if any. */
export function taxonomyFormat(nameOrMediaType: string): TaxonomyFormat | undefined {
  const v = nameOrMediaType.toLowerCase()
  if (/\.ttl$/.test(v) || v.startsWith('text/turtle')) return 'turtle'
  if (/\.(jsonld|json)$/.test(v) || v.startsWith('application/ld+json') || v.startsWith('application/json')) return 'jsonld'
  if (/\.ya?ml$/.test(v) || /^(application|text)\/(x-)?yaml/.test(v)) return 'yaml'
  return undefined
}

export async function readTaxonomyText(text: string, file: string, format: TaxonomyFormat): Promise<TaxonomyText> {
  if (Buffer.byteLength(text, 'utf8') > maxTaxonomyBytes) {
    return { concepts: [], problems: [{ file, line: 1, column: 1, message: `the vocabulary is larger than ${maxTaxonomyBytes} bytes` }] }
  }
  switch (format) {
    case 'yaml':
      return readYaml(text, file)
    case 'turtle':
      return readTurtle(text, file)
    case 'jsonld':
      return readJsonLd(text, file)
  }
}

// ---------------------------------------------------------------- positions

function positionAt(text: string, file: string, offset: number): SourcePosition {
  let line = 1
  let start = 0
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++
    start = i + 1
  }
  return { file, line, column: offset - start + 1 }
}

/** Where an IRI is first written in an RDF text: in full, or as a prefixed name ending with its local part. */
function locateIri(text: string, file: string, iri: string): SourcePosition {
  let offset = text.indexOf(`<${iri}>`)
  if (offset === -1) offset = text.indexOf(`"${iri}"`)
  if (offset === -1) {
    const local = iri.slice(Math.max(iri.lastIndexOf('#'), iri.lastIndexOf('/')) + 1)
    if (local) {
      const match = new RegExp(`[\\s"\\[(,;]([A-Za-z][\\w-]*)?:${local.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\w-])`).exec(text)
      if (match) offset = match.index + 1
    }
  }
  return positionAt(text, file, Math.max(offset, 0))
}

// ---------------------------------------------------------------- RDF (Turtle, JSON-LD)

interface Triple {
  subject: string
  predicate: string
  object: string
  isLiteral: boolean
  language: string
}

/** SKOS concepts of a set of triples. */
function conceptsFromTriples(triples: Triple[], text: string, file: string): TaxonomyText {
  const problems: TaxonomyProblem[] = []
  const nodes = new Map<string, { broader: Set<string>; labels: Array<[string, string]>; notations: string[] }>()
  const node = (iri: string) => {
    let n = nodes.get(iri)
    if (!n) nodes.set(iri, (n = { broader: new Set(), labels: [], notations: [] }))
    return n
  }
  const schemes = new Set<string>()
  for (const t of triples) {
    if (t.predicate === rdfType && t.object === `${skos}ConceptScheme`) schemes.add(t.subject)
  }
  for (const t of triples) {
    const isIri = !t.isLiteral && !t.object.startsWith('_:')
    switch (t.predicate) {
      case rdfType:
        if (t.object === `${skos}Concept`) node(t.subject)
        break
      case `${skos}broader`:
      case `${skos}broaderTransitive`:
        if (isIri && !schemes.has(t.object)) node(t.subject).broader.add(t.object)
        break
      case `${skos}narrower`:
      case `${skos}narrowerTransitive`:
        if (isIri && !schemes.has(t.subject)) node(t.object).broader.add(t.subject)
        break
      case `${skos}prefLabel`:
        if (t.isLiteral) node(t.subject).labels.push([t.language, t.object])
        break
      case `${skos}notation`:
        if (t.isLiteral) node(t.subject).notations.push(t.object)
        break
      case `${skos}inScheme`:
      case `${skos}topConceptOf`:
        node(t.subject)
        break
    }
  }
  const concepts: ConceptInput[] = []
  for (const [iri, n] of nodes) {
    if (iri.startsWith('_:')) {
      problems.push({
        ...locateIri(text, file, iri),
        message: 'a concept without an IRI (a blank node) cannot be named by policies',
        suggestion: 'give the concept an IRI',
      })
      continue
    }
    if (schemes.has(iri)) continue
    const label = (n.labels.find(([l]) => l === 'en') ?? n.labels.find(([l]) => l === '') ?? n.labels[0])?.[1]
    const broader = [...n.broader]
    concepts.push({
      iri,
      ...(label ? { label } : {}),
      broader,
      aliases: n.notations,
      at: locateIri(text, file, iri),
      broaderAt: broader.map((b) => locateIri(text, file, b)),
    })
  }
  if (concepts.length === 0 && problems.length === 0) {
    problems.push({
      file,
      line: 1,
      column: 1,
      message: 'no SKOS concept found',
      suggestion: 'declare concepts with `a skos:Concept` and link them with `skos:broader`',
    })
  }
  return { concepts, problems }
}

type N3Module = typeof import('n3')
let n3: Promise<N3Module> | undefined
// n3 is loaded only when a Turtle or JSON-LD vocabulary is read, never at start-up otherwise.
const loadN3 = () => (n3 ??= import('n3'))

async function triplesOf(text: string, format: 'turtle' | 'n-quads'): Promise<Triple[]> {
  const { Parser } = await loadN3()
  const quads = new Parser({ format: format === 'turtle' ? 'text/turtle' : 'application/n-quads' }).parse(text)
  return quads.map((q) => ({
    subject: q.subject.termType === 'BlankNode' ? `_:${q.subject.value}` : q.subject.value,
    predicate: q.predicate.value,
    object: q.object.termType === 'BlankNode' ? `_:${q.object.value}` : q.object.value,
    isLiteral: q.object.termType === 'Literal',
    language: q.object.termType === 'Literal' ? q.object.language : '',
  }))
}

async function readTurtle(text: string, file: string): Promise<TaxonomyText> {
  try {
    return conceptsFromTriples(await triplesOf(text, 'turtle'), text, file)
  } catch (error) {
    // n3 says "… on line N." and keeps the offending token in its context.
    const e = error as { message?: string; context?: { line?: number; token?: { value?: unknown } } }
    const line = e.context?.line ?? Number(/on line (\d+)/.exec(e.message ?? '')?.[1] ?? 1)
    const lineText = text.split('\n')[line - 1] ?? ''
    const token = e.context?.token?.value
    const column = typeof token === 'string' && lineText.includes(token) ? lineText.indexOf(token) + 1 : 1
    return {
      concepts: [],
      problems: [
        {
          file,
          line,
          column,
          message: `not valid Turtle: ${(e.message ?? String(error)).replace(/ on line \d+\.?$/, '')}`,
          suggestion: 'check the prefixes and that every statement ends with `.`',
        },
      ],
    }
  }
}

type JsonLdModule = { toRDF(input: unknown, options: object): Promise<string> }
let jsonld: Promise<JsonLdModule> | undefined
// @ts-expect-error jsonld ships no declaration file
const loadJsonLd = () => (jsonld ??= import('jsonld').then((m: { default: JsonLdModule }) => m.default))

const refuseRemote = async (url: string) => {
  throw new Error(`the context ${url} would have to be fetched; write the context inline`)
}

async function readJsonLd(text: string, file: string): Promise<TaxonomyText> {
  let document: unknown
  try {
    document = JSON.parse(text)
  } catch (error) {
    const message = (error as Error).message
    const at = /position (\d+)/.exec(message)
    const lineColumn = /line (\d+) column (\d+)/.exec(message)
    const position = lineColumn ? { file, line: Number(lineColumn[1]), column: Number(lineColumn[2]) } : positionAt(text, file, at ? Number(at[1]) : 0)
    return {
      concepts: [],
      problems: [
        {
          ...position,
          message: `not valid JSON: ${message.replace(/ in JSON at position \d+.*$/, '')}`,
          suggestion: 'check commas and quotes near this place',
        },
      ],
    }
  }
  try {
    const nquads = await (await loadJsonLd()).toRDF(document, { documentLoader: refuseRemote, safe: true, format: 'application/n-quads' })
    return conceptsFromTriples(await triplesOf(nquads, 'n-quads'), text, file)
  } catch (error) {
    const e = error as { message?: string; details?: { cause?: { message?: string }; event?: { message?: string; details?: Record<string, unknown> } } }
    const detail = e.details?.event?.message ?? e.details?.cause?.message ?? e.message ?? String(error)
    const term = e.details?.event?.details?.property ?? e.details?.event?.details?.term
    const offset = typeof term === 'string' ? text.indexOf(`"${term}"`) : -1
    return {
      concepts: [],
      problems: [
        {
          ...positionAt(text, file, Math.max(offset, 0)),
          message: `not usable JSON-LD: ${detail}${typeof term === 'string' ? ` (\`${term}\`)` : ''}`,
          suggestion: 'every term must map to an IRI: declare `skos` in an inline `@context` and give concepts full IRIs',
        },
      ],
    }
  }
}

// ---------------------------------------------------------------- YAML

/*
 * The YAML form, for stewards who prefer it to RDF:
 *
 *   prefixes: { ex: https://dataspace.example/purposes# }
 *   concepts:
 *     - id: ex:ClimateModelTraining          # an IRI or a prefixed name
 *       label: Training climate models
 *       notation: climate-model-training      # short name(s), as policies may write it
 *       broader: [ai-model-training, climate-research]
 */
const conceptKeys = ['id', 'label', 'prefLabel', 'notation', 'broader', 'narrower', 'definition', 'note']

function readYaml(text: string, file: string): TaxonomyText {
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true })
  const at = (node: Node | null | undefined): SourcePosition => {
    const pos = lineCounter.linePos(node?.range?.[0] ?? 0)
    return { file, line: pos.line, column: pos.col }
  }
  const problems: TaxonomyProblem[] = []
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!
    const pos = lineCounter.linePos(e.pos[0])
    return { concepts: [], problems: [{ file, line: pos.line, column: pos.col, message: `not valid YAML: ${e.message.split('\n')[0]}` }] }
  }
  const root = doc.contents
  if (!isMap(root)) return { concepts: [], problems: [{ ...at(root), message: 'expected a mapping with `concepts:`' }] }
  const prefixes: Record<string, string> = {}
  const prefixNode = root.get('prefixes', true)
  if (prefixNode !== undefined) {
    if (!isMap(prefixNode)) problems.push({ ...at(prefixNode as Node), message: '`prefixes` must map prefixes to namespaces' })
    else
      for (const pair of prefixNode.items) {
        const value = isScalar(pair.value) ? pair.value.value : undefined
        if (typeof value !== 'string' || !/^[a-z][a-z0-9+.-]*:\S+$/i.test(value))
          problems.push({ ...at(pair.value as Node), message: 'a prefix must name an absolute IRI' })
        else prefixes[String(isScalar(pair.key) ? pair.key.value : pair.key)] = value
      }
  }
  for (const pair of root.items) {
    const key = String(isScalar(pair.key) ? pair.key.value : pair.key)
    if (!['prefixes', 'concepts', 'scheme', 'title'].includes(key))
      problems.push({ ...at(pair.key as Node), message: `unknown field \`${key}\``, suggestion: 'the fields are prefixes, scheme, title and concepts' })
  }
  const expand = (value: string): string => {
    const match = /^([A-Za-z][\w-]*):(.*)$/.exec(value)
    return match && prefixes[match[1]!] !== undefined ? prefixes[match[1]!] + match[2]! : value
  }
  const isAbsolute = (value: string) => /^[a-z][a-z0-9+.-]*:[^\s]+$/i.test(value)
  const strings = (node: unknown): Array<[string, Node]> => {
    if (isScalar(node)) return typeof node.value === 'string' && node.value.trim() ? [[node.value.trim(), node]] : []
    if (isSeq(node)) return node.items.flatMap((item) => strings(item))
    return []
  }
  const list = root.get('concepts', true)
  if (!isSeq(list)) return { concepts: [], problems: [...problems, { ...at((list as Node) ?? root), message: 'expected `concepts:` with a list of concepts' }] }
  const concepts: ConceptInput[] = []
  const narrowerLinks: Array<{ broader: string; narrower: string; node: Node }> = []
  for (const item of list.items) {
    if (!isMap(item)) {
      problems.push({ ...at(item as Node), message: 'a concept is a mapping with at least `id`' })
      continue
    }
    for (const pair of item.items) {
      const key = String(isScalar(pair.key) ? pair.key.value : pair.key)
      if (!conceptKeys.includes(key))
        problems.push({ ...at(pair.key as Node), message: `unknown field \`${key}\``, suggestion: `a concept has ${conceptKeys.join(', ')}` })
    }
    const idNode = item.get('id', true)
    const id = isScalar(idNode) && typeof idNode.value === 'string' ? expand(idNode.value.trim()) : undefined
    if (!id || !isAbsolute(id)) {
      problems.push({
        ...at((idNode as Node) ?? item),
        message: id ? `\`${id}\` is not an IRI or a prefixed name of a declared prefix` : 'a concept needs an `id`',
        suggestion: 'write a full IRI (https://…) or declare its prefix under `prefixes:`',
      })
      continue
    }
    const labelNode = item.get('label', true) ?? item.get('prefLabel', true)
    const label = isScalar(labelNode) && typeof labelNode.value === 'string' ? labelNode.value : undefined
    const broader = strings(item.get('broader', true))
    for (const [narrower, node] of strings(item.get('narrower', true))) {
      if (isAbsolute(expand(narrower))) narrowerLinks.push({ broader: id, narrower: expand(narrower), node })
      else
        problems.push({
          ...at(node),
          message: `\`${narrower}\` is not an IRI or a prefixed name`,
          suggestion: 'name narrower concepts by IRI, or give the narrower concept `broader:` instead',
        })
    }
    concepts.push({
      iri: id,
      ...(label ? { label } : {}),
      broader: broader.map(([b]) => expand(b)),
      broaderAt: broader.map(([, node]) => at(node)),
      aliases: strings(item.get('notation', true)).map(([n]) => n),
      at: at(idNode as Node),
    })
  }
  for (const link of narrowerLinks) concepts.push({ iri: link.narrower, broader: [link.broader], broaderAt: [at(link.node)], at: at(link.node) })
  if (concepts.length === 0 && problems.length === 0) problems.push({ ...at(list), message: 'the list of concepts is empty' })
  return { concepts, problems }
}
