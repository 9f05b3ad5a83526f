/**
 * Replicas of one provider on one PostgreSQL, behind HAProxy (the set-up of the replica tests,
 * test/support/reverse-proxy.ts), negotiated with by one consumer (its own PostgreSQL database).
 *
 *   node --import tsx bench/replicas.ts [negotiations per count]   (BENCH_REPLICAS=1,2,3; BENCH_IN_FLIGHT=50)
 *
 * For each replica count: completed negotiations per second at 50 in flight and the median start →
 * FINALIZED on the consumer's timeline; then, with the largest count, one replica is killed
 * (SIGKILL, by the failpoint `sent:ContractAgreementMessage`: after an agreement was delivered,
 * before it is marked delivered, about a third of the way) and the bench follows the outbox rows
 * leased at that moment until each is done or held by another owner: the survivors' own rows end at
 * once, the dead replica's wait for their lease to expire and a survivor's scan to claim them (the
 * maximum is that takeover).
 * Baseline in the same run: one replica behind the same proxy.
 */
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import pg from 'pg'
import { Agent, request } from 'undici'
import { loadPolicies } from '../policies/index.ts'
import { fromRoot } from '../connector/paths.ts'
import { copyParticipant, freePort, startConnectorProcess, type ConnectorProcess, type ParticipantFolder } from '../test/support/processes.ts'
import { haproxyAvailable, startReverseProxy } from '../test/support/reverse-proxy.ts'
import { createTestDatabase } from '../test/support/stores.ts'
import { median, percentile, printTable } from './stats.ts'

const perCount = Number(process.argv[2] ?? 150)
const counts = (process.env.BENCH_REPLICAS ?? '1,2,3').split(',').map(Number)
const inFlight = Number(process.env.BENCH_IN_FLIGHT ?? 50)
const arctic = 'urn:uuid:0f3cee7e-e077-4be0-9365-3a791567f70e'

if (!haproxyAvailable()) {
  console.log('replicas: HAProxy is not installed; nothing measured')
  process.exit(0)
}
if (!existsSync(fromRoot('dist/passerelle.js'))) execFileSync(process.execPath, [fromRoot('scripts/build.js')], { stdio: 'inherit' })

const agent = new Agent({ connections: 128 })
async function management(folder: ParticipantFolder, method: string, path: string, body?: unknown): Promise<any> {
  const response = await request(`${folder.url}/management/v1${path}`, {
    method: method as 'GET' | 'POST',
    headers: { authorization: `Bearer ${folder.managementKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    dispatcher: agent,
  })
  const text = await response.body.text()
  if (response.statusCode >= 300) throw new Error(`${method} ${path}: ${response.statusCode} ${text}`)
  return JSON.parse(text)
}

/** One negotiation to an end state, followed with the consumer's long poll (as bench/negotiation.ts). */
async function negotiate(consumer: ParticipantFolder, providerUrl: string, offer: Record<string, unknown>) {
  const started = await management(consumer, 'POST', '/negotiations', { peerUrl: `${providerUrl}/dsp/2025-1`, datasetId: arctic, offer })
  let seen = 3
  for (;;) {
    const n = await management(consumer, 'GET', `/negotiations/${encodeURIComponent(started.id)}?after=${seen}&wait=10`)
    if (n.state === 'FINALIZED' || n.state === 'TERMINATED') return n
    seen = n.timeline.at(-1).seq
  }
}

async function run(replicaCount: number, offer: Record<string, unknown>, kill: boolean) {
  const [proxyPort, consumerPort] = [await freePort(), await freePort()]
  const ports: number[] = []
  for (let i = 0; i < replicaCount; i++) ports.push(await freePort())
  const did = (port: number) => `did:web:127.0.0.1%3A${port}`
  const identity = { mode: 'static', staticTokens: { 'provider-token': did(proxyPort), 'consumer-token': did(consumerPort) } }
  const provider = await copyParticipant({ port: proxyPort, config: { identity, log: { level: 'error' } } })
  const consumer = await copyParticipant({ port: consumerPort, config: { identity, log: { level: 'error' } } })
  const providerDb = await createTestDatabase('postgres')
  const consumerDb = await createTestDatabase('postgres')
  const replicas: ConnectorProcess[] = []
  const cleanups: Array<() => unknown> = [provider.remove, consumer.remove, providerDb.drop, consumerDb.drop]
  try {
    // One after the other: the first applies the migrations.
    for (const [i, port] of ports.entries()) {
      // The replica to kill dies by itself (SIGKILL) between delivering an agreement and marking it
      // delivered: it holds that row's lease then, for sure.
      const dies =
        kill && i === ports.length - 1 ? { PASSERELLE_TEST_FAILPOINT: `sent:ContractAgreementMessage@${Math.ceil(perCount / (3 * replicaCount))}` } : {}
      replicas.push(
        await startConnectorProcess(
          { ...provider, port, url: `http://127.0.0.1:${port}` },
          { env: { PASSERELLE_PORT: String(port), PASSERELLE_PUBLIC_URL: provider.url, PASSERELLE_DATABASE_URL: providerDb.url, ...dies } },
        ),
      )
    }
    const takeover = kill ? replicas.at(-1)!.exited.then(() => followLeases(providerDb.url)) : undefined
    cleanups.unshift(() => Promise.all(replicas.map((r) => r.stop('SIGKILL'))))
    const proxy = await startReverseProxy({ port: proxyPort, replicas: ports })
    cleanups.unshift(() => proxy.stop())
    const consumerProcess = await startConnectorProcess(consumer, { env: { PASSERELLE_DATABASE_URL: consumerDb.url } })
    cleanups.unshift(() => consumerProcess.stop('SIGKILL'))
    for (let i = 0; i < 10; i++) await negotiate(consumer, provider.url, offer)

    const ends: string[] = []
    const started = performance.now()
    let next = 0
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next < perCount) {
          next++
          ends.push((await negotiate(consumer, provider.url, offer)).state)
        }
      }),
    )
    const seconds = (performance.now() - started) / 1000
    const times: number[] = []
    const listed = await management(consumer, 'GET', '/negotiations?role=consumer&limit=500')
    for (const n of listed.items.slice(0, 200)) {
      const full = await management(consumer, 'GET', `/negotiations/${encodeURIComponent(n.id)}`)
      if (full.state === 'FINALIZED') times.push(Date.parse(full.timeline.at(-1).at) - Date.parse(full.timeline[0].at))
    }
    return {
      perSecond: ends.length / seconds,
      finalized: ends.filter((state) => state === 'FINALIZED').length,
      done: ends.length,
      median: median(times),
      p99: percentile(times, 99),
      takeover: takeover ? await takeover : undefined,
    }
  } finally {
    for (const cleanup of cleanups) await cleanup()
  }
}

/**
 * Once a replica died: follows the outbox rows leased at that moment until each is no longer
 * pending or held by another owner. The dead replica's rows wait for their lease to end.
 */
async function followLeases(url: string) {
  const killedAt = performance.now()
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const leased = (
      await client.query<{ id: string; lease_owner: string }>("select id, lease_owner from dispatches where status = 'pending' and lease_owner is not null")
    ).rows
    const doneAt = new Map<string, number>()
    while (doneAt.size < leased.length && performance.now() - killedAt < 60_000) {
      const now = await client.query<{ id: string; status: string; lease_owner: string | null }>(
        'select id, status, lease_owner from dispatches where id = any($1)',
        [leased.map((row) => row.id)],
      )
      for (const row of now.rows) {
        const before = leased.find((l) => l.id === row.id)!
        if (!doneAt.has(row.id) && (row.status !== 'pending' || (row.lease_owner !== null && row.lease_owner !== before.lease_owner)))
          doneAt.set(row.id, performance.now() - killedAt)
      }
      await new Promise((r) => setTimeout(r, 20))
    }
    const times = [...doneAt.values()]
    return { rows: leased.length, maxMs: Math.max(0, ...times), medianMs: times.length ? median(times) : 0 }
  } finally {
    await client.end()
  }
}

const loaded = await loadPolicies(fromRoot('seeds/policies'))
const offer = loaded.policies.get('open-with-attribution')!.odrl as unknown as Record<string, unknown>
console.log(`replicas: provider replicas on one PostgreSQL behind HAProxy, ${perCount} negotiations each, ${inFlight} in flight`)
const rows: string[][] = []
let baseline = Number.NaN
for (const count of counts) {
  const r = await run(count, offer, false)
  if (Number.isNaN(baseline)) baseline = r.perSecond
  rows.push([String(count), `${r.finalized} / ${r.done}`, r.perSecond.toFixed(1), (r.perSecond / baseline).toFixed(2), `${r.median} / ${r.p99}`])
}
printTable('throughput per replica count (consumer on PostgreSQL too)', [
  ['replicas', 'finalized / done', 'negotiations/s', '÷ first count', 'consumer ms median / p99'],
  ...rows,
])
const largest = Math.max(...counts)
if (largest > 1) {
  const r = await run(largest, offer, true)
  console.log(
    `one of ${largest} replicas killed (SIGKILL, holding a lease) about a third of the way: ${r.finalized} / ${r.done} finalized, ${r.perSecond.toFixed(1)}/s; ` +
      `${r.takeover?.rows ?? 0} outbox rows leased at the kill, all resumed after at most ${r.takeover?.maxMs.toFixed(0)} ms ` +
      `(median ${r.takeover?.medianMs.toFixed(0)} ms; lease 10 s)`,
  )
}
await agent.close()
