import type { Agreement, UsagePolicy } from '../transfer/ports.ts'
import type { TransferRecord } from '../transfer/repository.ts'
import { act, repo, type TransferCtx } from '../transfer/service.ts'

/**
 * The policy monitor: a loop that terminates the transfers we provide whose agreement stopped
 * holding (an end date passed, a count is used up, the agreement is gone), with the reason on both
 * sides. Terminating is what revokes their data tokens: every access re-checks the state.
 */

/** Pure: which running transfers must end, and why. */
export function lapsedTransfers(input: {
  transfers: TransferRecord[]
  agreements: Map<string, Agreement | undefined>
  usage: UsagePolicy
  now: Date
}): Array<{ transfer: TransferRecord; reason: string }> {
  const out: Array<{ transfer: TransferRecord; reason: string }> = []
  for (const transfer of input.transfers) {
    if (transfer.role !== 'provider' || (transfer.state !== 'STARTED' && transfer.state !== 'SUSPENDED')) continue
    const agreement = input.agreements.get(transfer.agreementId)
    if (!agreement || agreement.state !== 'FINALIZED') {
      out.push({ transfer, reason: `the agreement ${transfer.agreementId} is no longer in force` })
      continue
    }
    const decision = input.usage.check({ agreement, scope: 'monitor', requester: transfer.counterpartyId, now: input.now, accessCount: transfer.accessCount })
    if (!decision.allowed) out.push({ transfer, reason: decision.reason })
  }
  return out
}

export interface PolicyMonitor {
  /** One pass; resolves with the transfers it terminated. */
  runOnce(): Promise<Array<{ id: string; reason: string }>>
  stop(): Promise<void>
}

export function startPolicyMonitor(options: { ctx: TransferCtx; intervalMs?: number; autoStart?: boolean }): PolicyMonitor {
  const { ctx } = options
  const intervalMs = options.intervalMs ?? 30_000
  let running: Promise<unknown> | undefined
  let timer: NodeJS.Timeout | undefined
  let stopped = false

  async function runOnce() {
    const transfers = [
      ...(await repo(ctx).list(ctx.store.db, { role: 'provider', state: 'STARTED', limit: 10_000 })),
      ...(await repo(ctx).list(ctx.store.db, { role: 'provider', state: 'SUSPENDED', limit: 10_000 })),
    ]
    const agreements = new Map<string, Agreement | undefined>()
    for (const t of transfers) if (!agreements.has(t.agreementId)) agreements.set(t.agreementId, await ctx.agreements.find(t.agreementId))
    const lapsed = lapsedTransfers({ transfers, agreements, usage: ctx.usage, now: ctx.clock.now() })
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
