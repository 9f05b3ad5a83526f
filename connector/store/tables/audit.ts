import type { Builders } from '../dialect.ts'

/**
 * The audit trail: one hash chain of records (each names the hash of the one before), the chain's
 * head (one row, locked by every append so that replicas on one database extend one chain), and
 * checkpoints signed with the participant's key (verification may start from one after pruning).
 */
export const auditTables = (b: Builders) => ({
  auditRecords: b.table(
    'audit_records',
    {
      seq: b.integer('seq').primaryKey(),
      at: b.bigint('at').notNull(),
      /** What happened: `negotiation.agreement`, `agreement`, `transfer.start`, `data.access`, `identity.refused`, `management.action`, … */
      kind: b.text('kind').notNull(),
      /** The ids it is about (negotiation, agreement, transfer, participant). */
      subjects: b.json<Record<string, string>>('subjects').notNull(),
      /** The agreement it belongs to, if any (indexed for an agreement's history). */
      agreementId: b.text('agreement_id'),
      /** Who caused it: a participant id, `local`, or `management:<key id>`. */
      actor: b.text('actor').notNull(),
      payload: b.json<Record<string, unknown>>('payload').notNull(),
      payloadDigest: b.text('payload_digest').notNull(),
      prevHash: b.text('prev_hash').notNull(),
      hash: b.text('hash').notNull(),
    },
    (t) => [b.index('audit_records_agreement').on(t.agreementId), b.index('audit_records_at').on(t.at)],
  ),
  auditHead: b.table('audit_head', {
    id: b.integer('id').primaryKey(),
    seq: b.integer('seq').notNull(),
    hash: b.text('hash').notNull(),
  }),
  auditCheckpoints: b.table('audit_checkpoints', {
    seq: b.integer('seq').primaryKey(),
    at: b.bigint('at').notNull(),
    hash: b.text('hash').notNull(),
    /** Compact JWS over `{ seq, hash, at, participant }`, signed with the participant's key. */
    signature: b.text('signature').notNull(),
  }),
})
