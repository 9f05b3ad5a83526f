import { spawn, type ChildProcess } from 'node:child_process'
import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http'
import { createInterface } from 'node:readline'
import { eq } from 'drizzle-orm'
import { afterEach, describe, expect, it } from 'vitest'
import { systemClock } from '../../connector/context.ts'
import { egressPolicy } from '../../connector/http/egress.ts'
import { createPeerClient, type PeerClient } from '../../connector/http/peer-client.ts'
import { fromRoot } from '../../connector/paths.ts'
import { openStore, type Store } from '../../connector/store/store.ts'
import { silentLogger } from '../../connector/telemetry/logger.ts'
import { createTestDatabase, type TestDatabase } from '../support/stores.ts'
import { freePort } from '../support/processes.ts'
import { createDispatcher, type Dispatcher } from '../../connector/dispatch/dispatcher.ts'
import { peerSend } from '../../connector/dispatch/shared.ts'

/**
 * Two replicas of one participant on one PostgreSQL database share the outbox: every message goes
 * out once, in order per process, and a replica that stops or dies leaves its work to the other.
 */
describe('outbox shared by replicas on postgres', () => {
  const cleanups: Array<() => Promise<unknown> | undefined> = []
  afterEach(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup()
    cleanups.length = 0
  })

  async function database(): Promise<TestDatabase> {
    const db = await createTestDatabase('postgres')
    cleanups.push(() => db.drop())
    return db
  }
  async function store(url: string): Promise<Store> {
    const s = await openStore({ url, poolSize: 4 })
    cleanups.push(() => s.close())
    return s
  }
  /** A peer over real HTTP; `answer` decides per request (default: 200 at once). */
  async function peer(answer: (body: { process: string; n: number }, res: ServerResponse, req: IncomingMessage) => void = (_b, res) => res.end('{}')) {
    const port = await freePort()
    const received: Array<{ process: string; n: number }> = []
    const server: Server = createServer((req, res) => {
      let text = ''
      req.on('data', (chunk) => (text += chunk))
      req.on('end', () => {
        const body = JSON.parse(text) as { process: string; n: number }
        received.push(body)
        res.setHeader('content-type', 'application/json')
        answer(body, res, req)
      })
    })
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
    cleanups.push(() => new Promise((resolve) => (server.closeAllConnections(), server.close(resolve))))
    const client: PeerClient = createPeerClient({ egress: egressPolicy({ allow: [`127.0.0.1:${port}`] }) })
    cleanups.push(() => client.close())
    return { port, received, send: peerSend(client), url: `http://127.0.0.1:${port}` }
  }
  const message = (base: string, process: string, n: number) => ({
    topic: 'test',
    processId: process,
    url: `${base}/${process}/${n}`,
    body: { process, n },
    peer: { dspUrl: base },
  })

  async function until(check: () => Promise<boolean> | boolean, what: string, ms = 30_000) {
    const end = Date.now() + ms
    while (!(await check())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  it('happy: two replicas deliver every message exactly once, in order per process, and report each outcome once', async () => {
    const db = await database()
    const [a, b] = [await store(db.url), await store(db.url)]
    const target = await peer((_body, res) => setTimeout(() => res.end('{}'), Math.floor(Math.random() * 4)))
    const reported: string[] = []
    const replicas: Dispatcher[] = [a, b].map((s) => {
      const d = createDispatcher({ store: s, clock: systemClock, logger: silentLogger, send: target.send, perPeerConcurrency: 16 })
      d.handle('test', { delivered: async ({ item }) => void reported.push(item.id), failed: async () => expect.fail('nothing fails') })
      cleanups.push(() => d.stop())
      return d
    })
    replicas.forEach((d) => d.start())
    // Both replicas write work, in several transactions, while both run.
    for (let round = 0; round < 10; round++) {
      const d = replicas[round % 2]!
      const s = round % 2 === 0 ? a : b
      await s.transaction(async (tx) => {
        for (let p = 0; p < 20; p++) await d.enqueue(tx, message(target.url, `p${p}`, round))
      })
      d.kick()
    }
    await until(async () => (await a.db.select().from(a.tables.dispatches).where(eq(a.tables.dispatches.status, 'delivered'))).length === 200, 'every delivery')
    await Promise.all(replicas.map((d) => d.idle()))
    expect(target.received).toHaveLength(200)
    for (let p = 0; p < 20; p++) expect(target.received.filter((m) => m.process === `p${p}`).map((m) => m.n)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect(reported).toHaveLength(200)
    expect(new Set(reported).size).toBe(200)
    const rows = await a.db.select().from(a.tables.dispatches)
    expect(rows.every((row) => row.attempts === 1 && row.leaseOwner === null)).toBe(true)
  })

  /** A replica in a process of its own; its JSON log lines are collected. */
  async function replicaProcess(url: string, port: number, leaseMs: number) {
    const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', fromRoot('test/support/outbox-replica.ts'), url, String(port), String(leaseMs)], {
      cwd: fromRoot('.'),
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    cleanups.push(() => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGCONT')
        child.kill('SIGKILL')
      }
    })
    const lines: Array<{ msg: string; id?: string }> = []
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        lines.push(JSON.parse(line))
      } catch {
        // not a log line
      }
    })
    await until(() => lines.some((l) => l.msg === 'replica started'), 'the replica to start', 60_000)
    return { child, lines }
  }

  it('crash: a replica that stalls loses its lease to the other, which delivers; once it wakes up it records nothing', async () => {
    const db = await database()
    const s = await store(db.url)
    const held: ServerResponse[] = []
    // The first request is held (the replica that sent it is then frozen); later ones are answered.
    const target = await peer((_body, res) => (held.length === 0 && target.received.length === 1 ? held.push(res) : res.end('{}')))
    const stalled = await replicaProcess(db.url, target.port, 1000)
    const other = createDispatcher({ store: s, clock: systemClock, logger: silentLogger, send: target.send, leaseMs: 1000 })
    const reported: string[] = []
    other.handle('test', { delivered: async ({ item }) => void reported.push(item.id), failed: async () => expect.fail('nothing fails') })
    cleanups.push(() => other.stop())
    const id = await s.transaction((tx) => other.enqueue(tx, message(target.url, 'p', 1)))
    // The replica process claims it (the other is not started yet) and sends it; freeze it there.
    await until(() => held.length === 1, 'the first delivery')
    const [claimed] = await s.db.select().from(s.tables.dispatches)
    expect(claimed!.leaseOwner).not.toBeNull()
    stalled.child.kill('SIGSTOP')
    other.start()
    await until(() => reported.length === 1, 'the other replica to take the message over')
    const [delivered] = await s.db.select().from(s.tables.dispatches)
    expect(delivered).toMatchObject({ id, status: 'delivered', attempts: 2, leaseOwner: null })
    expect(target.received).toHaveLength(2)
    // The frozen replica wakes up and gets its (late) answer: its lease is gone, it records nothing.
    stalled.child.kill('SIGCONT')
    held[0]!.end('{}')
    await until(() => stalled.lines.some((l) => l.msg.startsWith('dispatch: lease lost')), 'the stalled replica to notice')
    expect(stalled.lines.filter((l) => l.msg === 'delivered')).toEqual([])
    const [after] = await s.db.select().from(s.tables.dispatches)
    expect(after).toMatchObject({ status: 'delivered', attempts: 2 })
  })

  it('crash: a replica killed while it delivers is taken over once its lease expired; the attempt it made counts', async () => {
    const db = await database()
    const s = await store(db.url)
    const target = await peer((_body, res) => (target.received.length === 1 ? undefined : res.end('{}')))
    const killed = await replicaProcess(db.url, target.port, 1000)
    const other = createDispatcher({ store: s, clock: systemClock, logger: silentLogger, send: target.send, leaseMs: 1000 })
    const reported: string[] = []
    other.handle('test', { delivered: async ({ item }) => void reported.push(item.id), failed: async () => expect.fail('nothing fails') })
    cleanups.push(() => other.stop())
    await s.transaction((tx) => other.enqueue(tx, message(target.url, 'p', 1)))
    await until(() => target.received.length === 1, 'the first delivery')
    other.start()
    killed.child.kill('SIGKILL')
    const [leased] = await s.db.select().from(s.tables.dispatches)
    await until(() => reported.length === 1, 'the take-over')
    const [row] = await s.db.select().from(s.tables.dispatches)
    expect(row).toMatchObject({ status: 'delivered', attempts: 2, leaseOwner: null })
    expect(row!.updatedAt).toBeGreaterThanOrEqual(leased!.leaseUntil!)
  })
})
