import { and, eq, lt, sql } from 'drizzle-orm'
import type { Store } from '../store/store.ts'

export interface HeldCredentialRow {
  id: string
  jwt: string
  types: string[]
  issuer: string
  subject: string
  expiresAt: number | null
  createdAt: number
}

/** The identity area's reads and writes: held credentials and the seen-token (replay) store. */
export function identityRepository(store: Store) {
  const { heldCredentials, seenTokens } = store.tables
  return {
    async listCredentials(): Promise<HeldCredentialRow[]> {
      return store.db.select().from(heldCredentials).orderBy(heldCredentials.createdAt, heldCredentials.id)
    },
    async addCredential(row: HeldCredentialRow): Promise<void> {
      await store.db.insert(heldCredentials).values(row)
    },
    /** True when a credential was removed. */
    async deleteCredential(id: string): Promise<boolean> {
      const removed = await store.db.delete(heldCredentials).where(eq(heldCredentials.id, id)).returning({ id: heldCredentials.id })
      return removed.length > 0
    },
    async hasSeenToken(key: string, now: number): Promise<boolean> {
      const rows = await store.db
        .select({ key: seenTokens.key })
        .from(seenTokens)
        .where(and(eq(seenTokens.key, key), sql`${seenTokens.expiresAt} >= ${now}`))
      return rows.length > 0
    },
    /**
     * Records a token id; false when it was already recorded (a replay). The insert is atomic, so two
     * concurrent requests with one token cannot both pass.
     */
    async recordToken(key: string, expiresAt: number): Promise<boolean> {
      const inserted = await store.db
        .insert(seenTokens)
        .values({ key, expiresAt })
        .onConflictDoNothing()
        .returning({ key: seenTokens.key })
      return inserted.length > 0
    },
    /** Forgets token ids whose tokens have expired (they can no longer be replayed). */
    async purgeTokens(now: number): Promise<number> {
      const removed = await store.db.delete(seenTokens).where(lt(seenTokens.expiresAt, now)).returning({ key: seenTokens.key })
      return removed.length
    },
    async countTokens(): Promise<number> {
      const [row] = await store.db.select({ n: sql<number>`count(*)` }).from(seenTokens)
      return Number(row?.n ?? 0)
    },
  }
}

export type IdentityRepository = ReturnType<typeof identityRepository>
