import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { systemClock } from '../context.ts'
import { createDispatcher } from '../dispatch/dispatcher.ts'
import { silentLogger } from '../telemetry/logger.ts'
import { createApp } from '../http/app.ts'
import { testContext } from '../../test/support/context.ts'
import { createTestDatabase, postgresAdminUrl } from '../../test/support/stores.ts'
import { changeNotifier } from './changes.ts'
import { openStore, type Store } from './store.ts'

/** Two replicas (two stores) on one PostgreSQL database hear each other's changes. */
describe('signals between replicas on postgres', () => {
  const cleanups: Array<() => Promise<unknown> | undefined> = []
  afterEach(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup()
    cleanups.length = 0
  })
  async function twoStores(): Promise<[Store, Store, string]> {
    const db = await createTestDatabase('postgres')
    cleanups.push(() => db.drop())
    const stores: Store[] = []
    for (let i = 0; i < 2; i++) {
      const s = await openStore({ url: db.url, poolSize: 2 })
      cleanups.push(() => s.close())
      stores.push(s)
    }
    return [stores[0]!, stores[1]!, new URL(db.url).pathname.slice(1)]
  }
  const heard = (store: Store, channel: string) => {
    const payloads: Array<string | undefined> = []
    store.signals.subscribe(channel, (payload) => payloads.push(payload))
    return payloads
  }
  async function until(check: () => boolean, what: string, ms = 20_000) {
    const end = Date.now() + ms
    while (!check()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
      await new Promise((r) => setTimeout(r, 20))
    }
  }

  it('happy: what one replica publishes wakes the other, never itself', async () => {
    const [a, b] = await twoStores()
    const onA = heard(a, 'test_channel')
    const onB = heard(b, 'test_channel')
    // Both listen once their connection is up (each reports a first `undefined`: look again).
    await until(() => onA.includes(undefined) && onB.includes(undefined), 'both listeners')
    a.signals.publish('test_channel', 'one')
    a.signals.publish('test_channel', 'two')
    await until(() => onB.includes('two'), 'the publication')
    expect(onB.filter((p) => p !== undefined)).toEqual(['one', 'two'])
    expect(onA.filter((p) => p !== undefined)).toEqual([])
  })

  it('happy: a long poll on one replica wakes when another commits a change of its process', async () => {
    const [a, b] = await twoStores()
    const writer = changeNotifier(a.signals)
    const reader = changeNotifier(b.signals)
    const next = reader.subscribe('urn:uuid:n1')
    await until(() => b.signals.status() === 'listening', 'the listening connection')
    let woke = false
    const waiting = next.wait(60_000).then(() => (woke = true))
    writer.notify('urn:uuid:n1')
    await until(() => woke, 'the long poll to wake')
    await waiting
  })

  it('crash: after the listening connection is cut, it comes back, subscribers look again, and publications are heard again', async () => {
    const [a, b, name] = await twoStores()
    const onB = heard(b, 'test_channel')
    await until(() => onB.includes(undefined), 'the listener')
    const admin = new pg.Client({ connectionString: postgresAdminUrl })
    await admin.connect()
    try {
      await admin.query("select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and application_name = 'passerelle-signals'", [name])
    } finally {
      await admin.end()
    }
    const ready = async () => (await (await createApp(testContext(b), []).app.request('/health/ready')).json()) as { status: string; signals?: string }
    // Readiness shows the listening connection's state without making the replica unready for it.
    await until(() => b.signals.status() !== 'listening', 'the cut to be noticed')
    // Reconnected: a second `undefined` tells the subscriber to look again.
    await until(() => onB.filter((p) => p === undefined).length >= 2, 'the reconnection')
    expect(await ready()).toMatchObject({ status: 'ok', signals: 'listening' })
    a.signals.publish('test_channel', 'after')
    await until(() => onB.includes('after'), 'a publication after the outage')
  })

  it('happy: a replica without room leaves new work to the other, which hears of it without waiting for its safety scan', async () => {
    const [a, b] = await twoStores()
    const sent: string[] = []
    const full = createDispatcher({ store: a, clock: systemClock, logger: silentLogger, send: async () => expect.fail('no room here'), concurrency: 0 })
    const other = createDispatcher({
      store: b,
      clock: systemClock,
      logger: silentLogger,
      send: async ({ url }) => (sent.push(url), { status: 200, body: {} }),
      safetyScanMs: 600_000,
    })
    for (const d of [full, other]) {
      d.handle('test', { failed: async () => expect.fail('nothing fails') })
      d.start()
      cleanups.push(() => d.stop())
    }
    await other.idle()
    await until(() => b.signals.status() === 'listening', 'the listening connection')
    await a.transaction((tx) =>
      full.enqueue(tx, { topic: 'test', processId: 'p', url: 'http://127.0.0.1:1/p', body: {}, peer: { dspUrl: 'http://127.0.0.1:1' } }),
    )
    full.kick()
    await until(() => sent.length === 1, 'the other replica to deliver')
    expect(sent).toEqual(['http://127.0.0.1:1/p'])
  })
})
