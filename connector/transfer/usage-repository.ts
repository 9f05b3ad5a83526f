import { eq, sql } from 'drizzle-orm'
import type { Clock } from '../clock.ts'
import type { Db, Store } from '../store/store.ts'

/** The agreement's counter row, as a decision reads it. */
export interface AgreementUsage {
  /** Accesses counted under the agreement before the one being decided. */
  count: number
  obligationsRecorded: boolean
  /** Ids of the agreement's obligations now violated. */
  violatedObligations: string[]
}

/**
 * The usage counter of each agreement: one row, shared by every transfer under the agreement. A
 * decision that may count an access holds the row's lock until its transaction ends (`FOR UPDATE`,
 * or the lock of an UPDATE, on PostgreSQL; SQLite runs one transaction at a time), decides on the
 * count it read and adds the access before the transaction commits, so parallel requests,
 * transfers and replicas on one database never decide on the same count.
 */
export function usageRepository(store: Store, deps: { clock: Clock }) {
  const { agreementUsage } = store.tables
  const columns = {
    count: agreementUsage.accessCount,
    obligationsRecorded: agreementUsage.obligationsRecorded,
    violatedObligations: agreementUsage.violatedObligations,
  }
  const read = (db: Db, agreementId: string) => db.select(columns).from(agreementUsage).where(eq(agreementUsage.agreementId, agreementId))
  const create = (tx: Db, agreementId: string) =>
    tx.insert(agreementUsage).values({ agreementId, accessCount: 0, updatedAt: deps.clock.now().getTime() }).onConflictDoNothing()
  const add = (tx: Db, agreementId: string, delta: 1 | -1) =>
    tx
      .update(agreementUsage)
      .set({ accessCount: sql`${agreementUsage.accessCount} + ${delta}`, updatedAt: deps.clock.now().getTime() })
      .where(eq(agreementUsage.agreementId, agreementId))

  return {
    /** Accesses counted under the agreement so far (0 when none). */
    async count(db: Db, agreementId: string): Promise<number> {
      const [row] = await read(db, agreementId)
      return row?.count ?? 0
    },

    /** Reads the row and locks it until `tx` ends; creates it at 0 the first time. */
    async lock(tx: Db, agreementId: string): Promise<AgreementUsage> {
      let [row] = await store.forUpdate(read(tx, agreementId))
      if (!row) {
        await create(tx, agreementId)
        ;[row] = await store.forUpdate(read(tx, agreementId))
      }
      return row!
    },

    /**
     * Adds one access and reads the row, locked, in one statement (the busy path: one round trip);
     * `count` is the count before this access. If the decision then refuses, `giveBack` in the
     * same transaction: nobody else saw the count in between.
     */
    async take(tx: Db, agreementId: string): Promise<AgreementUsage> {
      const step = () => add(tx, agreementId, 1).returning(columns)
      let [row] = await step()
      if (!row) {
        await create(tx, agreementId)
        ;[row] = await step()
      }
      return { ...row!, count: row!.count - 1 }
    },

    /** Undoes a `take` whose access was refused (same transaction). */
    async giveBack(tx: Db, agreementId: string): Promise<void> {
      await add(tx, agreementId, -1)
    },

    /** Marks the agreement's obligations as recorded (in the transaction that recorded them). */
    async markObligationsRecorded(tx: Db, agreementId: string): Promise<void> {
      await tx.update(agreementUsage).set({ obligationsRecorded: true }).where(eq(agreementUsage.agreementId, agreementId))
    },

    /** Keeps the ids of violated obligations with the counter (in the transaction that changed a status). */
    async setViolated(tx: Db, agreementId: string, ids: string[]): Promise<void> {
      await create(tx, agreementId)
      await tx.update(agreementUsage).set({ violatedObligations: ids }).where(eq(agreementUsage.agreementId, agreementId))
    },
  }
}

export type UsageRepository = ReturnType<typeof usageRepository>
