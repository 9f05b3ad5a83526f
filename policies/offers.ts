import type { CompiledPolicy, OdrlAgreement, OdrlOffer, OdrlTargetedOffer } from './types.ts'
import { odrlFromModel } from './odrl-write.ts'

const isCompiled = (policy: CompiledPolicy | OdrlOffer): policy is CompiledPolicy => 'model' in policy && 'registry' in policy

/** The rules of a published offer, without what identifies it (the caller gives the identity). */
function rulesOf(policy: CompiledPolicy | OdrlOffer): Record<string, unknown> {
  const {
    '@id': _id,
    '@type': _type,
    '@context': _context,
    target: _target,
    assigner: _assigner,
    assignee: _assignee,
    timestamp: _timestamp,
    ...rules
  } = (isCompiled(policy) ? policy.odrl : policy) as OdrlOffer & Record<string, unknown>
  return rules
}

/**
 * The offer for one dataset, as a ContractOfferMessage or ContractRequestMessage carries it. Some
 * connectors expect the provider as `assigner` in offers: pass it to include it.
 */
export function offerFor(policy: CompiledPolicy | OdrlOffer, target: string, options: { assigner?: string } = {}): OdrlTargetedOffer {
  const id = isCompiled(policy) ? policy.odrl['@id'] : policy['@id']
  if (isCompiled(policy)) {
    return odrlFromModel(policy.model, {
      type: 'Offer',
      uid: id,
      target,
      ...(options.assigner ? { assigner: options.assigner } : {}),
      registry: policy.registry,
    }) as unknown as OdrlTargetedOffer
  }
  return { '@id': id, '@type': 'Offer', target, ...(options.assigner ? { assigner: options.assigner } : {}), ...rulesOf(policy) }
}

/**
 * The agreement body a ContractAgreementMessage carries: the provider's own published rules (from
 * its compiled model when it has one), bound to the parties the caller gives.
 */
export function agreementFor(
  policy: CompiledPolicy | OdrlOffer,
  input: { id: string; target: string; assigner: string; assignee: string; timestamp: Date },
): OdrlAgreement {
  const identity = { uid: input.id, target: input.target, assigner: input.assigner, assignee: input.assignee, timestamp: input.timestamp }
  if (isCompiled(policy)) return odrlFromModel(policy.model, { type: 'Agreement', ...identity, registry: policy.registry }) as unknown as OdrlAgreement
  return {
    '@id': input.id,
    '@type': 'Agreement',
    target: input.target,
    assigner: input.assigner,
    assignee: input.assignee,
    timestamp: input.timestamp.toISOString(),
    ...rulesOf(policy),
  }
}
