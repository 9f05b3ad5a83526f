import type { Context } from 'hono'
import { z } from 'zod'
import { ChangeTokenRefused, changeTokenHeader, DatasetDescription, parseFilter } from '../../catalog/index.ts'
import type { Area } from '../area.ts'
import type { Ctx } from '../context.ts'
import { registerDspErrors } from '../dsp/errors.ts'
import { PasserelleError } from '../errors.ts'
import { parseInput, readJson } from '../http/validate.ts'
import { dspEndpoints as endpoints, serveDsp } from '../dsp/endpoints.ts'
import { createCatalogService, type CatalogService } from './catalog-service.ts'
import { pathsReaching, receiveFile, removeUploadedFile } from './file-upload.ts'
import { filesRoot } from '../private-places.ts'
import type { CatalogPolicySource } from './policy-source.ts'
import { createVocabularySources, type VocabularySources } from './vocabularies.ts'

/**
 * The catalog's HTTP surface:
 * - DSP (provider): `POST <dsp>/catalog/request`, `GET <dsp>/catalog/datasets/:id` (declared in
 *   `dsp/endpoints.ts`), authenticated, answering only what the requester may see; errors are
 *   `CatalogError` bodies.
 * - `GET /catalog.jsonld`: the public DCAT-AP 3.0.1 document for open-data portals (datasets
 *   without a visibility policy only; no authentication), whole or paged with `?offset=&limit=`.
 * - Management: `/management/v1/datasets` CRUD with paging, `/management/v1/catalog/problems`.
 *
 * Paging: `?offset=N&limit=M` (limit 1–1000, default 100) with `Link` headers `rel="next"` /
 * `rel="previous"`; for the DSP request the client posts the same message to the linked URL. An EDC
 * client may instead page with the `offset` and `limit` of a QuerySpec in the message's `filter`.
 */

/** The catalog area's services, built once by the composition root. */
export interface CatalogParts {
  service: CatalogService
  /** The data space's vocabularies: the cached versions at first, fetched again by the area's background work. */
  vocabularies: VocabularySources
}

/** Builds the participant's catalog service and its vocabularies (once, at start-up). */
export async function createCatalog(ctx: Ctx, options: { policies?: CatalogPolicySource } = {}): Promise<CatalogParts> {
  const vocabularies = await createVocabularySources({
    config: ctx.config,
    peers: ctx.peers,
    logger: ctx.logger.child({ area: 'vocabularies' }),
    now: () => ctx.clock.now(),
  })
  const service = await createCatalogService({
    config: ctx.config,
    store: ctx.store,
    clock: ctx.clock,
    logger: ctx.logger.child({ area: 'catalog' }),
    vocabularies: vocabularies.current,
    ...(options.policies ? { policies: options.policies } : {}),
  })
  return { service, vocabularies }
}

export const Paging = z
  .object({
    offset: z.coerce.number().int().min(0).max(1_000_000_000).default(0),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  })
  .strict()

/** Paging with a keyset cursor: `after` (the last id of the previous page) positions the page; `offset` then only numbers it. */
export const KeysetPaging = Paging.extend({ after: z.string().min(1).max(2048).optional() }).strict()

/** `after`: the keyset cursor of the next page (its last dataset's id), when the page has one. */
function linkHeader(base: string, offset: number, limit: number, total: number, extra = '', after?: string) {
  const links: string[] = []
  const cursor = after !== undefined ? `&after=${encodeURIComponent(after)}` : ''
  if (offset + limit < total) links.push(`<${base}?offset=${offset + limit}&limit=${limit}${cursor}${extra}>; rel="next"`)
  if (offset > 0) links.push(`<${base}?offset=${Math.max(0, offset - limit)}&limit=${limit}${extra}>; rel="previous"`)
  return links.join(', ')
}

async function requester(c: Context, ctx: Ctx, service: CatalogService) {
  const authenticator = ctx.identity?.authenticator
  if (!authenticator) throw new PasserelleError('unauthorized', 'this connector cannot authenticate requests (no identity configured)')
  return authenticator.authenticate({ authorization: c.req.header('authorization'), credentialTypes: await service.credentialTypes() })
}

/**
 * A body streamed from text chunks, encoded as they come: a large document is never held whole.
 * A failure after the first chunk can only cut the body short (the status is already sent).
 */
async function textStream(chunks: AsyncGenerator<string>): Promise<ReadableStream<Uint8Array>> {
  const encoder = new TextEncoder()
  // The first chunk is read before answering, so that a failing database still gets its error status.
  const first = await chunks.next()
  let pending: string | undefined = first.done ? undefined : first.value
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (pending !== undefined) {
        controller.enqueue(encoder.encode(pending))
        pending = undefined
        return
      }
      const next = await chunks.next()
      if (next.done) controller.close()
      else controller.enqueue(encoder.encode(next.value))
    },
    async cancel() {
      await chunks.return(undefined)
    },
  })
}

export function createCatalogArea(parts: CatalogParts): Area {
  let stopWatching: (() => void) | undefined
  return {
    name: 'catalog',
    routes({ root, dsp, management, openapi, errors }, ctx) {
      const service = async () => parts.service
      registerDspErrors(errors, 'CatalogError')
      const requestUrl = `${ctx.config.dspUrl}/catalog/request`

      serveDsp(dsp, '', endpoints.catalogRequest, async (c, read) => {
        const catalog = await service()
        const who = await requester(c, ctx, catalog)
        const message = await read()
        const filter = parseFilter(message.filter)
        if (!filter.ok) throw new PasserelleError('bad_request', filter.message)
        const query = c.req.query()
        // An EDC client pages with the query in the body; the query string (what our Link headers carry) wins.
        const { after, ...paging } = parseInput(KeysetPaging, { ...filter.paging, ...query }, 'query')
        const page = await catalog.catalog
          .page({
            requester: who,
            now: ctx.clock.now(),
            filter: filter.filter,
            ...paging,
            ...(after !== undefined ? { after } : {}),
          })
          .catch((error) => {
            // A change token we cannot honour: the peer reads the whole catalog instead.
            if (error instanceof ChangeTokenRefused) throw new PasserelleError('bad_request', error.message)
            throw error
          })
        const link = linkHeader(requestUrl, paging.offset, paging.limit, page.total, '', page.last)
        if (link) c.header('Link', link)
        c.header('ETag', page.etag)
        c.header(changeTokenHeader, page.changeToken)
        // A crawler that already holds this answer is told so without the body.
        if (
          c.req
            .header('if-none-match')
            ?.split(',')
            .some((tag) => tag.trim() === page.etag)
        )
          return c.body(null, 304)
        return c.body(page.bytes() as Uint8Array<ArrayBuffer>, 200, { 'content-type': 'application/json' })
      })

      serveDsp(dsp, '', endpoints.dataset, async (c) => {
        const catalog = await service()
        const who = await requester(c, ctx, catalog)
        const id = c.req.param('id')!
        const text = await catalog.catalog.dataset(id, who, ctx.clock.now())
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
        const paging = Object.keys(query).length === 0 ? undefined : parseInput(Paging, query, 'query')
        if (paging) {
          const link = linkHeader(jsonLdUrl, paging.offset, paging.limit, await catalog.catalog.publicCount())
          if (link) c.header('Link', link)
        }
        return c.body(await textStream(catalog.catalog.dcatChunks(paging)), 200, { 'content-type': 'application/ld+json' })
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
      openapi.add({
        method: 'get',
        path: '/datasets',
        summary: 'List the datasets (files and API), with paging',
        tags: ['catalog'],
        query: KeysetPaging,
        responses: { 200: { description: 'a page', schema: z.object({ items: z.array(Managed), total: z.number(), offset: z.number(), limit: z.number() }) } },
      })
      openapi.add({
        method: 'post',
        path: '/datasets',
        summary: 'Create a dataset (published at once)',
        tags: ['catalog'],
        body: DatasetDescription,
        responses: { 201: { description: 'created', schema: Managed } },
      })
      openapi.add({
        method: 'get',
        path: '/datasets/{id}',
        summary: 'Read a dataset',
        tags: ['catalog'],
        params: IdParam,
        responses: { 200: { description: 'the dataset', schema: Managed } },
      })
      openapi.add({
        method: 'put',
        path: '/datasets/{id}',
        summary: 'Replace a dataset created through the API (file datasets are read-only)',
        tags: ['catalog'],
        params: IdParam,
        body: DatasetDescription,
        responses: { 200: { description: 'replaced', schema: Managed } },
      })
      openapi.add({
        method: 'delete',
        path: '/datasets/{id}',
        summary: 'Delete a dataset created through the API',
        tags: ['catalog'],
        params: IdParam,
        responses: { 204: { description: 'deleted' } },
      })
      openapi.add({
        method: 'get',
        path: '/catalog/problems',
        summary: "Problems in the stewards' dataset and policy files (file, line, field), refused changes included",
        tags: ['catalog'],
        responses: { 200: { description: 'problems' } },
      })

      const managementUrl = `${ctx.config.server.publicUrl}/management/v1/datasets`
      management.get('/datasets', async (c) => {
        const { after, ...paging } = parseInput(KeysetPaging, c.req.query(), 'query')
        const { items, total } = await (await service()).list({ ...paging, ...(after !== undefined ? { after } : {}) })
        const link = linkHeader(managementUrl, paging.offset, paging.limit, total, '', items.at(-1)?.id)
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
      // A file received into the files root, measured as it streams, for a dataset to name next.
      const NameParam = z.object({ name: z.string() })
      const Received = z.object({ file: z.string(), byteSize: z.number(), sha256: z.string(), mediaType: z.string() })
      openapi.add({
        method: 'post',
        path: '/files/{name}',
        summary: 'Upload a file into the files folder (raw body, at most catalog.maxUploadBytes); answers what a distribution needs',
        tags: ['catalog'],
        params: NameParam,
        responses: { 201: { description: 'stored', schema: Received } },
      })
      openapi.add({
        method: 'delete',
        path: '/files/{name}',
        summary: 'Remove an uploaded file from the files folder (refused while a dataset names it, or a folder holding it)',
        tags: ['catalog'],
        params: NameParam,
        responses: { 204: { description: 'removed' }, 409: { description: 'datasets name the file: their ids are in details.datasets; nothing removed' } },
      })
      management.post('/files/:name', async (c) => {
        const declared = c.req.header('content-length')
        const received = await receiveFile(c.req.raw.body, {
          root: filesRoot(ctx.config),
          participantRoot: ctx.config.root,
          name: c.req.param('name'),
          limit: ctx.config.catalog.maxUploadBytes,
          ...(declared !== undefined && /^\d+$/.test(declared) ? { declaredLength: Number(declared) } : {}),
        })
        return c.json(received, 201)
      })
      management.delete('/files/:name', async (c) => {
        const name = c.req.param('name')
        const paths = pathsReaching(ctx.config.root, filesRoot(ctx.config), name)
        // Removing a file a dataset names would leave an offer whose transfers all fail.
        const naming = await (await service()).catalog.rows.fileUsage(paths, 20)
        if (naming.total > 0) {
          const more = naming.total > naming.ids.length ? ` and ${naming.total - naming.ids.length} more` : ''
          throw new PasserelleError(
            'conflict',
            `${paths[0]} is named by ${naming.total === 1 ? 'dataset' : `${naming.total} datasets`} ${naming.ids.join(', ')}${more}: change or delete ${naming.total === 1 ? 'it' : 'them'} first; nothing was removed`,
            { datasets: naming.ids, total: naming.total },
          )
        }
        await removeUploadedFile(filesRoot(ctx.config), name)
        return c.body(null, 204)
      })
      management.get('/catalog/problems', async (c) => c.json({ problems: (await service()).fileErrors() }))
    },
    async start() {
      const { service, vocabularies } = parts
      stopWatching = service.watch()
      // A new version of a data-space vocabulary recompiles the policies (which may now name its concepts).
      const stopVocabularies = vocabularies.start(() => service.reloadPolicies())
      return {
        async stop() {
          stopWatching?.()
          stopVocabularies()
        },
      }
    },
  }
}
