import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eq } from 'drizzle-orm'
import { dialects, createTestStore } from '../../test/support/stores.ts'
import type { Store } from './store.ts'
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

  it('keeps concurrent transactions apart', async () => {
    const { settings } = store.tables
    await store.db.insert(settings).values({ key: 'counter', value: 0, updatedAt: 0 })
    const increment = () =>
      store.transaction(async (tx) => {
        const [row] = await store.forUpdate(tx.select().from(settings).where(eq(settings.key, 'counter')))
        await tx.update(settings).set({ value: (row!.value as number) + 1 }).where(eq(settings.key, 'counter'))
      })
    await Promise.all(Array.from({ length: 20 }, increment))
    const [row] = await store.db.select().from(settings).where(eq(settings.key, 'counter'))
    expect(row!.value).toBe(20)
  })
})
