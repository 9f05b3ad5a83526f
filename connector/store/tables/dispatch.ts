import type { Builders } from '../dialect.ts'

/** The outbox: messages to peers, delivered in order per process with bounded retries. */
export const dispatchTables = (b: Builders) => ({
  dispatches: b.table(
    'dispatches',
    {
      /** Sortable: delivery order within a process follows it. */
      id: b.text('id').primaryKey(),
      /** Which area handles the outcome (`negotiation`, `transfer`). */
      topic: b.text('topic').notNull(),
      processId: b.text('process_id').notNull(),
      url: b.text('url').notNull(),
      body: b.json<unknown>('body').notNull(),
      peerId: b.text('peer_id'),
      peerAddress: b.text('peer_address').notNull(),
      /** `pending`, `delivered`, `failed`, `cancelled`. */
      status: b.text('status').notNull(),
      attempts: b.integer('attempts').notNull(),
      maxAttempts: b.integer('max_attempts').notNull(),
      nextAttemptAt: b.bigint('next_attempt_at').notNull(),
      lastError: b.text('last_error'),
      createdAt: b.bigint('created_at').notNull(),
      updatedAt: b.bigint('updated_at').notNull(),
    },
    (t) => [b.index('dispatches_status_next').on(t.status, t.nextAttemptAt), b.index('dispatches_process').on(t.processId)],
  ),
})
