import { and, eq } from 'drizzle-orm'
import { evaluate, policyFromOdrl, type Registry } from '../../policies/index.ts'
import { catalogServiceFor } from '../catalog/routes.ts'
import type { Ctx } from '../context.ts'
import { PasserelleError } from '../errors.ts'
import type { Store } from '../store/store.ts'
import type { Agreement, AgreementLookup, DataSource, DistributionSource, UsagePolicy } from './ports.ts'

/**
 * The real collaborators of the transfer area: agreements as the negotiation area stores them, the
 * policy engine, and the catalog's distributions.
 */

/** Agreements from the negotiation tables; the negotiation's state tells whether it is FINALIZED. */
export function storedAgreements(
  store: Store,
  /** The stewards' operand registry (loaded with their policy folder), attached to each agreement. */
  registryOf: () => Promise<Registry | undefined> = async () => undefined,
): AgreementLookup & {
  /** For a consumer: the provider to ask, from the negotiation that produced the agreement. */
  providerOf(agreementId: string): Promise<{ providerId: string; providerAddress: string; datasetId: string } | undefined>
} {
  const { agreements, negotiations } = store.tables
  const row = async (id: string) => {
    const [found] = await store.db
      .select({ agreement: agreements, state: negotiations.state, offerId: negotiations.offerId })
      .from(agreements)
      .innerJoin(negotiations, eq(negotiations.id, agreements.negotiationId))
      .where(eq(agreements.id, id))
    return found
  }
  return {
    async find(id) {
      const found = await row(id)
      if (!found) return undefined
      const a = found.agreement
      const registry = await registryOf().catch(() => undefined)
      return { id: a.id, state: found.state, assigner: a.assigner, assignee: a.assignee, target: a.datasetId, signedAt: new Date(a.signedAt), policy: a.body, offerId: found.offerId, registry }
    },
    async providerOf(id) {
      const [found] = await store.db
        .select({ agreement: agreements, state: negotiations.state, counterpartyId: negotiations.counterpartyId, counterpartyAddress: negotiations.counterpartyAddress })
        .from(agreements)
        .innerJoin(negotiations, eq(negotiations.id, agreements.negotiationId))
        .where(and(eq(agreements.id, id), eq(agreements.role, 'consumer')))
      if (!found || found.state !== 'FINALIZED' || !found.counterpartyId) return undefined
      return { providerId: found.counterpartyId, providerAddress: found.counterpartyAddress, datasetId: found.agreement.datasetId }
    },
  }
}

/**
 * The agreement's ODRL policy evaluated by the policy engine, with the operand registry the
 * agreement carries (the stewards' `registry.yaml` operands included). Anything it cannot read or
 * decide is a refusal carrying the engine's words (unknown means deny), naming the offer the
 * agreement was made from.
 */
export const enginePolicyUsage: UsagePolicy = {
  check({ agreement, scope, requester, now, accessCount }) {
    try {
      const options = agreement.registry ? { registry: agreement.registry } : {}
      const { model, errors } = policyFromOdrl(agreement.policy, options)
      if (!model) return { allowed: false, reason: `the policy of agreement ${agreement.id} cannot be read: ${errors.join('; ') || 'unknown problem'}` }
      // The steward knows the policy by the offer's id, not by the agreement's generated one.
      if (agreement.offerId) model.uid = agreement.offerId
      const decision = evaluate(
        model,
        {
          scope,
          action: 'use',
          assignee: requester,
          assigner: agreement.assigner,
          target: agreement.target,
          credentials: [],
          now,
          agreement: { signedAt: agreement.signedAt },
          usage: { count: accessCount },
        },
        options,
      )
      return { allowed: decision.allowed, reason: decision.allowed ? decision.reason : `agreement ${agreement.id}: ${decision.reason}` }
    } catch (error) {
      return { allowed: false, reason: `the policy of agreement ${agreement.id} could not be evaluated: ${(error as Error).message}` }
    }
  },
}

/**
 * Where a dataset's bytes are: its first distribution in the catalog. An upstream's credentials are
 * named by a secret; the value comes from the environment variable `PASSERELLE_SECRET_<NAME>`
 * (upper-cased, dots and dashes as underscores) and is sent as the upstream's Authorization header.
 */
export function catalogDistributions(ctx: Ctx, env: Record<string, string | undefined> = process.env): DistributionSource {
  return {
    async resolve(datasetId) {
      let dataset
      try {
        dataset = await (await catalogServiceFor(ctx)).get(datasetId)
      } catch {
        return undefined
      }
      const distribution = dataset.description.distributions[0]
      if (!distribution) return undefined
      if (distribution.file) return { kind: 'file', root: ctx.config.root, path: distribution.file, mediaType: distribution.mediaType } satisfies DataSource
      if (!distribution.url) return undefined
      const headers: Record<string, string> = {}
      if (distribution.secret) {
        const name = `PASSERELLE_SECRET_${distribution.secret.toUpperCase().replace(/[.-]/g, '_')}`
        const value = env[name]
        if (!value) throw new PasserelleError('unavailable', `the secret ${distribution.secret} is not set (${name})`)
        headers.authorization = value
      }
      return { kind: 'http', url: distribution.url, headers, mediaType: distribution.mediaType }
    },
  }
}

export type { Agreement }
