import type { Builders } from '../dialect.ts'

/**
 * Contract negotiations (one row per process, either role), their append-only timeline, and the
 * agreements they produced.
 */
export const negotiationTables = (b: Builders) => ({
  negotiations: b.table(
    'negotiations',
    {
      /** Our own pid: providerPid when we are the provider, consumerPid when we are the consumer. */
      id: b.text('id').primaryKey(),
      role: b.text('role').$type<'provider' | 'consumer'>().notNull(),
      providerPid: b.text('provider_pid'),
      consumerPid: b.text('consumer_pid'),
      state: b.text('state').notNull(),
      /** The peer's participant id; messages about this process are only taken from it. */
      counterpartyId: b.text('counterparty_id'),
      /** Where messages to the peer go: its callback address (provider role) or DSP base (consumer role). */
      counterpartyAddress: b.text('counterparty_address').notNull(),
      datasetId: b.text('dataset_id').notNull(),
      offerId: b.text('offer_id').notNull(),
      /** The offer last exchanged (with its target). */
      offer: b.json<Record<string, unknown>>('offer').notNull(),
      agreementId: b.text('agreement_id'),
      /** `auto` decides by itself; `manual` holds offers and agreements for approval. */
      mode: b.text('mode').$type<'auto' | 'manual'>().notNull(),
      /** Set while a received offer or agreement waits for a person's approval. */
      pending: b.text('pending'),
      reason: b.text('reason'),
      createdAt: b.bigint('created_at').notNull(),
      updatedAt: b.bigint('updated_at').notNull(),
      version: b.integer('version').notNull(),
    },
    (t) => [
      b.uniqueIndex('negotiations_role_consumer_pid').on(t.role, t.counterpartyId, t.consumerPid),
      b.index('negotiations_state').on(t.state),
      // A peer's open negotiations are counted at each new one (negotiation.maxOpenPerPeer).
      b.index('negotiations_peer_state').on(t.counterpartyId, t.state),
      b.index('negotiations_dataset').on(t.datasetId),
      // Lists are newest first: a page is read along this index, not sorted from the whole table.
      b.index('negotiations_created').on(t.createdAt),
    ],
  ),
  negotiationEvents: b.table(
    'negotiation_events',
    {
      negotiationId: b.text('negotiation_id').notNull(),
      seq: b.integer('seq').notNull(),
      at: b.bigint('at').notNull(),
      /** The message kind, or a local action (`decision`, `dispatch-failed`, `approved`, …). */
      kind: b.text('kind').notNull(),
      direction: b.text('direction').notNull(),
      /** Who caused it: a participant id, `local`, `management`. */
      actor: b.text('actor').notNull(),
      fromState: b.text('from_state'),
      toState: b.text('to_state').notNull(),
      reason: b.text('reason'),
      detail: b.json<Record<string, unknown>>('detail'),
    },
    (t) => [b.primaryKey({ columns: [t.negotiationId, t.seq] })],
  ),
  agreements: b.table(
    'agreements',
    {
      id: b.text('id').primaryKey(),
      negotiationId: b.text('negotiation_id').notNull(),
      role: b.text('role').$type<'provider' | 'consumer'>().notNull(),
      datasetId: b.text('dataset_id').notNull(),
      assigner: b.text('assigner').notNull(),
      assignee: b.text('assignee').notNull(),
      body: b.json<Record<string, unknown>>('body').notNull(),
      signedAt: b.bigint('signed_at').notNull(),
    },
    (t) => [b.index('agreements_negotiation').on(t.negotiationId), b.index('agreements_dataset').on(t.datasetId)],
  ),
})
