import { and, asc, desc, eq, gt, gte, lte, sql } from 'drizzle-orm'
import type { Db, Store } from '../store/store.ts'
import { lazy, rowPlaceholders } from '../store/prepared.ts'
import { sealRecord, type AuditEntry, type AuditRecord } from './chain.ts'

export interface AuditCheckpoint {
  seq: number
  at: number
  hash: string
  signature: string
}

/** A record as stored: its subjects and payload are the JSON text in the database. */
export type StoredRecord = Omit<AuditRecord, 'subjects' | 'payload'> & { subjectsText: string; payloadText: string }

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
     * Records after `afterSeq` as `audit verify` reads them, in sequence order (keyset paging on
     * the primary key): the payload and subjects as the stored text, left for the checker to hash
     * or parse, instead of decoded and re-encoded.
     */
    async storedAfter(db: Db, afterSeq: number, limit: number): Promise<StoredRecord[]> {
      // Plain SQL: the query builder's row mapping costs as much as the checking itself.
      const query = sql`select ${r.seq} as "seq", ${r.at} as "at", ${r.kind} as "kind", cast(${r.subjects} as text) as "subjectsText",
        ${r.agreementId} as "agreementId", ${r.actor} as "actor", cast(${r.payload} as text) as "payloadText",
        ${r.payloadDigest} as "payloadDigest", ${r.prevHash} as "prevHash", ${r.hash} as "hash"
        from ${r} where ${r.seq} > ${afterSeq} order by ${r.seq} limit ${limit}`
      if (store.dialect === 'sqlite') return db.all<StoredRecord>(query)
      return ((await (db as unknown as { execute(q: unknown): Promise<{ rows: StoredRecord[] }> }).execute(query)) as { rows: StoredRecord[] }).rows
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
