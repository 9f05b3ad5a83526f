import type { Builders } from '../dialect.ts'

/**
 * Identity: the verifiable credentials this participant holds (served by its credential service),
 * the ids of tokens already accepted (replay protection, purged after the tokens expire), and the
 * status entries of peers' credentials verified here (re-checked by the policy monitor).
 * Times are epoch milliseconds.
 */
export const identityTables = (b: Builders) => ({
  heldCredentials: b.table(
    'held_credentials',
    {
      id: b.text('id').primaryKey(),
      /** The VC as received: a compact JWT (VC data model 1.1 JWT profile). */
      jwt: b.text('jwt').notNull(),
      /** e.g. ['VerifiableCredential', 'MembershipCredential'] */
      types: b.json<string[]>('types').notNull(),
      issuer: b.text('issuer').notNull(),
      subject: b.text('subject').notNull(),
      expiresAt: b.bigint('expires_at'),
      createdAt: b.bigint('created_at').notNull(),
    },
    (t) => [b.index('held_credentials_subject').on(t.subject)],
  ),
  seenTokens: b.table(
    'seen_tokens',
    {
      /** `<issuer> <jti>`: a jti is unique per issuer. */
      key: b.text('key').primaryKey(),
      expiresAt: b.bigint('expires_at').notNull(),
    },
    (t) => [b.index('seen_tokens_expires_at').on(t.expiresAt)],
  ),
  peerCredentialStatuses: b.table(
    'peer_credential_statuses',
    {
      /** `<participant id>\n<credential>`. */
      key: b.text('key').primaryKey(),
      participantId: b.text('participant_id').notNull(),
      /** The credential's id (or its types and subject when it has none). */
      credential: b.text('credential').notNull(),
      issuer: b.text('issuer').notNull(),
      types: b.json<string[]>('types').notNull(),
      /** Its status entries: `[{ purpose, index, url }]`. */
      status: b.json<Array<{ purpose: 'revocation' | 'suspension'; index: number; url: string }>>('status').notNull(),
      /** When the credential itself expires (then it needs no re-check). */
      expiresAt: b.bigint('expires_at'),
      verifiedAt: b.bigint('verified_at').notNull(),
    },
    (t) => [b.index('peer_credential_statuses_participant').on(t.participantId)],
  ),
})
