import type { Context } from 'hono'
import type { z } from 'zod'
import { PasserelleError } from '../errors.ts'
import { parseBoundedJson } from './bounded-json.ts'

/**
 * Parsing at the edge: request bodies, queries and parameters become typed values or a
 * `bad_request` naming the field and what was expected. Nothing behind a route sees raw input.
 */
export async function readJson(c: Context, options: { limit?: number; optional?: boolean } = {}): Promise<unknown> {
  const type = c.req.header('content-type') ?? ''
  if (options.optional && !type && !hasBody(c)) return undefined
  if (!/^application\/(ld\+)?json\b/i.test(type)) {
    throw new PasserelleError('unsupported_media_type', `expected a JSON body (Content-Type: application/json), got ${type ? `'${type}'` : 'none'}`)
  }
  const limit = options.limit ?? bodyLimitOf(c)
  const text = await readText(c, limit)
  if (options.optional && text === '') return undefined
  return parseBoundedJson(text, { maxBytes: limit, what: 'the request body' })
}

/**
 * A request body that must be JSON whatever its declared type (some peers send none), parsed within
 * the same limits as `readJson`.
 */
export async function readJsonAnyType(c: Context, limit = bodyLimitOf(c)): Promise<unknown> {
  return parseBoundedJson(await readText(c, limit), { maxBytes: limit, what: 'the request body' })
}

/**
 * Bytes that are not UTF-8 are refused rather than replaced: a replaced byte would make what we
 * store and compare differ from what the sender signed or meant. (A leading BOM is dropped, as
 * RFC 8259 lets a parser do.)
 */
const strictUtf8 = new TextDecoder('utf-8', { fatal: true })
function utf8(bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes)
  } catch {
    throw new PasserelleError('bad_request', 'the request body is not valid UTF-8')
  }
}

/** The default when no app set one (a route tested on its own). */
const defaultBodyLimit = 1024 * 1024
const bodyLimitOf = (c: Context) => (c.get('bodyLimit') as number | undefined) ?? defaultBodyLimit

/**
 * The request body as text, refused with 413 past `limit` bytes (default: the server's body limit).
 * A declared length is checked before reading (the HTTP parser never reads past it, and the
 * server's fast path reads the body without web streams); a chunked body is counted as it arrives.
 */
export async function readText(c: Context, limit = bodyLimitOf(c)): Promise<string> {
  const declared = c.req.header('content-length')
  if (declared !== undefined) {
    if (Number(declared) > limit) throw bodyTooLarge(limit)
    return utf8(new Uint8Array(await c.req.arrayBuffer()))
  }
  const body = c.req.raw.body
  if (!body) return ''
  const reader = body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > limit) {
      await reader.cancel()
      throw bodyTooLarge(limit)
    }
    chunks.push(value)
  }
  return utf8(Buffer.concat(chunks, size))
}

export const bodyTooLarge = (limit: number) => new PasserelleError('payload_too_large', `the request body is larger than the limit of ${limit} bytes`)

const hasBody = (c: Context) => {
  const length = c.req.header('content-length')
  return length !== undefined ? length !== '0' : c.req.header('transfer-encoding') !== undefined
}

export async function parseJsonBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.infer<S>> {
  return parseInput(schema, await readJson(c), 'body')
}

export function parseQuery<S extends z.ZodType>(c: Context, schema: S): z.infer<S> {
  return parseInput(schema, c.req.query(), 'query')
}

export function parseInput<S extends z.ZodType>(schema: S, value: unknown, where: string): z.infer<S> {
  const parsed = schema.safeParse(value)
  if (parsed.success) return parsed.data
  throw new PasserelleError('bad_request', describeZodError(parsed.error, where), {
    issues: parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })),
  })
}

/** One readable sentence for the first problem, e.g. "body.offer.@id: expected string, but it is missing". */
export function describeZodError(error: z.ZodError, where: string): string {
  const issue = error.issues[0]!
  const path = [where, ...issue.path.map(String)].join('.')
  const message = issue.message.replace(/^Invalid input: /, '').replace('received undefined', 'but it is missing')
  const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more problem${error.issues.length > 2 ? 's' : ''})` : ''
  return `${path}: ${message}${more}`
}
