import { evaluate, type CompiledPolicy, type PolicyModel } from '../../policies/index.ts'
import { offerName, type OfferLookup, type PolicyCheck, type PublishedOffer } from './decision.ts'

/**
 * The provider's policy decision point for negotiation: the published offer's policy evaluated by
 * the policy engine against the requester's verified identity and credentials. Anything the engine
 * cannot decide is a refusal with the engine's reason.
 */
export const enginePolicyCheck: PolicyCheck = ({ published, requester, datasetId, providerId, now }) => {
  if (!published.policy) return { allowed: false, reason: `offer ${offerName(published)} has no policy this connector can evaluate` }
  try {
    const decision = evaluate(published.policy as CompiledPolicy | PolicyModel, {
      scope: 'negotiation',
      action: 'use',
      assignee: requester.participantId,
      assigner: providerId,
      target: datasetId,
      credentials: requester.credentials,
      ...requester.declared,
      now,
    })
    return { allowed: decision.allowed, reason: decision.reason, explanation: decision.explanation }
  } catch (error) {
    return { allowed: false, reason: `the policy could not be evaluated: ${(error as Error).message}` }
  }
}

/** No dataset published (until the catalog provides its lookup). */
export const noOffers: OfferLookup = {
  find: async () => undefined,
  offersOf: async () => [],
}

/** A fixed set of published offers, seen alike by every requester: dataset id → offers (tests, the TCK profile). */
export function staticOffers(datasets: Record<string, PublishedOffer[]>): OfferLookup {
  return {
    find: async ({ datasetId, offerId }) => datasets[datasetId]?.find((entry) => entry.offer['@id'] === offerId),
    offersOf: async ({ datasetId }) => datasets[datasetId] ?? [],
  }
}
