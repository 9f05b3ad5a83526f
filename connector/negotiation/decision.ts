import type { Requester } from '../identity/types.ts'

/**
 * The provider's decision on a contract request. Pure: the published offers, the requester and
 * the policy check come in; agree, counter-offer or terminate comes out, always with a reason a
 * person can read (it goes into the timeline and into the DSP `reason`).
 */

/** An offer as the catalog publishes it (no `target`), and the compiled policy behind it. */
export interface PublishedOffer {
  offer: Record<string, unknown> & { '@id': string }
  /** What the policy check evaluates (the policy engine's compiled policy or model). */
  policy?: unknown
}

/** Where the provider finds a dataset's published offers (the catalog). */
export interface OfferLookup {
  find(input: { datasetId: string; offerId: string }): Promise<PublishedOffer | undefined>
  /** Every offer of a dataset, for counter offers. */
  offersOf(datasetId: string): Promise<PublishedOffer[]>
}

export interface PolicyVerdict {
  allowed: boolean
  /** One plain sentence. */
  reason: string
  explanation?: string[]
}

export type PolicyCheck = (input: {
  published: PublishedOffer
  requester: Requester
  datasetId: string
  providerId: string
  now: Date
}) => PolicyVerdict

export type RequestDecision =
  | { action: 'agree'; offer: Record<string, unknown>; reason: string }
  | { action: 'counter-offer'; offer: Record<string, unknown>; reason: string }
  | { action: 'terminate'; reason: string }

export interface DecideInput {
  requested: Record<string, unknown> & { '@id': string; target: string }
  datasetId: string
  published: PublishedOffer | undefined
  /** The dataset's other published offers, tried in order when the requested one is refused. */
  alternatives: PublishedOffer[]
  requester: Requester
  providerId: string
  now: Date
  check: PolicyCheck
}

export function decideRequest(input: DecideInput): RequestDecision {
  const { requested, datasetId, published } = input
  if (!published) {
    return { action: 'terminate', reason: `offer ${requested['@id']} is not one of the offers published for dataset ${datasetId}` }
  }
  if (!sameTerms(requested, published.offer)) {
    return {
      action: 'terminate',
      reason: `offer ${requested['@id']} differs from the one published for dataset ${datasetId} (its rules were changed); request the published offer as it is`,
    }
  }
  const verdict = input.check({ published, requester: input.requester, datasetId, providerId: input.providerId, now: input.now })
  if (verdict.allowed) {
    return { action: 'agree', offer: withTarget(published.offer, datasetId), reason: `policy met: ${verdict.reason}` }
  }
  for (const alternative of input.alternatives) {
    if (alternative.offer['@id'] === published.offer['@id']) continue
    const other = input.check({ published: alternative, requester: input.requester, datasetId, providerId: input.providerId, now: input.now })
    if (other.allowed) {
      return {
        action: 'counter-offer',
        offer: withTarget(alternative.offer, datasetId),
        reason: `the requested offer's policy is not met (${verdict.reason.replace(/^Refused:\s*/, '')}); offer ${alternative.offer['@id']} is open to you instead`,
      }
    }
  }
  return { action: 'terminate', reason: `policy not met: ${verdict.reason.replace(/^Refused:\s*/, '')}` }
}

export const withTarget = (offer: Record<string, unknown>, target: string): Record<string, unknown> & { target: string } => {
  const { '@context': _context, ...rest } = offer
  return { '@type': 'Offer', ...rest, target }
}

const identityKeys = new Set(['@id', '@type', '@context', 'target', 'assigner', 'assignee', 'timestamp', 'uid'])

/** Two policies say the same thing when their rules are equal (ids, parties and empty lists aside). */
export function sameTerms(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  return canonical(rulesOf(a)) === canonical(rulesOf(b))
}

const rulesOf = (policy: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(policy).filter(([key]) => !identityKeys.has(key)))

function canonical(value: unknown): string {
  return JSON.stringify(normalise(value))
}

function normalise(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalise)
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0))
      .map(([k, v]) => [k.replace(/^odrl:/, ''), normalise(v)] as const)
      .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
    return Object.fromEntries(entries)
  }
  return value
}
