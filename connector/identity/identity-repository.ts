import { and, eq, inArray, isNotNull, lt, sql } from 'drizzle-orm'
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

/** A peer's credential verified here that has a status, kept for re-checks. */
export interface PeerCredentialStatusRow {
  participantId: string
  credential: string
  issuer: string
  types: string[]
  status: Array<{ purpose: 'revocation' | 'suspension'; index: number; url: string }>
  expiresAt: number | null
  verifiedAt: number
}

/** The identity area's reads and writes: held credentials, the seen-token (replay) store, peers' credential statuses. */
export function identityRepository(store: Store) {
  const { heldCredentials, seenTokens, peerCredentialStatuses } = store.tables
  return {
    /**
     * Records the status entries of the credentials a peer just presented for `types`, in place of
     * those it presented for these types before (a credential re-issued after a revocation replaces
     * the revoked one, whose status no longer speaks for the peer).
     */
    async replacePeerStatuses(participantId: string, types: string[], rows: PeerCredentialStatusRow[]): Promise<void> {
      await store.transaction(async (tx) => {
        const before = await tx
          .select({ key: peerCredentialStatuses.key, types: peerCredentialStatuses.types })
          .from(peerCredentialStatuses)
          .where(eq(peerCredentialStatuses.participantId, participantId))
        const replaced = before.filter((row) => row.types.some((type) => types.includes(type))).map((row) => row.key)
        if (replaced.length > 0) await tx.delete(peerCredentialStatuses).where(inArray(peerCredentialStatuses.key, replaced))
        for (const row of rows) {
          await tx
            .insert(peerCredentialStatuses)
            .values({ key: `${row.participantId}\n${row.credential}`, ...row })
            .onConflictDoUpdate({ target: peerCredentialStatuses.key, set: row })
        }
      })
    },
    /** Forgets statuses of credentials that have expired (an expired credential is refused anyway). */
    async purgePeerStatuses(now: number): Promise<void> {
      await store.db.delete(peerCredentialStatuses).where(and(isNotNull(peerCredentialStatuses.expiresAt), lt(peerCredentialStatuses.expiresAt, now)))
    },
    /** The statuses of a peer's credentials that have not expired at `now`. */
    async peerStatuses(participantId: string, now: number): Promise<PeerCredentialStatusRow[]> {
      const rows = await store.db.select().from(peerCredentialStatuses).where(eq(peerCredentialStatuses.participantId, participantId))
      return rows.filter((row) => row.expiresAt === null || row.expiresAt > now).map(({ key: _key, ...row }) => row)
    },
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
      const inserted = await store.db.insert(seenTokens).values({ key, expiresAt }).onConflictDoNothing().returning({ key: seenTokens.key })
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
