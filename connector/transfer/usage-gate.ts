import type { Clock } from '../clock.ts'
import type { IdSource } from '../ids.ts'
import type { Db, Store } from '../store/store.ts'
import { obligationRepository } from './obligations.ts'
import type { AgreementLookup, UsagePolicy } from './ports.ts'
import { usageRepository } from './usage-repository.ts'

export type AccessDecision = { allowed: true; accessCount: number } | { allowed: false; reason: string }

/**
 * The one place where an access under an agreement is decided and counted: at a transfer request,
 * at every pull and at every push. Everything is read through the caller's transaction `tx` (one
 * transaction, one connection): the agreement, its usage counter (locked until `tx` ends), the
 * status of its obligations. The first use of an agreement made before duties were recorded at
 * agreement time records them.
 */
export function usageGate(deps: { store: Store; clock: Clock; ids: IdSource; agreements: AgreementLookup; usage: UsagePolicy }) {
  const counters = usageRepository(deps.store, deps)
  const obligations = obligationRepository(deps.store, deps)
  return {
    /**
     * `counts`: whether this access is a new one (a continuation of a counted download is not).
     * `dryRun`: decide without counting (a transfer request, a HEAD).
     */
    async decide(tx: Db, input: { agreementId: string; requester: string; counts: boolean; dryRun?: boolean }): Promise<AccessDecision> {
      const agreement = await deps.agreements.find(input.agreementId, tx)
      if (agreement?.state !== 'FINALIZED') return { allowed: false, reason: `the agreement ${input.agreementId} is no longer in force` }
      // A counted access takes its count at once (one statement); a refusal gives it back below.
      const counting = input.counts && !input.dryRun
      const usage = counting ? await counters.take(tx, agreement.id) : await counters.lock(tx, agreement.id)
      if (!usage.obligationsRecorded) {
        await obligations.record(tx, agreement)
        await counters.markObligationsRecorded(tx, agreement.id)
      }
      const decision = deps.usage.check({
        agreement,
        scope: 'transfer',
        requester: input.requester,
        now: deps.clock.now(),
        accessCount: usage.count,
        counts: input.counts,
        // Every duty's recorded status: one not fulfilled or acknowledged blocks its permission.
        obligations: await obligations.statuses(tx, agreement.id),
      })
      if (!decision.allowed) {
        if (counting) await counters.giveBack(tx, agreement.id)
        return { allowed: false, reason: decision.reason }
      }
      return { allowed: true, accessCount: usage.count + (counting ? 1 : 0) }
    },
  }
}

export type UsageGate = ReturnType<typeof usageGate>
