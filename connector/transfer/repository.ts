import { and, asc, desc, eq, or, sql } from 'drizzle-orm'
import type { Db, Store } from '../store/store.ts'
import type { Clock } from '../clock.ts'
import type { IdSource } from '../ids.ts'
import type { TransferState } from './messages.ts'
import type { Role } from './state-machine.ts'
import { recordBytes, recordTransition } from '../telemetry/transitions.ts'
import type { AuditTrail } from '../audit/audit-trail.ts'
import { processRepository } from '../process/process-repository.ts'

/** An event's id is its process and its position, padded so that ids sort in timeline order. */
const eventId = (transferId: string, position: number) => `${transferId}#${String(position).padStart(6, '0')}`

/** A transfer step's kind in the audit trail: `transfer.start` for a TransferStartMessage, the local cause as it is. */
const transferKind = (cause: string) => `transfer.${/^Transfer(\w+)Message$/.exec(cause)?.[1]?.toLowerCase() ?? cause}`

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
  /** Counted accesses under this transfer (the agreement's total is the usage counter's). */
  accessCount: number
  /** Bytes granted to pull accesses, less what downloads cut short did not send. */
  bytesGranted: number
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
  /** For a peer's message: the digest of its canonical content (see process/idempotency.ts). */
  digest?: string | null
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
  /** For a peer's message: the digest of its canonical content, to tell its repeats. */
  digest?: string | undefined
}

/**
 * Persistence of transfer processes. Every state change writes its timeline event in the same
 * transaction; rows, timeline and locking are the kernel's (process/process-repository.ts). A
 * transfer keeps no version: its changes are made on a row read with `lock`.
 */
export function transferRepository(store: Store, deps: { clock: Clock; ids: IdSource; audit?: AuditTrail | undefined }) {
  const { transfers, transferEvents, dataAccesses } = store.tables
  const rows = processRepository<TransferRecord, TransferEvent, TimelineEntry & { fromState: string | null; toState: string }>(store, {
    noun: 'transfer',
    table: transfers,
    id: transfers.id,
    state: transfers.state,
    timeline: {
      table: transferEvents,
      processId: transferEvents.transferId,
      order: transferEvents.id,
      row: (transferId, position, at, entry) => ({
        id: eventId(transferId, position),
        transferId,
        at,
        fromState: entry.fromState,
        toState: entry.toState,
        cause: entry.cause,
        actor: entry.actor,
        reason: entry.reason ?? null,
        digest: entry.digest ?? null,
      }),
    },
  })
  const audit = deps.audit
  const subjectsOf = (t: Pick<TransferRecord, 'id' | 'agreementId' | 'counterpartyId'>) => ({
    transfer: t.id,
    agreement: t.agreementId,
    participant: t.counterpartyId,
  })

  return {
    async insert(tx: Db, row: NewTransfer, event: TimelineEntry): Promise<TransferRecord> {
      const now = deps.clock.now().getTime()
      const values = {
        ...row,
        datasetId: row.datasetId ?? null,
        dataAddress: row.dataAddress ?? null,
        outputPath: row.outputPath ?? null,
        size: null,
        sha256: null,
        reason: null,
        bytesMoved: 0,
        accessCount: 0,
        bytesGranted: 0,
        createdAt: now,
        updatedAt: now,
      }
      await rows.create(tx, values as TransferRecord, now, { ...event, fromState: null, toState: row.state })
      await audit?.append(tx, {
        kind: transferKind(event.cause),
        subjects: subjectsOf(row),
        actor: event.actor,
        payload: { role: row.role, from: null, to: row.state, format: row.format, reason: event.reason, datasetId: row.datasetId },
      })
      recordTransition('transfer', { id: row.id, role: row.role, from: null, to: row.state, cause: event.cause, actor: event.actor })
      return (await this.get(tx, row.id))!
    },

    get(db: Db, id: string): Promise<TransferRecord | undefined> {
      return rows.find(db, id)
    },

    /** Reads a row and locks it for the rest of the transaction (the kernel's rule for a change). */
    lock(tx: Db, id: string): Promise<TransferRecord | undefined> {
      return rows.lock(tx, id)
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

    /**
     * Changes state and appends the timeline event; `patch` may set other columns at the same time.
     * `current` is the row `lock` read in this transaction.
     */
    async setState(
      tx: Db,
      current: TransferRecord,
      to: TransferState,
      event: TimelineEntry,
      patch: Partial<Pick<TransferRecord, 'providerPid' | 'dataAddress' | 'reason' | 'size' | 'sha256' | 'outputPath'>> = {},
    ): Promise<TransferRecord> {
      const now = deps.clock.now().getTime()
      await rows.change(tx, current, { ...patch, state: to, updatedAt: now }, now, { ...event, fromState: current.state, toState: to })
      await audit?.append(tx, {
        kind: transferKind(event.cause),
        subjects: subjectsOf(current),
        actor: event.actor,
        payload: { role: current.role, from: current.state, to, reason: event.reason },
      })
      recordTransition('transfer', { id: current.id, role: current.role, from: current.state, to, cause: event.cause, actor: event.actor })
      return (await this.get(tx, current.id))!
    },

    async update(db: Db, id: string, patch: Partial<Pick<TransferRecord, 'providerPid' | 'dataAddress' | 'size' | 'sha256' | 'outputPath'>>) {
      await db
        .update(transfers)
        .set({ ...patch, updatedAt: deps.clock.now().getTime() })
        .where(eq(transfers.id, id))
    },

    timeline(db: Db, id: string): Promise<TransferEvent[]> {
      return rows.timeline(db, id)
    },

    /** How many transfers are in each state (one grouped read). */
    async countByState(db: Db): Promise<Record<string, number>> {
      const rows = await db.select({ state: transfers.state, n: sql<number>`count(*)` }).from(transfers).groupBy(transfers.state)
      return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]))
    },

    async list(db: Db, filter: { state?: TransferState; role?: Role; limit?: number; offset?: number } = {}): Promise<TransferRecord[]> {
      const conditions = [filter.state ? eq(transfers.state, filter.state) : undefined, filter.role ? eq(transfers.role, filter.role) : undefined].filter(
        (c) => c !== undefined,
      )
      const rows = await db
        .select()
        .from(transfers)
        .where(conditions.length ? and(...conditions) : undefined)
        .orderBy(desc(transfers.createdAt), asc(transfers.id))
        .limit(filter.limit ?? 100)
        .offset(filter.offset ?? 0)
      return rows as TransferRecord[]
    },

    /** Records one data-plane access (granted or refused); resolves with its id. */
    async recordAccess(
      db: Db,
      access: {
        transferId: string
        requester: string | null
        range: string | null
        status: number
        bytes: number
        counted?: boolean
        reason?: string | undefined
        /** The sha256 of the bytes received (a push), for the audit trail. */
        sha256?: string | undefined
      },
    ): Promise<string> {
      const id = deps.ids.next()
      await db.insert(dataAccesses).values({
        id,
        at: deps.clock.now().getTime(),
        transferId: access.transferId,
        requester: access.requester,
        range: access.range,
        status: access.status,
        bytes: access.bytes,
        counted: access.counted ?? false,
        reason: access.reason ?? null,
      })
      if (audit) {
        const [t] = await db.select({ agreementId: transfers.agreementId }).from(transfers).where(eq(transfers.id, access.transferId))
        await audit.append(db, {
          kind: 'data.access',
          subjects: { transfer: access.transferId, agreement: t?.agreementId, participant: access.requester ?? undefined, access: id },
          actor: access.requester ?? 'unknown',
          payload: {
            status: access.status,
            bytes: access.bytes,
            range: access.range,
            counted: access.counted ?? false,
            reason: access.reason,
            sha256: access.sha256,
          },
        })
      }
      return id
    },

    /** Adds bytes moved by an access that has finished streaming. */
    async addBytes(db: Db, id: string, bytes: number) {
      recordBytes('data-plane', bytes)
      await db
        .update(transfers)
        .set({ bytesMoved: sql`${transfers.bytesMoved} + ${bytes}` })
        .where(eq(transfers.id, id))
    },

    /**
     * Grants an access: adds its planned bytes and, when it counts, one access to this transfer.
     * Inside the transaction that locked the transfer and the agreement's counter and decided.
     */
    async grantAccess(tx: Db, id: string, grant: { bytes: number; counted: boolean }) {
      await tx
        .update(transfers)
        .set({ bytesGranted: sql`${transfers.bytesGranted} + ${grant.bytes}`, ...(grant.counted ? { accessCount: sql`${transfers.accessCount} + 1` } : {}) })
        .where(eq(transfers.id, id))
    },

    /**
     * A granted access has finished streaming: its bytes are moved, and what a cut download did not
     * send is given back to the transfer's granted bytes (so that resuming it is not a new download).
     * Its count stays: the access was granted and counted, as the access log says.
     */
    async finishAccess(id: string, access: { id: string; planned: number; sent: number }) {
      recordBytes('data-plane', access.sent)
      await store.transaction(async (tx) => {
        await tx
          .update(transfers)
          .set({
            bytesMoved: sql`${transfers.bytesMoved} + ${access.sent}`,
            bytesGranted: sql`${transfers.bytesGranted} - ${Math.max(0, access.planned - access.sent)}`,
          })
          .where(eq(transfers.id, id))
        await tx.update(dataAccesses).set({ bytes: access.sent }).where(eq(dataAccesses.id, access.id))
        await auditSent(tx, id, access.id, { bytes: access.sent, complete: access.sent >= access.planned })
      })
    },

    /** A counted access failed through no fault of the consumer (its source failed): it no longer counts. */
    async refundAccess(tx: Db, id: string, access: { id: string; reason: string }) {
      await tx
        .update(transfers)
        .set({ accessCount: sql`${transfers.accessCount} - 1` })
        .where(eq(transfers.id, id))
      await tx.update(dataAccesses).set({ counted: false, reason: access.reason }).where(eq(dataAccesses.id, access.id))
    },

    /** A push attempt has ended: its access gets the consumer's answer and the bytes sent. */
    async settlePush(id: string, access: { id: string; status: number; sent: number; reason?: string | undefined }) {
      const ok = access.status >= 200 && access.status < 300
      if (ok) recordBytes('data-plane', access.sent)
      await store.transaction(async (tx) => {
        await tx
          .update(dataAccesses)
          .set({ status: access.status, bytes: access.sent, reason: access.reason ?? null })
          .where(eq(dataAccesses.id, access.id))
        if (ok)
          await tx
            .update(transfers)
            .set({ bytesMoved: sql`${transfers.bytesMoved} + ${access.sent}` })
            .where(eq(transfers.id, id))
        await auditSent(tx, id, access.id, { bytes: access.sent, status: access.status, reason: access.reason })
      })
    },

    async accesses(db: Db, id: string) {
      return db.select().from(dataAccesses).where(eq(dataAccesses.transferId, id)).orderBy(asc(dataAccesses.at))
    },

    /** Transfers matching a local pid on either role (for lookups that do not know the role). */
    async findAny(db: Db, pid: string) {
      const rows = await db
        .select()
        .from(transfers)
        .where(or(eq(transfers.id, pid), eq(transfers.providerPid, pid), eq(transfers.consumerPid, pid)))
      return rows as TransferRecord[]
    },
  }

  /** Bytes an access moved, with the sha256 of what was served (the distribution's digest). */
  async function auditSent(tx: Db, transferId: string, accessId: string, detail: Record<string, unknown>) {
    if (!audit?.enabled) return
    const [t] = await tx
      .select({ agreementId: transfers.agreementId, counterpartyId: transfers.counterpartyId, sha256: transfers.sha256 })
      .from(transfers)
      .where(eq(transfers.id, transferId))
    await audit.append(tx, {
      kind: 'data.sent',
      subjects: { transfer: transferId, agreement: t?.agreementId, participant: t?.counterpartyId, access: accessId },
      actor: 'local',
      payload: { ...detail, sha256: t?.sha256 ?? undefined },
    })
  }
}

export type TransferRepository = ReturnType<typeof transferRepository>
