import type { Registry } from '../../policies/index.ts'
import type { Requester } from '../identity/types.ts'
import { decideRequest, offerName, type OfferLookup, type PolicyCheck, type PublishedOffer } from './decision.ts'
import { recordDecision, recordRefusal } from '../telemetry/transitions.ts'
import { readTerms, sameTerms, termsProblems } from './offer-terms.ts'
import type { Negotiation } from './repository.ts'
import type { MessageKind } from './state-machine.ts'

/**
 * What this connector does next once a message was taken (or on start): the provider's decision
 * step and the consumer's acceptance. Scripted replacements (the TCK profile) implement the same
 * interface.
 */
export type Reaction =
  | { kind: 'offer' | 'counter-offer' | 'counter-request'; offer: Record<string, unknown>; reason?: string; delayMs?: number }
  /** `published`: the offer the agreement is built from (else the offer stored on the process, ours too). */
  | { kind: 'agreement'; published?: PublishedOffer; reason?: string; delayMs?: number }
  | { kind: 'accepted' | 'verification' | 'finalized'; reason?: string; delayMs?: number }
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
  /**
   * Whether `react` may do anything for this role and trigger; when it says no, no step is stored
   * (a step costs an outbox row). Absent: every trigger may need a step.
   */
  reactsTo?(role: 'provider' | 'consumer', trigger: MessageKind | 'start'): boolean
}

/** The triggers the default reactions act on, per role. */
const defaultTriggers = {
  provider: new Set<MessageKind | 'start'>(['request', 'counter-request', 'accepted', 'verification']),
  consumer: new Set<MessageKind | 'start'>(['offer', 'counter-offer', 'agreement']),
}

export interface DefaultReactionOptions {
  offers: OfferLookup
  check: PolicyCheck
  /** Our participant id. */
  participantId: string
  now: () => Date
  /** The participant's operand registry (its registry.yaml included): peers' offers and agreements are read with it. */
  registry?: () => Promise<Registry | undefined>
}

export function defaultReactions(options: DefaultReactionOptions): Reactions {
  return {
    reactsTo: (role, trigger) => defaultTriggers[role].has(trigger),
    async react({ negotiation: n, trigger, requester, received }) {
      if (n.role === 'provider') {
        switch (trigger) {
          case 'request':
          case 'counter-request': {
            if (!requester) return [{ kind: 'termination', reason: 'the requester is not known any more; please request again' }]
            // The request named one of our offers with its terms unchanged (checked when it came
            // in); decide on that offer as the catalog shows it to this requester now.
            const now = options.now()
            const [published, alternatives] = await Promise.all([
              options.offers.find({ datasetId: n.datasetId, offerId: n.offerId, requester, now }),
              options.offers.offersOf({ datasetId: n.datasetId, requester, now }),
            ])
            const deciding = performance.now()
            const decision = decideRequest({
              datasetId: n.datasetId,
              offerId: n.offerId,
              published,
              alternatives,
              requester,
              providerId: options.participantId,
              now,
              check: options.check,
            })
            recordDecision('negotiation', decision.action, (performance.now() - deciding) / 1000)
            if (decision.action === 'terminate') recordRefusal('negotiation', published ? offerName(published) : 'not-published')
            if (decision.action === 'agree') return [{ kind: 'agreement', published: decision.published, reason: decision.reason }]
            if (decision.action === 'counter-offer') return [{ kind: 'counter-offer', offer: decision.published.offer, reason: decision.reason }]
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
      const registry = await options.registry?.()
      switch (trigger) {
        case 'offer':
          return [{ kind: 'hold', reason: 'an offer we did not ask for waits for approval' }]
        case 'counter-offer': {
          const problem = offerProblem(received ?? {}, n, registry)
          if (problem?.unreadable) return [{ kind: 'termination', reason: problem.reason }]
          if (n.mode === 'manual') return [{ kind: 'hold', reason: 'manual mode: the offer waits for approval' }]
          if (problem) return [{ kind: 'termination', reason: problem.reason }]
          return [{ kind: 'accepted', reason: 'the offer matches what we asked for' }]
        }
        case 'agreement': {
          // Checked before anyone approves it: a person never sees an agreement we would not sign up to.
          const problem = agreementProblem(received ?? {}, n, options.participantId, registry)
          if (problem) return [{ kind: 'termination', reason: problem }]
          if (n.mode === 'manual') return [{ kind: 'hold', reason: 'manual mode: the agreement waits for approval' }]
          return [{ kind: 'verification', reason: 'the agreement matches what we asked for' }]
        }
        default:
          return []
      }
    },
  }
}

/**
 * Why a provider's offer differs from the one we asked for (`unreadable` when it is not a policy we
 * can read at all), or undefined when it says the same.
 */
export function offerProblem(offer: Record<string, unknown>, n: Negotiation, registry?: Registry): { reason: string; unreadable?: boolean } | undefined {
  const read = readTerms(offer, { expect: 'Offer', registry })
  if (read.errors) return { reason: `the offer ${String(offer['@id'])} is not a policy we accept: ${termsProblems(read.errors)}`, unreadable: true }
  if (offer.target !== n.datasetId) return { reason: `the offer is for ${String(offer.target)}, we asked for ${n.datasetId}` }
  const ours = readTerms(n.offer, { expect: 'Offer', registry })
  if (ours.errors || !sameTerms(read.model, ours.model))
    return { reason: `the offer ${String(offer['@id'])} has other terms than the offer ${n.offerId} we asked for` }
  return undefined
}

/**
 * Why an agreement is not the offer the consumer asked for, or undefined when it is: its policy,
 * read and compared as a model (a hostile provider may spell terms twice or change them), its
 * target and its parties.
 */
export function agreementProblem(agreement: Record<string, unknown>, n: Negotiation, participantId: string, registry?: Registry): string | undefined {
  const read = readTerms(agreement, { expect: 'Agreement', registry })
  if (read.errors) return `the agreement ${String(agreement['@id'])} is not a policy we accept: ${termsProblems(read.errors)}`
  if (agreement.target !== n.datasetId) return `the agreement is for ${String(agreement.target)}, we asked for ${n.datasetId}`
  if (agreement.assignee !== participantId) return `the agreement names ${String(agreement.assignee)} as assignee, not us (${participantId})`
  if (n.counterpartyId && agreement.assigner !== n.counterpartyId)
    return `the agreement names ${String(agreement.assigner)} as assigner, but the provider is ${n.counterpartyId}`
  const ours = readTerms(n.offer, { expect: 'Offer', registry })
  if (ours.errors || !sameTerms(read.model, ours.model)) return `the agreement's terms differ from the offer ${n.offerId} we asked for`
  return undefined
}
