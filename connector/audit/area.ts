import { z } from 'zod'
import type { Area } from '../area.ts'
import type { Ctx } from '../context.ts'
import { ConfigError } from '../config/config.ts'
import { PasserelleError } from '../errors.ts'
import { parseInput } from '../http/validate.ts'
import { loadKeyRing } from '../identity/keys.ts'
import { createAuditTrail, type AuditSigner, type AuditTrail } from './audit-trail.ts'

/** Builds the audit trail from the configuration; it signs with the participant's key. */
export async function composeAuditTrail(ctx: Ctx): Promise<AuditTrail> {
  const { audit } = ctx.config
  let signer: AuditSigner | undefined
  try {
    const ring = await loadKeyRing({ root: ctx.config.root, keyFiles: ctx.config.identity.keyFiles })
    signer = { participantId: ctx.config.participant.id, key: ring.signing }
  } catch (error) {
    // A participant with static tokens may have no key: its trail is chained, not signed.
    if (!(error instanceof ConfigError) || ctx.identity?.mode === 'dcp') throw error
    ctx.logger.warn('audit checkpoints are not signed: the participant has no identity key', { reason: error.message })
  }
  return createAuditTrail({
    store: ctx.store,
    clock: ctx.clock,
    logger: ctx.logger.child({ area: 'audit' }),
    settings: {
      enabled: audit.enabled,
      checkpointEveryMs: audit.checkpointEveryMs,
      retentionMs: audit.retentionDays * 86_400_000,
      unverifiedPerMinute: audit.unverifiedPerMinute,
    },
    signer,
  })
}

export const AuditRecordView = z.object({
  seq: z.number(),
  at: z.string(),
  kind: z.string(),
  subjects: z.record(z.string(), z.string()),
  actor: z.string(),
  payload: z.record(z.string(), z.unknown()),
  payloadDigest: z.string(),
  prevHash: z.string(),
  hash: z.string(),
})

export const AuditHistoryView = z.object({ agreementId: z.string(), items: z.array(AuditRecordView) })

/** At most this many records per answer, oldest first (`passerelle audit export` gives the rest). */
const HistoryQuery = z.object({ limit: z.coerce.number().int().min(1).max(1000).default(1000) })

/** The audit area: an agreement's audit history in the management API, and the checkpoint timer. */
export const auditArea: Area = {
  name: 'audit',
  routes({ management, openapi }, ctx) {
    openapi.add({
      method: 'get',
      path: '/agreements/{id}/audit',
      summary: "An agreement's audit history: the chained records about it (its decision, signature, transfers and data accesses), oldest first",
      tags: ['negotiation'],
      params: z.object({ id: z.string() }),
      query: HistoryQuery,
      responses: { 200: { description: 'the records', schema: AuditHistoryView } },
    })
    management.get('/agreements/:id/audit', async (c) => {
      const id = c.req.param('id')
      if (!ctx.audit?.enabled) throw new PasserelleError('not_found', 'the audit trail is switched off (audit.enabled)')
      const { limit } = parseInput(HistoryQuery, c.req.query(), 'query')
      const records = await ctx.audit.agreementHistory(id, limit)
      if (records.length === 0) throw new PasserelleError('not_found', `no audit record names agreement ${id}`)
      return c.json({
        agreementId: id,
        items: records.map(({ agreementId: _a, ...r }) => ({ ...r, at: new Date(r.at).toISOString() })),
      })
    })
  },
  start(ctx) {
    return ctx.audit ? ctx.audit.start() : { stop: async () => {} }
  },
}
