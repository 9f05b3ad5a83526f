import type { Context } from 'hono'
import { z } from 'zod'
import { DatasetDescription } from '../../catalog/dataset.ts'
import { parseFilter } from '../../catalog/filter.ts'
import type { Area } from '../areas.ts'
import { dspPath } from '../config/config.ts'
import type { Ctx } from '../context.ts'
import { dspErrorRenderer } from '../dsp/errors.ts'
import { PasserelleError } from '../errors.ts'
import { parseInput, readJson } from '../http/validate.ts'
import { dspContextUrl } from '../dsp/context.ts'
import { createCatalogService, type CatalogService } from './catalog-service.ts'
import type { CatalogPolicySource } from './policy-source.ts'

/**
 * The catalog's HTTP surface:
 * - DSP (provider): `POST <dsp>/catalog/request`, `GET <dsp>/catalog/datasets/:id`, authenticated,
 *   answering only what the requester may see; errors are `CatalogError` bodies.
 * - `GET /catalog.jsonld`: the public DCAT-AP 3.0.1 document for open-data portals (datasets
 *   without a visibility policy only; no authentication), whole or paged with `?offset=&limit=`.
 * - Management: `/management/v1/datasets` CRUD with paging, `/management/v1/catalog/problems`.
 *
 * Paging: `?offset=N&limit=M` (limit 1–1000, default 100) with `Link` headers `rel="next"` /
 * `rel="previous"`; for the DSP request the client posts the same message to the linked URL.
 */

const services = new WeakMap<Ctx, Promise<CatalogService>>()

/** The participant's catalog service (created on first use, once per context). */
export function catalogServiceFor(ctx: Ctx, policies?: CatalogPolicySource): Promise<CatalogService> {
  let service = services.get(ctx)
  if (!service) {
    service = createCatalogService({ config: ctx.config, store: ctx.store, clock: ctx.clock, logger: ctx.logger.child({ area: 'catalog' }), ...(policies ? { policies } : {}) })
    services.set(ctx, service)
    service.catch(() => services.delete(ctx))
  }
  return service
}

export const Paging = z
  .object({
    offset: z.coerce.number().int().min(0).max(1_000_000_000).default(0),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  })
  .strict()

function linkHeader(base: string, offset: number, limit: number, total: number, extra = '') {
  const links: string[] = []
  if (offset + limit < total) links.push(`<${base}?offset=${offset + limit}&limit=${limit}${extra}>; rel="next"`)
  if (offset > 0) links.push(`<${base}?offset=${Math.max(0, offset - limit)}&limit=${limit}${extra}>; rel="previous"`)
  return links.join(', ')
}

async function requester(c: Context, ctx: Ctx, service: CatalogService) {
  const authenticator = ctx.identity?.authenticator
  if (!authenticator) throw new PasserelleError('unauthorized', 'this connector cannot authenticate requests (no identity configured)')
  return authenticator.authenticate({ authorization: c.req.header('authorization'), credentialTypes: service.credentialTypes() })
}

/** Checks a DSP message envelope: an object, an array `@context` with the DSP context, the `@type`. */
function dspMessage(body: unknown, type: string): Record<string, unknown> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new PasserelleError('bad_request', `expected a ${type} object`)
  const message = body as Record<string, unknown>
  const context = message['@context']
  if (!Array.isArray(context) || !context.includes(dspContextUrl))
    throw new PasserelleError('bad_request', `@context must be an array containing ${dspContextUrl}`)
  if (message['@type'] !== type) throw new PasserelleError('bad_request', `@type must be ${type}, not ${JSON.stringify(message['@type'])?.slice(0, 100)}`)
  return message
}

export function createCatalogArea(options: { policies?: CatalogPolicySource } = {}): Area {
  let stopWatching: (() => void) | undefined
  return {
    name: 'catalog',
    routes({ root, dsp, management, openapi, errors }, ctx) {
      const service = () => catalogServiceFor(ctx, options.policies)
      errors.register(`${dspPath}/catalog`, dspErrorRenderer('CatalogError'))
      const requestUrl = `${ctx.config.dspUrl}/catalog/request`

      dsp.post('/catalog/request', async (c) => {
        const catalog = await service()
        const who = await requester(c, ctx, catalog)
        const message = dspMessage(await readJson(c), 'CatalogRequestMessage')
        const filter = parseFilter(message.filter)
        if (!filter.ok) throw new PasserelleError('bad_request', filter.message)
        const paging = parseInput(Paging, c.req.query(), 'query')
        const page = catalog.catalog.page({ requester: who, now: ctx.clock.now(), filter: filter.filter, ...paging })
        const link = linkHeader(requestUrl, paging.offset, paging.limit, page.total)
        if (link) c.header('Link', link)
        return c.body(page.bytes() as Uint8Array<ArrayBuffer>, 200, { 'content-type': 'application/json' })
      })

      dsp.get('/catalog/datasets/:id', async (c) => {
        const catalog = await service()
        const who = await requester(c, ctx, catalog)
        const id = c.req.param('id')
        const text = catalog.catalog.dataset(id, who, ctx.clock.now())
        // Hidden and unknown datasets get the same answer.
        if (!text) throw new PasserelleError('not_found', `no dataset ${id}`)
        return c.body(text, 200, { 'content-type': 'application/json' })
      })

      // The whole document, or with ?offset=&limit= one page of datasets (Link rel next/previous),
      // for portals harvesting large catalogs.
      const jsonLdUrl = `${ctx.config.server.publicUrl}/catalog.jsonld`
      root.get('/catalog.jsonld', async (c) => {
        const catalog = await service()
        const query = c.req.query()
        if (Object.keys(query).length === 0) return c.body(catalog.catalog.dcatText(), 200, { 'content-type': 'application/ld+json' })
        const paging = parseInput(Paging, query, 'query')
        const link = linkHeader(jsonLdUrl, paging.offset, paging.limit, catalog.catalog.publicEntries().length)
        if (link) c.header('Link', link)
        return c.body(catalog.catalog.dcatText(paging), 200, { 'content-type': 'application/ld+json' })
      })

      const IdParam = z.object({ id: z.string() })
      const Managed = z.object({
        id: z.string(),
        source: z.enum(['file', 'api']),
        file: z.string().optional(),
        published: z.boolean(),
        description: DatasetDescription,
        createdAt: z.string().optional(),
        updatedAt: z.string().optional(),
      })
      openapi.add({ method: 'get', path: '/datasets', summary: 'List the datasets (files and API), with paging', tags: ['catalog'], query: Paging, responses: { 200: { description: 'a page', schema: z.object({ items: z.array(Managed), total: z.number(), offset: z.number(), limit: z.number() }) } } })
      openapi.add({ method: 'post', path: '/datasets', summary: 'Create a dataset (published at once)', tags: ['catalog'], body: DatasetDescription, responses: { 201: { description: 'created', schema: Managed } } })
      openapi.add({ method: 'get', path: '/datasets/{id}', summary: 'Read a dataset', tags: ['catalog'], params: IdParam, responses: { 200: { description: 'the dataset', schema: Managed } } })
      openapi.add({ method: 'put', path: '/datasets/{id}', summary: 'Replace a dataset created through the API (file datasets are read-only)', tags: ['catalog'], params: IdParam, body: DatasetDescription, responses: { 200: { description: 'replaced', schema: Managed } } })
      openapi.add({ method: 'delete', path: '/datasets/{id}', summary: 'Delete a dataset created through the API', tags: ['catalog'], params: IdParam, responses: { 204: { description: 'deleted' } } })
      openapi.add({ method: 'get', path: '/catalog/problems', summary: "Problems in the stewards' dataset files (file, line, field)", tags: ['catalog'], responses: { 200: { description: 'problems' } } })

      const managementUrl = `${ctx.config.server.publicUrl}/management/v1/datasets`
      management.get('/datasets', async (c) => {
        const paging = parseInput(Paging, c.req.query(), 'query')
        const { items, total } = (await service()).list(paging)
        const link = linkHeader(managementUrl, paging.offset, paging.limit, total)
        if (link) c.header('Link', link)
        return c.json({ items, total, ...paging })
      })
      management.post('/datasets', async (c) => c.json(await (await service()).create({ input: await readJson(c) }), 201))
      management.get('/datasets/:id', async (c) => c.json(await (await service()).get(c.req.param('id'))))
      management.put('/datasets/:id', async (c) => c.json(await (await service()).replace({ id: c.req.param('id'), input: await readJson(c) })))
      management.delete('/datasets/:id', async (c) => {
        await (await service()).remove({ id: c.req.param('id') })
        return c.body(null, 204)
      })
      management.get('/catalog/problems', async (c) => c.json({ problems: (await service()).fileErrors() }))
    },
    async start(ctx) {
      const service = await catalogServiceFor(ctx, options.policies)
      stopWatching = service.watch()
      return {
        async stop() {
          stopWatching?.()
        },
      }
    },
  }
}

export const catalogArea = createCatalogArea()
