import { createServer as createHttpServer } from 'node:http'
import { createServer as createTcpServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { eq } from 'drizzle-orm'
import { afterEach, describe, expect, it } from 'vitest'
import { randomIds, systemClock, type Ctx } from '../../connector/context.ts'
import { egressPolicy } from '../../connector/http/egress.ts'
import { createApp } from '../../connector/http/app.ts'
import { createPeerClient } from '../../connector/http/peer-client.ts'
import { resolveConfig } from '../../connector/config/config.ts'
import { silentLogger } from '../../connector/telemetry/logger.ts'
import { createTestStore, dialects } from '../support/stores.ts'
import { freePort } from '../support/processes.ts'
import { createDispatcher } from '../../connector/dispatch/dispatcher.ts'
import { outboxArea } from '../../connector/dispatch/routes.ts'
import { peerSend } from '../../connector/dispatch/shared.ts'

/** One dead peer must not slow the others: limits per peer, and a circuit breaker. */
describe.each(dialects)('outbox fairness on %s', (dialect) => {
  const cleanups: Array<() => Promise<unknown> | undefined> = []
  afterEach(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup()
    cleanups.length = 0
  })

  async function setUp(options: { breakerThreshold?: number; breakerOpenMs?: number; timeoutMs?: number; retryWindowMs?: number } = {}) {
    const store = await createTestStore(dialect)
    cleanups.push(() => store.close())
    // A black hole: accepts the connection, never answers.
    const holePort = await freePort()
    const sockets: Socket[] = []
    const hole = createTcpServer((socket) => void sockets.push(socket))
    await new Promise<void>((resolve) => hole.listen(holePort, '127.0.0.1', resolve))
    cleanups.push(() => new Promise((resolve) => (sockets.forEach((s) => s.destroy()), hole.close(resolve))))
    const healthyPort = await freePort()
    const healthyReceived: string[] = []
    const healthy = createHttpServer(
      (req, res) => (healthyReceived.push(req.url ?? ''), req.resume(), res.setHeader('content-type', 'application/json'), res.end('{}')),
    )
    await new Promise<void>((resolve) => healthy.listen(healthyPort, '127.0.0.1', resolve))
    cleanups.push(() => new Promise((resolve) => (healthy.closeAllConnections(), healthy.close(resolve))))
    const refusedPort = await freePort() // nobody listens: connections are refused
    const peers = createPeerClient({ egress: egressPolicy({ allow: [holePort, healthyPort, refusedPort].map((p) => `127.0.0.1:${p}`) }) })
    cleanups.push(() => peers.close())
    const dispatcher = createDispatcher({ store, clock: systemClock, logger: silentLogger, send: peerSend(peers), ...options })
    dispatcher.handle('test', { failed: async () => {} })
    cleanups.push(() => dispatcher.stop())
    const config = resolveConfig(
      { participant: { id: 'did:web:fairness.example', name: 'fairness' }, management: { apiKey: 'fairness-management-key-0123456789' } },
      tmpdir(),
      { env: {} },
    )
    const ctx: Ctx = { config, store, clock: systemClock, ids: randomIds, logger: silentLogger, peers }
    const { app } = createApp(ctx, [outboxArea(dispatcher)])
    const outboxPeers = async () =>
      (await (await app.request('/management/v1/outbox/peers', { headers: { authorization: 'Bearer fairness-management-key-0123456789' } })).json()) as {
        peers: Array<Record<string, unknown>>
      }
    const enqueue = async (port: number, processes: number, prefix: string) =>
      store.transaction(async (tx) => {
        for (let i = 0; i < processes; i++) {
          const base = `http://127.0.0.1:${port}`
          await dispatcher.enqueue(tx, { topic: 'test', processId: `${prefix}${i}`, url: `${base}/${prefix}${i}`, body: {}, peer: { dspUrl: base } })
        }
      })
    return { store, dispatcher, sockets, holePort, healthyPort, refusedPort, healthyReceived, enqueue, outboxPeers }
  }

  async function until(check: () => Promise<boolean> | boolean, what: string, ms = 20_000) {
    const end = Date.now() + ms
    while (!(await check())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
      await new Promise((r) => setTimeout(r, 20))
    }
  }

  it('happy: beside a peer that never answers, with 100 messages waiting for it, a healthy peer gets its messages at once', async () => {
    const s = await setUp()
    await s.enqueue(s.holePort, 100, 'dead')
    await s.enqueue(s.healthyPort, 20, 'live')
    s.dispatcher.start()
    await until(() => s.healthyReceived.length === 20, 'the healthy peer to receive its messages')
    // Meanwhile the black hole holds no more than its own share of deliveries.
    expect(s.sockets.length).toBeLessThanOrEqual(8)
    const waiting = await s.store.db.select().from(s.store.tables.dispatches).where(eq(s.store.tables.dispatches.status, 'pending'))
    expect(waiting.length).toBeGreaterThanOrEqual(92)
    const { peers } = await s.outboxPeers()
    expect(peers.find((p) => p.peerAddress === `http://127.0.0.1:${s.holePort}`)).toMatchObject({ inFlight: 8, circuit: 'closed' })
    // Cut the held connections: the deliveries in flight end (to be retried) and the outbox stops at once.
    for (const socket of s.sockets) socket.destroy()
  })

  it('error: a peer that does not answer in time again and again is left alone (its circuit opens, visible in the management API), and the others go on', async () => {
    const s = await setUp({ breakerThreshold: 3, breakerOpenMs: 600_000, timeoutMs: 300 })
    await s.enqueue(s.holePort, 30, 'dead')
    s.dispatcher.start()
    const address = `http://127.0.0.1:${s.holePort}`
    await until(async () => (await s.outboxPeers()).peers.some((p) => p.peerAddress === address && p.circuit === 'open'), 'the circuit to open')
    const { peers } = await s.outboxPeers()
    expect(peers.find((p) => p.peerAddress === address)).toMatchObject({
      circuit: 'open',
      retryAt: expect.any(String),
      lastError: expect.stringMatching(/no answer in time/),
    })
    const attemptsWhenOpened = (await s.store.db.select().from(s.store.tables.dispatches)).reduce((sum, row) => sum + row.attempts, 0)
    // Eight in flight at most; each of the first two timeouts frees a place for one more attempt
    // before the third opens the circuit.
    expect(attemptsWhenOpened).toBeLessThanOrEqual(8 + 3 - 1)
    await s.enqueue(s.healthyPort, 5, 'live')
    s.dispatcher.kick()
    await until(() => s.healthyReceived.length === 5, 'the healthy peer')
    // Nothing more was tried towards the peer left alone, and none of its messages failed.
    const rows = await s.store.db.select().from(s.store.tables.dispatches).where(eq(s.store.tables.dispatches.peerAddress, address))
    expect(rows.reduce((sum, row) => sum + row.attempts, 0)).toBe(attemptsWhenOpened)
    expect(rows.every((row) => row.status === 'pending')).toBe(true)
    for (const socket of s.sockets) socket.destroy()
  })

  it('error: a message whose retry window ends while its peer is left alone fails unsent, with a reason that names no network detail', async () => {
    const s = await setUp({ breakerThreshold: 1, breakerOpenMs: 600_000, timeoutMs: 200, retryWindowMs: 1500 })
    const failures: string[] = []
    s.dispatcher.handle('test', { failed: async ({ reason }) => void failures.push(reason) })
    await s.enqueue(s.holePort, 2, 'dead')
    s.dispatcher.start()
    await until(() => failures.length === 2, 'both to fail')
    expect(failures.sort()).toEqual(
      [0, 1].map((i) => `delivery to http://127.0.0.1:${s.holePort}/dead${i} failed after 1 attempt within 2 s: the peer could not be reached`),
    )
    expect((await s.store.db.select().from(s.store.tables.dispatches)).map((row) => [row.status, row.attempts])).toEqual([
      ['failed', 1],
      ['failed', 1],
    ])
    for (const socket of s.sockets) socket.destroy()
  })

  it('happy: a peer that refuses connections at once is retried on its own schedule, its circuit stays closed', async () => {
    const s = await setUp({ breakerThreshold: 2 })
    await s.enqueue(s.refusedPort, 3, 'down')
    s.dispatcher.start()
    const address = `http://127.0.0.1:${s.refusedPort}`
    await until(async () => (await s.store.db.select().from(s.store.tables.dispatches)).every((row) => row.attempts >= 3), 'three attempts each')
    expect((await s.outboxPeers()).peers.find((p) => p.peerAddress === address)).toMatchObject({ circuit: 'closed', consecutiveFailures: 0 })
  })
})
