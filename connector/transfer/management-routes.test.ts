import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { Hono } from 'hono'
import { createTestStore } from '../../test/support/stores.ts'
import { fixtureEgress } from '../../test/support/context.ts'
import { egressPolicy } from '../http/egress.ts'
import { createErrorRenderers } from '../http/error-response.ts'
import { createPeerClient, type PeerClient } from '../http/peer-client.ts'
import type { Store } from '../store/store.ts'
import { httpDataAddress } from './messages.ts'
import { transferManagementRoutes } from './management-routes.ts'
import { repo } from './service.ts'
import { recordingMessenger, stopTestDispatchers, transferTestCtx } from '../../test/support/transfer.ts'

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

/** The provider's data endpoint, as a real HTTP server on 127.0.0.1 that records what it is asked. */
async function providerServer(handle: (req: IncomingMessage, res: ServerResponse) => void) {
  const calls: string[] = []
  const server = createServer((req, res) => {
    calls.push(`${req.method} ${req.url} ${req.headers.authorization}`)
    handle(req, res)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  servers.push(server)
  return { url, calls }
}
const servers: Server[] = []
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections()
    await new Promise((resolve) => s.close(resolve))
  }
})

function setup(peers: PeerClient = createPeerClient({ egress: fixtureEgress })) {
  const messenger = recordingMessenger((m) =>
    m.url.endsWith('/transfers/request') ? { providerPid: 'urn:uuid:provider-1', consumerPid: m.body.consumerPid, state: 'REQUESTED' } : {},
  )
  const t = transferTestCtx({ store, participantId: consumer, messenger })
  const routes = transferManagementRoutes({
    ctx: t.ctx,
    agreements: {
      providerOf: async (id) =>
        id === 'urn:agreement:mine' ? { providerId: provider, providerAddress: 'http://provider.test/dsp', datasetId: 'urn:dataset:weather' } : undefined,
    },
    peers,
  })
  // As in the app: one error exit maps codes to statuses.
  const errors = createErrorRenderers()
  const app = new Hono()
  app.route('/', routes as unknown as Hono)
  app.onError((error, c) => errors.render(error, c))
  const json = (path: string, method = 'GET', body?: unknown) =>
    app.request(path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
  return { ...t, app, json, messenger }
}

async function startedPull(t: ReturnType<typeof setup>, token = 'old-token', providerUrl = 'http://provider.test') {
  return store.transaction((tx) =>
    repo(t.ctx).insert(
      tx,
      {
        id: 'urn:uuid:c1',
        role: 'consumer',
        providerPid: 'urn:uuid:p1',
        consumerPid: 'urn:uuid:c1',
        agreementId: 'urn:agreement:mine',
        counterpartyId: provider,
        counterpartyAddress: `${providerUrl}/dsp`,
        format: 'HttpData-PULL',
        state: 'STARTED',
        dataAddress: httpDataAddress(`${providerUrl}/data/transfers/urn:uuid:p1`, token),
      },
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

  it('pages the list with offset and limit, newest first', async () => {
    const t = setup()
    const ids: string[] = []
    for (let i = 0; i < 3; i++) ids.push(((await (await t.json('/transfers', 'POST', { agreementId: 'urn:agreement:mine' })).json()) as { id: string }).id)
    const page = async (query: string) =>
      ((await (await t.json(`/transfers?${query}`)).json()) as { items: Array<{ id: string }>; offset: number }).items.map((i) => i.id)
    const all = await page('limit=10')
    expect(new Set(all)).toEqual(new Set(ids))
    expect([...(await page('limit=2')), ...(await page('limit=2&offset=2'))]).toEqual(all)
    expect(await page('offset=3')).toEqual([])
    expect((await t.json('/transfers?offset=-1')).status).toBe(400)
    const counts = (await (await t.json('/transfers/counts')).json()) as { byState: Record<string, number> }
    expect(counts.byState).toEqual({ REQUESTED: 3, STARTED: 0, SUSPENDED: 0, COMPLETED: 0, TERMINATED: 0 })
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
    const p = await providerServer((req, res) => {
      if (req.url!.endsWith('/token')) return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: 'fresh-token' }))
      if (req.headers.authorization === 'Bearer old-token')
        return void res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'the data token has expired' } }))
      res.writeHead(200, { 'content-length': '8', 'x-content-sha256': 'abc' }).end('a,b\n1,2\n')
    })
    const t = setup()
    await startedPull(t, 'old-token', p.url)
    const res = await t.json('/transfers/urn:uuid:c1/data')
    expect(res.status).toBe(200)
    expect(res.headers.get('x-content-sha256')).toBe('abc')
    expect(await res.text()).toBe('a,b\n1,2\n')
    expect(p.calls).toEqual([
      'GET /data/transfers/urn:uuid:p1 Bearer old-token',
      'POST /data/transfers/urn:uuid:p1/token Bearer old-token',
      'GET /data/transfers/urn:uuid:p1 Bearer fresh-token',
    ])
    const stored = (await repo(t.ctx).get(store.db, 'urn:uuid:c1'))!.dataAddress as { endpointProperties: Array<{ name: string; value: string }> }
    expect(stored.endpointProperties.find((p) => p.name === 'authorization')?.value).toBe('fresh-token')
  })

  it('downloads only where the egress policy allows: a provider on a loopback address not allowed is never contacted', async () => {
    const p = await providerServer((_req, res) => void res.end('secret'))
    const t = setup(createPeerClient({ egress: egressPolicy({}) }))
    await startedPull(t, 'old-token', p.url)
    const res = await t.json('/transfers/urn:uuid:c1/data')
    expect(res.status).toBeGreaterThanOrEqual(400)
    expect(await res.text()).not.toContain('secret')
    expect(p.calls).toEqual([])
  })

  it("refuses to fetch from a data endpoint that is not on the provider's host", async () => {
    const p = await providerServer((_req, res) => void res.end('x'))
    const t = setup()
    await store.transaction((tx) =>
      repo(t.ctx).insert(
        tx,
        {
          id: 'urn:uuid:c2',
          role: 'consumer',
          providerPid: 'urn:uuid:p2',
          consumerPid: 'urn:uuid:c2',
          agreementId: 'urn:agreement:mine',
          counterpartyId: provider,
          counterpartyAddress: 'http://provider.test/dsp',
          format: 'HttpData-PULL',
          state: 'STARTED',
          dataAddress: httpDataAddress(`${p.url}/`, 't'),
        },
        { cause: 'test', actor: 'local' },
      ),
    )
    expect((await t.json('/transfers/urn:uuid:c2/data')).status).toBe(403)
    expect(p.calls).toEqual([])
  })

  it('refuses to download a transfer that is not a started pull we consume', async () => {
    const t = setup()
    await startedPull(t)
    await store.db.update(store.tables.transfers).set({ state: 'SUSPENDED' })
    expect((await t.json('/transfers/urn:uuid:c1/data')).status).toBe(400)
  })
})
