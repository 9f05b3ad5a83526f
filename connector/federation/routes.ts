import { z } from 'zod'
import { SearchPage } from '../../catalog/index.ts'
import type { Mounts } from '../area.ts'
import type { Ctx } from '../context.ts'
import { PasserelleError } from '../errors.ts'
import { parseInput, parseJsonBody, parseQuery } from '../http/validate.ts'
import { AddPeerInput, addPeer, peerStatus, PeerStatus, requirePeer } from './peers.ts'
import { federationRepository } from './repository.ts'

const PeerParams = z.object({ id: z.string().min(1).max(500) })

const date = z
  .string()
  .max(40)
  .refine((v) => Number.isFinite(Date.parse(v)), { message: 'expected an ISO 8601 date' })
  .transform((v) => Date.parse(v))

/** `GET /federated-catalog` query parameters. */
export const FederatedCatalogQuery = z
  .object({
    q: z.string().max(500).optional(),
    peer: z.string().max(2000).optional(),
    theme: z.string().max(500).optional(),
    license: z.string().max(500).optional(),
    spatial: z.string().max(500).optional(),
    format: z.string().max(200).optional(),
    action: z.string().max(200).optional(),
    temporalFrom: date.optional(),
    temporalTo: date.optional(),
    modifiedSince: date.optional(),
    limit: z.coerce.number().int().min(1).max(200).default(20),
    offset: z.coerce.number().int().min(0).max(100_000).default(0),
    /** The `next` of the previous page. */
    cursor: z.string().max(1000).optional(),
    /** `true`: the answer carries facet counts over every match. */
    facets: z
      .enum(['true', 'false'])
      .optional()
      .transform((v) => v === 'true'),
  })
  .strict()

/** The management API of the federated catalog: peers and search. */
export function federationRoutes({ management, openapi }: Mounts, ctx: Ctx) {
  const repo = federationRepository(ctx.store)
  const tags = ['federation']

  openapi.add({
    method: 'get',
    path: '/peers',
    summary: 'Peers this connector crawls, with their crawl status',
    tags,
    responses: { 200: { description: 'the peers', schema: z.object({ peers: z.array(PeerStatus) }) } },
  })
  management.get('/peers', async (c) => c.json({ peers: (await repo.listPeers()).map(peerStatus) }))

  openapi.add({
    method: 'post',
    path: '/peers',
    summary: 'Add a peer by DSP URL or DID; it is crawled at once',
    tags,
    body: AddPeerInput,
    responses: { 201: { description: 'the new peer', schema: PeerStatus }, 409: { description: 'a peer with this DSP URL exists' } },
  })
  management.post('/peers', async (c) => {
    const input = await parseJsonBody(c, AddPeerInput)
    const { peer, created } = await addPeer({ ctx, input: { ...input, source: 'api' } })
    if (!created) throw new PasserelleError('conflict', `a peer with DSP URL ${peer.dspUrl} exists`, { id: peer.id })
    return c.json(peerStatus(peer), 201)
  })

  openapi.add({
    method: 'post',
    path: '/peers/crawl',
    summary: 'Crawl every active peer now (paused peers are left alone); answers the peers that will be crawled',
    tags,
    responses: { 200: { description: 'the peers due now', schema: z.object({ peers: z.array(PeerStatus) }) } },
  })
  management.post('/peers/crawl', async (c) => c.json({ peers: (await repo.crawlAllNow(ctx.clock.now().getTime())).map(peerStatus) }))

  openapi.add({
    method: 'get',
    path: '/peers/{id}',
    summary: 'One peer and its crawl status',
    tags,
    params: PeerParams,
    responses: { 200: { description: 'the peer', schema: PeerStatus }, 404: { description: 'no such peer' } },
  })
  management.get('/peers/:id', async (c) => {
    const { id } = parseInput(PeerParams, c.req.param(), 'path')
    return c.json(peerStatus(await requirePeer(ctx, id)))
  })

  for (const [action, summary] of [
    ['pause', 'Stop crawling a peer (its datasets stay searchable)'],
    ['resume', 'Crawl a paused peer again, starting now'],
    ['crawl', 'Crawl a peer now'],
  ] as const) {
    openapi.add({
      method: 'post',
      path: `/peers/{id}/${action}`,
      summary,
      tags,
      params: PeerParams,
      responses: { 200: { description: 'the peer', schema: PeerStatus }, 404: { description: 'no such peer' } },
    })
    management.post(`/peers/:id/${action}`, async (c) => {
      const { id } = parseInput(PeerParams, c.req.param(), 'path')
      const peer = await requirePeer(ctx, id)
      const now = ctx.clock.now().getTime()
      if (action === 'crawl' && peer.paused) throw new PasserelleError('invalid_state', `peer ${peer.id} is paused: resume it first`)
      const updated = await repo.setPaused(peer.id, action === 'pause', now)
      return c.json(peerStatus(updated!))
    })
  }

  openapi.add({
    method: 'delete',
    path: '/peers/{id}',
    summary: 'Remove a peer and everything held from it',
    tags,
    params: PeerParams,
    responses: { 204: { description: 'removed' }, 404: { description: 'no such peer' } },
  })
  management.delete('/peers/:id', async (c) => {
    const { id } = parseInput(PeerParams, c.req.param(), 'path')
    const peer = await requirePeer(ctx, id)
    await repo.removePeer(peer.id)
    return c.body(null, 204)
  })

  openapi.add({
    method: 'get',
    path: '/federated-catalog',
    summary:
      'Search the datasets of every peer: full text, filters, ranked and paged; hits carry what negotiation needs; with facets=true, counts per publisher, theme, licence, place and decade over the matches (exact up to 10,000 matches); `next` is the cursor of the next page',
    tags,
    query: FederatedCatalogQuery,
    responses: { 200: { description: 'a page of hits', schema: SearchPage } },
  })
  management.get('/federated-catalog', async (c) => c.json(await repo.search(parseQuery(c, FederatedCatalogQuery))))
}
