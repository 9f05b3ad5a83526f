/**
 * bench/usage-counter: what the agreement's usage counter adds to one data access, on SQLite and on
 * PostgreSQL. Both variants run the access transaction of the pull endpoint with the same policy
 * (the engine, a `count` limit it never reaches) and the same writes (grant the bytes, record the
 * access); the baseline decides on the transfer row's own count (the way before the counter), the
 * other locks the agreement's counter row, reads its obligations' status and adds the access to it.
 * Calls run one after the other, in alternating blocks of each variant so that load on the machine
 * weighs on both; the figures are the medians of the per-call times and their difference.
 *
 *   node --import tsx bench/usage-counter.ts     (BENCH_CALLS=2000 per variant, BENCH_STORES=sqlite,postgres)
 */
import { loadavg } from 'node:os'
import { sql } from 'drizzle-orm'
import { agreementFor, compilePolicyText } from '../policies/index.ts'
import { enginePolicyUsage } from '../connector/transfer/adapters.ts'
import { transferRepository } from '../connector/transfer/repository.ts'
import { testIds } from '../test/support/context.ts'
import { agreement, agreementBook } from '../test/support/transfer.ts'
import { usageGate } from '../connector/transfer/usage-gate.ts'
import { systemClock } from '../connector/clock.ts'
import { createTestStore, type Dialect } from '../test/support/stores.ts'
import { median, percentile, printTable } from './stats.ts'

const calls = Number(process.env.BENCH_CALLS ?? 2000)
const block = 100
const stores = (process.env.BENCH_STORES ?? 'sqlite,postgres').split(',') as Dialect[]
const provider = 'did:web:provider.bench'
const consumer = 'did:web:consumer.bench'
const policyText = [
  'id: many-downloads',
  'title: At most a billion downloads',
  'permissions:',
  '  - action: use',
  '    constraints:',
  '      - leftOperand: count',
  '        operator: lteq',
  '        rightOperand: 1000000000',
].join('\n')

async function benchStore(dialect: Dialect) {
  const store = await createTestStore(dialect)
  try {
    const { policy } = await compilePolicyText(policyText, 'many-downloads.yaml')
    const body = agreementFor(policy!, {
      id: 'urn:agreement:bench',
      target: 'urn:dataset:bench',
      assigner: provider,
      assignee: consumer,
      timestamp: new Date(),
    })
    const agreements = agreementBook([
      agreement('urn:agreement:bench', { assigner: provider, assignee: consumer, target: 'urn:dataset:bench', policy: body, policyId: 'many-downloads' }),
    ])
    const ids = testIds('urn:uuid:bench-')
    const deps = { store, clock: systemClock, ids, agreements, usage: enginePolicyUsage }
    const repo = transferRepository(store, deps)
    const gate = usageGate(deps)
    for (const id of ['urn:uuid:baseline', 'urn:uuid:counter']) {
      await store.transaction((tx) =>
        repo.insert(
          tx,
          {
            id,
            role: 'provider',
            providerPid: id,
            consumerPid: `${id}-c`,
            agreementId: 'urn:agreement:bench',
            datasetId: 'urn:dataset:bench',
            counterpartyId: consumer,
            counterpartyAddress: 'http://consumer.bench/dsp',
            format: 'HttpData-PULL',
            state: 'STARTED',
          },
          { cause: 'bench', actor: 'local' },
        ),
      )
    }

    /** Before the counter: the transfer row's own count decides. */
    const baseline = () =>
      store.transaction(async (tx) => {
        const transfer = (await repo.lock(tx, 'urn:uuid:baseline'))!
        const found = (await agreements.find(transfer.agreementId, tx))!
        const decision = enginePolicyUsage.check({
          agreement: found,
          scope: 'transfer',
          requester: consumer,
          now: new Date(),
          accessCount: transfer.accessCount,
          counts: true,
        })
        if (!decision.allowed) throw new Error(decision.reason)
        await repo.grantAccess(tx, transfer.id, { bytes: 1000, counted: true })
        await repo.recordAccess(tx, { transferId: transfer.id, requester: consumer, range: null, status: 200, bytes: 1000, counted: true })
      })
    /** The baseline plus one no-op statement: what any extra round trip to the database costs here. */
    const oneMoreStatement = () =>
      store.transaction(async (tx) => {
        const transfer = (await repo.lock(tx, 'urn:uuid:baseline'))!
        const found = (await agreements.find(transfer.agreementId, tx))!
        const decision = enginePolicyUsage.check({
          agreement: found,
          scope: 'transfer',
          requester: consumer,
          now: new Date(),
          accessCount: transfer.accessCount,
          counts: true,
        })
        if (!decision.allowed) throw new Error(decision.reason)
        const raw = tx as unknown as { run(q: unknown): Promise<unknown>; execute(q: unknown): Promise<unknown> }
        await (store.dialect === 'sqlite' ? raw.run(sql`select 1`) : raw.execute(sql`select 1`))
        await repo.grantAccess(tx, transfer.id, { bytes: 1000, counted: true })
        await repo.recordAccess(tx, { transferId: transfer.id, requester: consumer, range: null, status: 200, bytes: 1000, counted: true })
      })
    /** With the counter: the agreement's row, locked, decides and counts. */
    const withCounter = () =>
      store.transaction(async (tx) => {
        const transfer = (await repo.lock(tx, 'urn:uuid:counter'))!
        const decision = await gate.decide(tx, { agreementId: transfer.agreementId, requester: consumer, counts: true })
        if (!decision.allowed) throw new Error(decision.reason)
        await repo.grantAccess(tx, transfer.id, { bytes: 1000, counted: true })
        await repo.recordAccess(tx, { transferId: transfer.id, requester: consumer, range: null, status: 200, bytes: 1000, counted: true })
      })

    const times: Record<'baseline' | 'statement' | 'counter', number[]> = { baseline: [], statement: [], counter: [] }
    const timeBlock = async (name: keyof typeof times, fn: () => Promise<void>, record: boolean) => {
      for (let i = 0; i < block; i++) {
        const start = performance.now()
        await fn()
        if (record) times[name].push(performance.now() - start)
      }
    }
    // Warm-up (prepared statement caches, JIT), then alternating blocks.
    await timeBlock('baseline', baseline, false)
    await timeBlock('statement', oneMoreStatement, false)
    await timeBlock('counter', withCounter, false)
    for (let done = 0; done < calls; done += block) {
      await timeBlock('baseline', baseline, true)
      await timeBlock('statement', oneMoreStatement, true)
      await timeBlock('counter', withCounter, true)
    }
    const base = median(times.baseline)
    const counted = median(times.counter)
    const statement = median(times.statement)
    return {
      dialect,
      rows: [
        ['baseline (transfer row count)', base.toFixed(3), percentile(times.baseline, 90).toFixed(3), '', ''],
        [
          'baseline + one `select 1`',
          statement.toFixed(3),
          percentile(times.statement, 90).toFixed(3),
          (statement - base).toFixed(3),
          (statement / base).toFixed(2),
        ],
        ['agreement counter', counted.toFixed(3), percentile(times.counter, 90).toFixed(3), (counted - base).toFixed(3), (counted / base).toFixed(2)],
      ],
    }
  } finally {
    await store.close()
  }
}

console.log(
  `usage counter: ${calls} calls per variant, load ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
)
for (const dialect of stores) {
  const result = await benchStore(dialect)
  printTable(`${result.dialect}: one access transaction, ms per call`, [['variant', 'median', 'p90', 'added (median)', 'ratio'], ...result.rows])
}
console.log(
  `load after: ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
)
