import { and, asc, desc, eq, isNull, sql, type SQL } from 'drizzle-orm'
import { recordTransition } from '../telemetry/transitions.ts'
import type { Db, Store } from '../store/store.ts'
import { changeNotifier } from '../store/changes.ts'
import { lazy, rowPlaceholders } from '../store/prepared.ts'
import type { NegotiationState } from '../dsp/negotiation-messages.ts'
import type { Role } from './state-machine.ts'
import { agreementDigest, type AuditTrail } from '../audit/audit-trail.ts'
import { canonicalJson, sha256Hex } from '../audit/chain.ts'

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
  // Hot statements are prepared once (see store/prepared.ts).
  const prepared = lazy(() => ({
    find: store.db
      .select()
      .from(t)
      .where(eq(t.id, sql.placeholder('id')))
      .prepare(),
    byConsumerPid: store.db
      .select()
      .from(t)
      .where(and(eq(t.role, 'provider'), eq(t.counterpartyId, sql.placeholder('counterpartyId')), eq(t.consumerPid, sql.placeholder('consumerPid'))))
      .prepare(),
    insert: store.db
      .insert(t)
      .values(rowPlaceholders(t) as never)
      .prepare(),
    // A step's save: the columns steps change (an indexed column in the list would make SQLite
    // rewrite that index entry on every save); the version it read must still be there.
    update: store.db
      .update(t)
      .set(Object.fromEntries(stepColumns.map((key) => [key, sql.placeholder(key)])) as never)
      .where(and(eq(t.id, sql.placeholder('id')), eq(t.version, sql.placeholder('expectedVersion'))))
      .returning({ id: t.id })
      .prepare(),
    setProviderPid: store.db
      .update(t)
      .set({ providerPid: sql.placeholder('providerPid') as never })
      .where(and(eq(t.id, sql.placeholder('id')), isNull(t.providerPid)))
      .prepare(),
    insertEvent: store.db
      .insert(e)
      .values(rowPlaceholders(e) as never)
      .prepare(),
    timeline: store.db
      .select()
      .from(e)
      .where(eq(e.negotiationId, sql.placeholder('id')))
      .orderBy(asc(e.seq))
      .prepare(),
    insertAgreement: store.db
      .insert(a)
      .values(rowPlaceholders(a) as never)
      .prepare(),
  }))
  const own = (db: Db) => db === store.db
  const changes = changeNotifier(store.signals)
  return {
    /** Wakes the management API's long polls once a change of a negotiation is committed. */
    changes,

    async find(db: Db, id: string, options: { lock?: boolean } = {}): Promise<Negotiation | undefined> {
      if (own(db) && (!options.lock || store.dialect === 'sqlite')) {
        const [row] = await prepared().find.execute({ id })
        return row
      }
      const query = db.select().from(t).where(eq(t.id, id))
      const [row] = await (options.lock ? store.forUpdate(query) : query)
      return row
    },

    async findByConsumerPid(db: Db, counterpartyId: string, consumerPid: string, options: { lock?: boolean } = {}) {
      if (own(db) && (!options.lock || store.dialect === 'sqlite')) {
        const [row] = await prepared().byConsumerPid.execute({ counterpartyId, consumerPid })
        return row
      }
      const query = db
        .select()
        .from(t)
        .where(and(eq(t.role, 'provider'), eq(t.counterpartyId, counterpartyId), eq(t.consumerPid, consumerPid)))
      const [row] = await (options.lock ? store.forUpdate(query) : query)
      return row
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
      if (own(db)) await prepared().insert.execute(created)
      else await db.insert(t).values(created)
      await insertEvent(db, created.id, 1, created.updatedAt, entry)
      await auditStep(db, created, entry)
      store.afterCommit(db, () => changes.notify(created.id))
      recordTransition('negotiation', { id: created.id, role: created.role, from: null, to: entry.toState, cause: entry.kind, actor: entry.actor })
      return created
    },

    /**
     * Saves a change with its timeline entry. The version check makes a lost update impossible
     * even without a row lock.
     */
    async save(db: Db, current: Negotiation, patch: Partial<Negotiation>, entry: TimelineEntry): Promise<Negotiation> {
      const version = current.version + 1
      const next = { ...current, ...patch, version } as Negotiation
      const stepOnly = Object.keys(patch).every((key) => (stepColumns as readonly string[]).includes(key))
      const updated =
        own(db) && stepOnly
          ? await prepared().update.execute({ ...next, expectedVersion: current.version })
          : await db
              .update(t)
              .set({ ...patch, version })
              .where(and(eq(t.id, current.id), eq(t.version, current.version)))
              .returning({ id: t.id })
      if (updated.length !== 1) throw new ConcurrentChange(current.id)
      await insertEvent(db, current.id, version, next.updatedAt, entry)
      await auditStep(db, next, entry)
      store.afterCommit(db, () => changes.notify(current.id))
      recordTransition('negotiation', { id: current.id, role: current.role, from: entry.fromState, to: entry.toState, cause: entry.kind, actor: entry.actor })
      return next
    },

    async timeline(db: Db, id: string): Promise<NegotiationEvent[]> {
      if (own(db)) return prepared().timeline.execute({ id })
      return db.select().from(e).where(eq(e.negotiationId, id)).orderBy(asc(e.seq))
    },

    async lastEvent(db: Db, id: string): Promise<NegotiationEvent | undefined> {
      const [row] = await db.select().from(e).where(eq(e.negotiationId, id)).orderBy(desc(e.seq)).limit(1)
      return row
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

  async function insertEvent(db: Db, negotiationId: string, seq: number, at: number, entry: TimelineEntry) {
    const values = {
      negotiationId,
      seq,
      at,
      kind: entry.kind,
      direction: entry.direction,
      actor: entry.actor,
      fromState: entry.fromState,
      toState: entry.toState,
      reason: entry.reason ?? null,
      detail: entry.detail ?? null,
    }
    if (own(db)) await prepared().insertEvent.execute(values)
    else await db.insert(e).values(values)
  }
}

export type NegotiationRepository = ReturnType<typeof negotiationRepository>

/** A save lost against another change of the same process (its version moved on). */
export class ConcurrentChange extends Error {
  constructor(id: string) {
    super(`negotiation ${id} changed concurrently`)
    this.name = 'ConcurrentChange'
  }
}
