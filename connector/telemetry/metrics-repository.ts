import { and, count, eq, isNotNull, min } from 'drizzle-orm'
import type { Store } from '../store/store.ts'

/** What the scrape reads from the database: counts by state and the oldest times that matter. */
export function metricsRepository(store: Store) {
  const { negotiations, transfers, dispatches, federationPeers, heldCredentials } = store.tables
  const db = store.db
  return {
    negotiationsByState: () =>
      db.select({ role: negotiations.role, state: negotiations.state, n: count() }).from(negotiations).groupBy(negotiations.role, negotiations.state),
    transfersByState: () => db.select({ role: transfers.role, state: transfers.state, n: count() }).from(transfers).groupBy(transfers.role, transfers.state),
    async outbox() {
      const [row] = await db
        .select({ n: count(), oldest: min(dispatches.createdAt) })
        .from(dispatches)
        .where(eq(dispatches.status, 'pending'))
      return { pending: Number(row?.n ?? 0), oldest: row?.oldest == null ? undefined : Number(row.oldest) }
    },
    async oldestCrawl() {
      const [row] = await db.select({ peers: count(), oldest: min(federationPeers.lastSuccessAt) }).from(federationPeers)
      return { peers: Number(row?.peers ?? 0), oldest: row?.oldest == null ? undefined : Number(row.oldest) }
    },
    async firstCredentialExpiry() {
      const [row] = await db
        .select({ first: min(heldCredentials.expiresAt) })
        .from(heldCredentials)
        .where(and(isNotNull(heldCredentials.expiresAt)))
      return row?.first == null ? undefined : Number(row.first)
    },
  }
}
