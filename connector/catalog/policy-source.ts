import { basename, dirname, resolve } from 'node:path'
import type { CatalogPolicies } from '../../catalog/index.ts'
import {
  defaultRegistry,
  evaluate,
  isPolicyFile,
  loadPolicies,
  type CompiledPolicy,
  type LintError,
  type Registry,
  type TaxonomySource,
} from '../../policies/index.ts'

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
  // Every DSP request asks which credential types the policies name: walked once per policy (the
  // set of policies is fixed; a reload builds a new source).
  const walked = new Map<CompiledPolicy, Set<string>>()
  const typesOf = (policy: CompiledPolicy) => {
    let types = walked.get(policy)
    if (!types) walked.set(policy, (types = credentialTypesIn(policy.odrl)))
    return types
  }
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
        if (policy) for (const t of typesOf(policy)) types.add(t)
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

/** What a reload of the policy folder changed, by policy id. */
export interface PolicyChanges {
  added: string[]
  changed: string[]
  removed: string[]
}

/**
 * The policies to put in force after the policy folder changed, validated first: a policy file
 * that no longer compiles keeps its previous policies in force (`kept`); a problem outside the
 * policy files (the registry file, a vocabulary, the engine), which every policy depends on,
 * keeps the whole previous set (`refused`). A deleted policy file is a withdrawal, not a problem.
 */
export function policiesInForce(
  previous: CatalogPolicySource,
  candidate: CatalogPolicySource,
  dir: string,
): { next: CatalogPolicySource; kept: string[]; refused: boolean; changes: PolicyChanges } {
  const folder = resolve(dir)
  const inPolicyFile = (e: LintError) => dirname(resolve(e.file)) === folder && isPolicyFile(basename(e.file))
  if (candidate.errors.some((e) => !inPolicyFile(e)))
    return { next: { ...previous, errors: candidate.errors }, kept: [], refused: true, changes: { added: [], changed: [], removed: [] } }
  const broken = new Set(candidate.errors.map((e) => resolve(e.file)))
  const merged = new Map<string, CompiledPolicy>()
  for (const id of candidate.ids) merged.set(id, candidate.policy(id)!)
  const kept: string[] = []
  for (const id of previous.ids) {
    const before = previous.policy(id)!
    if (!merged.has(id) && broken.has(resolve(before.sourceFile))) {
      merged.set(id, before)
      kept.push(id)
    }
  }
  const same = (a: CompiledPolicy, b: CompiledPolicy) =>
    a.title === b.title && a.description === b.description && JSON.stringify(a.odrl) === JSON.stringify(b.odrl)
  const changes: PolicyChanges = {
    added: [...merged.keys()].filter((id) => !previous.ids.has(id)).sort(),
    changed: [...merged.keys()].filter((id) => previous.ids.has(id) && !same(previous.policy(id)!, merged.get(id)!)).sort(),
    removed: [...previous.ids].filter((id) => !merged.has(id)).sort(),
  }
  return { next: catalogPoliciesFrom(merged, candidate.errors, candidate.registry), kept: kept.sort(), refused: false, changes }
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
