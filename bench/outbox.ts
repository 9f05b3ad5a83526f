/**
 * The outbox alone: messages written one per transaction (as state changes write them), delivered
 * over HTTP to a peer on 127.0.0.1 that answers at once, by one replica and then by two replicas
 * sharing the database (PostgreSQL). Prints messages per second, the latency from commit to the
 * peer's receipt, and on PostgreSQL the statements sent per message (every `pg` query counted).
 *
 *   node --import tsx bench/outbox.ts [messages]   (BENCH_STORES=sqlite or postgres: one store only)
 */
import { createServer } from 'node:http'
import pg from 'pg'
import { createDispatcher, type Dispatcher } from '../connector/dispatch/dispatcher.ts'
import { peerSend } from '../connector/dispatch/shared.ts'
import { systemClock } from '../connector/context.ts'
import { egressPolicy } from '../connector/http/egress.ts'
import { createPeerClient } from '../connector/http/peer-client.ts'
import { openStore, type Store } from '../connector/store/store.ts'
import { silentLogger } from '../connector/telemetry/logger.ts'
import { createTestDatabase } from '../test/support/stores.ts'
import { freePort } from '../test/support/processes.ts'
import { median, percentile, printTable } from './stats.ts'

const total = Number(process.argv[2] ?? 2000)
const processes = 50
const stores = (process.env.BENCH_STORES ?? 'sqlite,postgres').split(',') as Array<'sqlite' | 'postgres'>

// Every statement the pg driver sends, whatever client sends it.
let statements = 0
const query = pg.Client.prototype.query
pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
  statements++
  return (query as (...a: unknown[]) => unknown).apply(this, args)
} as typeof query

const port = await freePort()
const sentAt = new Map<string, number>()
const latencies: number[] = []
let received = 0
let onAll: (() => void) | undefined
const server = createServer((req, res) => {
  const key = req.url ?? ''
  const at = sentAt.get(key)
  if (at !== undefined) latencies.push(performance.now() - at)
  received++
  req.resume()
  res.setHeader('content-type', 'application/json')
  res.end('{}')
  if (received === total) onAll?.()
})
await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
const peers = createPeerClient({ egress: egressPolicy({ allow: [`127.0.0.1:${port}`] }) })
const base = `http://127.0.0.1:${port}`

async function run(dialect: 'sqlite' | 'postgres', replicas: number) {
  const database = await createTestDatabase(dialect)
  const opened: Store[] = []
  for (let i = 0; i < replicas; i++) opened.push(await openStore({ url: database.url, poolSize: 10 }))
  const dispatchers: Dispatcher[] = opened.map((store) => {
    const d = createDispatcher({ store, clock: systemClock, logger: silentLogger, send: peerSend(peers) })
    d.handle('bench', { failed: async () => {} })
    d.start()
    return d
  })
  await Promise.all(dispatchers.map((d) => d.idle()))
  received = 0
  latencies.length = 0
  sentAt.clear()
  const all = new Promise<void>((resolve) => (onAll = resolve))
  const before = statements
  const started = performance.now()
  // Writers in parallel, one message per transaction, as the protocol areas write them.
  let next = 0
  await Promise.all(
    Array.from({ length: processes }, async () => {
      while (next < total) {
        const n = next++
        const r = n % replicas
        const path = `/p${n % processes}/${n}`
        await opened[r]!.transaction((tx) =>
          dispatchers[r]!.enqueue(tx, { topic: 'bench', processId: `p${n % processes}`, url: base + path, body: { n }, peer: { dspUrl: base } }),
        )
        sentAt.set(path, performance.now())
        dispatchers[r]!.kick()
      }
    }),
  )
  await all
  const seconds = (performance.now() - started) / 1000
  const perMessage = dialect === 'postgres' ? ((statements - before) / total).toFixed(1) : 'n/a'
  for (const d of dispatchers) await d.stop()
  for (const s of opened) await s.close()
  await database.drop()
  return [
    dialect,
    String(replicas),
    String(total),
    (total / seconds).toFixed(0),
    `${median(latencies).toFixed(1)} / ${percentile(latencies, 99).toFixed(1)}`,
    perMessage,
  ]
}

const rows = [['store', 'replicas', 'messages', 'per second', 'commit → peer ms median / p99', 'statements per message']]
for (const dialect of stores) {
  rows.push(await run(dialect, 1))
  if (dialect === 'postgres') rows.push(await run(dialect, 2))
}
printTable(`outbox: ${total} messages over ${processes} processes, one transaction each, peer on 127.0.0.1`, rows)
server.close()
await peers.close()
