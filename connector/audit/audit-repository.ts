import { and, asc, desc, eq, gt, gte, lte, sql } from 'drizzle-orm'
import type { Db, Store } from '../store/store.ts'
import { lazy, rowPlaceholders } from '../store/prepared.ts'
import { sealRecord, type AuditEntry, type AuditRecord, type StoredRow } from './chain.ts'

export interface AuditCheckpoint {
  seq: number
  at: number
  hash: string
  signature: string
}

/**
 * The audit tables (both dialects). Appends read the chain's head with a row lock (`FOR UPDATE` on
 * PostgreSQL; SQLite transactions are serialised), so concurrent transactions on any replica extend
 * one chain, each in the order it commits; the head row moves in the appending transaction.
 */
export function auditRepository(store: Store) {
  const { auditRecords: r, auditHead: h, auditCheckpoints: c } = store.tables
  const prepared = lazy(() => ({
    head: store.db.select({ seq: h.seq, hash: h.hash }).from(h).where(eq(h.id, 1)).prepare(),
    insert: store.db
      .insert(r)
      .values(rowPlaceholders(r) as never)
      .prepare(),
    moveHead: store.db
      .update(h)
      .set({ seq: sql.placeholder('seq') as never, hash: sql.placeholder('hash') as never })
      .where(eq(h.id, 1))
      .prepare(),
  }))
  const own = (db: Db) => db === store.db

  return {
    /**
     * Appends entries in order, inside the caller's transaction `tx`, each group with its time:
     * one read of the head (locked), one insert, one move of the head.
     */
    async append(tx: Db, groups: Array<{ at: number; entries: AuditEntry[] }>): Promise<AuditRecord[]> {
      const [head] =
        own(tx) && store.dialect === 'sqlite'
          ? await prepared().head.execute()
          : await store.forUpdate(tx.select({ seq: h.seq, hash: h.hash }).from(h).where(eq(h.id, 1)))
      if (!head) throw new Error('the audit chain has no head row: the database was not migrated')
      let { seq, hash } = head
      const sealed: AuditRecord[] = []
      for (const { at, entries } of groups)
        for (const entry of entries) {
          const record = sealRecord(entry, ++seq, at, hash)
          hash = record.hash
          sealed.push(record)
        }
      if (sealed.length === 0) return sealed
      if (own(tx) && store.dialect === 'sqlite') {
        for (const record of sealed) await prepared().insert.execute(record as never)
        await prepared().moveHead.execute({ seq, hash })
      } else {
        await tx.insert(r).values(sealed)
        await tx.update(h).set({ seq, hash }).where(eq(h.id, 1))
      }
      return sealed
    },

    async head(db: Db): Promise<{ seq: number; hash: string }> {
      const [head] = await db.select({ seq: h.seq, hash: h.hash }).from(h).where(eq(h.id, 1))
      return head ?? { seq: 0, hash: '' }
    },

    /** Records after `afterSeq`, in sequence order. */
    async after(db: Db, afterSeq: number, limit: number): Promise<AuditRecord[]> {
      return (await db.select().from(r).where(gt(r.seq, afterSeq)).orderBy(asc(r.seq)).limit(limit)) as AuditRecord[]
    },

    /**
     * The records after `afterSeq` as `audit verify` reads them, in sequence order, each handed to
     * `visit` as one array (`StoredRow`: no object per record) with the subjects and payload as the
     * stored text, until `visit` answers false. Read in keyset pages of `batch` on the primary key;
     * on PostgreSQL the next page is read while one is visited.
     */
    async eachStored(afterSeq: number, batch: number, visit: (row: StoredRow) => boolean): Promise<void> {
      const columns = 'seq, at, kind, cast(subjects as text), agreement_id, actor, cast(payload as text), payload_digest, prev_hash, hash'
      const text = (param: (n: number) => string) => `select ${columns} from audit_records where seq > ${param(1)} order by seq limit ${param(2)}`
      if (store.dialect === 'sqlite') {
        // better-sqlite3 directly: rows as arrays, stepped one at a time instead of a page array
        // (the query builder's row objects cost as much as the checking). Between pages the event
        // loop runs, and the statement is not held open.
        const client = (store.db as unknown as { $client: import('better-sqlite3').Database }).$client
        const source = text(() => '?')
        for (let after = afterSeq; ; ) {
          const statement = client.prepare(source).raw(true)
          let count = 0
          for (const row of statement.iterate(after, batch) as Iterable<StoredRow>) {
            count++
            after = row[0]
            if (!visit(row)) return
          }
          if (count < batch) return
          await new Promise((resolve) => setImmediate(resolve))
        }
      }
      const pool = (store.db as unknown as { $client: import('pg').Pool }).$client
      const page = (after: number) =>
        pool.query<StoredRow>({ text: text((n) => `$${n}`), values: [after, batch], rowMode: 'array' }).then((result) => result.rows)
      let reading = page(afterSeq)
      for (;;) {
        const rows = await reading
        if (rows.length === batch) {
          reading = page(rows[rows.length - 1]![0])
          // Not awaited when `visit` ends the reading first.
          reading.catch(() => undefined)
        }
        for (const row of rows) {
          // bigint arrives as text from pg.
          row[1] = Number(row[1])
          if (!visit(row)) return
        }
        if (rows.length < batch) return
      }
    },

    /** Records at or after a time, in sequence order, after `afterSeq`. */
    async since(db: Db, at: number, afterSeq: number, limit: number): Promise<AuditRecord[]> {
      return (await db
        .select()
        .from(r)
        .where(and(gte(r.at, at), gt(r.seq, afterSeq)))
        .orderBy(asc(r.seq))
        .limit(limit)) as AuditRecord[]
    },

    async first(db: Db): Promise<AuditRecord | undefined> {
      const [row] = await db.select().from(r).orderBy(asc(r.seq)).limit(1)
      return row as AuditRecord | undefined
    },

    async bySeq(db: Db, seq: number): Promise<AuditRecord | undefined> {
      const [row] = await db.select().from(r).where(eq(r.seq, seq))
      return row as AuditRecord | undefined
    },

    async ofAgreement(db: Db, agreementId: string, limit: number): Promise<AuditRecord[]> {
      return (await db.select().from(r).where(eq(r.agreementId, agreementId)).orderBy(asc(r.seq)).limit(limit)) as AuditRecord[]
    },

    async checkpoints(db: Db): Promise<AuditCheckpoint[]> {
      return db.select().from(c).orderBy(asc(c.seq))
    },

    async lastCheckpoint(db: Db): Promise<AuditCheckpoint | undefined> {
      const [row] = await db.select().from(c).orderBy(desc(c.seq)).limit(1)
      return row
    },

    async addCheckpoint(db: Db, checkpoint: AuditCheckpoint) {
      await db.insert(c).values(checkpoint).onConflictDoNothing()
    },

    /** The newest checkpoint at or before `seq` whose record is older than `before`: where pruning may stop. */
    async pruneAnchor(db: Db, before: number): Promise<AuditCheckpoint | undefined> {
      const [row] = await db.select().from(c).where(lte(c.at, before)).orderBy(desc(c.seq)).limit(1)
      return row
    },

    /** Deletes the records up to and including `seq`; checkpoints before it go too, but the one at `seq` stays. */
    async pruneThrough(tx: Db, seq: number): Promise<number> {
      const deleted = await tx.delete(r).where(lte(r.seq, seq)).returning({ seq: r.seq })
      await tx.delete(c).where(sql`${c.seq} < ${seq}`)
      return deleted.length
    },
  }
}

export type AuditRepository = ReturnType<typeof auditRepository>
