import type { Builders } from '../dialect.ts'

/**
 * What an agreement has been used for and what it binds its consumer to: one usage counter row per
 * agreement (shared by every transfer under it, updated under a row lock), the agreement's
 * obligations with their status, and the append-only timeline of their changes.
 */
export const usageTables = (b: Builders) => ({
  agreementUsage: b.table('agreement_usage', {
    agreementId: b.text('agreement_id').primaryKey(),
    /** Granted accesses under the agreement, over all its transfers (see docs: what counts). */
    accessCount: b.integer('access_count').notNull(),
    /** Set once the agreement's obligations were read from its policy and recorded (with the row, once). */
    obligationsRecorded: b.boolean('obligations_recorded').notNull().default(false),
    /** Ids of its obligations now violated (kept with the counter so one locked read decides an access). */
    violatedObligations: b.json<string[]>('violated_obligations').notNull().default([]),
    updatedAt: b.bigint('updated_at').notNull(),
  }),
  agreementObligations: b.table(
    'agreement_obligations',
    {
      agreementId: b.text('agreement_id').notNull(),
      /** Stable within the agreement: the duty's `@id`, or its place in the policy (`permission-1-duty-1`). */
      obligationId: b.text('obligation_id').notNull(),
      /** The duty's action, e.g. `attribute`, `delete`, `compensate`. */
      action: b.text('action').notNull(),
      /** Where it comes from in the policy, e.g. `permission 1 (use), duty 1`. */
      rule: b.text('rule').notNull(),
      /** The duty in plain language. */
      text: b.text('text').notNull(),
      constraints: b.json<unknown[]>('constraints').notNull(),
      /** Whether the connector decides it itself (deadlines, counts) or a person marks it. */
      checkedBy: b.text('checked_by').$type<'monitor' | 'operator'>().notNull(),
      status: b.text('status').$type<'pending' | 'acknowledged' | 'fulfilled' | 'violated'>().notNull(),
      reason: b.text('reason'),
      createdAt: b.bigint('created_at').notNull(),
      updatedAt: b.bigint('updated_at').notNull(),
    },
    (t) => [b.primaryKey({ columns: [t.agreementId, t.obligationId] }), b.index('agreement_obligations_status').on(t.status)],
  ),
  obligationEvents: b.table(
    'obligation_events',
    {
      id: b.text('id').primaryKey(),
      agreementId: b.text('agreement_id').notNull(),
      obligationId: b.text('obligation_id').notNull(),
      at: b.bigint('at').notNull(),
      fromStatus: b.text('from_status'),
      toStatus: b.text('to_status').notNull(),
      /** `local` (recorded with the agreement), `management` (the operator), `monitor`. */
      actor: b.text('actor').notNull(),
      reason: b.text('reason'),
    },
    (t) => [b.index('obligation_events_agreement').on(t.agreementId, t.at)],
  ),
})
