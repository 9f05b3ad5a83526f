import { Hono } from 'hono'
import { z } from 'zod'
import { policyPhrase } from '../../policies/index.ts'
import { PasserelleError } from '../errors.ts'
import type { AppEnv } from '../http/env.ts'
import { parseInput, parseJsonBody } from '../http/validate.ts'
import type { OpenApiRegistry } from '../management/openapi.ts'
import { obligationRepository, obligationStatuses, policyLabel, policyName, type AgreementObligation, type ObligationEvent } from './obligations.ts'
import { act, gate, repo, type TransferCtx } from './service.ts'
import { usageRepository } from './usage-repository.ts'

/**
 * `/management/v1/agreements/:id/obligations`: the duties an agreement binds its consumer to, with
 * their status and timeline; the operator marks them acknowledged, fulfilled, violated or pending again. Marking
 * a duty violated ends the running transfers we provide under the agreement, with the reason.
 */
const Params = z.object({ id: z.string().min(1).max(512) })
const ObligationParams = Params.extend({ obligationId: z.string().min(1).max(512) })
export const MarkObligation = z
  .object({
    status: z.enum(obligationStatuses),
    /** Why, in a sentence (kept in the timeline). */
    reason: z.string().min(1).max(2000).optional(),
  })
  .strict()

export const ObligationView = z.object({
  id: z.string(),
  action: z.string(),
  rule: z.string(),
  text: z.string(),
  checkedBy: z.enum(['monitor', 'operator']),
  status: z.enum(obligationStatuses),
  reason: z.string().nullable(),
  updatedAt: z.string(),
})
const EventView = z.object({
  at: z.string(),
  obligationId: z.string(),
  fromStatus: z.string().nullable(),
  toStatus: z.string(),
  actor: z.string(),
  reason: z.string().nullable(),
})
const ListView = z.object({
  agreementId: z.string(),
  policy: z.string(),
  accessCount: z.number(),
  items: z.array(ObligationView),
  timeline: z.array(EventView),
})

const view = (o: AgreementObligation) => ({
  id: o.obligationId,
  action: o.action,
  rule: o.rule,
  text: o.text,
  checkedBy: o.checkedBy,
  status: o.status,
  reason: o.reason,
  updatedAt: new Date(o.updatedAt).toISOString(),
})
const eventView = (e: ObligationEvent) => ({
  at: new Date(e.at).toISOString(),
  obligationId: e.obligationId,
  fromStatus: e.fromStatus,
  toStatus: e.toStatus,
  actor: e.actor,
  reason: e.reason,
})

export function obligationRoutes(deps: { ctx: TransferCtx; openapi?: OpenApiRegistry }) {
  const { ctx } = deps
  const duties = obligationRepository(ctx.store, ctx)
  const counters = usageRepository(ctx.store, ctx)
  const app = new Hono<AppEnv>()

  /** The agreement, its obligations recorded (the first use of an agreement records them). */
  const load = async (id: string) => {
    const agreement = await ctx.agreements.find(id)
    if (!agreement) throw new PasserelleError('not_found', `no agreement ${id}`)
    await ctx.store.transaction((tx) => duties.ensureRecorded(tx, agreement))
    return agreement
  }

  app.get('/agreements/:id/obligations', async (c) => {
    const { id } = parseInput(Params, c.req.param(), 'path')
    const agreement = await load(id)
    const [items, timeline, accessCount] = [
      await duties.list(ctx.store.db, id),
      await duties.timeline(ctx.store.db, id),
      await counters.count(ctx.store.db, id),
    ]
    return c.json({
      agreementId: id,
      policy: policyName(agreement),
      ...(agreement.policyTitle ? { policyTitle: agreement.policyTitle } : {}),
      accessCount,
      items: items.map(view),
      timeline: timeline.map(eventView),
    })
  })

  app.post('/agreements/:id/obligations/:obligationId', async (c) => {
    const { id, obligationId } = parseInput(ObligationParams, c.req.param(), 'path')
    const input = await parseJsonBody(c, MarkObligation)
    const agreement = await load(id)
    const reason = input.reason ?? `marked ${input.status} by the operator`
    const updated = await ctx.store.transaction((tx) => duties.setStatus(tx, { agreementId: id, obligationId }, input.status, { actor: 'management', reason }))
    if (!updated) throw new PasserelleError('not_found', `agreement ${id} has no obligation ${obligationId}`)
    ctx.logger.info('obligation marked', { agreementId: id, obligationId, status: input.status, reason })
    if (input.status === 'violated')
      await endTransfersOf(agreement.id, `the duty \`${obligationId}\` of ${policyPhrase(policyLabel(agreement))} (${updated.text}) was violated: ${reason}`)
    return c.json(view(updated))
  })

  /** Ends the transfers we provide under the agreement that its policy no longer permits. */
  async function endTransfersOf(agreementId: string, reason: string) {
    const running = [
      ...(await repo(ctx).list(ctx.store.db, { role: 'provider', state: 'STARTED', limit: 10_000 })),
      ...(await repo(ctx).list(ctx.store.db, { role: 'provider', state: 'SUSPENDED', limit: 10_000 })),
    ].filter((t) => t.agreementId === agreementId)
    for (const t of running) {
      // Only when the policy says the duty voids what permits the transfer (a dry run decides).
      const decision = await ctx.store.transaction((tx) => gate(ctx).decide(tx, { agreementId, requester: t.counterpartyId, counts: false, dryRun: true }))
      if (decision.allowed) continue
      await act({ ctx, input: { id: t.id, action: 'terminate', actor: 'policy', reason } }).catch((error) =>
        ctx.logger.debug('could not terminate a transfer', { transferId: t.id, error }),
      )
    }
  }

  if (deps.openapi) {
    const tags = ['agreements']
    deps.openapi.add({
      method: 'get',
      path: '/agreements/{id}/obligations',
      summary: "An agreement's obligations (duties of its consumer) with their status and timeline, and its usage count",
      tags,
      params: Params,
      responses: { 200: { description: 'the obligations', schema: ListView } },
    })
    deps.openapi.add({
      method: 'post',
      path: '/agreements/{id}/obligations/{obligationId}',
      summary: 'Mark an obligation acknowledged, fulfilled, violated or pending; violated ends the transfers it no longer permits',
      tags,
      params: ObligationParams,
      body: MarkObligation,
      responses: { 200: { description: 'the obligation', schema: ObligationView } },
    })
  }
  return app
}
