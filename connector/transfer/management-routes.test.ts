import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { Hono } from 'hono'
import { createTestStore } from '../../test/support/stores.ts'
import { createErrorRenderers } from '../http/error-response.ts'
import type { Store } from '../store/store.ts'
import { httpDataAddress } from './messages.ts'
import { transferManagementRoutes } from './management-routes.ts'
import { repo } from './service.ts'
import { recordingMessenger, stopTestDispatchers, transferTestCtx } from './testing.ts'

const consumer = 'did:web:consumer.test'
const provider = 'did:web:provider.test'
let store: Store
beforeAll(async () => {
  store = await createTestStore('sqlite')
})
afterAll(() => store.close())
afterEach(() => stopTestDispatchers())
beforeEach(async () => {
  const t = store.tables
  for (const table of [t.transfers, t.transferEvents, t.dataAccesses, t.dispatches]) await store.db.delete(table)
})

function setup(fetchDouble?: typeof fetch) {
  const messenger = recordingMessenger((m) => (m.url.endsWith('/transfers/request') ? { providerPid: 'urn:uuid:provider-1', consumerPid: m.body.consumerPid, state: 'REQUESTED' } : {}))
  const t = transferTestCtx({ store, participantId: consumer, messenger })
  const routes = transferManagementRoutes({
    ctx: t.ctx,
    agreements: { providerOf: async (id) => (id === 'urn:agreement:mine' ? { providerId: provider, providerAddress: 'http://provider.test/dsp', datasetId: 'urn:dataset:weather' } : undefined) },
    ...(fetchDouble ? { fetch: fetchDouble } : {}),
  })
  // As in the app: one error exit maps codes to statuses.
  const errors = createErrorRenderers()
  const app = new Hono()
  app.route('/', routes as unknown as Hono)
  app.onError((error, c) => errors.render(error, c))
  const json = (path: string, method = 'GET', body?: unknown) =>
    app.request(path, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })
  return { ...t, app, json, messenger }
}

async function startedPull(t: ReturnType<typeof setup>, token = 'old-token') {
  return store.transaction((tx) =>
    repo(t.ctx).insert(
      tx,
      { id: 'urn:uuid:c1', role: 'consumer', providerPid: 'urn:uuid:p1', consumerPid: 'urn:uuid:c1', agreementId: 'urn:agreement:mine', counterpartyId: provider, counterpartyAddress: 'http://provider.test/dsp', format: 'HttpData-PULL', state: 'STARTED', dataAddress: httpDataAddress('http://provider.test/data/transfers/urn:uuid:p1', token) },
      { cause: 'test', actor: 'local' },
    ),
  )
}

describe('management transfers', () => {
  it('starts a pull transfer for an agreement we hold as consumer, then shows it with its timeline', async () => {
    const t = setup()
    const res = await t.json('/transfers', 'POST', { agreementId: 'urn:agreement:mine' })
    expect(res.status).toBe(201)
    const created = (await res.json()) as { id: string; state: string; format: string }
    expect(created).toMatchObject({ state: 'REQUESTED', format: 'HttpData-PULL' })
    await t.queue.settle()
    expect(t.messenger.sent[0]?.url).toBe('http://provider.test/dsp/transfers/request')
    const read = (await (await t.json(`/transfers/${created.id}`)).json()) as { providerPid: string; timeline: unknown[] }
    expect(read.providerPid).toBe('urn:uuid:provider-1')
    expect(read.timeline).toHaveLength(1)
    const list = (await (await t.json('/transfers?role=consumer')).json()) as { items: unknown[] }
    expect(list.items).toHaveLength(1)
  })

  it('refuses an agreement we do not hold (404), a bad body (400), a bad filter (400), and stores nothing', async () => {
    const t = setup()
    expect((await t.json('/transfers', 'POST', { agreementId: 'urn:agreement:theirs' })).status).toBe(404)
    expect((await t.json('/transfers', 'POST', { agreementId: 'urn:agreement:mine', format: 'ftp' })).status).toBe(400)
    expect((await t.json('/transfers', 'POST', { agreementId: 'urn:agreement:mine', extra: 1 })).status).toBe(400)
    expect((await t.json('/transfers?state=RUNNING')).status).toBe(400)
    expect(await repo(t.ctx).list(store.db)).toHaveLength(0)
  })

  it('answers 404 for an unknown transfer, 400 for an action invalid in its state', async () => {
    const t = setup()
    expect((await t.json('/transfers/urn:uuid:nope')).status).toBe(404)
    expect((await t.json('/transfers/urn:uuid:nope/terminate', 'POST')).status).toBe(404)
    await startedPull(t)
    expect((await t.json('/transfers/urn:uuid:c1/resume', 'POST')).status).toBe(400)
    expect((await repo(t.ctx).get(store.db, 'urn:uuid:c1'))?.state).toBe('STARTED')
    const suspended = await t.json('/transfers/urn:uuid:c1/suspend', 'POST', { reason: 'lunch' })
    expect(suspended.status).toBe(200)
    expect(await suspended.json()).toMatchObject({ state: 'SUSPENDED', reason: 'lunch' })
  })

  it('downloads through the provider, exchanging an expired token for a fresh one once', async () => {
    const calls: string[] = []
    const fetchDouble = (async (url: string, init?: RequestInit) => {
      const auth = (init?.headers as Record<string, string>).authorization
      calls.push(`${init?.method ?? 'GET'} ${url} ${auth}`)
      if (url.endsWith('/token')) return Response.json({ token: 'fresh-token' })
      if (auth === 'Bearer old-token') return Response.json({ error: { message: 'the data token has expired' } }, { status: 401 })
      return new Response('a,b\n1,2\n', { status: 200, headers: { 'content-length': '8', 'x-content-sha256': 'abc' } })
    }) as unknown as typeof fetch
    const t = setup(fetchDouble)
    await startedPull(t)
    const res = await t.json('/transfers/urn:uuid:c1/data')
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('a,b\n1,2\n')
    expect(calls).toEqual([
      'GET http://provider.test/data/transfers/urn:uuid:p1 Bearer old-token',
      'POST http://provider.test/data/transfers/urn:uuid:p1/token Bearer old-token',
      'GET http://provider.test/data/transfers/urn:uuid:p1 Bearer fresh-token',
    ])
    const stored = (await repo(t.ctx).get(store.db, 'urn:uuid:c1'))!.dataAddress as { endpointProperties: Array<{ name: string; value: string }> }
    expect(stored.endpointProperties.find((p) => p.name === 'authorization')?.value).toBe('fresh-token')
  })

  it("refuses to fetch from a data endpoint that is not on the provider's host", async () => {
    let fetched = false
    const t = setup((async () => {
      fetched = true
      return new Response('x')
    }) as unknown as typeof fetch)
    await store.transaction((tx) =>
      repo(t.ctx).insert(
        tx,
        { id: 'urn:uuid:c2', role: 'consumer', providerPid: 'urn:uuid:p2', consumerPid: 'urn:uuid:c2', agreementId: 'urn:agreement:mine', counterpartyId: provider, counterpartyAddress: 'http://provider.test/dsp', format: 'HttpData-PULL', state: 'STARTED', dataAddress: httpDataAddress('http://127.0.0.1:5432/', 't') },
        { cause: 'test', actor: 'local' },
      ),
    )
    expect((await t.json('/transfers/urn:uuid:c2/data')).status).toBe(403)
    expect(fetched).toBe(false)
  })

  it('refuses to download a transfer that is not a started pull we consume', async () => {
    const t = setup()
    await startedPull(t)
    await store.db.update(store.tables.transfers).set({ state: 'SUSPENDED' })
    expect((await t.json('/transfers/urn:uuid:c1/data')).status).toBe(400)
  })
})
