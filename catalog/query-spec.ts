/**
 * Eclipse EDC's catalog query (`QuerySpec`), as EDC connectors send it in the `filter` of a DSP
 * CatalogRequestMessage: `offset`, `limit`, `sortField`, `sortOrder` and `filterExpression`, a list
 * of criteria `{ operandLeft, operator, operandRight }`. Keys come bare, with the `edc:` prefix or as
 * full IRIs in EDC's namespace, and values plain or as JSON-LD value objects (`{ "@value": 0 }`).
 *
 * What the catalog can answer is honoured: paging, and `=`, `in` and `like` on the dataset's id,
 * title, keyword, theme and publisher, in ascending id order. Anything else is refused with a message
 * that names it, never silently ignored (a client would take a partial answer for the whole one).
 */

export const edcNamespace = 'https://w3id.org/edc/v0.0.1/ns/'

export type CatalogProperty = 'id' | 'title' | 'keyword' | 'theme' | 'publisher'

/** A criterion the catalog can answer: one of the values (`=`, `in`), or an SQL `LIKE` pattern (`%`, `_`). */
export type PropertyCondition = { property: CatalogProperty; anyOf: string[] } | { property: CatalogProperty; like: string }

export interface QuerySpec {
  offset?: number
  limit?: number
  conditions: PropertyCondition[]
}

export type QuerySpecResult = { ok: true; query: QuerySpec } | { ok: false; message: string }

const maxCriteria = 20
const maxValues = 100
const maxValueLength = 500
const maxPatternLength = 200
const maxWildcards = 8
/** The same bounds as the `?offset=&limit=` query parameters. */
export const maxOffset = 1_000_000_000
export const maxLimit = 1000

/** The names an operandLeft may take for each property (compared in lower case). */
const propertyNames: Record<CatalogProperty, string[]> = {
  id: ['id', '@id', 'edc:id', `${edcNamespace}id`, 'dct:identifier', 'http://purl.org/dc/terms/identifier'],
  title: ['title', 'edc:title', `${edcNamespace}title`, 'dct:title', 'http://purl.org/dc/terms/title', 'name', 'edc:name', `${edcNamespace}name`],
  keyword: ['keyword', 'keywords', 'edc:keyword', `${edcNamespace}keyword`, 'dcat:keyword', 'http://www.w3.org/ns/dcat#keyword'],
  theme: ['theme', 'themes', 'edc:theme', `${edcNamespace}theme`, 'dcat:theme', 'http://www.w3.org/ns/dcat#theme'],
  publisher: ['publisher', 'edc:publisher', `${edcNamespace}publisher`, 'dct:publisher', 'http://purl.org/dc/terms/publisher'],
}
const propertyByName = new Map(Object.entries(propertyNames).flatMap(([property, names]) => names.map((n) => [n.toLowerCase(), property as CatalogProperty])))

const specKeys = ['offset', 'limit', 'filterExpression', 'sortField', 'sortOrder'] as const
type SpecKey = (typeof specKeys)[number]
const criterionKeys = ['operandLeft', 'operator', 'operandRight'] as const

/** `offset`, `edc:offset` or `https://w3id.org/edc/v0.0.1/ns/offset` → `offset`; undefined for anything else. */
function bareKey(key: string): string | undefined {
  if (key.startsWith(edcNamespace)) return key.slice(edcNamespace.length)
  if (key.startsWith('edc:')) return key.slice(4)
  if (!key.includes(':')) return key
  return undefined
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** True when an object of the `filter` is an EDC query rather than one of our filter entries. */
export function isQuerySpec(value: unknown): value is Record<string, unknown> {
  if (!isObject(value)) return false
  const type = unwrap(value['@type'])
  if (type === 'QuerySpec' || type === 'edc:QuerySpec' || type === `${edcNamespace}QuerySpec`) return true
  return Object.keys(value).some((k) => (specKeys as readonly string[]).includes(bareKey(k) ?? ''))
}

/** A JSON-LD value object or a one-element array around a value, unwrapped (expanded documents spell values so). */
function unwrap(value: unknown): unknown {
  let v = value
  for (let depth = 0; depth < 3; depth++) {
    if (Array.isArray(v) && v.length === 1) v = v[0]
    else if (isObject(v) && '@value' in v && Object.keys(v).every((k) => k === '@value' || k === '@type' || k === '@language')) v = v['@value']
    else if (isObject(v) && '@id' in v && Object.keys(v).length === 1) v = v['@id']
    else break
  }
  return v
}

/** The object's keys in EDC's vocabulary; an unknown or twice-spelled key is an error. */
function readKeys(
  value: Record<string, unknown>,
  allowed: readonly string[],
  what: string,
): { ok: true; fields: Map<string, unknown> } | { ok: false; message: string } {
  const fields = new Map<string, unknown>()
  for (const [key, v] of Object.entries(value)) {
    if (key === '@type' || key === '@context' || key === '@id') continue
    const bare = bareKey(key)
    if (bare === undefined || !allowed.includes(bare))
      return { ok: false, message: `${what}: unsupported property ${JSON.stringify(key).slice(0, 120)} (supported: ${allowed.join(', ')})` }
    if (fields.has(bare)) return { ok: false, message: `${what}: ${bare} is given twice` }
    fields.set(bare, v)
  }
  return { ok: true, fields }
}

function readInteger(value: unknown, name: string, min: number, max: number): { ok: true; n: number } | { ok: false; message: string } {
  const v = unwrap(value)
  // A numeric string is what some JSON-LD processors write for xsd:integer.
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d{1,12}$/.test(v.trim()) ? Number(v.trim()) : Number.NaN
  if (!Number.isSafeInteger(n)) return { ok: false, message: `querySpec ${name} must be an integer, got ${JSON.stringify(v)?.slice(0, 60)}` }
  if (n < min || n > max) return { ok: false, message: `querySpec ${name} must be between ${min} and ${max}, got ${n}` }
  return { ok: true, n }
}

function readString(value: unknown, name: string, max: number): { ok: true; s: string } | { ok: false; message: string } {
  const v = unwrap(value)
  if (typeof v === 'number' || typeof v === 'boolean') return { ok: true, s: String(v) }
  if (typeof v !== 'string') return { ok: false, message: `${name} must be a string, got ${Array.isArray(v) ? 'an array' : typeof v}` }
  if (v.length === 0 || v.length > max) return { ok: false, message: `${name} must have 1 to ${max} characters` }
  return { ok: true, s: v }
}

function readCriterion(value: unknown, i: number): { ok: true; condition: PropertyCondition } | { ok: false; message: string } {
  const what = `filterExpression ${i}`
  if (!isObject(value)) return { ok: false, message: `${what} must be an object with operandLeft, operator and operandRight` }
  const keys = readKeys(value, criterionKeys, what)
  if (!keys.ok) return keys
  const left = readString(keys.fields.get('operandLeft'), `${what} operandLeft`, 300)
  if (!left.ok) return left
  const property = propertyByName.get(left.s.toLowerCase())
  if (!property) return { ok: false, message: `${what}: cannot filter on ${JSON.stringify(left.s)} (supported: id, title, keyword, theme, publisher)` }
  const operator = readString(keys.fields.get('operator'), `${what} operator`, 20)
  if (!operator.ok) return operator
  const op = operator.s.trim().toLowerCase()
  const right = keys.fields.get('operandRight')
  if (op === '=' || op === 'eq') {
    const v = readString(right, `${what} operandRight`, maxValueLength)
    return v.ok ? { ok: true, condition: { property, anyOf: [v.s] } } : v
  }
  if (op === 'in') {
    // Unwrap value objects but keep the list: `in` takes an array.
    const list = Array.isArray(right) ? right : isObject(right) && Array.isArray(right['@list']) ? right['@list'] : undefined
    if (!list) return { ok: false, message: `${what}: operator in takes an array operandRight` }
    if (list.length === 0 || list.length > maxValues) return { ok: false, message: `${what}: operator in takes 1 to ${maxValues} values` }
    const values: string[] = []
    for (const item of list) {
      const v = readString(item, `${what} operandRight`, maxValueLength)
      if (!v.ok) return v
      values.push(v.s)
    }
    return { ok: true, condition: { property, anyOf: values } }
  }
  if (op === 'like' || op === 'ilike') {
    const v = readString(right, `${what} operandRight`, maxPatternLength)
    if (!v.ok) return v
    // Bounded wildcards: a pattern with many of them costs a backtracking match per row.
    if ((v.s.match(/[%_]/g)?.length ?? 0) > maxWildcards) return { ok: false, message: `${what}: at most ${maxWildcards} wildcards in a like pattern` }
    if (v.s.includes('\n')) return { ok: false, message: `${what}: a like pattern cannot contain a line break` }
    return { ok: true, condition: { property, like: v.s } }
  }
  return { ok: false, message: `${what}: unsupported operator ${JSON.stringify(operator.s)} (supported: =, in, like)` }
}

/** Reads an EDC query. Errors name what is refused. */
export function parseQuerySpec(value: Record<string, unknown>): QuerySpecResult {
  const keys = readKeys(value, specKeys, 'querySpec')
  if (!keys.ok) return keys
  const query: QuerySpec = { conditions: [] }
  const get = (k: SpecKey) => keys.fields.get(k)
  if (get('offset') !== undefined) {
    const r = readInteger(get('offset'), 'offset', 0, maxOffset)
    if (!r.ok) return r
    query.offset = r.n
  }
  if (get('limit') !== undefined) {
    const r = readInteger(get('limit'), 'limit', 1, maxLimit)
    if (!r.ok) return r
    query.limit = r.n
  }
  const sortField = get('sortField')
  if (sortField !== undefined && unwrap(sortField) !== null && unwrap(sortField) !== '') {
    const r = readString(sortField, 'querySpec sortField', 300)
    if (!r.ok) return r
    if (propertyByName.get(r.s.toLowerCase()) !== 'id')
      return { ok: false, message: `querySpec: cannot sort by ${JSON.stringify(r.s)} (datasets come in id order)` }
  }
  const sortOrder = get('sortOrder')
  if (sortOrder !== undefined && unwrap(sortOrder) !== null) {
    const r = readString(sortOrder, 'querySpec sortOrder', 10)
    if (!r.ok) return r
    if (r.s.toUpperCase() !== 'ASC')
      return { ok: false, message: `querySpec: sortOrder ${JSON.stringify(r.s)} is not supported (datasets come in ascending id order)` }
  }
  const expression = get('filterExpression')
  if (expression !== undefined && expression !== null) {
    // One criterion may come alone, not in a list.
    const criteria = Array.isArray(expression) ? expression : [expression]
    if (criteria.length > maxCriteria) return { ok: false, message: `querySpec: at most ${maxCriteria} criteria in filterExpression` }
    for (const [i, c] of criteria.entries()) {
      const r = readCriterion(c, i)
      if (!r.ok) return r
      query.conditions.push(r.condition)
    }
  }
  return { ok: true, query }
}

/**
 * A `LIKE` pattern (`%` any text, `_` one character, case-insensitive) over a `\n`-delimited list of
 * values, as the database runs it: `%\n<pattern>\n%`. A `%` may reach across two values of the same
 * property (`a%b` matches the values "a…" and "…b" together); it never reaches another property.
 */
export function likeExpression(pattern: string): RegExp {
  const body = [...pattern].map((ch) => (ch === '%' ? '[\\s\\S]*' : ch === '_' ? '[\\s\\S]' : ch.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'))).join('')
  return new RegExp(`\\n${body}\\n`, 'i')
}
