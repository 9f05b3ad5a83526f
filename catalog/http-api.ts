import { z } from 'zod'

/**
 * What a consumer may pass to an HTTP API behind a distribution (an institutional API, an OPeNDAP
 * or THREDDS server): the query parameters it declares, each with a small schema, and the path
 * suffixes it allows, as a pattern. Anything not declared is refused, naming it. Also the limits of
 * one answer: its size and how long the upstream may keep us waiting.
 */

const parameterName = z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/, 'expected a parameter name such as station or time_start')

/** A steward's pattern, compiled whole (anchored at both ends); an invalid one is refused when the dataset is read. */
const pattern = z
  .string()
  .min(1)
  .max(512)
  .refine((p) => compiles(p), 'expected a valid regular expression')

export const ApiParameter = z
  .object({
    name: parameterName,
    /** `date`: YYYY-MM-DD or a date-time with its offset; `number`: a decimal number. */
    type: z.enum(['string', 'number', 'date']).default('string'),
    /** The whole value must match (anchored at both ends). */
    pattern: pattern.optional(),
    /** The only values allowed. */
    enum: z.array(z.string().min(1).max(256)).min(1).max(256).optional(),
    required: z.boolean().default(false),
    description: z.string().max(500).optional(),
  })
  .strict()
export type ApiParameter = z.infer<typeof ApiParameter>

export const HttpApi = z
  .object({
    /** The query parameters a consumer may pass (none by default). */
    query: z
      .array(ApiParameter)
      .max(64)
      .default([])
      .refine((list) => new Set(list.map((p) => p.name)).size === list.length, 'a parameter is declared twice'),
    /** The path suffixes a consumer may add to the URL, as a pattern over the whole suffix (none allowed without it). */
    path: pattern.optional(),
    /** The largest answer relayed, in bytes: beyond it the transfer fails (no limit when absent). */
    maxBytes: z.number().int().positive().optional(),
    /** Seconds the upstream may take to answer, and to send more bytes once it has (default 30). */
    timeoutSeconds: z.number().positive().max(3600).default(30),
    /** The header that carries the secret's value (default Authorization). */
    secretHeader: z
      .string()
      .regex(/^[A-Za-z0-9-]{1,64}$/, 'expected a header name such as X-API-Key')
      .optional(),
  })
  .strict()
export type HttpApi = z.infer<typeof HttpApi>

function compiles(source: string): boolean {
  try {
    new RegExp(source, 'u')
    return true
  } catch {
    return false
  }
}

const anchored = (source: string) => new RegExp(`^(?:${source})$`, 'u')
const dateValue = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/
const numberValue = /^-?\d{1,30}(\.\d{1,30})?([eE][+-]?\d{1,3})?$/

/** Longest value or path suffix looked at: patterns never see more. */
const maxValueLength = 256
const maxSuffixLength = 1024

export type ApiRequest = { ok: true; segments: string[]; query: Array<[string, string]> } | { ok: false; message: string }

/**
 * Checks what a consumer asks of the API: `rawSuffix` is the path after the transfer's address,
 * still percent-encoded as it came; `query` the query parameters as they came, in order. Returns
 * the decoded path segments and the query to forward, or the reason to refuse, naming the parameter.
 */
export function checkApiRequest(api: HttpApi | undefined, rawSuffix: string, query: Array<[string, string]>): ApiRequest {
  const declared = api?.query ?? []
  const seen = new Set<string>()
  for (const [name, value] of query) {
    const parameter = declared.find((p) => p.name === name)
    if (!parameter) {
      const allowed = declared.length === 0 ? 'it takes none' : `it takes ${declared.map((p) => p.name).join(', ')}`
      return { ok: false, message: `the query parameter '${clip(name)}' is not declared by this distribution (${allowed})` }
    }
    if (seen.has(name)) return { ok: false, message: `the query parameter '${name}' is given twice` }
    seen.add(name)
    const problem = valueProblem(parameter, value)
    if (problem) return { ok: false, message: `the query parameter '${name}' ${problem}` }
  }
  const missing = declared.find((p) => p.required && !seen.has(p.name))
  if (missing) return { ok: false, message: `the query parameter '${missing.name}' is required` }
  const segments = suffixSegments(api, rawSuffix)
  if ('message' in segments) return { ok: false, message: segments.message }
  return { ok: true, segments: segments.list, query }
}

function valueProblem(parameter: ApiParameter, value: string): string | undefined {
  if (value.length === 0) return 'is empty'
  if (value.length > maxValueLength) return `is longer than ${maxValueLength} characters`
  if (/[\u0000-\u001f\u007f]/.test(value)) return 'contains control characters'
  if (parameter.type === 'number' && !numberValue.test(value)) return `expects a number, got '${clip(value)}'`
  if (parameter.type === 'date' && (!dateValue.test(value) || Number.isNaN(Date.parse(value))))
    return `expects a date (YYYY-MM-DD or a date-time with its offset), got '${clip(value)}'`
  if (parameter.enum && !parameter.enum.includes(value)) return `expects one of ${parameter.enum.join(', ')}, got '${clip(value)}'`
  if (parameter.pattern && !anchored(parameter.pattern).test(value)) return `does not match the pattern ${parameter.pattern}, got '${clip(value)}'`
  return undefined
}

function suffixSegments(api: HttpApi | undefined, rawSuffix: string): { list: string[] } | { message: string } {
  if (rawSuffix === '' || rawSuffix === '/') return { list: [] }
  if (!api?.path) return { message: 'this distribution takes no path suffix' }
  if (rawSuffix.length > maxSuffixLength) return { message: `the path suffix is longer than ${maxSuffixLength} characters` }
  // Encoded separators would become separators (or climb) on the upstream's side: refused before decoding.
  if (/%(2f|5c)/i.test(rawSuffix) || rawSuffix.includes('\\')) return { message: 'the path suffix may not contain encoded slashes or backslashes' }
  const list: string[] = []
  for (const raw of rawSuffix.replace(/^\//, '').split('/')) {
    let segment: string
    try {
      segment = decodeURIComponent(raw)
    } catch {
      return { message: 'the path suffix is not valid percent-encoding' }
    }
    if (segment === '' || segment === '.' || segment === '..') return { message: "the path suffix may not contain empty, '.' or '..' segments" }
    if (/[\u0000-\u001f\u007f]/.test(segment)) return { message: 'the path suffix contains control characters' }
    list.push(segment)
  }
  const suffix = list.join('/')
  if (!anchored(api.path).test(suffix)) return { message: `the path suffix '${clip(suffix)}' does not match the pattern ${api.path}` }
  return { list }
}

/** The upstream URL for a checked request: the base URL, the suffix's segments, then the query. */
export function upstreamUrl(base: string, request: { segments: string[]; query: Array<[string, string]> }): string {
  const url = new URL(base)
  if (request.segments.length > 0) url.pathname = `${url.pathname.replace(/\/+$/, '')}/${request.segments.map(encodeURIComponent).join('/')}`
  for (const [name, value] of request.query) url.searchParams.append(name, value)
  return url.toString()
}

/** One line a reader understands, for catalog descriptions: what may be passed. */
export function describeApi(api: HttpApi): string {
  const parameters = api.query.map((p) => {
    const rules = [p.type, p.required ? 'required' : 'optional', p.enum ? `one of ${p.enum.join(', ')}` : '', p.pattern ? `pattern ${p.pattern}` : '']
    return `${p.name} (${rules.filter(Boolean).join(', ')})`
  })
  const parts = [parameters.length > 0 ? `query parameters ${parameters.join('; ')}` : 'no query parameters']
  if (api.path) parts.push(`path suffixes matching ${api.path}`)
  if (api.maxBytes) parts.push(`answers of at most ${api.maxBytes} bytes`)
  return `HTTP API: ${parts.join('; ')}.`
}

/** The declared schema as plain JSON, for the catalog (never the URL or the secret). */
export function apiSchemaJson(api: HttpApi) {
  return {
    query: api.query.map((p) => ({
      name: p.name,
      type: p.type,
      required: p.required,
      ...(p.pattern ? { pattern: p.pattern } : {}),
      ...(p.enum ? { enum: p.enum } : {}),
      ...(p.description ? { description: p.description } : {}),
    })),
    ...(api.path ? { path: api.path } : {}),
    ...(api.maxBytes ? { maxBytes: api.maxBytes } : {}),
  }
}

const clip = (text: string) => (text.length > 64 ? `${text.slice(0, 64)}…` : text)
