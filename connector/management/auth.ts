import { createHash, timingSafeEqual } from 'node:crypto'
import type { MiddlewareHandler } from 'hono'
import { PasserelleError } from '../errors.ts'
import type { AppEnv } from '../http/env.ts'
import type { Ctx } from '../context.ts'
import { routePath } from 'hono/route'

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

/** The id the audit trail knows a management key by: a prefix of its sha256, never the key. */
export const managementKeyId = (apiKey: string) => `key-${digest(apiKey).toString('hex').slice(0, 16)}`

/**
 * Management calls that change something (any method but GET, HEAD, OPTIONS) go into the audit
 * trail with the acting key's id and the answer's status, once they have been answered.
 */
export function auditManagementActions(ctx: Pick<Ctx, 'audit' | 'config' | 'logger'>): MiddlewareHandler<AppEnv> {
  const apiKey = ctx.config.management.apiKey
  const actor = `management:${apiKey ? managementKeyId(apiKey) : 'none'}`
  return async (c, next) => {
    await next()
    if (!ctx.audit?.enabled || ['GET', 'HEAD', 'OPTIONS'].includes(c.req.method)) return
    const id = c.req.param('id')
    await ctx.audit
      .record({
        kind: 'management.action',
        subjects: { target: id },
        actor,
        payload: { method: c.req.method, route: routePath(c, -1), path: c.req.path, status: c.res.status },
      })
      .catch((error: Error) => ctx.logger.warn('audit record failed', { error: error.message }))
  }
}
