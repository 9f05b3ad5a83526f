import type { Builders } from '../dialect.ts'

/**
 * The outbox: messages to peers (and local steps), delivered in order per process with retries
 * within a window. A worker claims a row with a lease (owner, token, expiry) before it runs it;
 * the outcome is written only while the lease is still its own.
 */
export const dispatchTables = (b: Builders) => ({
  dispatches: b.table(
    'dispatches',
    {
      /** Sortable: delivery order within a process follows it. */
      id: b.text('id').primaryKey(),
      /** Which area handles the outcome (`negotiation`, `transfer`). */
      topic: b.text('topic').notNull(),
      /** `message` (sent to `url`) or `step` (a local step the topic handler runs; no URL). */
      kind: b.text('kind').notNull().default('message'),
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
      /** The replica running it now; null when nobody does. */
      leaseOwner: b.text('lease_owner'),
      /** Fencing token of the current claim: an outcome is recorded only under the same token. */
      leaseToken: b.text('lease_token'),
      /** Epoch milliseconds; past it, another replica may take the row over. */
      leaseUntil: b.bigint('lease_until'),
      /** Epoch milliseconds: no retry is scheduled past it (the retry window ends). */
      retryUntil: b.bigint('retry_until'),
      /** The W3C `traceparent` the row was written in: its delivery or step continues that trace. */
      traceparent: b.text('traceparent'),
      createdAt: b.bigint('created_at').notNull(),
      updatedAt: b.bigint('updated_at').notNull(),
    },
    (t) => [b.index('dispatches_status_next').on(t.status, t.nextAttemptAt), b.index('dispatches_process').on(t.processId)],
  ),
})
