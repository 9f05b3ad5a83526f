import { and, eq } from 'drizzle-orm'
import type { Distribution, FilesRoot } from '../../catalog/index.ts'
import { s3Credentials } from './data-plane/s3-client.ts'
import { evaluate, policyLabelOf, type PolicyLabel, type Registry } from '../../policies/index.ts'
import type { CatalogService } from '../catalog/catalog-service.ts'
import type { Ctx } from '../context.ts'
import type { Store } from '../store/store.ts'
import { agreementModel, policyLabel, policyName } from './obligations.ts'
import type { Agreement, AgreementLookup, DataSource, DistributionSource, UsagePolicy } from './ports.ts'
import { distributionFiles } from '../private-places.ts'
import { httpSource } from './data-plane/http-backend.ts'
import { secretLookup, type SecretLookup } from './data-plane/secrets.ts'

/**
 * The real collaborators of the transfer area: agreements as the negotiation area stores them, the
 * policy engine, and the catalog's distributions.
 */

/** Agreements from the negotiation tables; the negotiation's state tells whether it is FINALIZED. */
export function storedAgreements(
  store: Store,
  /** The stewards' operand registry (loaded with their policy folder), attached to each agreement. */
  registryOf: () => Promise<Registry | undefined> = async () => undefined,
  /** The steward's policy file id and title behind an offer id: how refusals name the policy. */
  lookupLabel: (offerId: string) => Promise<PolicyLabel | undefined> = async () => undefined,
): AgreementLookup & {
  /** For a consumer: the provider to ask, from the negotiation that produced the agreement. */
  providerOf(agreementId: string): Promise<{ providerId: string; providerAddress: string; datasetId: string } | undefined>
} {
  const { agreements, negotiations } = store.tables
  const row = async (id: string, db = store.db) => {
    const [found] = await db
      .select({ agreement: agreements, state: negotiations.state, offerId: negotiations.offerId })
      .from(agreements)
      .innerJoin(negotiations, eq(negotiations.id, agreements.negotiationId))
      .where(eq(agreements.id, id))
    return found
  }
  return {
    async find(id, db) {
      const found = await row(id, db)
      if (!found) return undefined
      const a = found.agreement
      const registry = await registryOf().catch(() => undefined)
      // The label the agreement itself carries (what was signed), else the policy now published under its offer id.
      const label = policyLabelOf(a.body) ?? (await lookupLabel(found.offerId).catch(() => undefined))
      return {
        id: a.id,
        state: found.state,
        assigner: a.assigner,
        assignee: a.assignee,
        target: a.datasetId,
        signedAt: new Date(a.signedAt),
        policy: a.body,
        offerId: found.offerId,
        policyId: label?.id,
        policyTitle: label?.title,
        registry,
      }
    },
    async providerOf(id) {
      const [found] = await store.db
        .select({
          agreement: agreements,
          state: negotiations.state,
          counterpartyId: negotiations.counterpartyId,
          counterpartyAddress: negotiations.counterpartyAddress,
        })
        .from(agreements)
        .innerJoin(negotiations, eq(negotiations.id, agreements.negotiationId))
        .where(and(eq(agreements.id, id), eq(agreements.role, 'consumer')))
      if (found?.state !== 'FINALIZED' || !found.counterpartyId) return undefined
      return { providerId: found.counterpartyId, providerAddress: found.counterpartyAddress, datasetId: found.agreement.datasetId }
    },
  }
}

/** The participant's agreements, with its stewards' registry and policy file ids. */
export function agreementsOf(ctx: Ctx, catalog: CatalogService | undefined) {
  return storedAgreements(
    ctx.store,
    async () => catalog?.policies.registry,
    async (offerId) => (catalog ? publishedLabel(catalog, offerId) : undefined),
  )
}

function publishedLabel(catalog: CatalogService, offerId: string): PolicyLabel | undefined {
  const policies = catalog.policies
  for (const id of policies.ids) if (policies.offer(id)?.['@id'] === offerId) return { id, title: policies.policy(id)?.title }
  return undefined
}

/**
 * The agreement's ODRL policy evaluated by the policy engine, with the operand registry the
 * agreement carries (the stewards' `registry.yaml` operands included) and the status of its
 * obligations. Anything it cannot read or decide is a refusal carrying the engine's words (unknown
 * means deny), naming the steward's policy by its file id.
 */
export const enginePolicyUsage: UsagePolicy = {
  check({ agreement, scope, requester, now, accessCount, counts, obligations }) {
    try {
      const { model, errors } = agreementModel(agreement)
      if (!model) return { allowed: false, reason: `the policy of agreement ${agreement.id} cannot be read: ${errors.join('; ') || 'unknown problem'}` }
      // The steward knows the policy by its file id, not by the offer's or the agreement's generated one.
      model.uid = policyName(agreement)
      const label = policyLabel(agreement)
      // At transfer scope the engine counts the access being decided (count + 1); a continuation of
      // a download already counted is not a new access, so it is decided on the count as it is.
      const count = scope === 'transfer' && counts === false ? Math.max(0, accessCount - 1) : accessCount
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
          usage: { count },
          ...(obligations ? { duties: obligations } : {}),
        },
        { label, ...(agreement.registry ? { registry: agreement.registry } : {}) },
      )
      return { allowed: decision.allowed, reason: decision.allowed ? decision.reason : `agreement ${agreement.id}: ${decision.reason}` }
    } catch (error) {
      return { allowed: false, reason: `the policy of agreement ${agreement.id} could not be evaluated: ${(error as Error).message}` }
    }
  },
}

/**
 * Where a dataset's bytes are: its first distribution in the catalog. An upstream's credentials are
 * named by a secret, resolved from the environment or the secrets file (see data-plane/secrets.ts)
 * when a transfer reads it. An S3 distribution's access key comes from
 * `PASSERELLE_SECRET_<NAME>_ACCESS_KEY_ID` and `…_SECRET_ACCESS_KEY` (see `s3Credentials`).
 */
export function catalogDistributions(ctx: Ctx, catalog: CatalogService | undefined, env: Record<string, string | undefined> = process.env): DistributionSource {
  const files = distributionFiles(ctx.config)
  const secrets = secretLookup(env)
  return {
    async resolve(datasetId) {
      let dataset
      try {
        if (!catalog) return undefined
        dataset = await catalog.get(datasetId)
      } catch {
        return undefined
      }
      const distribution = dataset.description.distributions[0]
      return distribution && distributionSource(distribution, { root: ctx.config.root, files, env, secrets })
    },
  }
}

/** The bytes one distribution names, with its secrets resolved from `env`. */
export function distributionSource(
  distribution: Distribution,
  place: { root: string; files?: FilesRoot; env: Record<string, string | undefined>; secrets?: SecretLookup },
): DataSource | undefined {
  const { root, files, env } = place
  const mediaType = distribution.mediaType
  if (distribution.file) return { kind: 'file', root, path: distribution.file, ...(files ? { files } : {}), mediaType }
  if (distribution.folder) return { kind: 'folder', root, path: distribution.folder, ...(files ? { files } : {}), mediaType }
  if (distribution.s3) {
    const s3 = distribution.s3
    const access = {
      endpoint: s3.endpoint,
      region: s3.region,
      pathStyle: s3.pathStyle,
      credentials: s3.credentials ? s3Credentials(s3.credentials, env) : undefined,
    }
    if (s3.prefix !== undefined) return { kind: 's3-prefix', access, bucket: s3.bucket, prefix: s3.prefix, mediaType }
    return {
      kind: 's3',
      access,
      bucket: s3.bucket,
      key: s3.key!,
      mediaType,
      ...(s3.presign ? { presignTtl: s3.presign.ttl } : {}),
      ...(distribution.sha256 ? { sha256: distribution.sha256 } : {}),
    }
  }
  if (!distribution.url) return undefined
  return httpSource({ ...distribution, url: distribution.url }, place.secrets ?? secretLookup(env))
}

export type { Agreement }
