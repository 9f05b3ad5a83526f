/**
 * The audit trail's cost. (1) Negotiation throughput between two connector processes on SQLite at
 * 50 in flight, audit on against audit off (PASSERELLE_AUDIT_ENABLED=false), alternated in the same
 * run. (2) `verify` of a chain of a million records on SQLite (and PostgreSQL unless
 * BENCH_STORES=sqlite), against reading the same rows without checking them (the baseline) and
 * against the previous verify (one object per row, each checked as an object), alternated in the
 * same run.
 *
 *   node --import tsx bench/audit.ts [negotiations per run] [records]
 */
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { Agent, request } from 'undici'
import { fromRoot } from '../connector/paths.ts'
import { loadPolicies } from '../policies/index.ts'
import { copyParticipant, freePort, startConnectorProcess, type ConnectorProcess, type ParticipantFolder } from '../test/support/processes.ts'
import { createTestDatabase } from '../test/support/stores.ts'
import { sql } from 'drizzle-orm'
import { openStore, type Store } from '../connector/store/store.ts'
import { createAuditTrail, verifyStoredChain, type AuditRecord } from '../connector/audit/audit-trail.ts'
import { auditRepository } from '../connector/audit/audit-repository.ts'
import { chainChecker, genesisHash } from '../connector/audit/chain.ts'
import { createLogger } from '../connector/telemetry/logger.ts'
import { systemClock } from '../connector/clock.ts'
import { median, printTable } from './stats.ts'

const perRun = Number(process.argv[2] ?? 400)
const records = Number(process.argv[3] ?? 1_000_000)
const inFlight = 50
const arctic = 'urn:uuid:0f3cee7e-e077-4be0-9365-3a791567f70e'
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

async function negotiate(consumer: ParticipantFolder, provider: ParticipantFolder, offer: Record<string, unknown>) {
  const started = await management(consumer, 'POST', '/negotiations', { peerUrl: `${provider.url}/dsp/2025-1`, datasetId: arctic, offer })
  let seen = 3
  for (;;) {
    const n = await management(consumer, 'GET', `/negotiations/${encodeURIComponent(started.id)}?after=${seen}&wait=10`)
    if (n.state === 'FINALIZED') return
    if (n.state === 'TERMINATED') throw new Error(`negotiation terminated: ${n.reason}`)
    seen = n.timeline.at(-1).seq
  }
}

/** Negotiations per second at 50 in flight between a fresh pair of connectors. */
async function throughput(audit: boolean, offer: Record<string, unknown>): Promise<number> {
  const [providerPort, consumerPort] = [await freePort(), await freePort()]
  const did = (port: number) => `did:web:127.0.0.1%3A${port}`
  const identity = { mode: 'static', staticTokens: { 'provider-token': did(providerPort), 'consumer-token': did(consumerPort) } }
  const provider = await copyParticipant({ port: providerPort, config: { identity, log: { level: 'error' } } })
  const consumer = await copyParticipant({ port: consumerPort, config: { identity, log: { level: 'error' } } })
  const env = { PASSERELLE_AUDIT_ENABLED: String(audit) }
  const processes: ConnectorProcess[] = [await startConnectorProcess(provider, { env }), await startConnectorProcess(consumer, { env })]
  try {
    for (let i = 0; i < 20; i++) await negotiate(consumer, provider, offer)
    let next = 0
    const started = performance.now()
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next < perRun) {
          next++
          await negotiate(consumer, provider, offer)
        }
      }),
    )
    return perRun / ((performance.now() - started) / 1000)
  } finally {
    for (const p of processes) await p.stop('SIGTERM')
    provider.remove()
    consumer.remove()
  }
}

type PreviousRow = Omit<AuditRecord, 'subjects' | 'payload'> & { subjectsText: string; payloadText: string }

/** One page as the previous verify read it: plain SQL, one object per row. */
async function previousPage(store: Store, afterSeq: number, limit: number): Promise<PreviousRow[]> {
  const query = sql.raw(`select seq, at, kind, cast(subjects as text) as "subjectsText", agreement_id as "agreementId", actor,
    cast(payload as text) as "payloadText", payload_digest as "payloadDigest", prev_hash as "prevHash", hash
    from audit_records where seq > ${Number(afterSeq)} order by seq limit ${Number(limit)}`)
  if (store.dialect === 'sqlite') return store.db.all<PreviousRow>(query)
  const { rows } = await (store.db as unknown as { execute(q: unknown): Promise<{ rows: PreviousRow[] }> }).execute(query)
  for (const row of rows) row.at = Number(row.at)
  return rows
}

/** Fills a chain of `count` records like those of a negotiation, then times verify and a plain read. */
async function verifyRun(dialect: 'sqlite' | 'postgres') {
  const database = await createTestDatabase(dialect)
  const store = await openStore({ url: database.url, poolSize: 4 })
  try {
    const trail = createAuditTrail({
      store,
      clock: systemClock,
      logger: createLogger({ level: 'error', write: () => {} }),
      settings: { enabled: true, checkpointEveryMs: 60_000, retentionMs: 0 },
    })
    const filling = performance.now()
    for (let done = 0; done < records; ) {
      const batch = Array.from({ length: Math.min(5_000, records - done) }, (_, i) => ({
        kind: 'negotiation.agreement',
        subjects: { negotiation: `urn:uuid:n-${done + i}`, agreement: `urn:uuid:a-${done + i}`, participant: 'did:web:consumer.example' },
        actor: 'did:web:provider.example',
        payload: {
          role: 'provider',
          direction: 'outbound',
          from: 'REQUESTED',
          to: 'AGREED',
          reason: 'policy open-with-attribution met',
          traceDigest: 'f'.repeat(64),
        },
      }))
      await store.transaction((tx) => trail.append(tx, ...batch))
      done += batch.length
    }
    const fillSeconds = (performance.now() - filling) / 1000
    const repo = auditRepository(store)
    const verifyTimes: number[] = []
    const verifyCpu: number[] = []
    const readTimes: number[] = []
    const formerTimes: number[] = []
    const formerCpu: number[] = []
    // CPU seconds of this process too: on a shared machine the wall clock counts other work.
    const cpuSeconds = () => {
      const usage = process.cpuUsage()
      return (usage.user + usage.system) / 1e6
    }
    for (let round = 0; round < 3; round++) {
      let t = performance.now()
      const cpu = cpuSeconds()
      const report = await verifyStoredChain(store, { participantId: 'did:web:provider.example' })
      if (!report.ok || report.records !== records) throw new Error(`verify failed: ${JSON.stringify(report)}`)
      verifyTimes.push((performance.now() - t) / 1000)
      verifyCpu.push(cpuSeconds() - cpu)
      // The baseline: the same rows read through the query builder, unchecked.
      t = performance.now()
      for (let after = 0; ; ) {
        const rows = await repo.after(store.db, after, 10_000)
        if (rows.length < 10_000) break
        after = rows[rows.length - 1]!.seq
      }
      readTimes.push((performance.now() - t) / 1000)
      // The previous verify: rows read as objects by plain SQL in keyset pages of 10,000, the next
      // page read while one is checked, each row checked as an object (\`check\`).
      t = performance.now()
      const formerStart = cpuSeconds()
      const checker = chainChecker({ seq: 0, hash: genesisHash })
      const page = (after: number) => previousPage(store, after, 10_000)
      let reading = page(0)
      for (;;) {
        const rows = await reading
        if (rows.length === 10_000) reading = page(rows[rows.length - 1]!.seq)
        for (const row of rows) if (checker.check(row)) throw new Error(`previous verify failed at ${row.seq}`)
        if (rows.length < 10_000) break
      }
      if (checker.last.seq !== records) throw new Error(`previous verify stopped at ${checker.last.seq}`)
      formerTimes.push((performance.now() - t) / 1000)
      formerCpu.push(cpuSeconds() - formerStart)
    }
    return [
      dialect,
      records.toLocaleString('en'),
      fillSeconds.toFixed(1),
      median(verifyTimes).toFixed(2),
      median(verifyCpu).toFixed(2),
      median(readTimes).toFixed(2),
      (median(verifyTimes) / median(readTimes)).toFixed(2),
      median(formerTimes).toFixed(2),
      median(formerCpu).toFixed(2),
      (median(verifyTimes) / median(formerTimes)).toFixed(2),
      (median(verifyCpu) / median(formerCpu)).toFixed(2),
    ]
  } finally {
    await store.close()
    await database.drop()
  }
}

const loaded = await loadPolicies(fromRoot('seeds/policies'))
const offer = loaded.policies.get('open-with-attribution')!.odrl as unknown as Record<string, unknown>
const stores = (process.env.BENCH_STORES ?? 'sqlite,postgres').split(',') as Array<'sqlite' | 'postgres'>

if (process.env.BENCH_PART !== 'verify') {
  console.log(`audit: negotiation throughput on SQLite, ${perRun} negotiations at ${inFlight} in flight per run, audit off and on alternated (3 runs each)`)
  const off: number[] = []
  const on: number[] = []
  for (let round = 0; round < 3; round++) {
    off.push(await throughput(false, offer))
    on.push(await throughput(true, offer))
  }
  printTable('negotiations per second (SQLite, 50 in flight)', [
    ['audit', 'runs', 'median', 'ratio to off'],
    ['off (baseline)', off.map((v) => v.toFixed(0)).join(', '), median(off).toFixed(0), '1.00'],
    ['on', on.map((v) => v.toFixed(0)).join(', '), median(on).toFixed(0), (median(on) / median(off)).toFixed(2)],
  ])
}
if (process.env.BENCH_PART !== 'throughput') {
  const rows: string[][] = []
  for (const dialect of stores) rows.push(await verifyRun(dialect))
  printTable('audit verify (median of 3) against reading the same rows unchecked', [
    [
      'database',
      'records',
      'fill s',
      'verify s',
      'verify CPU s',
      'plain read s',
      'verify ÷ read',
      'previous verify s',
      'previous CPU s',
      'verify ÷ previous',
      'CPU ÷ previous CPU',
    ],
    ...rows,
  ])
}
