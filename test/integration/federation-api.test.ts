import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { getRequestListener } from '@hono/node-server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fixtureCatalog, fixtureDataset } from '../../catalog/federation/fixtures.ts'
import { readCatalogPage } from '../../catalog/federation/read-catalog-page.ts'
import { SearchHit } from '../../catalog/federation/search-hit.ts'
import type { CliIo } from '../../connector/cli/io.ts'
import { runCli } from '../../connector/cli/main.ts'
import type { Ctx } from '../../connector/context.ts'
import { federationArea } from '../../connector/federation/area.ts'
import { federationRepository } from '../../connector/federation/repository.ts'
import { runSearchCommand } from '../../connector/federation/search-command.ts'
import { createApp } from '../../connector/http/app.ts'
import type { Store } from '../../connector/store/store.ts'
import { testContext } from '../support/context.ts'
import { createTestStore, dialects } from '../support/stores.ts'

/** The management API of the federated catalog (peers, search) and the `search` CLI, on both databases. */

const key = 'test-management-key-0123456789'
const manage = { authorization: `Bearer ${key}`, 'content-type': 'application/json' }

describe.each(dialects)('federation management API on %s', (dialect) => {
  let store: Store
  let ctx: Ctx
  let app: ReturnType<typeof createApp>['app']
  let server: Server
  let url: string
  let peerId: string

  beforeAll(async () => {
    store = await createTestStore(dialect)
    ctx = testContext(store)
    app = createApp(ctx, [federationArea]).app
    const repo = federationRepository(store)
    const { peer } = await repo.addPeer({ id: 'urn:uuid:peer-a', dspUrl: 'http://127.0.0.1:9/dsp', source: 'config', name: 'Observatoire' }, 1000)
    peerId = peer.id
    const entries = readCatalogPage(
      fixtureCatalog(
        'did:web:a.example',
        Array.from({ length: 30 }, (_, i) => fixtureDataset(i, { prefix: 'a' })),
        'a',
      ),
    ).entries
    await repo.recordSuccess({
      peerId,
      entries,
      mode: 'full',
      participantId: 'did:web:a.example',
      rejected: 1,
      incremental: 'unknown',
      now: 2000,
      durationMs: 12,
      nextCrawlAt: 3000,
    })
    server = createServer(getRequestListener(app.fetch))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    server?.closeAllConnections()
    await new Promise((resolve) => server?.close(resolve))
    await ctx?.peers.close()
    await store?.close()
  })

  describe('search', () => {
    it('answers ranked hits that carry everything needed to negotiate', async () => {
      const res = await app.request('/management/v1/federated-catalog?q=precipitation%20Qu%C3%A9bec', { headers: manage })
      expect(res.status).toBe(200)
      const page = (await res.json()) as any
      expect(page).toMatchObject({ total: 1, totalExact: true, offset: 0, limit: 20 })
      expect(page).not.toHaveProperty('next')
      const hit = SearchHit.parse(page.hits[0])
      expect(hit).toMatchObject({
        peer: { id: peerId, name: 'Observatoire', participantId: 'did:web:a.example', dspUrl: 'http://127.0.0.1:9/dsp' },
        datasetId: 'urn:a:dataset:0',
        stale: false,
        offers: [{ id: 'urn:a:offer:research', actions: ['use'], summary: 'You may use it if the purpose is research. You may not share it.' }],
      })
      expect(hit.offers[0]!.policy).toMatchObject({ '@id': 'urn:a:offer:research', permission: [{ action: 'use' }] })
    })

    it('filters and pages', async () => {
      const page = (await (
        await app.request('/management/v1/federated-catalog?theme=AGRI&modifiedSince=2026-05-01&limit=2&offset=1', { headers: manage })
      ).json()) as any
      expect(page.limit).toBe(2)
      expect(page.hits).toHaveLength(2)
      expect(page.total).toBe(6)
      // The next page by cursor: the hits after the last one, whatever was inserted before it.
      const first = (await (await app.request('/management/v1/federated-catalog?theme=AGRI&limit=4', { headers: manage })).json()) as any
      const rest = (await (await app.request(`/management/v1/federated-catalog?theme=AGRI&limit=200&cursor=${first.next}`, { headers: manage })).json()) as any
      expect([...first.hits, ...rest.hits].map((h: { datasetId: string }) => h.datasetId)).toHaveLength(first.total)
      expect(rest).not.toHaveProperty('next')
    })

    it('counts publishers, themes, licences, places and decades over every match, not only the page', async () => {
      const sum = (values: Array<{ count: number }>) => values.reduce((n, v) => n + v.count, 0)
      const all = (await (await app.request('/management/v1/federated-catalog?facets=true&limit=1', { headers: manage })).json()) as any
      expect(all.total).toBe(30)
      expect(all.hits).toHaveLength(1)
      expect(all.facets.publisher).toEqual([{ value: peerId, label: 'Observatoire', count: 30 }])
      expect(all.facets.theme.map((v: { value: string }) => v.value).sort()).toEqual(
        ['envi', 'agri', 'heal'].map((t) => `http://publications.europa.eu/resource/authority/data-theme/${t}`).sort(),
      )
      expect(all.facets.theme.every((v: { count: number }) => v.count === 10)).toBe(true)
      expect(all.facets.license).toEqual([
        { value: 'http://creativecommons.org/licenses/by-nc/4.0/', count: 15 },
        { value: 'http://creativecommons.org/licenses/by/4.0/', count: 15 },
      ])
      expect(sum(all.facets.spatial)).toBe(30)
      expect(all.facets.temporal).toEqual([
        { value: '1990', count: 10 },
        { value: '2000', count: 10 },
        { value: '2010', count: 10 },
      ])
      // With words and a filter: the counts follow the matches.
      const some = (await (await app.request('/management/v1/federated-catalog?q=precipitation&theme=AGRI&facets=true', { headers: manage })).json()) as any
      expect(some.total).toBeGreaterThan(0)
      expect(sum(some.facets.publisher)).toBe(some.total)
      expect(some.facets.theme).toEqual([{ value: 'http://publications.europa.eu/resource/authority/data-theme/agri', count: some.total }])
      expect(sum(some.facets.temporal)).toBe(some.total)
      const none = (await (await app.request('/management/v1/federated-catalog?q=nosuchword&facets=true', { headers: manage })).json()) as any
      expect(none).toMatchObject({ total: 0, hits: [], facets: { publisher: [], theme: [], license: [], spatial: [], temporal: [] } })
      // Not asked for: not counted.
      expect((await (await app.request('/management/v1/federated-catalog?q=precipitation', { headers: manage })).json()) as any).not.toHaveProperty('facets')
    })

    it.each([
      ['facets=yes', /facets/],
      ['limit=0', /limit/],
      ['limit=1000', /limit/],
      ['modifiedSince=yesterday', /modifiedSince/],
      ['unknown=1', /unknown|unrecognized/i],
      [`q=${'x'.repeat(600)}`, /q/],
      ['cursor=not-a-cursor', /cursor/],
      [`cursor=${'x'.repeat(1200)}`, /cursor/],
    ])('refuses a bad query (%s) with 400', async (query, message) => {
      const res = await app.request(`/management/v1/federated-catalog?${query}`, { headers: manage })
      expect(res.status).toBe(400)
      expect(((await res.json()) as any).error.message).toMatch(message)
    })

    it('refuses callers without the management key', async () => {
      expect((await app.request('/management/v1/federated-catalog?q=x')).status).toBe(401)
      expect((await app.request('/management/v1/peers', { headers: { authorization: 'Bearer wrong-key-0123456789' } })).status).toBe(401)
      expect(
        (
          await app.request('/management/v1/peers', {
            method: 'POST',
            body: JSON.stringify({ dspUrl: 'http://x.example/dsp' }),
            headers: { 'content-type': 'application/json' },
          })
        ).status,
      ).toBe(401)
    })
  })

  describe('peers', () => {
    it('lists peers with their crawl status', async () => {
      const { peers } = (await (await app.request('/management/v1/peers', { headers: manage })).json()) as any
      expect(peers).toEqual([
        expect.objectContaining({
          id: peerId,
          status: 'active',
          source: 'config',
          datasetCount: 30,
          rejectedCount: 1,
          lastSuccessAt: new Date(2000).toISOString(),
          lastError: null,
          stale: false,
          lastDurationMs: 12,
        }),
      ])
    })

    it('adds, pauses, resumes and removes a peer', async () => {
      const created = await app.request('/management/v1/peers', {
        method: 'POST',
        headers: manage,
        body: JSON.stringify({ dspUrl: 'https://b.example/dsp/2025-1/', name: 'B' }),
      })
      expect(created.status).toBe(201)
      const peer = (await created.json()) as any
      expect(peer).toMatchObject({ dspUrl: 'https://b.example/dsp/2025-1', name: 'B', source: 'api', status: 'active', datasetCount: 0 })
      const again = await app.request('/management/v1/peers', {
        method: 'POST',
        headers: manage,
        body: JSON.stringify({ dspUrl: 'https://b.example/dsp/2025-1' }),
      })
      expect(again.status).toBe(409)
      const id = encodeURIComponent(peer.id)
      expect((await (await app.request(`/management/v1/peers/${id}/pause`, { method: 'POST', headers: manage })).json()) as any).toMatchObject({
        status: 'paused',
        nextCrawlAt: null,
      })
      expect((await app.request(`/management/v1/peers/${id}/crawl`, { method: 'POST', headers: manage })).status).toBe(400)
      expect((await (await app.request(`/management/v1/peers/${id}/resume`, { method: 'POST', headers: manage })).json()) as any).toMatchObject({
        status: 'active',
      })
      expect((await app.request(`/management/v1/peers/${id}`, { method: 'DELETE', headers: manage })).status).toBe(204)
      expect((await app.request(`/management/v1/peers/${id}`, { headers: manage })).status).toBe(404)
      expect((await app.request(`/management/v1/peers/${id}`, { method: 'DELETE', headers: manage })).status).toBe(404)
    })

    it('removing a peer removes its datasets from search', async () => {
      const repo = federationRepository(store)
      const { peer } = await repo.addPeer({ id: 'urn:uuid:peer-gone', dspUrl: 'http://gone.example/dsp', source: 'api' }, 1)
      await repo.recordSuccess({
        peerId: peer.id,
        entries: readCatalogPage(fixtureCatalog('g', [fixtureDataset(0, { prefix: 'g' })])).entries,
        mode: 'full',
        participantId: 'g',
        rejected: 0,
        incremental: 'unknown',
        now: 5,
        durationMs: 1,
        nextCrawlAt: 6,
      })
      expect(((await (await app.request('/management/v1/federated-catalog?peer=urn:uuid:peer-gone', { headers: manage })).json()) as any).total).toBe(1)
      await app.request('/management/v1/peers/urn:uuid:peer-gone', { method: 'DELETE', headers: manage })
      expect(((await (await app.request('/management/v1/federated-catalog?peer=urn:uuid:peer-gone', { headers: manage })).json()) as any).total).toBe(0)
    })

    it.each([
      [{}, /dspUrl or did/],
      [{ dspUrl: 'ftp://x.example' }, /dspUrl/],
      [{ dspUrl: 'http://user:secret@x.example/dsp' }, /credentials/],
      [{ did: 'not-a-did' }, /DID/],
      [{ did: 'did:web:x.example' }, /resolve/],
      [{ dspUrl: 'http://x.example', extra: 1 }, /extra|unrecognized/i],
    ])('refuses a bad peer %j with 400 and adds nothing', async (body, message) => {
      const before = ((await (await app.request('/management/v1/peers', { headers: manage })).json()) as any).peers.length
      const res = await app.request('/management/v1/peers', { method: 'POST', headers: manage, body: JSON.stringify(body) })
      expect(res.status).toBe(400)
      expect(((await res.json()) as any).error.message).toMatch(message)
      expect(((await (await app.request('/management/v1/peers', { headers: manage })).json()) as any).peers.length).toBe(before)
    })

    it('refuses a body that is not JSON', async () => {
      const res = await app.request('/management/v1/peers', { method: 'POST', headers: manage, body: '{"dspUrl":' })
      expect(res.status).toBe(400)
    })
  })

  it('documents its operations in the OpenAPI document', async () => {
    const document = (await (await app.request('/management/v1/openapi.json', { headers: manage })).json()) as any
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining(['/peers', '/peers/{id}', '/peers/{id}/pause', '/peers/{id}/resume', '/peers/{id}/crawl', '/federated-catalog']),
    )
    const parameters = document.paths['/federated-catalog'].get.parameters.map((p: any) => p.name)
    expect(parameters).toEqual(
      expect.arrayContaining([
        'q',
        'peer',
        'theme',
        'license',
        'spatial',
        'format',
        'action',
        'temporalFrom',
        'temporalTo',
        'modifiedSince',
        'limit',
        'offset',
      ]),
    )
  })

  describe('the search command', () => {
    const io = () => {
      const out: string[] = []
      const err: string[] = []
      const value: CliIo & { out: string[]; err: string[] } = {
        stdout: (t) => void out.push(t),
        stderr: (t) => void err.push(t),
        cwd: '/',
        env: { COLUMNS: '160' },
        out,
        err,
      }
      return value
    }

    it('prints a table: peer, dataset, title and the terms in plain language', async () => {
      const cli = io()
      expect(await runSearchCommand(['precipitation', 'quebec', '--url', url, '--key', key], cli)).toBe(0)
      const text = cli.out.join('\n')
      expect(text).toMatch(/^#\s+PEER\s+DATASET\s+TITLE\s+TERMS/)
      expect(text).toContain('Observatoire')
      expect(text).toContain('urn:a:dataset:0')
      expect(text).toContain('Daily precipitation — Quebec')
      expect(text).toContain('You may use it if the purpose is research.')
      expect(text).toContain('1–1 of 1')
    })

    it('prints one hit as JSON for negotiation', async () => {
      const cli = io()
      expect(await runSearchCommand(['precipitation', '--url', url, '--key', key, '--hit', '1', '--spatial', '6115047'], cli)).toBe(0)
      const hit = SearchHit.parse(JSON.parse(cli.out.join('')))
      expect(hit.datasetId).toBe('urn:a:dataset:0')
    })

    it('says so when nothing matches, and fails clearly on a wrong key', async () => {
      const cli = io()
      expect(await runSearchCommand(['atlantis', '--url', url, '--key', key], cli)).toBe(0)
      expect(cli.out.join('')).toBe('No dataset found.')
      const denied = io()
      expect(await runCli(['search', 'x', '--url', url, '--key', 'wrong-key-0123456789'], denied)).toBe(1)
      expect(denied.err.join('')).toMatch(/401/)
    })
  })
})
