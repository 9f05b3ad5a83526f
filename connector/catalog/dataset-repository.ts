import { asc, eq, gt, sql } from 'drizzle-orm'
import { z } from 'zod'
import { DatasetDescription } from '../../catalog/dataset.ts'
import type { Db, Store } from '../store/store.ts'

/** Datasets created through the management API. */
export interface DatasetRow {
  id: string
  description: DatasetDescription
  createdAt: number
  updatedAt: number
}

export interface DatasetRepository {
  /**
   * Every stored dataset, in id order, read in batches (for building the catalog at start). A row
   * that no longer validates is left out and reported to `onInvalid`, never thrown.
   */
  all(onInvalid?: (id: string, message: string) => void): AsyncGenerator<DatasetRow[]>
  get(id: string): Promise<DatasetRow | undefined>
  /** Inserts; false when the id exists. */
  insert(row: DatasetRow, tx?: Db): Promise<boolean>
  /** Replaces the description; false when there is no such row. */
  update(id: string, description: DatasetDescription, updatedAt: number, tx?: Db): Promise<boolean>
  delete(id: string, tx?: Db): Promise<boolean>
  count(): Promise<number>
}

export function datasetRepository(store: Store): DatasetRepository {
  const t = store.tables.catalogDatasets
  const toRow = (r: typeof t.$inferSelect): DatasetRow => ({
    id: r.id,
    // Stored rows were validated when written; parse again so defaults and types hold.
    description: DatasetDescription.parse(typeof r.description === 'string' ? JSON.parse(r.description) : r.description),
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  })
  return {
    async *all(onInvalid) {
      let after = ''
      for (;;) {
        const rows = await store.db.select().from(t).where(gt(t.id, after)).orderBy(asc(t.id)).limit(5000)
        if (rows.length === 0) return
        const valid: DatasetRow[] = []
        for (const row of rows) {
          try {
            valid.push(toRow(row))
          } catch (error) {
            onInvalid?.(row.id, error instanceof z.ZodError ? `${error.issues[0]?.path.join('.')}: ${error.issues[0]?.message}` : String(error))
          }
        }
        yield valid
        after = rows.at(-1)!.id
      }
    },
    async get(id) {
      const [row] = await store.db.select().from(t).where(eq(t.id, id)).limit(1)
      return row ? toRow(row) : undefined
    },
    async insert(row, tx = store.db) {
      const inserted = await tx
        .insert(t)
        .values({ id: row.id, description: row.description, createdAt: row.createdAt, updatedAt: row.updatedAt })
        .onConflictDoNothing()
        .returning({ id: t.id })
      return inserted.length === 1
    },
    async update(id, description, updatedAt, tx = store.db) {
      const updated = await tx.update(t).set({ description, updatedAt }).where(eq(t.id, id)).returning({ id: t.id })
      return updated.length === 1
    },
    async delete(id, tx = store.db) {
      const deleted = await tx.delete(t).where(eq(t.id, id)).returning({ id: t.id })
      return deleted.length === 1
    },
    async count() {
      const [row] = await store.db.select({ n: sql<number>`count(*)` }).from(t)
      return Number(row?.n ?? 0)
    },
  }
}
