import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { getRequestListener } from '@hono/node-server'
import { Hono } from 'hono'
import { fixtureCatalog } from '../../catalog/federation/fixtures.ts'
import { changeTokenHeader, removedDatasetsKey } from '../../catalog/index.ts'

/**
 * A peer that serves a DSP catalog from memory on 127.0.0.1, for crawler tests and the
 * benchmark: paged with `Link: rel="next"`, and able to misbehave on demand.
 */
export type FixtureBehaviour =
  | 'ok'
  | 'down' // answers 503
  | 'malformed' // answers text that is not JSON
  | 'not-a-catalog' // JSON, but not a DSP Catalog
  | 'oversized' // a body larger than any sane page
  | 'slow' // answers after `slowMs`
  | 'foreign-next' // links its next page to another host
  | 'loop' // links its next page to itself
  | 'refuse-filter' // 400 to any non-empty filter
  | 'edc-query' // pages like Eclipse EDC: by the offset and limit (default 50) of a QuerySpec in the filter, no Link headers

export interface FixturePeer {
  url: string
  dspUrl: string
  participantId: string
  datasets: Record<string, unknown>[]
  behaviour: FixtureBehaviour
  pageSize: number
  slowMs: number
  /** What the peer received: authorization header and filter of each request. */
  requests: Array<{ authorization: string | undefined; filter: unknown; path: string; body: unknown }>
  /** Which datasets a requester (by authorization header) may see; all when absent. */
  visibleTo?: (authorization: string | undefined, dataset: Record<string, unknown>) => boolean
  /** When set, pages carry this entity tag and a request with `If-None-Match: <it>` gets 304 (a peer that tags its catalog). */
  etag?: string
  /** When set, every answer carries it as its change token (a peer that offers a change feed). */
  changeToken?: string
  /**
   * The answer to a `changedSince` request: these datasets, and `removed` as the list of those gone
   * (sent as given, even when it is not a list). Absent: such a request is answered as any other.
   */
  feed?: { datasets: Record<string, unknown>[]; removed: unknown }
  close(): Promise<void>
}

export async function startFixturePeer(input: {
  participantId: string
  datasets: Record<string, unknown>[]
  pageSize?: number
  prefix?: string
}): Promise<FixturePeer> {
  const app = new Hono()
  const peer = {
    url: '',
    dspUrl: '',
    participantId: input.participantId,
    datasets: input.datasets,
    behaviour: 'ok' as FixtureBehaviour,
    pageSize: input.pageSize ?? 100,
    slowMs: 5000,
    requests: [] as FixturePeer['requests'],
    visibleTo: undefined as FixturePeer['visibleTo'],
    etag: undefined as string | undefined,
    changeToken: undefined as string | undefined,
    feed: undefined as FixturePeer['feed'],
    close: async () => {},
  }
  // Pages are built per request from the current dataset list, so tests can add and delete.
  let oversized: string | undefined
  let cache: { datasets: unknown; key: string; body: string[] } | undefined
  app.post('/dsp/catalog/request', async (c) => {
    const authorization = c.req.header('authorization')
    const message = (await c.req.json().catch(() => ({}))) as { filter?: unknown[] }
    peer.requests.push({ authorization, filter: message.filter, path: c.req.url, body: message })
    const page = Number(c.req.query('page') ?? '0')
    switch (peer.behaviour) {
      case 'down':
        return c.json({ error: 'maintenance' }, 503)
      case 'malformed':
        return c.text('{"@context": ["https://w3id.org/dspace/2025/1/context.jsonld"], "dataset": [', 200, { 'content-type': 'application/json' })
      case 'not-a-catalog':
        return c.json({ '@context': ['https://w3id.org/dspace/2025/1/context.jsonld'], '@type': 'CatalogError', code: 'x' })
      case 'oversized':
        return c.body((oversized ??= JSON.stringify({ padding: 'x'.repeat(20 * 1024 * 1024) })), 200, { 'content-type': 'application/json' })
      case 'slow':
        await new Promise((resolve) => setTimeout(resolve, peer.slowMs))
        break
      case 'refuse-filter':
        if (Array.isArray(message.filter) && message.filter.length > 0) return c.json({ '@type': 'CatalogError', code: '400' }, 400)
        break
    }
    if (peer.behaviour === 'edc-query') {
      const spec = (Array.isArray(message.filter) ? message.filter : []).find((f) => (f as { '@type'?: string })['@type'] === 'QuerySpec') as
        | { offset?: number; limit?: number }
        | undefined
      const offset = spec?.offset ?? 0
      return c.json(fixtureCatalog(peer.participantId, peer.datasets.slice(offset, offset + (spec?.limit ?? 50)), input.prefix))
    }
    const changedSince = Array.isArray(message.filter) && message.filter.some((f) => (f as { changedSince?: string } | null)?.changedSince !== undefined)
    if (changedSince && peer.feed) {
      const body = { ...fixtureCatalog(peer.participantId, peer.feed.datasets, input.prefix), [removedDatasetsKey]: peer.feed.removed }
      const headers: Record<string, string> = { ...(peer.changeToken !== undefined ? { [changeTokenHeader]: peer.changeToken } : {}) }
      if (peer.behaviour === 'loop') headers.link = `<${peer.dspUrl}/catalog/request?page=0>; rel="next"`
      return c.json(body, 200, headers)
    }
    if (peer.etag !== undefined && c.req.header('if-none-match') === peer.etag) return c.body(null, 304, { etag: peer.etag })
    const visible = peer.visibleTo ? peer.datasets.filter((d) => peer.visibleTo!(authorization, d)) : peer.datasets
    const since = Array.isArray(message.filter) ? (message.filter[0] as { modifiedSince?: string } | undefined)?.modifiedSince : undefined
    const selected = since ? visible.filter((d) => Date.parse(String(d['dct:modified'])) >= Date.parse(since)) : visible
    const key = JSON.stringify([peer.visibleTo ? authorization : null, since, peer.pageSize, selected.length])
    if (!cache || cache.key !== key || cache.datasets !== peer.datasets) {
      const body: string[] = []
      for (let i = 0; i === 0 || i < selected.length; i += peer.pageSize) {
        body.push(JSON.stringify(fixtureCatalog(peer.participantId, selected.slice(i, i + peer.pageSize), input.prefix)))
      }
      cache = { datasets: peer.datasets, key, body }
    }
    const pages = cache.body
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      ...(peer.etag !== undefined ? { etag: peer.etag } : {}),
      ...(peer.changeToken !== undefined ? { [changeTokenHeader]: peer.changeToken } : {}),
    }
    if (peer.behaviour === 'foreign-next') headers.link = `<http://127.0.0.2:9/dsp/catalog/request?page=1>; rel="next"`
    else if (peer.behaviour === 'loop') headers.link = `<${peer.dspUrl}/catalog/request?page=0>; rel="next"`
    else if (page + 1 < pages.length) headers.link = `<${peer.dspUrl}/catalog/request?page=${page + 1}>; rel="next"`
    return c.body(pages[page] ?? pages[0]!, 200, headers)
  })
  const server: Server = createServer(getRequestListener(app.fetch))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  peer.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  peer.dspUrl = `${peer.url}/dsp`
  peer.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  return peer
}
