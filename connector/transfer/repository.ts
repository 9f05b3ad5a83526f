import { and, asc, count, desc, eq, or, sql } from 'drizzle-orm'
import type { Db, Store } from '../store/store.ts'
import type { Clock, IdSource } from '../context.ts'
import type { TransferState } from './messages.ts'
import type { Role } from './state-machine.ts'
import { recordBytes, recordTransition } from '../telemetry/transitions.ts'

/** Event ids sort in timeline order (rows of one process are locked while an event is added). */
const eventId = (transferId: string, seq: number) => `${transferId}#${String(seq).padStart(6, '0')}`

/** What a transfer row looks like to the rest of the code. */
export interface TransferRecord {
  id: string
  role: Role
  providerPid: string | null
  consumerPid: string
  agreementId: string
  datasetId: string | null
  counterpartyId: string
  counterpartyAddress: string
  format: string
  state: TransferState
  dataAddress: unknown
  outputPath: string | null
  size: number | null
  sha256: string | null
  bytesMoved: number
  accessCount: number
  reason: string | null
  createdAt: number
  updatedAt: number
}

export interface TransferEvent {
  id: string
  transferId: string
  at: number
  fromState: string | null
  toState: string
  cause: string
  actor: string
  reason: string | null
}

export interface NewTransfer {
  id: string
  role: Role
  providerPid: string | null
  consumerPid: string
  agreementId: string
  datasetId?: string | null
  counterpartyId: string
  counterpartyAddress: string
  format: string
  state: TransferState
  dataAddress?: unknown
  outputPath?: string | null
}

export interface TimelineEntry {
  cause: string
  actor: string
  reason?: string | undefined
}

/** Persistence of transfer processes. Every state change writes its timeline event in the same transaction. */
export function transferRepository(store: Store, deps: { clock: Clock; ids: IdSource }) {
  const { transfers, transferEvents, dataAccesses } = store.tables

  const byId = (db: Db, id: string) => store.forUpdate(db.select().from(transfers).where(eq(transfers.id, id)))

  return {
    async insert(tx: Db, row: NewTransfer, event: TimelineEntry): Promise<TransferRecord> {
      const now = deps.clock.now().getTime()
      const values = {
        ...row,
        datasetId: row.datasetId ?? null,
        dataAddress: row.dataAddress ?? null,
        outputPath: row.outputPath ?? null,
        bytesMoved: 0,
        accessCount: 0,
        createdAt: now,
        updatedAt: now,
      }
      await tx.insert(transfers).values(values)
      await tx.insert(transferEvents).values({
        id: eventId(row.id, 0),
        transferId: row.id,
        at: now,
        fromState: null,
        toState: row.state,
        cause: event.cause,
        actor: event.actor,
        reason: event.reason ?? null,
      })
      recordTransition('transfer', { id: row.id, role: row.role, from: null, to: row.state, cause: event.cause, actor: event.actor })
      return (await this.get(tx, row.id))!
    },

    async get(db: Db, id: string): Promise<TransferRecord | undefined> {
      const [row] = await db.select().from(transfers).where(eq(transfers.id, id))
      return row as TransferRecord | undefined
    },

    /** Reads a row and locks it for the rest of the transaction. */
    async lock(tx: Db, id: string): Promise<TransferRecord | undefined> {
      const [row] = await byId(tx, id)
      return row as TransferRecord | undefined
    },

    /** The process a DSP path pid names: our providerPid when we provide, our consumerPid when we consume. */
    async findByLocalPid(db: Db, pid: string): Promise<TransferRecord | undefined> {
      const [row] = await db.select().from(transfers).where(eq(transfers.id, pid))
      return row as TransferRecord | undefined
    },

    async findProviderSideByConsumerPid(db: Db, counterpartyId: string, consumerPid: string) {
      const [row] = await db
        .select()
        .from(transfers)
        .where(and(eq(transfers.role, 'provider'), eq(transfers.consumerPid, consumerPid), eq(transfers.counterpartyId, counterpartyId)))
      return row as TransferRecord | undefined
    },

    /** Changes state and appends the timeline event; `patch` may set other columns at the same time. */
    async setState(
      tx: Db,
      current: TransferRecord,
      to: TransferState,
      event: TimelineEntry,
      patch: Partial<Pick<TransferRecord, 'providerPid' | 'dataAddress' | 'reason' | 'size' | 'sha256' | 'outputPath'>> = {},
    ): Promise<TransferRecord> {
      const now = deps.clock.now().getTime()
      await tx
        .update(transfers)
        .set({ ...patch, state: to, updatedAt: now })
        .where(eq(transfers.id, current.id))
      const [counted] = await tx.select({ n: count() }).from(transferEvents).where(eq(transferEvents.transferId, current.id))
      await tx.insert(transferEvents).values({
        id: eventId(current.id, Number(counted?.n ?? 0)),
        transferId: current.id,
        at: now,
        fromState: current.state,
        toState: to,
        cause: event.cause,
        actor: event.actor,
        reason: event.reason ?? null,
      })
      recordTransition('transfer', { id: current.id, role: current.role, from: current.state, to, cause: event.cause, actor: event.actor })
      return (await this.get(tx, current.id))!
    },

    async update(
      db: Db,
      id: string,
      patch: Partial<Pick<TransferRecord, 'providerPid' | 'dataAddress' | 'size' | 'sha256' | 'outputPath'>>,
    ) {
      await db.update(transfers).set({ ...patch, updatedAt: deps.clock.now().getTime() }).where(eq(transfers.id, id))
    },

    async timeline(db: Db, id: string): Promise<TransferEvent[]> {
      const rows = await db.select().from(transferEvents).where(eq(transferEvents.transferId, id)).orderBy(asc(transferEvents.id))
      return rows as TransferEvent[]
    },

    async list(db: Db, filter: { state?: TransferState; role?: Role; limit?: number } = {}): Promise<TransferRecord[]> {
      const conditions = [
        filter.state ? eq(transfers.state, filter.state) : undefined,
        filter.role ? eq(transfers.role, filter.role) : undefined,
      ].filter((c) => c !== undefined)
      const rows = await db
        .select()
        .from(transfers)
        .where(conditions.length ? and(...conditions) : undefined)
        .orderBy(desc(transfers.createdAt))
        .limit(filter.limit ?? 100)
      return rows as TransferRecord[]
    },

    /** Records one data-plane access and adds its bytes; refused accesses count nothing. */
    async recordAccess(
      db: Db,
      access: { transferId: string; requester: string | null; range: string | null; status: number; bytes: number; reason?: string },
    ) {
      await db.insert(dataAccesses).values({
        id: deps.ids.next(),
        at: deps.clock.now().getTime(),
        transferId: access.transferId,
        requester: access.requester,
        range: access.range,
        status: access.status,
        bytes: access.bytes,
        reason: access.reason ?? null,
      })
    },

    /** Adds bytes moved by an access that has finished streaming. */
    async addBytes(db: Db, id: string, bytes: number) {
      recordBytes('data-plane', bytes)
      await db
        .update(transfers)
        .set({ bytesMoved: sql`${transfers.bytesMoved} + ${bytes}` })
        .where(eq(transfers.id, id))
    },

    /** Counts one granted access; called inside the transaction that checked the limit. */
    async countAccess(tx: Db, id: string) {
      await tx
        .update(transfers)
        .set({ accessCount: sql`${transfers.accessCount} + 1` })
        .where(eq(transfers.id, id))
    },

    async accesses(db: Db, id: string) {
      return db.select().from(dataAccesses).where(eq(dataAccesses.transferId, id)).orderBy(asc(dataAccesses.at))
    },

    /** Transfers matching a local pid on either role (for lookups that do not know the role). */
    async findAny(db: Db, pid: string) {
      const rows = await db.select().from(transfers).where(or(eq(transfers.id, pid), eq(transfers.providerPid, pid), eq(transfers.consumerPid, pid)))
      return rows as TransferRecord[]
    },
  }
}

export type TransferRepository = ReturnType<typeof transferRepository>
