import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eq } from 'drizzle-orm'
import { dialects, createTestDatabase, createTestStore } from '../../test/support/stores.ts'
import { openStore, type Store } from './store.ts'
import { sqliteSchema } from './schema.ts'
import * as sqliteExports from './schema-sqlite.ts'
import * as postgresExports from './schema-postgres.ts'

describe('schema entry points for migrations', () => {
  it('export every table of the schema, so generated migrations miss none', () => {
    const tables = Object.keys(sqliteSchema).sort()
    expect(Object.keys(sqliteExports).sort()).toEqual(tables)
    expect(Object.keys(postgresExports).sort()).toEqual(tables)
  })
})

describe.each(dialects)('store on %s', (dialect) => {
  let store: Store
  beforeAll(async () => {
    store = await createTestStore(dialect)
  })
  afterAll(() => store?.close())

  it('answers a ping once migrated', async () => {
    await expect(store.ping()).resolves.toBeUndefined()
  })

  it('round-trips JSON values and millisecond timestamps', async () => {
    const { settings } = store.tables
    const value = { nested: ['a', 1, true, null], text: 'éàç' }
    await store.db.insert(settings).values({ key: 'round-trip', value, updatedAt: 1_764_000_000_123 })
    const [row] = await store.db.select().from(settings).where(eq(settings.key, 'round-trip'))
    expect(row).toEqual({ key: 'round-trip', value, updatedAt: 1_764_000_000_123 })
  })

  it('commits a transaction as a whole', async () => {
    const { settings } = store.tables
    await store.transaction(async (tx) => {
      await tx.insert(settings).values({ key: 'tx-a', value: 1, updatedAt: 1 })
      await tx.insert(settings).values({ key: 'tx-b', value: 2, updatedAt: 2 })
    })
    const rows = await store.db.select().from(settings)
    expect(rows.map((r) => r.key)).toEqual(expect.arrayContaining(['tx-a', 'tx-b']))
  })

  it('rolls a failed transaction back entirely', async () => {
    const { settings } = store.tables
    await expect(
      store.transaction(async (tx) => {
        await tx.insert(settings).values({ key: 'rolled-back', value: 1, updatedAt: 1 })
        throw new Error('boom')
      }),
    ).rejects.toThrow('boom')
    const rows = await store.db.select().from(settings).where(eq(settings.key, 'rolled-back'))
    expect(rows).toEqual([])
  })

  it('settles every transaction of bursts that arrive while lanes open and begin (a lane may find the queue already taken)', async () => {
    const { settings } = store.tables
    const written: string[] = []
    for (let round = 0; round < 40; round++) {
      const burst = Array.from({ length: 1 + (round % 7) }, (_, i) => `lane-race-${round}-${i}`)
      await Promise.all(
        burst.map(async (key, i) => {
          // Staggered over a few turns of the event loop: some arrive before a lane has begun, some after.
          for (let turn = 0; turn < i % 3; turn++) await new Promise((resolve) => setImmediate(resolve))
          await store.transaction(async (tx) => {
            await tx.insert(settings).values({ key, value: round, updatedAt: round })
          })
          written.push(key)
        }),
      )
    }
    const rows = await store.db.select().from(settings)
    expect(rows.map((r) => r.key)).toEqual(expect.arrayContaining(written))
    expect(written).toHaveLength(Array.from({ length: 40 }, (_, round) => 1 + (round % 7)).reduce((a, b) => a + b))
  })

  it('writes what a transaction held for its end together, inside it, and nothing when it fails', async () => {
    const { settings } = store.tables
    const key = {}
    const flushes: string[][] = []
    const flush = async (tx: typeof store.db, items: string[]) => {
      flushes.push(items)
      for (const item of items) await tx.insert(settings).values({ key: item, value: items.length, updatedAt: 1 })
      if (items.includes('held-bad')) throw new Error('the held write failed')
    }
    // Several transactions at once (on SQLite they share a commit, each in its own savepoint; on
    // PostgreSQL as many as wait when a connection takes a batch).
    await Promise.all(
      ['a', 'b', 'c'].map((name) =>
        store.transaction(async (tx) => {
          await store.deferToCommit(tx, key, `held-${name}1`, flush)
          await tx.insert(settings).values({ key: `own-${name}`, value: 0, updatedAt: 1 })
          await store.deferToCommit(tx, key, `held-${name}2`, flush)
          // Not written yet: held until the transaction's own work is done.
          expect(
            await tx
              .select()
              .from(settings)
              .where(eq(settings.key, `held-${name}1`)),
          ).toEqual([])
        }),
      ),
    )
    // Each item once, a transaction's in the order held (transactions sharing a commit share a flush).
    expect(flushes.flat().sort()).toEqual(['held-a1', 'held-a2', 'held-b1', 'held-b2', 'held-c1', 'held-c2'])
    for (const items of flushes)
      for (const name of ['a', 'b', 'c']) if (items.includes(`held-${name}2`)) expect(items.indexOf(`held-${name}1`)).toBe(items.indexOf(`held-${name}2`) - 1)
    if (dialect === 'sqlite') expect(flushes).toHaveLength(1)
    const rows = await store.db.select().from(settings)
    expect(rows.filter((row) => row.key.startsWith('held-')).map((row) => row.key)).toEqual(expect.arrayContaining(flushes.flat()))
    // The transaction fails: nothing held is written. The held write fails: the transaction is rolled back.
    flushes.length = 0
    await expect(
      store.transaction(async (tx) => {
        await store.deferToCommit(tx, key, 'held-never', flush)
        throw new Error('boom')
      }),
    ).rejects.toThrow('boom')
    await expect(
      store.transaction(async (tx) => {
        await tx.insert(settings).values({ key: 'own-rolled-back', value: 0, updatedAt: 1 })
        await store.deferToCommit(tx, key, 'held-bad', flush)
      }),
    ).rejects.toThrow('the held write failed')
    expect(flushes).toEqual([['held-bad']])
    const after = (await store.db.select().from(settings)).map((row) => row.key)
    expect(after).not.toContain('held-never')
    expect(after).not.toContain('held-bad')
    expect(after).not.toContain('own-rolled-back')
    // Outside a transaction: written at once.
    await store.deferToCommit(store.db, key, 'held-now', flush)
    expect((await store.db.select().from(settings).where(eq(settings.key, 'held-now'))).length).toBe(1)
  })

  it('keeps concurrent transactions apart', async () => {
    const { settings } = store.tables
    await store.db.insert(settings).values({ key: 'counter', value: 0, updatedAt: 0 })
    const increment = () =>
      store.transaction(async (tx) => {
        const [row] = await store.forUpdate(tx.select().from(settings).where(eq(settings.key, 'counter')))
        await tx
          .update(settings)
          .set({ value: (row!.value as number) + 1 })
          .where(eq(settings.key, 'counter'))
      })
    await Promise.all(Array.from({ length: 20 }, increment))
    const [row] = await store.db.select().from(settings).where(eq(settings.key, 'counter'))
    expect(row!.value).toBe(20)
  })

  it('rolls back only the failed one of concurrent transactions (they may share a commit)', async () => {
    const { settings } = store.tables
    const write = (key: string, fail: boolean) =>
      store.transaction(async (tx) => {
        await tx.insert(settings).values({ key, value: key, updatedAt: 1 })
        await tx
          .update(settings)
          .set({ value: `${key}!` })
          .where(eq(settings.key, key))
        if (fail) throw new Error(`${key} failed`)
        return key
      })
    const outcomes = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => write(`burst-${i}`, i % 3 === 1)))
    outcomes.forEach((outcome, i) => {
      if (i % 3 === 1) expect(outcome).toMatchObject({ status: 'rejected', reason: { message: `burst-${i} failed` } })
      else expect(outcome).toEqual({ status: 'fulfilled', value: `burst-${i}` })
    })
    const rows = await store.db.select().from(settings)
    const burst = rows.filter((r) => r.key.startsWith('burst-')).map((r) => [r.key, r.value])
    expect(burst.sort()).toEqual(
      Array.from({ length: 30 }, (_, i) => i)
        .filter((i) => i % 3 !== 1)
        .map((i) => [`burst-${i}`, `burst-${i}!`])
        .sort(),
    )
  })

  it('keeps what one transaction wrote when a concurrent one fails on a constraint', async () => {
    const { settings } = store.tables
    const outcomes = await Promise.allSettled(
      [1, 2].map((value) =>
        store.transaction((tx) =>
          tx
            .insert(settings)
            .values({ key: 'unique-1', value, updatedAt: value })
            .then(() => value),
        ),
      ),
    )
    const won = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []))
    expect(won).toHaveLength(1)
    expect(outcomes.filter((o) => o.status === 'rejected')).toHaveLength(1)
    const [row] = await store.db.select().from(settings).where(eq(settings.key, 'unique-1'))
    expect(row!.value).toBe(won[0])
  })

  it('runs after-commit callbacks once the data is committed, and never for a rolled-back transaction', async () => {
    const { settings } = store.tables
    const seen: string[] = []
    const readBack = async (key: string) => {
      // Another handle's view on PostgreSQL: only committed rows.
      const [row] = await store.db.select().from(settings).where(eq(settings.key, key))
      seen.push(`${key}:${row ? 'stored' : 'missing'}`)
    }
    const pending: Promise<void>[] = []
    await store.transaction(async (tx) => {
      await tx.insert(settings).values({ key: 'after-commit', value: 1, updatedAt: 1 })
      store.afterCommit(tx, () => pending.push(readBack('after-commit')))
      expect(pending).toHaveLength(0)
    })
    expect(pending).toHaveLength(1)
    await expect(
      store.transaction(async (tx) => {
        await tx.insert(settings).values({ key: 'never-committed', value: 1, updatedAt: 1 })
        store.afterCommit(tx, () => pending.push(readBack('never-committed')))
        throw new Error('rolled back')
      }),
    ).rejects.toThrow('rolled back')
    store.afterCommit(store.db, () => seen.push('outside a transaction'))
    await Promise.all(pending)
    expect(seen.sort()).toEqual(['after-commit:stored', 'outside a transaction'])
  })

  it('rejects a transaction asked for after close', async () => {
    const database = await createTestDatabase(dialect)
    try {
      const closed = await openStore({ url: database.url, poolSize: 2 })
      await closed.close()
      await expect(closed.transaction((tx) => tx.select().from(closed.tables.settings))).rejects.toThrow()
    } finally {
      await database.drop()
    }
  })

  it('has stored every settled transaction when it is opened again', async () => {
    const database = await createTestDatabase(dialect)
    try {
      const first = await openStore({ url: database.url, poolSize: 4 })
      const { settings } = first.tables
      await Promise.all(
        Array.from({ length: 25 }, (_, i) => first.transaction((tx) => tx.insert(settings).values({ key: `kept-${i}`, value: i, updatedAt: i }))),
      )
      await first.close()
      const again = await openStore({ url: database.url, poolSize: 4 })
      const rows = await again.db.select().from(again.tables.settings)
      await again.close()
      expect(rows.map((r) => r.key).sort()).toEqual(Array.from({ length: 25 }, (_, i) => `kept-${i}`).sort())
    } finally {
      await database.drop()
    }
  })
})

describe('group commit on postgres: batches hold their locks until they commit', () => {
  // Two lanes, each holding a row, then each given a transaction that wants the other's row: the
  // deadlock transactions of one process could meet when two lanes run them.
  async function crossedLocks(store: Store, keyed: boolean) {
    const { settings } = store.tables
    await store.db.insert(settings).values([
      { key: 'row-x', value: 0, updatedAt: 0 },
      { key: 'row-y', value: 0, updatedAt: 0 },
    ])
    const gate = () => {
      let open!: () => void
      const opened = new Promise<void>((resolve) => (open = resolve))
      return { opened, open }
    }
    const [aLocked, bLocked, aGo, bGo, secondStarted] = [gate(), gate(), gate(), gate(), gate()]
    const touch = (tx: Parameters<Parameters<Store['transaction']>[0]>[0], row: string) =>
      store.forUpdate(tx.select().from(settings).where(eq(settings.key, row))).then(() => tx.update(settings).set({ value: 1 }).where(eq(settings.key, row)))
    const key = (k: string) => (keyed ? { key: k } : undefined)
    const a1 = store.transaction(async (tx) => (await touch(tx, 'row-x'), aLocked.open(), await aGo.opened), key('x'))
    const b1 = store.transaction(async (tx) => (await touch(tx, 'row-y'), bLocked.open(), await bGo.opened), key('y'))
    await Promise.all([aLocked.opened, bLocked.opened])
    // Queued while both lanes hold their rows: one for each row, the one of y first.
    const second = (row: string) => async (tx: Parameters<Parameters<Store['transaction']>[0]>[0]) => (secondStarted.open(), await touch(tx, row))
    const a2 = store.transaction(second('row-y'), key('y'))
    const b2 = store.transaction(second('row-x'), key('x'))
    // The lane of x is free first and takes one of them; then the lane of y.
    aGo.open()
    await secondStarted.opened
    bGo.open()
    return Promise.allSettled([a1, b1, a2, b2])
  }

  it('without keys, a lane may take the other row’s transaction: PostgreSQL ends one as a deadlock (40P01), the others commit', async () => {
    const store = await createTestStore('postgres')
    try {
      const outcomes = await crossedLocks(store, false)
      const failed = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as { code?: string; cause?: { code?: string } }] : []))
      expect(failed.map((error) => error.code ?? error.cause?.code)).toEqual(['40P01'])
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(3)
    } finally {
      await store.close()
    }
  })

  it('with keys, transactions of one key join the batch that holds it: no deadlock, all commit', async () => {
    const store = await createTestStore('postgres')
    try {
      const outcomes = await crossedLocks(store, true)
      expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled'])
      const rows = await store.db.select().from(store.tables.settings)
      expect(rows.filter((row) => row.key.startsWith('row-')).map((row) => row.value)).toEqual([1, 1])
    } finally {
      await store.close()
    }
  })
})
