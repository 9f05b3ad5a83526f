import { randomUUID } from 'node:crypto'
import { context, propagation, SpanKind, SpanStatusCode } from '@opentelemetry/api'
import { Hono } from 'hono'
import { routePath } from 'hono/route'
import type { Area } from '../area.ts'
import { dspPath } from '../config/config.ts'
import { passedThroughDoor, serveDsp2024 } from '../dsp/edge-2024-1.ts'
import type { Ctx } from '../context.ts'
import { PasserelleError } from '../errors.ts'
import { auditManagementActions, requireManagementKey } from '../management/auth.ts'
import { createOpenApiRegistry } from '../management/openapi.ts'
import { meter, tracer } from '../telemetry/telemetry.ts'
import { recordRefusal } from '../telemetry/transitions.ts'
import type { AppEnv } from './env.ts'
import { bodyTooLarge } from './validate.ts'
import { createErrorRenderers } from './error-response.ts'
import { healthRoutes, type HealthOptions } from './health.ts'
import { isDatabaseUnavailable } from '../store/availability.ts'
import { versionDocument } from './version.ts'
import { packageVersion } from '../version.ts'

/** Paths whose request bodies are streams of data, not messages: the body limit does not apply. */
/** Paths whose bodies stream past the message limit: they bound them themselves (data, uploads, the console's publish form). */
export const streamingPathPrefixes = ['/data/', '/management/v1/files/', '/console/datasets/new']

/** The HTTP app over the areas the composition root built (`composition.ts`). */
export function createApp(ctx: Ctx, areas: Area[], options: HealthOptions = {}) {
  const app = new Hono<AppEnv>()
  const errors = createErrorRenderers()
  const openapi = createOpenApiRegistry({ title: 'Passerelle management API', version: packageVersion })

  const requestDuration = meter().createHistogram('http.server.request.duration', { unit: 's', description: 'Duration of inbound HTTP requests' })
  app.use('*', async (c, next) => {
    const inbound = c.req.header('x-request-id')
    const requestId = inbound && /^[\w.:-]{1,128}$/.test(inbound) ? inbound : randomUUID()
    const logger = ctx.logger.child({ requestId })
    c.set('requestId', requestId)
    c.set('logger', logger)
    c.header('x-request-id', requestId)
    const parent = propagation.extract(context.active(), c.req.raw.headers, headerGetter)
    const started = performance.now()
    await context.with(parent, () =>
      tracer().startActiveSpan(
        `${c.req.method}`,
        { kind: SpanKind.SERVER, attributes: { 'http.request.method': c.req.method, 'url.path': c.req.path } },
        async (span) => {
          try {
            await next()
          } finally {
            const route = routePath(c, -1)
            span.updateName(`${c.req.method} ${route}`)
            span.setAttribute('http.route', route)
            span.setAttribute('http.response.status_code', c.res.status)
            if (c.res.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR })
            span.end()
            requestDuration.record((performance.now() - started) / 1000, {
              'http.request.method': c.req.method,
              'http.route': route,
              'http.response.status_code': c.res.status,
            })
            logger.debug('request', { method: c.req.method, path: c.req.path, status: c.res.status, ms: Math.round(performance.now() - started) })
          }
        },
      ),
    )
  })

  // Message bodies: a declared length over the limit is refused before anything reads it; chunked
  // bodies are counted as they are read (readText). Data paths stream and have their own checks.
  const maxBody = ctx.config.server.bodyLimit
  app.use('*', async (c, next) => {
    c.set('bodyLimit', maxBody)
    if (!streamingPathPrefixes.some((p) => c.req.path.startsWith(p)) && Number(c.req.header('content-length') ?? 0) > maxBody) throw bodyTooLarge(maxBody)
    await next()
  })

  healthRoutes(app, ctx, options)

  app.get('/.well-known/dspace-version', (c) => c.json(versionDocument(ctx.config)))

  const dsp = new Hono<AppEnv>()
  const management = new Hono<AppEnv>()
  management.use('*', requireManagementKey(ctx.config.management.apiKey))
  management.use('*', auditManagementActions(ctx))
  management.get('/openapi.json', (c) => c.json(openapi.document(`${ctx.config.server.publicUrl}/management/v1`)))

  const mounts = { root: app, dsp, management, openapi, errors }
  for (const area of areas) area.routes?.(mounts, ctx)

  // A connector that does not speak 2025-1 still runs its routes, behind the 2024-1 door only.
  if (!ctx.config.dsp.versions.includes('2025-1'))
    app.use(`${dspPath}/*`, async (c, next) => {
      if (!passedThroughDoor(c)) throw new PasserelleError('not_found', 'this connector does not speak DSP 2025-1; see /.well-known/dspace-version')
      await next()
    })
  app.route(dspPath, dsp)
  if (ctx.config.dsp.versions.includes('2024-1')) serveDsp2024(app, ctx)
  app.route('/management/v1', management)

  app.notFound((c) => errors.render(new PasserelleError('not_found', `no route for ${c.req.method} ${c.req.path}`), c))
  app.onError(async (error, c) => {
    const response = errors.render(error, c)
    // A peer whose identity did not verify is a fact for the audit trail (no state changed).
    if (response.status === 401 && c.req.path.startsWith(dspPath)) recordRefusal('identity', 'unauthenticated')
    if (response.status === 401 && c.req.path.startsWith(dspPath))
      await ctx.audit
        ?.refusedUnverified({ method: c.req.method, path: c.req.path, reason: (error as Error).message })
        .catch((failure: Error) => ctx.logger.warn('audit record failed', { error: failure.message }))
    const log = c.get('logger') ?? ctx.logger
    if (isDatabaseUnavailable(error))
      log.warn('request failed: database unavailable', { method: c.req.method, path: c.req.path, status: response.status, reason: databaseReason(error) })
    else if (response.status >= 500)
      log.error('request failed', { method: c.req.method, path: c.req.path, status: response.status, error, stack: (error as Error).stack })
    else log.info('request refused', { method: c.req.method, path: c.req.path, status: response.status, reason: (error as Error).message })
    return response
  })

  return { app, errors, openapi }
}

/** The driver's own words, for the log (the client only hears that the database is unavailable). */
const databaseReason = (error: unknown) => {
  for (let current = error; current; current = (current as { cause?: unknown }).cause)
    if (!(current as { cause?: unknown }).cause) return (current as Error).message
  return String(error)
}

const headerGetter = {
  keys: (carrier: Headers) => [...carrier.keys()],
  get: (carrier: Headers, key: string) => carrier.get(key) ?? undefined,
}
