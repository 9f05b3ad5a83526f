import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { eq, sql } from 'drizzle-orm'
import { createTestStore, dialects } from '../../test/support/stores.ts'
import { silentLogger } from '../telemetry/logger.ts'
import { systemClock } from '../clock.ts'
import type { Store } from '../store/store.ts'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { egressPolicy } from '../http/egress.ts'
import { createPeerClient } from '../http/peer-client.ts'
import { createLogger } from '../telemetry/logger.ts'
import { createDispatcher, retryDelay, type FailedOutcome, type HttpAnswer, type Send } from './dispatcher.ts'
import { peerSend } from './shared.ts'
import { context, trace } from '@opentelemetry/api'
import { startTelemetry } from '../telemetry/telemetry.ts'
import { withTraceparent } from '../telemetry/trace-context.ts'

describe.each(dialects)('dispatcher on %s', (dialect) => {
  let store: Store
  beforeEach(async () => {
    store = await createTestStore(dialect)
  })
  afterEach(async () => {
    await store.close()
  })

  const message = (processId: string, n: number) => ({
    topic: 'test',
    processId,
    url: `http://127.0.0.1:1/${processId}/${n}`,
    body: { n },
    peer: { dspUrl: 'http://127.0.0.1:1' },
  })

  it('happy: delivers in enqueue order per process and reports the answer', async () => {
    const seen: string[] = []
    const send: Send = async ({ url }) => {
      seen.push(url)
      await new Promise((r) => setTimeout(r, 2))
      return { status: 200, body: { ok: url } }
    }
    const dispatcher = createDispatcher({ store, clock: systemClock, logger: silentLogger, send })
    const delivered: unknown[] = []
    dispatcher.handle('test', { delivered: async (o) => void delivered.push(o.body), failed: async () => {} })
    await store.transaction(async (tx) => {
      for (let n = 1; n <= 3; n++) await dispatcher.enqueue(tx, message('a', n))
      await dispatcher.enqueue(tx, message('b', 1))
    })
    dispatcher.start()
    await dispatcher.idle()
    await dispatcher.stop()
    expect(seen.filter((u) => u.includes('/a/'))).toEqual(['http://127.0.0.1:1/a/1', 'http://127.0.0.1:1/a/2', 'http://127.0.0.1:1/a/3'])
    expect(seen).toHaveLength(4)
    expect(delivered).toContainEqual({ ok: 'http://127.0.0.1:1/b/1' })
  })

  it('happy: retries a peer that answers 404 and 503 for a moment', async () => {
    const answers: HttpAnswer[] = [
      { status: 404, body: undefined },
      { status: 503, body: undefined },
      { status: 200, body: {} },
    ]
    let calls = 0
    const send: Send = async () => answers[calls++]!
    const dispatcher = createDispatcher({ store, clock: systemClock, logger: silentLogger, send, baseDelayMs: 5 })
    dispatcher.handle('test', { failed: async () => expect.fail('must not fail') })
    await store.transaction((tx) => dispatcher.enqueue(tx, message('a', 1)))
    dispatcher.start()
    await dispatcher.idle()
    await dispatcher.stop()
    expect(calls).toBe(3)
    const [row] = await store.db.select().from(store.tables.dispatches)
    expect(row).toMatchObject({ status: 'delivered', attempts: 3 })
  })

  it('error: a dead peer fails after exactly maxAttempts with a readable reason', async () => {
    let calls = 0
    const send: Send = async () => {
      calls++
      throw Object.assign(new Error('fetch failed'), { cause: { code: 'ECONNREFUSED' } })
    }
    const dispatcher = createDispatcher({ store, clock: systemClock, logger: silentLogger, send, baseDelayMs: 2, maxAttempts: 4 })
    const failures: FailedOutcome[] = []
    dispatcher.handle('test', { failed: async (o) => void failures.push(o) })
    await store.transaction((tx) => dispatcher.enqueue(tx, message('a', 1)))
    dispatcher.start()
    await dispatcher.idle()
    await dispatcher.stop()
    expect(calls).toBe(4)
    expect(failures).toHaveLength(1)
    expect(failures[0]!.reason).toMatch(/failed after 4 attempts: the peer could not be reached$/)
  })

  it('security: a callback address the egress policy refuses is sent nothing, not retried, and fails with a reason that names no network detail', async () => {
    const hits: string[] = []
    const internal = createServer((req, res) => (hits.push(req.url ?? ''), res.end('{}')))
    await new Promise<void>((resolve) => internal.listen(0, '127.0.0.1', resolve))
    const port = (internal.address() as AddressInfo).port
    const peers = createPeerClient({ egress: egressPolicy({ allow: ['127.0.0.1:1'] }) })
    const lines: string[] = []
    const dispatcher = createDispatcher({
      store,
      clock: systemClock,
      logger: createLogger({ write: (line) => lines.push(line) }),
      send: peerSend(peers),
      baseDelayMs: 2,
    })
    const failures: FailedOutcome[] = []
    dispatcher.handle('test', { failed: async (o) => void failures.push(o) })
    await store.transaction((tx) => dispatcher.enqueue(tx, { ...message('a', 1), url: `http://127.0.0.1:${port}/internal` }))
    dispatcher.start()
    await dispatcher.idle()
    await dispatcher.stop()
    await peers.close()
    await new Promise((resolve) => internal.close(resolve))
    expect(hits).toEqual([])
    expect(failures).toHaveLength(1)
    expect(failures[0]!.reason).toBe(`delivery to http://127.0.0.1:${port}/internal was refused: the peer's address is not allowed by the egress policy`)
    const [row] = await store.db.select().from(store.tables.dispatches)
    expect(row).toMatchObject({ status: 'failed', attempts: 1 })
    expect(lines.join('\n')).toMatch(/loopback address not in egress.allow/)
  })

  it('error: a 400 answer is not retried', async () => {
    let calls = 0
    const send: Send = async () => {
      calls++
      return { status: 400, body: { reason: ['bad'] } }
    }
    const dispatcher = createDispatcher({ store, clock: systemClock, logger: silentLogger, send, baseDelayMs: 2 })
    const failures: FailedOutcome[] = []
    dispatcher.handle('test', { failed: async (o) => void failures.push(o) })
    await store.transaction((tx) => dispatcher.enqueue(tx, message('a', 1)))
    dispatcher.start()
    await dispatcher.idle()
    await dispatcher.stop()
    expect(calls).toBe(1)
    expect(failures[0]!.reason).toMatch(/was refused: the peer answered 400: \["bad"\]/)
  })

  it('happy: counts an attempt only for a message it sends: the messages of a peer beyond its limit are not claimed', async () => {
    // Every change of a row's attempts, as the database saw it (a trigger of this test's own).
    if (dialect === 'sqlite') {
      await store.db.run(sql`create table attempt_log (id text, attempts integer)`)
      await store.db.run(
        sql`create trigger attempt_log after update of attempts on dispatches begin insert into attempt_log values (new.id, new.attempts); end`,
      )
    } else {
      const db = store.db as unknown as { execute(q: unknown): Promise<unknown> }
      await db.execute(sql`create table attempt_log (id text, attempts integer)`)
      await db.execute(
        sql.raw(`create function log_attempts() returns trigger language plpgsql as $$ begin
          if new.attempts is distinct from old.attempts then insert into attempt_log values (new.id, new.attempts); end if; return new; end $$`),
      )
      await db.execute(sql`create trigger attempt_log after update on dispatches for each row execute function log_attempts()`)
    }
    const log = async () => {
      const rows = await store.db.select({ id: sql<string>`id`, attempts: sql<number>`attempts` }).from(sql`attempt_log`)
      return rows.map((row) => ({ id: row.id, attempts: Number(row.attempts) }))
    }
    // A peer that holds what it is sent until the test lets it answer.
    const held: Array<() => void> = []
    const sent: string[] = []
    const send: Send = ({ url }) =>
      new Promise((resolve) => {
        sent.push(url)
        held.push(() => resolve({ status: 200, body: {} }))
      })
    const dispatcher = createDispatcher({ store, clock: systemClock, logger: silentLogger, send, perPeerConcurrency: 2 })
    dispatcher.handle('test', { failed: async () => {} })
    await store.transaction(async (tx) => {
      for (const processId of ['a', 'b', 'c', 'd', 'e', 'f']) await dispatcher.enqueue(tx, message(processId, 1))
    })
    dispatcher.start()
    while (sent.length < 2) await new Promise((r) => setTimeout(r, 5))
    // Two in flight, their two attempts counted; the four waiting were never claimed (an attempt
    // counted and taken back is one a crash in between would keep, and one other readers see).
    expect(await log()).toHaveLength(2)
    while (sent.length < 6) {
      held.shift()?.()
      await new Promise((r) => setTimeout(r, 5))
    }
    for (const answer of held.splice(0)) answer()
    await dispatcher.idle()
    await dispatcher.stop()
    const changes = await log()
    expect(changes).toHaveLength(6)
    expect(changes.every((change) => change.attempts === 1)).toBe(true)
    expect((await store.db.select().from(store.tables.dispatches)).every((row) => row.status === 'delivered')).toBe(true)
  })

  it('happy: what transactions sharing a commit enqueue is stored with them; what one cancels or rolls back is never sent', async () => {
    const urls: string[] = []
    const dispatcher = createDispatcher({
      store,
      clock: systemClock,
      logger: silentLogger,
      send: async ({ url }) => (urls.push(url), { status: 200, body: {} }),
    })
    dispatcher.handle('test', { failed: async () => {} })
    // At once, so that they share commits: one keeps its messages, one cancels its own process's,
    // one fails after enqueueing.
    const outcomes = await Promise.allSettled([
      ...['k1', 'k2', 'k3'].map((processId) => store.transaction((tx) => dispatcher.enqueue(tx, message(processId, 1)))),
      store.transaction(async (tx) => {
        await dispatcher.enqueue(tx, message('c', 1))
        await dispatcher.enqueueStep(tx, { topic: 'test', processId: 'c', step: 'go' })
        await dispatcher.cancel(tx, 'c')
        await dispatcher.enqueue(tx, message('c', 2))
      }),
      store.transaction(async (tx) => {
        await dispatcher.enqueue(tx, message('r', 1))
        throw new Error('rolled back')
      }),
    ])
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'rejected'])
    dispatcher.start()
    await dispatcher.idle()
    await dispatcher.stop()
    expect(urls.sort()).toEqual(['http://127.0.0.1:1/c/2', 'http://127.0.0.1:1/k1/1', 'http://127.0.0.1:1/k2/1', 'http://127.0.0.1:1/k3/1'])
    expect(await store.db.select().from(store.tables.dispatches).where(eq(store.tables.dispatches.processId, 'r'))).toEqual([])
  })

  it('happy: pending messages resume after a restart; cancelled ones are not sent', async () => {
    const first = createDispatcher({ store, clock: systemClock, logger: silentLogger, send: async () => ({ status: 200, body: {} }) })
    await store.transaction(async (tx) => {
      await first.enqueue(tx, message('a', 1))
      await first.enqueue(tx, message('c', 1))
      await first.cancel(tx, 'c')
    })
    // never started: the process "died" before delivery
    expect([await first.hasPending(store.db, 'a'), await first.hasPending(store.db, 'c'), await first.hasPending(store.db, 'none')]).toEqual([
      true,
      false,
      false,
    ])
    const urls: string[] = []
    const second = createDispatcher({ store, clock: systemClock, logger: silentLogger, send: async ({ url }) => (urls.push(url), { status: 200, body: {} }) })
    second.start()
    await second.idle()
    await second.stop()
    expect(urls).toEqual(['http://127.0.0.1:1/a/1'])
    expect(await second.hasPending(store.db, 'a')).toBe(false)
    const [cancelled] = await store.db.select().from(store.tables.dispatches).where(eq(store.tables.dispatches.processId, 'c'))
    expect(cancelled!.status).toBe('cancelled')
  })
})

describe.each(dialects)('dispatcher trace context on %s', (dialect) => {
  const traceOf = (traceparent: string) => traceparent.split('-')[1]
  const activeTrace = () => trace.getSpanContext(context.active())?.traceId
  it('a message or step delivered after a restart continues the trace it was written in; none or a malformed one starts none', async () => {
    await startTelemetry({})
    const store = await createTestStore(dialect)
    try {
      const written = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'
      const first = createDispatcher({ store, clock: systemClock, logger: silentLogger, send: async () => ({ status: 200, body: {} }) })
      const message = (processId: string) => ({
        topic: 'test',
        processId,
        url: `http://127.0.0.1:1/${processId}`,
        body: {},
        peer: { dspUrl: 'http://127.0.0.1:1' },
      })
      // Two callers at once (SQLite batches their transactions): each row keeps its own caller's trace.
      await Promise.all([
        withTraceparent(written, () => store.transaction((tx) => first.enqueue(tx, message('traced')))),
        withTraceparent(null, () => store.transaction((tx) => first.enqueue(tx, message('untraced')))),
        withTraceparent(written, () => store.transaction((tx) => first.enqueueStep(tx, { topic: 'test', processId: 'step', step: 'go' }))),
        withTraceparent(null, () => store.transaction((tx) => first.enqueue(tx, message('malformed')))),
      ])
      const d = store.tables.dispatches
      await store.db.update(d).set({ traceparent: '00-not-a-trace-01' }).where(eq(d.processId, 'malformed'))
      // never started: the process "died" before delivery
      const seen: Record<string, string | undefined> = {}
      const second = createDispatcher({
        store,
        clock: systemClock,
        logger: silentLogger,
        send: async ({ url }) => ((seen[new URL(url).pathname.slice(1)] = activeTrace()), { status: 200, body: {} }),
      })
      second.handle('test', { failed: async () => {}, run: async (item) => void (seen[item.processId] = activeTrace()) })
      // Started from inside another trace: rows without one must not join it.
      withTraceparent('00-11111111111111111111111111111111-2222222222222222-01', () => second.start())
      await second.idle()
      await second.stop()
      expect(seen).toEqual({ traced: traceOf(written), step: traceOf(written), untraced: undefined, malformed: undefined })
    } finally {
      await store.close()
    }
  })
})

describe('retryDelay', () => {
  it('doubles from the base and stops at the cap', () => {
    expect([1, 2, 3, 4, 10].map((n) => retryDelay(n, 100, 1000))).toEqual([100, 200, 400, 800, 1000])
  })
})
