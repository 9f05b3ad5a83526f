import type { CatalogPolicies } from '../../catalog/index.ts'
import { defaultRegistry, evaluate, loadPolicies, type CompiledPolicy, type LintError, type Registry, type TaxonomySource } from '../../policies/index.ts'

/** The stewards' policy folder, compiled by the policy engine and seen the way the catalog needs it. */
export interface CatalogPolicySource extends CatalogPolicies {
  ids: ReadonlySet<string>
  errors: LintError[]
  /** The compiled policy behind an offer (what negotiation evaluates). */
  policy(id: string): CompiledPolicy | undefined
  /** Credential types the visibility policies refer to: what to ask a requester for. */
  credentialTypes(policyIds: Iterable<string>): string[]
  /** The operand registry the policies were compiled with (built-ins plus the folder's registry.yaml). */
  registry: Registry
}

export function catalogPoliciesFrom(
  policies: ReadonlyMap<string, CompiledPolicy>,
  errors: LintError[] = [],
  registry: Registry = defaultRegistry(),
): CatalogPolicySource {
  return {
    registry,
    ids: new Set(policies.keys()),
    errors,
    policy: (id) => policies.get(id),
    offer: (id) => policies.get(id)?.odrl,
    visible(id, requester, now) {
      const policy = policies.get(id)
      if (!policy) return { allowed: false, reason: `unknown policy ${id}` }
      const decision = evaluate(policy, { scope: 'catalog', action: 'use', assignee: requester.participantId, credentials: requester.credentials, now })
      return { allowed: decision.allowed, reason: decision.reason }
    },
    credentialTypes(ids) {
      const types = new Set<string>()
      for (const id of ids) {
        const policy = policies.get(id)
        if (policy) for (const t of credentialTypesIn(policy.odrl)) types.add(t)
      }
      return [...types].sort()
    },
  }
}

/**
 * Loads the policy folder; an engine failure yields an empty set (nothing is published) and the
 * error. `assigner`: the participant offering them (an ODRL Offer has an assigner); `taxonomies`:
 * the data space's published vocabularies, beside the shipped ones.
 */
export async function loadCatalogPolicies(dir: string, options: { assigner?: string; taxonomies?: TaxonomySource[] } = {}): Promise<CatalogPolicySource> {
  try {
    const result = await loadPolicies(dir, { taxonomies: options.taxonomies ?? [], ...(options.assigner ? { assigner: options.assigner } : {}) })
    return catalogPoliciesFrom(result.policies, result.errors, result.registry)
  } catch (error) {
    return catalogPoliciesFrom(new Map(), [
      { file: dir, line: 1, field: '', message: `the policy engine could not load this folder: ${(error as Error).message}` },
    ])
  }
}

/**
 * Credential types a policy mentions (e.g. `MembershipCredential` as an operand value, or a
 * `membership` operand, which DCP answers with a MembershipCredential).
 */
function credentialTypesIn(value: unknown, found = new Set<string>()): Set<string> {
  if (typeof value === 'string') {
    if (/^[A-Z][A-Za-z0-9]*Credential$/.test(value)) found.add(value)
    if (value === 'membership' || value.endsWith(':membership') || value.endsWith('/membership')) found.add('MembershipCredential')
  } else if (Array.isArray(value)) for (const v of value) credentialTypesIn(v, found)
  else if (value && typeof value === 'object') for (const v of Object.values(value)) credentialTypesIn(v, found)
  return found
}
