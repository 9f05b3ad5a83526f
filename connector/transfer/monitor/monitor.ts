import { brokenDuty, obligationRepository, type ObligationStatus } from '../obligations.ts'
import type { Agreement, UsagePolicy } from '../ports.ts'
import type { TransferRecord } from '../repository.ts'
import { act, repo, type TransferCtx } from '../service.ts'
import { usageRepository } from '../usage-repository.ts'

/**
 * The policy monitor: a loop that records the obligations of new agreements, marks violated the
 * duties it can decide itself (a deadline passed, a count exceeded), then terminates the transfers
 * we provide whose agreement stopped holding (an end date passed, a count is used up, a duty was
 * violated, the agreement is gone), with the reason on both sides. Terminating is what revokes their
 * data tokens: every access re-checks the state.
 */

/** Pure: which running transfers must end, and why. */
export function lapsedTransfers(input: {
  transfers: TransferRecord[]
  agreements: Map<string, Agreement | undefined>
  /** Accesses counted under each agreement (0 when absent). */
  counts?: Map<string, number>
  /** The status of each agreement's obligations. */
  obligations?: Map<string, Record<string, ObligationStatus>>
  usage: UsagePolicy
  now: Date
}): Array<{ transfer: TransferRecord; reason: string }> {
  const out: Array<{ transfer: TransferRecord; reason: string }> = []
  for (const transfer of input.transfers) {
    if (transfer.role !== 'provider' || (transfer.state !== 'STARTED' && transfer.state !== 'SUSPENDED')) continue
    const agreement = input.agreements.get(transfer.agreementId)
    if (agreement?.state !== 'FINALIZED') {
      out.push({ transfer, reason: `the agreement ${transfer.agreementId} is no longer in force` })
      continue
    }
    const obligations = input.obligations?.get(agreement.id)
    const decision = input.usage.check({
      agreement,
      scope: 'monitor',
      requester: transfer.counterpartyId,
      now: input.now,
      accessCount: input.counts?.get(agreement.id) ?? 0,
      ...(obligations ? { obligations } : {}),
    })
    if (!decision.allowed) out.push({ transfer, reason: decision.reason })
  }
  return out
}

export interface PolicyMonitor {
  /** One pass; resolves with the transfers it terminated. */
  runOnce(): Promise<Array<{ id: string; reason: string }>>
  stop(): Promise<void>
}

/** Re-checks the credentials verified for a participant (their status lists); the reason one no longer holds. */
export type CredentialRecheck = (participantId: string) => Promise<string | undefined>

export function startPolicyMonitor(options: { ctx: TransferCtx; intervalMs?: number; autoStart?: boolean; credentials?: CredentialRecheck }): PolicyMonitor {
  const { ctx } = options
  const intervalMs = options.intervalMs ?? 30_000
  let running: Promise<unknown> | undefined
  let timer: NodeJS.Timeout | undefined
  let stopped = false

  const counters = usageRepository(ctx.store, ctx)
  const duties = obligationRepository(ctx.store, ctx)

  /** Records the obligations of agreements made since the last pass. */
  async function recordNewAgreements() {
    for (const id of await duties.unrecorded(ctx.store.db)) {
      const agreement = await ctx.agreements.find(id)
      if (agreement?.state !== 'FINALIZED') continue
      await ctx.store.transaction((tx) => duties.ensureRecorded(tx, agreement))
    }
  }

  /** Marks violated the pending duties the connector decides whose conditions no longer hold. */
  async function checkDuties() {
    for (const obligation of await duties.pendingChecked(ctx.store.db)) {
      const agreement = await ctx.agreements.find(obligation.agreementId)
      if (!agreement) continue
      const reason = brokenDuty({ agreement, obligation, now: ctx.clock.now(), accessCount: await counters.count(ctx.store.db, agreement.id) })
      if (!reason) continue
      await ctx.store.transaction((tx) => duties.setStatus(tx, obligation, 'violated', { actor: 'monitor', reason }))
      ctx.logger.info('obligation violated', { agreementId: agreement.id, obligationId: obligation.obligationId, reason })
    }
  }

  async function runOnce() {
    await recordNewAgreements()
    await checkDuties()
    const transfers = [
      ...(await repo(ctx).list(ctx.store.db, { role: 'provider', state: 'STARTED', limit: 10_000 })),
      ...(await repo(ctx).list(ctx.store.db, { role: 'provider', state: 'SUSPENDED', limit: 10_000 })),
    ]
    const agreements = new Map<string, Agreement | undefined>()
    const counts = new Map<string, number>()
    const obligations = new Map<string, Record<string, ObligationStatus>>()
    for (const t of transfers) {
      if (agreements.has(t.agreementId)) continue
      agreements.set(t.agreementId, await ctx.agreements.find(t.agreementId))
      counts.set(t.agreementId, await counters.count(ctx.store.db, t.agreementId))
      obligations.set(t.agreementId, await duties.statuses(ctx.store.db, t.agreementId))
    }
    const lapsed = lapsedTransfers({ transfers, agreements, counts, obligations, usage: ctx.usage, now: ctx.clock.now() })
    if (options.credentials) lapsed.push(...(await withdrawnCredentials(transfers, lapsed, options.credentials)))
    const done: Array<{ id: string; reason: string }> = []
    for (const { transfer, reason } of lapsed) {
      try {
        await act({ ctx, input: { id: transfer.id, action: 'terminate', actor: 'monitor', reason } })
        done.push({ id: transfer.id, reason })
        ctx.logger.info('transfer terminated by the policy monitor', { transferId: transfer.id, reason })
      } catch (error) {
        // Another path may have ended it in the meantime; the next pass sees the truth.
        ctx.logger.debug('monitor could not terminate a transfer', { transferId: transfer.id, error })
      }
    }
    return done
  }

  /** Running transfers whose counterparty's credentials were revoked or suspended since they were verified. */
  async function withdrawnCredentials(transfers: TransferRecord[], lapsed: Array<{ transfer: TransferRecord }>, recheck: CredentialRecheck) {
    const ending = new Set(lapsed.map(({ transfer }) => transfer.id))
    const reasons = new Map<string, string | undefined>()
    const out: Array<{ transfer: TransferRecord; reason: string }> = []
    for (const transfer of transfers) {
      if (ending.has(transfer.id)) continue
      if (!reasons.has(transfer.counterpartyId)) reasons.set(transfer.counterpartyId, await recheck(transfer.counterpartyId).catch(() => undefined))
      const why = reasons.get(transfer.counterpartyId)
      if (why) out.push({ transfer, reason: `a credential of ${transfer.counterpartyId} no longer holds: ${why}` })
    }
    return out
  }

  const tick = () => {
    if (stopped) return
    running = runOnce()
      .catch((error) => ctx.logger.warn('policy monitor pass failed', { error }))
      .finally(() => {
        running = undefined
        if (!stopped) {
          timer = setTimeout(tick, intervalMs)
          timer.unref?.()
        }
      })
  }
  if (options.autoStart !== false) {
    timer = setTimeout(tick, intervalMs)
    timer.unref?.()
  }

  return {
    runOnce,
    async stop() {
      stopped = true
      if (timer) clearTimeout(timer)
      await running
    },
  }
}
