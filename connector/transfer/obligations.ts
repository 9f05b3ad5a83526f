import { and, asc, count, eq, inArray, isNull, or, sql } from 'drizzle-orm'
import {
  defaultRegistry,
  evaluate,
  findingText,
  policyFromOdrl,
  policyPhrase,
  type Constraint,
  type PolicyLabel,
  type PolicyModel,
  type Rule,
} from '../../policies/index.ts'
import type { Clock } from '../clock.ts'
import { lazy } from '../store/prepared.ts'
import type { Db, Store } from '../store/store.ts'
import type { Agreement } from './ports.ts'
import { usageRepository } from './usage-repository.ts'

/**
 * The duties an agreement binds its consumer to (attribution, payment, notice, deletion…), recorded
 * on the agreement when it is made, with a status: `pending`, then `acknowledged` when the consumer
 * verifies the agreement (it has taken them on; they are due later), then `fulfilled` or `violated`.
 * The connector decides the duties it can check itself (a deadline, a count: `checkedBy: monitor`);
 * a person marks the others through the management API. Every change is appended to the obligation
 * timeline. A permission permits only while each of its duties is fulfilled or acknowledged (and not
 * overdue); a violated policy-level obligation voids the whole policy.
 */
export type ObligationStatus = 'pending' | 'acknowledged' | 'fulfilled' | 'violated'
export const obligationStatuses = ['pending', 'acknowledged', 'fulfilled', 'violated'] as const

/** Negotiation states in which the consumer has verified the agreement. */
const verified = new Set(['VERIFIED', 'FINALIZED'])
const acknowledgedReason = "acknowledged by the consumer's agreement verification"

export interface AgreementObligation {
  agreementId: string
  obligationId: string
  action: string
  rule: string
  text: string
  constraints: Constraint[]
  checkedBy: 'monitor' | 'operator'
  status: ObligationStatus
  reason: string | null
  createdAt: number
  updatedAt: number
}

export interface ObligationEvent {
  id: string
  agreementId: string
  obligationId: string
  at: number
  fromStatus: string | null
  toStatus: string
  actor: string
  reason: string | null
}

/** Operands the connector knows by itself under an agreement: a duty limited only by these is checked by the monitor. */
const selfChecked = new Set(['elapsedTime', 'dateTime', 'count'])

/** The agreement's policy as the evaluator reads it, its duties given stable ids (their `@id`, or their place). */
export function agreementModel(agreement: Agreement): { model?: PolicyModel; errors: string[] } {
  const { model, errors } = policyFromOdrl(agreement.policy, agreement.registry ? { registry: agreement.registry } : {})
  if (!model) return { errors }
  model.permissions.forEach((permission, i) => permission.duties.forEach((duty, j) => (duty.uid ??= `permission-${i + 1}-duty-${j + 1}`)))
  model.obligations.forEach((duty, k) => (duty.uid ??= `obligation-${k + 1}`))
  return { model, errors }
}

/** The duties of an agreement, as they are recorded when it is first used. */
export function obligationsOf(agreement: Agreement): Array<Omit<AgreementObligation, 'agreementId' | 'status' | 'reason' | 'createdAt' | 'updatedAt'>> {
  const { model } = agreementModel(agreement)
  if (!model) return []
  const rules: Array<{ duty: Rule; rule: string }> = [
    ...model.permissions.flatMap((p, i) => p.duties.map((duty, j) => ({ duty, rule: `permission ${i + 1} (${shortName(p.action)}), duty ${j + 1}` }))),
    ...model.obligations.map((duty, k) => ({ duty, rule: `obligation ${k + 1}` })),
  ]
  return rules.map(({ duty, rule }) => ({
    obligationId: duty.uid!,
    action: shortName(duty.action),
    rule,
    text: dutyText(agreement, duty),
    constraints: duty.constraints,
    checkedBy: duty.constraints.length > 0 && atomicOperands(duty.constraints).every((name) => selfChecked.has(shortName(name))) ? 'monitor' : 'operator',
  }))
}

/**
 * A duty the connector checks: when its conditions (deadline, count) no longer hold, the reason it
 * is violated, naming the policy; undefined while it holds.
 */
export function brokenDuty(input: {
  agreement: Agreement
  obligation: Pick<AgreementObligation, 'obligationId' | 'text' | 'constraints'>
  now: Date
  accessCount: number
}): string | undefined {
  const { agreement, obligation } = input
  const options = agreement.registry ? { registry: agreement.registry } : {}
  const probe: PolicyModel = {
    uid: policyName(agreement),
    type: 'Set',
    permissions: [{ action: 'use', constraints: obligation.constraints, duties: [] }],
    prohibitions: [],
    obligations: [],
  }
  const decision = evaluate(
    probe,
    {
      scope: 'monitor',
      action: 'use',
      assignee: agreement.assignee,
      assigner: agreement.assigner,
      target: agreement.target,
      credentials: [],
      now: input.now,
      agreement: { signedAt: agreement.signedAt },
      usage: { count: input.accessCount },
    },
    options,
  )
  if (decision.allowed) return undefined
  const finding = decision.trace.find((e) => e.outcome === 'violated' || e.outcome === 'unknown')
  const why = finding ? `: ${findingText(finding, agreement.registry ?? defaultRegistry())}` : ''
  return `the duty \`${obligation.obligationId}\` of ${policyPhrase(policyLabel(agreement))} (${obligation.text}) was violated${why}`
}

/** How refusals name an agreement's policy: the steward's policy file id when known. */
export const policyName = (agreement: Agreement) => agreement.policyId ?? agreement.offerId ?? agreement.id

/** The steward's policy id and title behind an agreement, as refusals name it. */
export const policyLabel = (agreement: Agreement): PolicyLabel => ({
  id: policyName(agreement),
  ...(agreement.policyId && agreement.policyTitle ? { title: agreement.policyTitle } : {}),
})

export function obligationRepository(store: Store, deps: { clock: Clock; ids: { next(): string } }) {
  const { agreementObligations, obligationEvents } = store.tables
  const counters = usageRepository(store, deps)
  // Every verified agreement looks for its pending duties: prepared once, run on the store's own
  // handle (every SQLite transaction; see store/prepared.ts).
  const pendingStatement = lazy(() =>
    store.db
      .select({ id: agreementObligations.obligationId })
      .from(agreementObligations)
      .where(and(eq(agreementObligations.agreementId, sql.placeholder('agreementId')), eq(agreementObligations.status, 'pending')))
      .prepare(),
  )

  async function append(tx: Db, event: Omit<ObligationEvent, 'id' | 'at'>) {
    const [counted] = await tx.select({ n: count() }).from(obligationEvents).where(eq(obligationEvents.agreementId, event.agreementId))
    const at = deps.clock.now().getTime()
    // Ids sort in timeline order within the agreement.
    await tx.insert(obligationEvents).values({ id: `${event.agreementId}#${String(Number(counted?.n ?? 0)).padStart(6, '0')}`, at, ...event })
  }

  return {
    /**
     * Records an agreement's duties (once: the caller holds the agreement's usage row lock): pending,
     * or acknowledged when the consumer has already verified the agreement (an agreement made before
     * duties were recorded at agreement time).
     */
    async record(tx: Db, agreement: Agreement): Promise<void> {
      const now = deps.clock.now().getTime()
      const status: ObligationStatus = verified.has(agreement.state) ? 'acknowledged' : 'pending'
      for (const o of obligationsOf(agreement)) {
        await tx
          .insert(agreementObligations)
          .values({ agreementId: agreement.id, ...o, status, reason: status === 'acknowledged' ? acknowledgedReason : null, createdAt: now, updatedAt: now })
          .onConflictDoNothing()
        const reason = `recorded with the agreement: ${o.text}${status === 'acknowledged' ? ` (${acknowledgedReason})` : ''}`
        // Recorded after the verification: the consumer acknowledged it by verifying the agreement.
        await append(tx, {
          agreementId: agreement.id,
          obligationId: o.obligationId,
          fromStatus: null,
          toStatus: status,
          actor: status === 'acknowledged' ? agreement.assignee : 'local',
          reason,
        })
      }
    },

    /**
     * The consumer verified the agreement: its pending duties become acknowledged, one timeline
     * entry each (recorded first if they were not).
     */
    async acknowledge(tx: Db, agreement: Agreement, actor: string): Promise<void> {
      await this.ensureRecorded(tx, agreement)
      await this.acknowledgeRecorded(tx, agreement.id, actor)
    },

    /** Pending duties already recorded for the agreement become acknowledged (one statement when there are none). */
    async acknowledgeRecorded(tx: Db, agreementId: string, actor: string): Promise<void> {
      const pending =
        tx === store.db
          ? await pendingStatement().execute({ agreementId })
          : await tx
              .select({ id: agreementObligations.obligationId })
              .from(agreementObligations)
              .where(and(eq(agreementObligations.agreementId, agreementId), eq(agreementObligations.status, 'pending')))
      for (const { id } of pending) await this.setStatus(tx, { agreementId, obligationId: id }, 'acknowledged', { actor, reason: acknowledgedReason })
    },

    async list(db: Db, agreementId: string): Promise<AgreementObligation[]> {
      const rows = await db
        .select()
        .from(agreementObligations)
        .where(eq(agreementObligations.agreementId, agreementId))
        .orderBy(asc(agreementObligations.createdAt), asc(agreementObligations.rule))
      return rows as AgreementObligation[]
    },

    /** Statuses by obligation id, as the policy decision takes them. */
    async statuses(db: Db, agreementId: string): Promise<Record<string, ObligationStatus>> {
      const rows = await db
        .select({ id: agreementObligations.obligationId, status: agreementObligations.status })
        .from(agreementObligations)
        .where(eq(agreementObligations.agreementId, agreementId))
      return Object.fromEntries(rows.map((r) => [r.id, r.status as ObligationStatus]))
    },

    /** Agreements in force (either role) whose obligations are not recorded yet: new since the last pass. */
    async unrecorded(db: Db, limit = 100): Promise<string[]> {
      const { agreements, negotiations, agreementUsage } = store.tables
      const rows = await db
        .select({ id: agreements.id })
        .from(agreements)
        .innerJoin(negotiations, eq(negotiations.id, agreements.negotiationId))
        .leftJoin(agreementUsage, eq(agreementUsage.agreementId, agreements.id))
        .where(and(eq(negotiations.state, 'FINALIZED'), or(isNull(agreementUsage.agreementId), eq(agreementUsage.obligationsRecorded, false))))
        .limit(limit)
      return rows.map((r) => r.id)
    },

    /** Records the agreement's duties unless they are (once, under the lock of its usage row). */
    async ensureRecorded(tx: Db, agreement: Agreement): Promise<void> {
      const usage = await counters.lock(tx, agreement.id)
      if (usage.obligationsRecorded) return
      await this.record(tx, agreement)
      await counters.markObligationsRecorded(tx, agreement.id)
    },

    /** Open (pending or acknowledged) duties the monitor decides, over all agreements. */
    async pendingChecked(db: Db): Promise<AgreementObligation[]> {
      const rows = await db
        .select()
        .from(agreementObligations)
        .where(and(inArray(agreementObligations.status, ['pending', 'acknowledged']), eq(agreementObligations.checkedBy, 'monitor')))
      return rows as AgreementObligation[]
    },

    /** Changes a status and appends the change to the timeline; resolves with the row (undefined when unknown). */
    async setStatus(
      tx: Db,
      key: { agreementId: string; obligationId: string },
      to: ObligationStatus,
      event: { actor: string; reason?: string | undefined },
    ): Promise<AgreementObligation | undefined> {
      const where = and(eq(agreementObligations.agreementId, key.agreementId), eq(agreementObligations.obligationId, key.obligationId))
      const [current] = await store.forUpdate(tx.select().from(agreementObligations).where(where))
      if (!current) return undefined
      await tx
        .update(agreementObligations)
        .set({ status: to, reason: event.reason ?? null, updatedAt: deps.clock.now().getTime() })
        .where(where)
      await append(tx, { ...key, fromStatus: current.status, toStatus: to, actor: event.actor, reason: event.reason ?? null })
      const violated = await tx
        .select({ id: agreementObligations.obligationId })
        .from(agreementObligations)
        .where(and(eq(agreementObligations.agreementId, key.agreementId), eq(agreementObligations.status, 'violated')))
      await counters.setViolated(
        tx,
        key.agreementId,
        violated.map((v) => v.id),
      )
      const [row] = await tx.select().from(agreementObligations).where(where)
      return row as AgreementObligation
    },

    async timeline(db: Db, agreementId: string): Promise<ObligationEvent[]> {
      return (await db
        .select()
        .from(obligationEvents)
        .where(eq(obligationEvents.agreementId, agreementId))
        .orderBy(asc(obligationEvents.id))) as ObligationEvent[]
    },
  }
}

export type ObligationRepository = ReturnType<typeof obligationRepository>

function dutyText(agreement: Agreement, duty: Rule): string {
  // The engine's own wording of the duty: a policy granting `use` with this one duty.
  const probe: PolicyModel = { uid: 'duty', type: 'Set', permissions: [{ action: 'use', constraints: [], duties: [duty] }], prohibitions: [], obligations: [] }
  const decision = evaluate(
    probe,
    { scope: 'catalog', action: 'use', assignee: agreement.assignee, credentials: [], now: agreement.signedAt },
    agreement.registry ? { registry: agreement.registry } : {},
  )
  return decision.obligations[0]?.text ?? shortName(duty.action)
}

function atomicOperands(constraints: Constraint[]): string[] {
  return constraints.flatMap((c) => (c.kind === 'atomic' ? [c.leftOperand] : atomicOperands(c.constraints)))
}

const shortName = (iri: string) => iri.replace(/^.*[/#:]/, '') || iri
