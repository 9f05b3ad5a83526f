import { createHash, timingSafeEqual } from 'node:crypto'
import type { MiddlewareHandler } from 'hono'
import { PasserelleError } from '../errors.ts'
import type { AppEnv } from '../http/env.ts'

/**
 * Bearer API key for the management API, compared in constant time (both sides are hashed first so
 * that the comparison does not leak the key's length either).
 */
export function requireManagementKey(apiKey: string | undefined): MiddlewareHandler<AppEnv> {
  const expected = apiKey ? digest(apiKey) : undefined
  return async (c, next) => {
    if (!expected) {
      throw new PasserelleError('unauthorized', 'the management API is disabled: set management.apiKey in the configuration or PASSERELLE_MANAGEMENT_KEY')
    }
    const header = c.req.header('authorization') ?? ''
    const match = /^Bearer\s+(.+)$/i.exec(header)
    if (!match) throw new PasserelleError('unauthorized', 'missing management API key: send Authorization: Bearer <key>')
    if (!timingSafeEqual(digest(match[1]!.trim()), expected)) throw new PasserelleError('unauthorized', 'wrong management API key')
    await next()
  }
}

const digest = (value: string) => createHash('sha256').update(value).digest()
