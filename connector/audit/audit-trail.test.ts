import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eq, sql } from 'drizzle-orm'
import { createTestDatabase, dialects, type TestDatabase } from '../../test/support/stores.ts'
import { testClock } from '../../test/support/context.ts'
import { createLogger } from '../telemetry/logger.ts'
import { generateSigningKey } from '../identity/keys.ts'
import { openStore, type Store } from '../store/store.ts'
import { checkpointKeysOf, createAuditTrail, verifyStoredChain, type AuditTrail } from './audit-trail.ts'
import { exportTrail, verifyExport } from './export.ts'

const participantId = 'did:web:provider.test'
const entry = (n: number) => ({
  kind: 'test.step',
  subjects: { agreement: `urn:agreement:${n % 3}` },
  actor: 'did:web:consumer.test',
  payload: { n, nested: { b: 2, a: [1, 'x'] } },
})
const raw = (store: Store, text: string) =>
  (store.db as unknown as { run?: (q: unknown) => unknown; execute?: (q: unknown) => unknown }).run
    ? (store.db as unknown as { run(q: unknown): Promise<unknown> }).run(sql.raw(text))
    : (store.db as unknown as { execute(q: unknown): Promise<unknown> }).execute(sql.raw(text))

describe.each(dialects)('audit trail on %s', (dialect) => {
  let database: TestDatabase
  let store: Store
  let trail: AuditTrail
  const clock = testClock()
  const logger = createLogger({ level: 'error', write: () => {} })
  let keys: ReturnType<typeof checkpointKeysOf>
  const verify = () => verifyStoredChain(store, { keys, participantId })

  beforeAll(async () => {
    database = await createTestDatabase(dialect)
    store = await openStore({ url: database.url, poolSize: 4 })
    const key = await generateSigningKey()
    keys = checkpointKeysOf([key])
    trail = createAuditTrail({
      store,
      clock,
      logger,
      settings: { enabled: true, checkpointEveryMs: 60_000, retentionMs: 86_400_000 },
      signer: { participantId, key },
    })
  })
  afterAll(async () => {
    await store?.close()
    await database?.drop()
  })

  it('chains records appended in transactions, and a rolled-back transaction leaves none', async () => {
    expect(await verify()).toMatchObject({ ok: true, records: 0 })
    for (let n = 1; n <= 5; n++) await store.transaction((tx) => trail.append(tx, entry(n)))
    await expect(
      store.transaction(async (tx) => {
        await trail.append(tx, entry(99))
        throw new Error('the state change failed')
      }),
    ).rejects.toThrow('the state change failed')
    expect(await verify()).toMatchObject({ ok: true, records: 5, from: 1, through: 5 })
    expect((await trail.agreementHistory('urn:agreement:1')).map((r) => r.seq)).toEqual([1, 4])
  })

  // SQLite has one writer (one process holds the file); PostgreSQL replicas append from their own pools.
  it('keeps one chain when two connections append at once (replicas on one database)', async () => {
    const other = dialect === 'postgres' ? await openStore({ url: database.url, poolSize: 4 }) : { ...store, close: async () => {} }
    try {
      const otherTrail = createAuditTrail({ store: other, clock, logger, settings: { enabled: true, checkpointEveryMs: 60_000, retentionMs: 0 } })
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          (i % 2 ? store : other).transaction((tx) => (i % 2 ? trail : otherTrail).append(tx, entry(100 + i), entry(200 + i))),
        ),
      )
    } finally {
      await other.close()
    }
    expect(await verify()).toMatchObject({ ok: true, records: 45, through: 45 })
  })

  it('signs checkpoints that verify, and a forged checkpoint is named', async () => {
    const checkpoint = await trail.checkpoint()
    expect(checkpoint).toMatchObject({ seq: 45 })
    expect(await trail.checkpoint()).toBeUndefined()
    expect(await verify()).toMatchObject({ ok: true, checkpoints: 1 })
    const other = checkpointKeysOf([await generateSigningKey()])
    const report = await verifyStoredChain(store, { keys: other, participantId })
    expect(report.ok).toBe(false)
    expect(report.problem?.reason).toMatch(/checkpoint at record 45 is signed with key .* not one of this participant's keys/)
  })

  it('names the first broken record when a row is edited, reordered or deleted by hand', async () => {
    await raw(store, `update audit_records set actor = 'did:web:someone-else.test' where seq = 7`)
    expect((await verify()).problem).toEqual({ seq: 7, reason: 'record 7 was changed: its hash does not match its content' })
    await raw(store, `update audit_records set actor = 'did:web:consumer.test' where seq = 7`)
    expect((await verify()).ok).toBe(true)

    await raw(store, `update audit_records set payload = '{"n":3,"nested":{"a":[1,"x"],"b":3}}' where seq = 3`)
    expect((await verify()).problem).toEqual({ seq: 3, reason: 'record 3 was changed: its payload does not match its digest' })
    await raw(store, `update audit_records set payload = '{"n":3,"nested":{"a":[1,"x"],"b":2}}' where seq = 3`)

    await raw(store, `update audit_records set agreement_id = 'urn:agreement:1' where seq = 2`)
    expect((await verify()).problem).toEqual({ seq: 2, reason: 'record 2 was changed: its agreement id does not match its subjects' })
    await raw(store, `update audit_records set agreement_id = 'urn:agreement:2' where seq = 2`)
    expect((await verify()).ok).toBe(true)

    // Reordered: records 10 and 11 swap places.
    await raw(store, `update audit_records set seq = -1 where seq = 10`)
    await raw(store, `update audit_records set seq = 10 where seq = 11`)
    await raw(store, `update audit_records set seq = 11 where seq = -1`)
    expect((await verify()).problem?.seq).toBe(10)
    await raw(store, `update audit_records set seq = -1 where seq = 10`)
    await raw(store, `update audit_records set seq = 10 where seq = 11`)
    await raw(store, `update audit_records set seq = 11 where seq = -1`)
    expect((await verify()).ok).toBe(true)

    // The same payload spelled otherwise (keys in another order, spaces) is not a change; other text is.
    await raw(store, `update audit_records set payload = '{ "nested": {"b":2, "a":[1,"x"]}, "n": 3 }' where seq = 3`)
    expect((await verify()).ok).toBe(true)
    if (dialect === 'sqlite') {
      await raw(store, `update audit_records set payload = 'not json' where seq = 3`)
      expect((await verify()).problem).toEqual({ seq: 3, reason: 'record 3 was changed: its payload does not match its digest' })
      await raw(store, `update audit_records set subjects = 'not json' where seq = 3`)
      expect((await verify()).problem).toEqual({ seq: 3, reason: 'record 3 was changed: its payload does not match its digest' })
      await raw(store, `update audit_records set payload = '{"n":3,"nested":{"a":[1,"x"],"b":2}}' where seq = 3`)
      expect((await verify()).problem).toEqual({ seq: 3, reason: 'record 3 was changed: its subjects are not a JSON object' })
    }
    await raw(store, `update audit_records set subjects = '[]' where seq = 3`)
    expect((await verify()).problem).toEqual({ seq: 3, reason: 'record 3 was changed: its subjects are not a JSON object' })
    await raw(store, `update audit_records set subjects = '{"agreement":"urn:agreement:0"}' where seq = 3`)
    expect((await verify()).ok).toBe(true)

    // Beyond the first batch read, and from the batch read ahead.
    expect(await verifyStoredChain(store, { keys, participantId, batch: 4 })).toMatchObject({ ok: true, records: 45 })
    await raw(store, `update audit_records set kind = 'test.other' where seq = 30`)
    expect((await verifyStoredChain(store, { keys, participantId, batch: 4 })).problem).toEqual({
      seq: 30,
      reason: 'record 30 was changed: its hash does not match its content',
    })
    await raw(store, `update audit_records set kind = 'test.step' where seq = 30`)

    await raw(store, `delete from audit_records where seq = 20`)
    expect((await verify()).problem).toEqual({ seq: 20, reason: 'record 20 is missing (the next one stored is 21): records were deleted' })
  })

  it('refuses a forged record in an export, and accepts the export as written', async () => {
    // A fresh chain for this one (the shared one was broken above on purpose).
    await raw(store, 'delete from audit_records')
    await raw(store, 'delete from audit_checkpoints')
    await raw(store, `update audit_head set seq = 0, hash = '${'0'.repeat(64)}'`)
    for (let n = 1; n <= 6; n++) await store.transaction((tx) => trail.append(tx, entry(n)))
    await trail.checkpoint()
    const lines: string[] = []
    await exportTrail(store, { since: 0, write: (line) => void lines.push(line) })
    expect(lines).toHaveLength(7)
    expect(await verifyExport(lines.join('\n'), { keys, participantId })).toMatchObject({ ok: true, anchor: 'genesis', records: 6 })

    const forged = lines.map((line) => (line.includes('"seq":4,') ? line.replace('"n":4', '"n":40') : line))
    expect((await verifyExport(forged.join('\n'), { keys, participantId })).problem).toEqual({
      seq: 4,
      reason: 'record 4 was changed: its payload does not match its digest',
    })
    const extra = [...lines.slice(0, 3), lines[2]!.replace('"type":"record"', '"type":"record","admin":true'), ...lines.slice(3)]
    expect((await verifyExport(extra.join('\n'), { keys, participantId })).problem?.reason).toMatch(/line 4 is not an audit record/)
    const reordered = [lines[0], lines[2], lines[1], ...lines.slice(3)]
    expect((await verifyExport(reordered.join('\n'), { keys, participantId })).problem?.seq).toBe(2)
  })

  it('prunes records past retention up to a checkpoint, and the rest still verifies from it', async () => {
    clock.advance(2 * 86_400_000)
    await store.transaction((tx) => trail.append(tx, entry(7)))
    expect(await trail.prune()).toBe(6)
    expect(await verify()).toMatchObject({ ok: true, from: 7, through: 7, records: 1 })
  })

  // Transactions share commits and seal their entries at the end of their batch (records too):
  // every lane takes the chain's head last, after the rows its jobs lock.
  it('appends from transactions that lock rows, and records, at once: all commit, one chain', async () => {
    const { settings } = store.tables
    for (let row = 0; row < 40; row++) await store.db.insert(settings).values({ key: `shared-${row}`, value: 0, updatedAt: 0 })
    const work = Array.from({ length: 40 }, (_, i) =>
      i % 4 === 3
        ? trail.record(entry(300 + i))
        : store.transaction(async (tx) => {
            const key = `shared-${i}`
            const [row] = await store.forUpdate(tx.select().from(settings).where(eq(settings.key, key)))
            await trail.append(tx, entry(300 + i))
            await tx
              .update(settings)
              .set({ value: Number(row!.value) + 1 })
              .where(eq(settings.key, key))
            await trail.append(tx, entry(400 + i))
          }),
    )
    await Promise.all(work)
    // 30 transactions of two entries, 10 records of one.
    expect(await verify()).toMatchObject({ ok: true, from: 7, through: 77, records: 71 })
    const counts = await store.db.select().from(settings)
    expect(counts.filter((row) => row.key.startsWith('shared-')).reduce((sum, row) => sum + Number(row.value), 0)).toBe(30)
  })
  it('records unverified callers one by one up to the budget of a minute, and the rest as one count', async () => {
    const flood = createAuditTrail({ store, clock, logger, settings: { enabled: true, checkpointEveryMs: 60_000, retentionMs: 0, unverifiedPerMinute: 2 } })
    const running = flood.start()
    for (let n = 0; n < 7; n++) await flood.refusedUnverified({ path: `/dsp/2025-1/negotiations/${n}` })
    clock.advance(60_000)
    // The next minute's first refusal writes the last minute's count, then itself.
    await flood.refusedUnverified({ path: '/dsp/2025-1/negotiations/next' })
    await flood.refusedUnverified({ path: '/dsp/2025-1/negotiations/next' })
    await flood.refusedUnverified({ path: '/dsp/2025-1/negotiations/next' })
    await running.stop()
    const lines: string[] = []
    await exportTrail(store, { since: 0, write: (line) => void lines.push(line) })
    const refusals = lines.map((line) => JSON.parse(line)).filter((r) => r.kind?.startsWith('identity.refused'))
    expect(refusals.map((r) => [r.kind, r.payload.suppressed ?? r.payload.path])).toEqual([
      ['identity.refused', '/dsp/2025-1/negotiations/0'],
      ['identity.refused', '/dsp/2025-1/negotiations/1'],
      ['identity.refused.summary', 5],
      ['identity.refused', '/dsp/2025-1/negotiations/next'],
      ['identity.refused', '/dsp/2025-1/negotiations/next'],
      // Written when the trail stopped.
      ['identity.refused.summary', 1],
    ])
    expect(await verify()).toMatchObject({ ok: true })
  })
})
