import type { Builders } from '../dialect.ts'

/**
 * Transfer processes (one row per process and role), their timeline (append-only), and every access
 * to the data plane. Times are epoch milliseconds; sizes are byte counts.
 */
export const transferTables = (b: Builders) => ({
  transfers: b.table(
    'transfers',
    {
      /** Our own pid for this process: the providerPid when we are provider, the consumerPid when consumer. */
      id: b.text('id').primaryKey(),
      role: b.text('role').$type<'provider' | 'consumer'>().notNull(),
      providerPid: b.text('provider_pid'),
      consumerPid: b.text('consumer_pid').notNull(),
      agreementId: b.text('agreement_id').notNull(),
      datasetId: b.text('dataset_id'),
      /** The other participant's id. */
      counterpartyId: b.text('counterparty_id').notNull(),
      /** Where messages to the other side go: its callbackAddress (we provide) or its DSP base (we consume). */
      counterpartyAddress: b.text('counterparty_address').notNull(),
      format: b.text('format').notNull(),
      state: b.text('state').notNull(),
      /** Provider: the consumer's push address. Consumer: the pull address the provider sent. */
      dataAddress: b.json<unknown>('data_address'),
      /** Consumer: where received bytes are written. */
      outputPath: b.text('output_path'),
      size: b.bigint('size'),
      sha256: b.text('sha256'),
      bytesMoved: b.bigint('bytes_moved').notNull(),
      /** Counted accesses (downloads) under this transfer; the agreement's total is in agreement_usage. */
      accessCount: b.integer('access_count').notNull(),
      /** Bytes granted to pull accesses and not given back by a download cut short (decides what counts). */
      bytesGranted: b.bigint('bytes_granted').notNull().default(0),
      reason: b.text('reason'),
      createdAt: b.bigint('created_at').notNull(),
      updatedAt: b.bigint('updated_at').notNull(),
    },
    (t) => [
      b.uniqueIndex('transfers_role_consumer_pid').on(t.role, t.consumerPid),
      b.index('transfers_provider_pid').on(t.providerPid),
      b.index('transfers_state').on(t.state),
      // Lists are newest first: a page is read along this index, not sorted from the whole table.
      b.index('transfers_created').on(t.createdAt),
    ],
  ),
  transferEvents: b.table(
    'transfer_events',
    {
      id: b.text('id').primaryKey(),
      transferId: b.text('transfer_id').notNull(),
      at: b.bigint('at').notNull(),
      fromState: b.text('from_state'),
      toState: b.text('to_state').notNull(),
      /** The message or action that caused it, e.g. `TransferStartMessage`. */
      cause: b.text('cause').notNull(),
      /** Who: `peer`, `local`, `monitor`, `policy`, `data-plane`. */
      actor: b.text('actor').notNull(),
      reason: b.text('reason'),
      /** For a peer's message: the digest of its canonical content, to tell a repeat from a new message. */
      digest: b.text('digest'),
    },
    (t) => [b.index('transfer_events_transfer').on(t.transferId, t.at)],
  ),
  dataAccesses: b.table(
    'data_accesses',
    {
      id: b.text('id').primaryKey(),
      transferId: b.text('transfer_id').notNull(),
      at: b.bigint('at').notNull(),
      requester: b.text('requester'),
      range: b.text('range'),
      status: b.integer('status').notNull(),
      bytes: b.bigint('bytes').notNull(),
      /** Whether this access was counted against the agreement's usage. */
      counted: b.boolean('counted').notNull().default(false),
      reason: b.text('reason'),
    },
    (t) => [b.index('data_accesses_transfer').on(t.transferId, t.at)],
  ),
})
