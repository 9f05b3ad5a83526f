import type { Requester } from '../identity/types.ts'
import { decideRequest, sameTerms, type OfferLookup, type PolicyCheck } from './decision.ts'
import type { Negotiation } from './repository.ts'
import type { MessageKind } from './state-machine.ts'

/**
 * What this connector does next once a message was taken (or on start): the provider's decision
 * step and the consumer's acceptance. Scripted replacements (the TCK profile) implement the same
 * interface.
 */
export type Reaction =
  | { kind: 'offer' | 'counter-offer' | 'counter-request'; offer: Record<string, unknown>; reason?: string; delayMs?: number }
  | { kind: 'agreement' | 'accepted' | 'verification' | 'finalized'; reason?: string; delayMs?: number }
  | { kind: 'termination'; reason: string; code?: string; delayMs?: number }
  /** Nothing is sent: a person decides through the management API. */
  | { kind: 'hold'; reason: string }

export interface ReactionInput {
  negotiation: Negotiation
  /** The message just taken, `start` for a negotiation we opened. */
  trigger: MessageKind | 'start'
  /** Who sent the triggering message, with the credentials verified for it. */
  requester?: Requester | undefined
  /** The offer or agreement the triggering message carried. */
  received?: Record<string, unknown> | undefined
}

export interface Reactions {
  react(input: ReactionInput): Promise<Reaction[]>
}

export interface DefaultReactionOptions {
  offers: OfferLookup
  check: PolicyCheck
  /** Our participant id. */
  participantId: string
  now: () => Date
}

export function defaultReactions(options: DefaultReactionOptions): Reactions {
  return {
    async react({ negotiation: n, trigger, requester, received }) {
      if (n.role === 'provider') {
        switch (trigger) {
          case 'request':
          case 'counter-request': {
            if (!requester) return [{ kind: 'termination', reason: 'the requester is not known any more; please request again' }]
            const requested = n.offer as Record<string, unknown> & { '@id': string; target: string }
            const [published, alternatives] = await Promise.all([
              options.offers.find({ datasetId: n.datasetId, offerId: n.offerId }),
              options.offers.offersOf(n.datasetId),
            ])
            const decision = decideRequest({
              requested,
              datasetId: n.datasetId,
              published,
              alternatives,
              requester,
              providerId: options.participantId,
              now: options.now(),
              check: options.check,
            })
            if (decision.action === 'agree') return [{ kind: 'agreement', reason: decision.reason }]
            if (decision.action === 'counter-offer') return [{ kind: 'counter-offer', offer: decision.offer, reason: decision.reason }]
            return [{ kind: 'termination', reason: decision.reason }]
          }
          case 'accepted':
            return [{ kind: 'agreement', reason: 'the consumer accepted our offer' }]
          case 'verification':
            return [{ kind: 'finalized', reason: 'the consumer verified the agreement' }]
          default:
            return []
        }
      }
      // consumer
      switch (trigger) {
        case 'offer':
          return [{ kind: 'hold', reason: 'an offer we did not ask for waits for approval' }]
        case 'counter-offer': {
          if (n.mode === 'manual') return [{ kind: 'hold', reason: 'manual mode: the offer waits for approval' }]
          const offer = received ?? {}
          if (offer.target !== n.datasetId) return [{ kind: 'termination', reason: `the offer is for ${String(offer.target)}, we asked for ${n.datasetId}` }]
          if (!sameTerms(offer, n.offer)) return [{ kind: 'termination', reason: `the offer ${String(offer['@id'])} has other terms than the offer ${n.offerId} we asked for` }]
          return [{ kind: 'accepted', reason: 'the offer matches what we asked for' }]
        }
        case 'agreement': {
          if (n.mode === 'manual') return [{ kind: 'hold', reason: 'manual mode: the agreement waits for approval' }]
          const problem = agreementProblem(received ?? {}, n, options.participantId)
          if (problem) return [{ kind: 'termination', reason: problem }]
          return [{ kind: 'verification', reason: 'the agreement matches what we asked for' }]
        }
        default:
          return []
      }
    },
  }
}

/** Why an agreement does not match what the consumer asked for, or undefined when it does. */
export function agreementProblem(agreement: Record<string, unknown>, n: Negotiation, participantId: string): string | undefined {
  if (agreement.target !== n.datasetId) return `the agreement is for ${String(agreement.target)}, we asked for ${n.datasetId}`
  if (agreement.assignee !== participantId) return `the agreement names ${String(agreement.assignee)} as assignee, not us (${participantId})`
  if (n.counterpartyId && agreement.assigner !== n.counterpartyId)
    return `the agreement names ${String(agreement.assigner)} as assigner, but the provider is ${n.counterpartyId}`
  if (!sameTerms(agreement, n.offer)) return `the agreement's terms differ from the offer ${n.offerId} we asked for`
  return undefined
}
