import { policyLabelOf, policyPhrase } from '../../policies/index.ts'
import type { Requester } from '../identity/types.ts'

/**
 * The provider's decision on a contract request. Pure: the published offer the request named (read
 * and compared before), the requester and the policy check come in; agree, counter-offer or
 * terminate comes out, always with a reason a person can read (it goes into the timeline and into
 * the DSP `reason`).
 */

/** An offer as the catalog publishes it (no `target`), and the compiled policy behind it. */
export interface PublishedOffer {
  offer: Record<string, unknown> & { '@id': string }
  /** What the policy check evaluates and agreements are built from (the policy engine's compiled policy). */
  policy?: unknown
  /** The readable id stewards know the offer by (the policy file's id); the offer's `@id` when there is none. */
  name?: string
}

/**
 * Where the provider finds a dataset's published offers (the catalog). Both answer for one
 * requester: an offer the catalog hides from them is as unknown as one that does not exist.
 */
export interface OfferLookup {
  find(input: { datasetId: string; offerId: string; requester: Requester; now: Date }): Promise<PublishedOffer | undefined>
  /** Every offer of the dataset this requester may see, for counter offers. */
  offersOf(input: { datasetId: string; requester: Requester; now: Date }): Promise<PublishedOffer[]>
}

export interface PolicyVerdict {
  allowed: boolean
  /** One plain sentence. */
  reason: string
  explanation?: string[]
}

export type PolicyCheck = (input: { published: PublishedOffer; requester: Requester; datasetId: string; providerId: string; now: Date }) => PolicyVerdict

export type RequestDecision =
  | { action: 'agree'; published: PublishedOffer; reason: string }
  | { action: 'counter-offer'; published: PublishedOffer; reason: string }
  | { action: 'terminate'; reason: string }

export interface DecideInput {
  datasetId: string
  /** The published offer the request named; undefined when it is not (or no longer) published for this requester. */
  published: PublishedOffer | undefined
  /** The offer id the request named. */
  offerId: string
  /** The dataset's other offers this requester may see, tried in order when the requested one is refused. */
  alternatives: PublishedOffer[]
  requester: Requester
  providerId: string
  now: Date
  check: PolicyCheck
}

/** How stewards know an offer: its policy's id. */
export const offerName = (published: PublishedOffer) => published.name ?? published.offer['@id']

/** How refusals name the offer's policy: its readable id and title (policy `id` (“title”)). */
export const offerPolicy = (published: PublishedOffer) =>
  policyPhrase({ id: offerName(published), title: policyLabelOf(published.offer)?.title ?? titleOf(published.policy) })

const titleOf = (policy: unknown) =>
  typeof policy === 'object' && policy !== null && typeof (policy as { title?: unknown }).title === 'string' ? (policy as { title: string }).title : undefined

export const notPublished = (offerId: string, datasetId: string) => `offer ${offerId} is not one of the offers published for dataset ${datasetId}`

export function decideRequest(input: DecideInput): RequestDecision {
  const { datasetId, published } = input
  if (!published) return { action: 'terminate', reason: notPublished(input.offerId, datasetId) }
  const verdict = input.check({ published, requester: input.requester, datasetId, providerId: input.providerId, now: input.now })
  const why = verdict.reason.replace(/^(Refused|Allowed):\s*/, '')
  if (verdict.allowed) return { action: 'agree', published, reason: `${offerPolicy(published)} met: ${why}` }
  for (const alternative of input.alternatives) {
    if (alternative.offer['@id'] === published.offer['@id']) continue
    const other = input.check({ published: alternative, requester: input.requester, datasetId, providerId: input.providerId, now: input.now })
    if (other.allowed) {
      return {
        action: 'counter-offer',
        published: alternative,
        reason: `${offerPolicy(published)} is not met (${why}); offer ${offerPolicy(alternative).replace(/^policy /, '')} is open to you instead`,
      }
    }
  }
  return { action: 'terminate', reason: `${offerPolicy(published)} not met: ${why}` }
}
