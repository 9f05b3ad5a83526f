import type { CompiledPolicy, OdrlAgreement, OdrlOffer, OdrlTargetedOffer } from './types.ts'

const bodyOf = (policy: CompiledPolicy | OdrlOffer): OdrlOffer => ('model' in policy && 'registry' in policy ? (policy as CompiledPolicy).odrl : (policy as OdrlOffer))

/**
 * The offer for one dataset, as a ContractOfferMessage or ContractRequestMessage carries it. Some
 * connectors expect the provider as `assigner` in offers: pass it to include it.
 */
export function offerFor(policy: CompiledPolicy | OdrlOffer, target: string, options: { assigner?: string } = {}): OdrlTargetedOffer {
  const { '@id': id, '@type': _type, ...rules } = bodyOf(policy)
  return { '@id': id, '@type': 'Offer', target, ...(options.assigner ? { assigner: options.assigner } : {}), ...rules }
}

/** The agreement body a ContractAgreementMessage carries: the offer's rules, bound to the parties. */
export function agreementFor(
  policy: CompiledPolicy | OdrlOffer,
  input: { id: string; target: string; assigner: string; assignee: string; timestamp: Date },
): OdrlAgreement {
  const { '@id': _id, '@type': _type, target: _target, ...rules } = bodyOf(policy) as OdrlOffer & { target?: string }
  return {
    '@id': input.id,
    '@type': 'Agreement',
    target: input.target,
    assigner: input.assigner,
    assignee: input.assignee,
    timestamp: input.timestamp.toISOString(),
    ...rules,
  }
}
