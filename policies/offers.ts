import type { CompiledPolicy, OdrlAgreement, OdrlOffer, OdrlTargetedOffer } from './types.ts'

/** The offer for one dataset, as a ContractOfferMessage or ContractRequestMessage carries it. */
export function offerFor(_policy: CompiledPolicy | OdrlOffer, _target: string): OdrlTargetedOffer {
  throw new Error('not implemented yet')
}

/** The agreement body a ContractAgreementMessage carries (the offer's rules, bound to the parties). */
export function agreementFor(
  _policy: CompiledPolicy | OdrlOffer,
  _input: { id: string; target: string; assigner: string; assignee: string; timestamp: Date },
): OdrlAgreement {
  throw new Error('not implemented yet')
}
