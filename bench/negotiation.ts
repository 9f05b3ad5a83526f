/**
 * Contract negotiation between two connector processes (the built CLI, seed participant, static
 * tokens) on 127.0.0.1: time from start to FINALIZED on both sides (from each side's timeline:
 * consumer start → its FINALIZED, provider's REQUESTED → its FINALIZED), and completed negotiations
 * per second at 1, 10 and 50 in flight, with both connectors on SQLite and then on PostgreSQL.
 * Baseline in the same run: one authenticated DSP round trip (GET /negotiations/:pid).
 *
 *   node --import tsx bench/negotiation.ts [negotiations per level]   (BENCH_STORES=sqlite: one store only)
 *
 * Where the time goes: BENCH_STATEMENTS=1 counts each connector's database statements (and their
 * wall time) per negotiation at each level (bench/statement-counter.mjs, loaded into them);
 * BENCH_CPU_PROF=<dir> writes a CPU profile of each connector there when it stops (bench/cpu-profile.mjs);
 * build with PASSERELLE_BUILD_MINIFY=0 first so that the profile's lines map back to the sources.
 * On PostgreSQL the table also counts the deadlocks the server detected in both connectors' databases.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Agent, request } from 'undici'
import { execFileSync } from 'node:child_process'
import { loadPolicies } from '../policies/index.ts'
import { fromRoot } from '../connector/paths.ts'
import { copyParticipant, freePort, startConnectorProcess, type ConnectorProcess, type ParticipantFolder } from '../test/support/processes.ts'
import pg from 'pg'
import { createTestDatabase, postgresAdminUrl, type TestDatabase } from '../test/support/stores.ts'
import { median, percentile, printTable } from './stats.ts'

const perLevel = Number(process.argv[2] ?? 300)
// BENCH_LEVELS=50 (comma-separated): the in-flight levels to run.
const levels = (process.env.BENCH_LEVELS ?? '1,10,50').split(',').map(Number)
const arctic = 'urn:uuid:0f3cee7e-e077-4be0-9365-3a791567f70e'

if (!existsSync(fromRoot('dist/passerelle.js'))) execFileSync(process.execPath, [fromRoot('scripts/build.js')], { stdio: 'inherit' })

interface Pair {
  provider: ParticipantFolder
  consumer: ParticipantFolder
  processes: ConnectorProcess[]
  databases: TestDatabase[]
}

async function startPair(dialect: 'sqlite' | 'postgres'): Promise<Pair> {
  const [providerPort, consumerPort] = [await freePort(), await freePort()]
  const did = (port: number) => `did:web:127.0.0.1%3A${port}`
  const identity = { mode: 'static', staticTokens: { 'provider-token': did(providerPort), 'consumer-token': did(consumerPort) } }
  const provider = await copyParticipant({ port: providerPort, config: { identity, log: { level: 'error' } } })
  const consumer = await copyParticipant({ port: consumerPort, config: { identity, log: { level: 'error' } } })
  const databases: TestDatabase[] = []
  const envFor = async () => {
    if (dialect === 'sqlite') return {}
    const database = await createTestDatabase('postgres')
    databases.push(database)
    return { PASSERELLE_DATABASE_URL: database.url }
  }
  const processes = [
    await startConnectorProcess(provider, { env: { ...profiling, ...(await envFor()) } }),
    await startConnectorProcess(consumer, { env: { ...profiling, ...(await envFor()) } }),
  ]
  return { provider, consumer, processes, databases }
}

async function stopPair(pair: Pair) {
  for (const p of pair.processes) await p.stop('SIGTERM')
  for (const d of pair.databases) await d.drop()
  pair.provider.remove()
  pair.consumer.remove()
}

const statementsDir = process.env.BENCH_STATEMENTS ? mkdtempSync(join(tmpdir(), 'bench-statements-')) : undefined
const profiling: Record<string, string> = {
  NODE_OPTIONS: [
    statementsDir ? `--import ${fromRoot('bench/statement-counter.mjs')}` : '',
    process.env.BENCH_CPU_PROF ? `--import ${fromRoot('bench/cpu-profile.mjs')}` : '',
  ].join(' '),
  ...(statementsDir ? { BENCH_STATEMENTS_DIR: statementsDir } : {}),
}

/** Deadlocks PostgreSQL detected (and ended by failing a transaction) in the pair's databases so far. */
async function deadlocksOf(pair: Pair): Promise<number> {
  if (pair.databases.length === 0) return 0
  const client = new pg.Client({ connectionString: postgresAdminUrl })
  await client.connect()
  try {
    const names = pair.databases.map((d) => new URL(d.url).pathname.slice(1))
    const result = await client.query<{ n: string | null }>('select sum(deadlocks) as n from pg_stat_database where datname = any($1)', [names])
    return Number(result.rows[0]?.n ?? 0)
  } finally {
    await client.end()
  }
}

type Statements = Record<string, { n: number; ms: number }>
/** A connector's statement totals so far (see bench/statement-counter.mjs). */
async function statementsOf(p: ConnectorProcess): Promise<Statements> {
  const file = join(statementsDir!, `${p.child.pid}.json`)
  rmSync(file, { force: true })
  p.child.kill('SIGUSR2')
  for (let i = 0; i < 200 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 10))
  return JSON.parse(readFileSync(file, 'utf8'))
}

/** Per negotiation: statements, transactions and their wall time on one side, then the costliest statements. */
function printStatements(title: string, before: Statements, after: Statements, negotiations: number) {
  const rows = Object.entries(after)
    .map(([name, a]) => ({ name, n: (a.n - (before[name]?.n ?? 0)) / negotiations, ms: (a.ms - (before[name]?.ms ?? 0)) / negotiations }))
    .filter((row) => row.n > 0)
  const sum = (filter: (name: string) => boolean, key: 'n' | 'ms') => rows.filter((row) => filter(row.name)).reduce((total, row) => total + row[key], 0)
  const begins = (name: string) => /^begin/i.test(name)
  const commits = (name: string) => /^commit/i.test(name)
  const savepoints = (name: string) => /^(savepoint|release|rollback to)/i.test(name)
  const statement = (name: string) => !begins(name) && !commits(name) && !savepoints(name)
  console.log(
    `${title}: per negotiation ${sum(statement, 'n').toFixed(1)} statements (${sum(statement, 'ms').toFixed(1)} ms), ` +
      `${sum(begins, 'n').toFixed(2)} transactions (commits ${sum(commits, 'ms').toFixed(1)} ms), ${sum((name) => /^savepoint/i.test(name), 'n').toFixed(1)} savepoints`,
  )
  printTable('', [
    ['statements per negotiation', 'ms', 'statement'],
    ...rows
      .sort((x, y) => y.ms - x.ms)
      .slice(0, 14)
      .map((row) => [row.n.toFixed(2), row.ms.toFixed(2), row.name]),
  ])
}

// The bench's own client: undici with kept-alive connections (the global fetch costs several times
// more CPU per request, and that CPU is taken from the two connectors on the same cores).
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

/** CPU time (user + system) a process has used so far, from /proc (Linux). */
function processCpuMs(p: ConnectorProcess) {
  const fields = readFileSync(`/proc/${p.child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks
}
const clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
const benchCpuMs = () => {
  const usage = process.cpuUsage()
  return (usage.user + usage.system) / 1000
}

/** One negotiation from start to an end state, as the consumer sees it (long polls: no sleeping). */
async function negotiate(pair: Pair, offer: Record<string, unknown>) {
  const started = await management(pair.consumer, 'POST', '/negotiations', { peerUrl: `${pair.provider.url}/dsp/2025-1`, datasetId: arctic, offer })
  // A plain flow finalizes at the consumer's fourth timeline entry (request, agreement, verification,
  // finalized): wait for it rather than for every step (an end before it answers at once).
  let seen = 3
  for (;;) {
    const n = await management(pair.consumer, 'GET', `/negotiations/${encodeURIComponent(started.id)}?after=${seen}&wait=10`)
    if (n.state === 'FINALIZED') return n
    if (n.state === 'TERMINATED') throw new Error(`negotiation terminated: ${n.reason}`)
    seen = n.timeline.at(-1).seq
  }
}

async function run(dialect: 'sqlite' | 'postgres', offer: Record<string, unknown>) {
  const pair = await startPair(dialect)
  try {
    // warm up
    for (let i = 0; i < 20; i++) await negotiate(pair, offer)
    const rows: string[][] = []
    let baseline = Number.NaN
    for (const inFlight of levels) {
      const ids: string[] = []
      const statementsBefore = statementsDir ? await Promise.all(pair.processes.map(statementsOf)) : []
      const deadlocksBefore = await deadlocksOf(pair)
      const cpuBefore = [...pair.processes.map(processCpuMs), benchCpuMs()]
      const started = performance.now()
      let next = 0
      await Promise.all(
        Array.from({ length: inFlight }, async () => {
          while (next < perLevel) {
            next++
            ids.push((await negotiate(pair, offer)).id)
          }
        }),
      )
      const seconds = (performance.now() - started) / 1000
      const cpu = [...pair.processes.map(processCpuMs), benchCpuMs()].map((ms, i) => (ms - cpuBefore[i]!) / ids.length)
      // (The statistics collector may report them a moment late: read after the timelines below.)
      const deadlocksAt = deadlocksBefore
      if (statementsDir) {
        const statementsAfter = await Promise.all(pair.processes.map(statementsOf))
        for (const [i, side] of ['provider', 'consumer'].entries())
          printStatements(`${dialect}, ${inFlight} in flight, ${side}`, statementsBefore[i]!, statementsAfter[i]!, ids.length)
      }
      // Start → FINALIZED from the timelines (the polling above does not count).
      const consumerTimes: number[] = []
      const providerTimes: number[] = []
      const sample = ids.slice(0, 200)
      for (const id of sample) {
        const n = await management(pair.consumer, 'GET', `/negotiations/${encodeURIComponent(id)}`)
        consumerTimes.push(Date.parse(n.timeline.at(-1).at) - Date.parse(n.timeline[0].at))
      }
      const provided = await management(pair.provider, 'GET', `/negotiations?role=provider&state=FINALIZED&limit=500`)
      const mine = new Set(sample)
      for (const n of provided.items.filter((p: any) => mine.has(p.consumerPid))) {
        const full = await management(pair.provider, 'GET', `/negotiations/${encodeURIComponent(n.id)}`)
        providerTimes.push(Date.parse(full.timeline.at(-1).at) - Date.parse(full.timeline[0].at))
      }
      if (Number.isNaN(baseline)) {
        const pid = ids[0]!
        const times: number[] = []
        for (let i = 0; i < 200; i++) {
          const t = performance.now()
          const r = await request(`${pair.consumer.url}/dsp/2025-1/negotiations/${encodeURIComponent(pid)}`, {
            headers: { authorization: 'Bearer provider-token' },
            dispatcher: agent,
          })
          await r.body.arrayBuffer()
          times.push(performance.now() - t)
        }
        baseline = median(times)
      }
      rows.push([
        String(inFlight),
        String(ids.length),
        `${median(consumerTimes)} / ${percentile(consumerTimes, 99)}`,
        `${median(providerTimes)} / ${percentile(providerTimes, 99)}`,
        (ids.length / seconds).toFixed(0),
        (median(consumerTimes) / baseline).toFixed(1),
        cpu.map((ms) => ms.toFixed(1)).join(' / '),
        dialect === 'postgres' ? String((await deadlocksOf(pair)) - deadlocksAt) : '-',
      ])
    }
    printTable(`${dialect}: baseline DSP round trip (GET /negotiations/:pid) median ${baseline.toFixed(2)} ms`, [
      [
        'in flight',
        'done',
        'consumer ms median / p99',
        'provider ms median / p99',
        'per second',
        'median ÷ baseline',
        'CPU ms each: provider / consumer / bench',
        'deadlocks',
      ],
      ...rows,
    ])
  } catch (error) {
    // What the connectors said about it.
    for (const p of pair.processes) console.error(p.output.slice(-20).join('\n'))
    throw error
  } finally {
    await stopPair(pair)
  }
}

const loaded = await loadPolicies(fromRoot('seeds/policies'))
const offer = loaded.policies.get('open-with-attribution')!.odrl as unknown as Record<string, unknown>
console.log(`negotiation: two connector processes on 127.0.0.1, ${perLevel} negotiations per level, offer open-with-attribution`)
// BENCH_STORES=sqlite (or postgres) runs one store only.
const stores = (process.env.BENCH_STORES ?? 'sqlite,postgres').split(',') as Array<'sqlite' | 'postgres'>
for (const dialect of stores) await run(dialect, offer)
