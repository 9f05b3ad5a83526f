import { and, asc, desc, eq, inArray, isNull, sql, type SQL } from 'drizzle-orm'
import { recordTransition } from '../telemetry/transitions.ts'
import type { Db, Store } from '../store/store.ts'
import { changeNotifier } from '../store/changes.ts'
import { lazy, rowPlaceholders } from '../store/prepared.ts'
import type { NegotiationState } from '../dsp/negotiation-messages.ts'
import type { Role } from './state-machine.ts'
import { agreementDigest, type AuditTrail } from '../audit/audit-trail.ts'
import { canonicalJson, sha256Hex } from '../audit/chain.ts'
import { ConcurrentChange, processRepository } from '../process/process-repository.ts'

/** States a negotiation can still leave. */
const openStates: NegotiationState[] = ['REQUESTED', 'OFFERED', 'ACCEPTED', 'AGREED', 'VERIFIED']

/** Persistence of negotiations, their append-only timeline and agreements (both dialects). */
export type Negotiation = Store['tables']['negotiations']['$inferSelect']
export type NewNegotiation = Store['tables']['negotiations']['$inferInsert']
export type NegotiationEvent = Store['tables']['negotiationEvents']['$inferSelect']
export type AgreementRow = Store['tables']['agreements']['$inferSelect']

export interface TimelineEntry {
  kind: string
  direction: 'inbound' | 'outbound' | 'local'
  actor: string
  fromState: NegotiationState | null
  toState: NegotiationState
  reason?: string | undefined
  detail?: Record<string, unknown> | undefined
}

/** What a step of a negotiation may change (binding the peer's id is rarer and goes the long way). */
const stepColumns = ['state', 'version', 'updatedAt', 'pending', 'reason', 'offer', 'offerId', 'agreementId', 'providerPid'] as const

export function negotiationRepository(store: Store, audit?: AuditTrail) {
  const t = store.tables.negotiations
  const e = store.tables.negotiationEvents
  const a = store.tables.agreements
  // Rows, timeline and locking are the kernel's (process/process-repository.ts); a negotiation's
  // version is its timeline's length, and an entry's seq its position counted from 1.
  const rows = processRepository<Negotiation, NegotiationEvent, TimelineEntry>(store, {
    noun: 'negotiation',
    table: t,
    id: t.id,
    state: t.state,
    version: t.version,
    stepColumns,
    timeline: {
      table: e,
      processId: e.negotiationId,
      order: e.seq,
      row: (negotiationId, position, at, entry) => ({
        negotiationId,
        seq: position + 1,
        at,
        kind: entry.kind,
        direction: entry.direction,
        actor: entry.actor,
        fromState: entry.fromState,
        toState: entry.toState,
        reason: entry.reason ?? null,
        detail: entry.detail ?? null,
      }),
    },
  })
  // Hot statements are prepared once (see store/prepared.ts).
  const prepared = lazy(() => ({
    byConsumerPid: store.db
      .select()
      .from(t)
      .where(and(eq(t.role, 'provider'), eq(t.counterpartyId, sql.placeholder('counterpartyId')), eq(t.consumerPid, sql.placeholder('consumerPid'))))
      .prepare(),
    setProviderPid: store.db
      .update(t)
      .set({ providerPid: sql.placeholder('providerPid') as never })
      .where(and(eq(t.id, sql.placeholder('id')), isNull(t.providerPid)))
      .prepare(),
    insertAgreement: store.db
      .insert(a)
      .values(rowPlaceholders(a) as never)
      .prepare(),
    // Every request from a peer counts its open negotiations (countOpenWith).
    countOpenWith: store.db
      .select({ n: sql<number>`count(*)` })
      .from(
        store.db
          .select({ one: sql`1` })
          .from(t)
          .where(and(eq(t.counterpartyId, sql.placeholder('counterpartyId')), inArray(t.state, openStates)))
          .limit(sql.placeholder('atMost'))
          .as('open'),
      )
      .prepare(),
  }))
  const own = (db: Db) => db === store.db
  const changes = changeNotifier(store.signals)
  return {
    /** Wakes the management API's long polls once a change of a negotiation is committed. */
    changes,

    /** Reads a negotiation; `lock` for the read of a change (the kernel's rule). */
    find(db: Db, id: string, options: { lock?: boolean } = {}): Promise<Negotiation | undefined> {
      return rows.find(db, id, options)
    },

    findByConsumerPid(db: Db, counterpartyId: string, consumerPid: string, options: { lock?: boolean } = {}) {
      return rows.findWhere(db, and(eq(t.role, 'provider'), eq(t.counterpartyId, counterpartyId), eq(t.consumerPid, consumerPid))!, {
        ...options,
        prepared: () => prepared().byConsumerPid.execute({ counterpartyId, consumerPid }),
      })
    },

    async findByProviderPid(db: Db, counterpartyId: string, providerPid: string) {
      const [row] = await db
        .select()
        .from(t)
        .where(and(eq(t.role, 'consumer'), eq(t.counterpartyId, counterpartyId), eq(t.providerPid, providerPid)))
      return row
    },

    /** Records the provider's pid from its answer to our first request (no state change). */
    async setProviderPid(db: Db, id: string, providerPid: string) {
      if (own(db)) return void (await prepared().setProviderPid.execute({ id, providerPid }))
      await db
        .update(t)
        .set({ providerPid })
        .where(and(eq(t.id, id), isNull(t.providerPid)))
    },

    /** Creates a process with its first timeline entry. */
    async create(db: Db, row: Omit<NewNegotiation, 'version'>, entry: TimelineEntry): Promise<Negotiation> {
      const created = { ...row, version: 1 } as Negotiation
      await rows.create(db, created, created.updatedAt, entry)
      await auditStep(db, created, entry)
      store.afterCommit(db, () => changes.notify(created.id))
      recordTransition('negotiation', { id: created.id, role: created.role, from: null, to: entry.toState, cause: entry.kind, actor: entry.actor })
      return created
    },

    /**
     * Saves a change with its timeline entry (the kernel's `change`). The version check makes a lost
     * update impossible even from a read made outside the transaction.
     */
    async save(db: Db, current: Negotiation, patch: Partial<Negotiation>, entry: TimelineEntry): Promise<Negotiation> {
      const next = await rows.change(db, current, patch, patch.updatedAt ?? current.updatedAt, entry)
      await auditStep(db, next, entry)
      store.afterCommit(db, () => changes.notify(current.id))
      recordTransition('negotiation', { id: current.id, role: current.role, from: entry.fromState, to: entry.toState, cause: entry.kind, actor: entry.actor })
      return next
    },

    timeline(db: Db, id: string): Promise<NegotiationEvent[]> {
      return rows.timeline(db, id)
    },

    lastEvent(db: Db, id: string): Promise<NegotiationEvent | undefined> {
      return rows.lastEntry(db, id)
    },

    /** How many negotiations are in each state (one grouped read of the state index). */
    async countByState(db: Db): Promise<Record<string, number>> {
      const rows = await db.select({ state: t.state, n: sql<number>`count(*)` }).from(t).groupBy(t.state)
      return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]))
    },

    async list(db: Db, filter: { state?: string; peer?: string; dataset?: string; role?: Role; limit: number; offset: number }) {
      const conditions: SQL[] = []
      if (filter.state) conditions.push(eq(t.state, filter.state))
      if (filter.peer) conditions.push(eq(t.counterpartyAddress, filter.peer))
      if (filter.dataset) conditions.push(eq(t.datasetId, filter.dataset))
      if (filter.role) conditions.push(eq(t.role, filter.role))
      return db
        .select()
        .from(t)
        .where(conditions.length ? and(...conditions) : undefined)
        .orderBy(desc(t.createdAt), asc(t.id))
        .limit(filter.limit)
        .offset(filter.offset)
    },

    /**
     * How many negotiations with one peer are still open, counted up to `atMost` (the index on
     * peer and state reads only open ones, never the peer's whole history).
     */
    async countOpenWith(db: Db, counterpartyId: string, atMost: number): Promise<number> {
      if (own(db)) {
        const [row] = await prepared().countOpenWith.execute({ counterpartyId, atMost })
        return Number(row?.n ?? 0)
      }
      const open = db
        .select({ one: sql`1` })
        .from(t)
        .where(and(eq(t.counterpartyId, counterpartyId), inArray(t.state, openStates)))
        .limit(atMost)
        .as('open')
      const [row] = await db.select({ n: sql<number>`count(*)` }).from(open)
      return Number(row?.n ?? 0)
    },

    /** Stores an agreement; the trail gets its document's digest, signed by this participant. */
    async insertAgreement(db: Db, row: AgreementRow) {
      if (own(db)) await prepared().insertAgreement.execute(row)
      else await db.insert(a).values(row)
      if (audit?.enabled) {
        const digest = agreementDigest(row.body)
        await audit.append(db, {
          kind: 'agreement',
          subjects: { negotiation: row.negotiationId, agreement: row.id, participant: row.role === 'provider' ? row.assignee : row.assigner },
          actor: row.role === 'provider' ? row.assigner : row.assignee,
          payload: {
            role: row.role,
            datasetId: row.datasetId,
            assigner: row.assigner,
            assignee: row.assignee,
            sha256: digest,
            signature: await audit.signDigest(digest),
          },
        })
      }
    },

    async agreementsOf(db: Db, negotiationId: string) {
      return db.select().from(a).where(eq(a.negotiationId, negotiationId))
    },

    /** Agreements of finalized negotiations: the ones that are in force. */
    async listAgreements(db: Db, filter: { dataset?: string; limit: number; offset: number }) {
      const conditions: SQL[] = [eq(t.state, 'FINALIZED')]
      if (filter.dataset) conditions.push(eq(a.datasetId, filter.dataset))
      const rows = await db
        .select({ agreement: a, negotiation: { id: t.id, role: t.role, counterpartyId: t.counterpartyId, counterpartyAddress: t.counterpartyAddress } })
        .from(a)
        .innerJoin(t, eq(t.id, a.negotiationId))
        .where(and(...conditions))
        .orderBy(desc(a.signedAt), asc(a.id))
        .limit(filter.limit)
        .offset(filter.offset)
      return rows
    },

    async findAgreement(db: Db, id: string) {
      const [row] = await db.select({ agreement: a, state: t.state }).from(a).innerJoin(t, eq(t.id, a.negotiationId)).where(eq(a.id, id))
      return row
    },
  }

  /**
   * A step of a negotiation in the audit trail. A decision (ours, with its reason) carries the digest
   * of what it was decided on: the reason and the detail the timeline keeps (offer, requester's claims).
   */
  async function auditStep(db: Db, n: Negotiation, entry: TimelineEntry) {
    if (!audit?.enabled) return
    const decided = entry.direction !== 'inbound' && entry.reason !== undefined
    await audit.append(db, {
      kind: `negotiation.${entry.kind}`,
      subjects: { negotiation: n.id, agreement: n.agreementId ?? undefined, participant: n.counterpartyId ?? undefined },
      actor: entry.actor,
      payload: {
        role: n.role,
        direction: entry.direction,
        from: entry.fromState,
        to: entry.toState,
        reason: entry.reason,
        datasetId: n.datasetId,
        offerId: n.offerId,
        ...(decided ? { decision: entry.kind, traceDigest: sha256Hex(canonicalJson({ reason: entry.reason, detail: entry.detail ?? null })) } : {}),
        ...(entry.detail?.hash ? { messageDigest: entry.detail.hash } : {}),
      },
    })
  }
}

export type NegotiationRepository = ReturnType<typeof negotiationRepository>

/** A save lost against another change of the same process (the kernel's, named here for the service). */
export { ConcurrentChange }
