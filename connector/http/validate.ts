import type { Context } from 'hono'
import type { z } from 'zod'
import { PasserelleError } from '../errors.ts'

/**
 * Parsing at the edge: request bodies, queries and parameters become typed values or a
 * `bad_request` naming the field and what was expected. Nothing behind a route sees raw input.
 */
export async function readJson(c: Context): Promise<unknown> {
  const type = c.req.header('content-type') ?? ''
  if (!/^application\/(ld\+)?json\b/i.test(type)) {
    throw new PasserelleError('unsupported_media_type', `expected a JSON body (Content-Type: application/json), got ${type ? `'${type}'` : 'none'}`)
  }
  const text = await c.req.text()
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new PasserelleError('bad_request', `the request body is not valid JSON: ${(error as Error).message}`)
  }
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
