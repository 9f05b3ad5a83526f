import type { CompiledPolicy, PolicyModel, Registry } from '../../policies/index.ts'
import { PasserelleError } from '../errors.ts'
import type { Requester } from '../identity/types.ts'
import { notPublished, offerName, offerPolicy, type OfferLookup, type PublishedOffer } from './decision.ts'
import { readTerms, sameTerms, termsProblems } from './offer-terms.ts'

/**
 * What a consumer's request names, on the provider's side: one of the offers published for that
 * requester, with exactly its terms. The provider goes on with its own published offer and never
 * with the consumer's bytes; anything else is refused before anything is stored. An offer hidden
 * from this requester is refused exactly like one that does not exist.
 */
export async function requestedOffer(input: {
  offers: OfferLookup
  requested: { '@id': string; target: string }
  requester: Requester
  now: Date
  pids: { consumerPid?: string | undefined; providerPid?: string | undefined }
}): Promise<PublishedOffer> {
  const { requested, pids } = input
  const datasetId = requested.target
  const offerId = requested['@id']
  const published = await input.offers.find({ datasetId, offerId, requester: input.requester, now: input.now })
  if (!published) {
    const open = await input.offers.offersOf({ datasetId, requester: input.requester, now: input.now }).catch(() => [])
    throw new PasserelleError('bad_request', `${notPublished(offerId, datasetId)}; ${offerList(open)}`, pids)
  }
  const theirs = readTerms(requested, { expect: 'Offer', registry: registryOf(published), comparedOnly: true })
  if (theirs.errors) {
    throw new PasserelleError('bad_request', `offer ${label(published)} as sent is not a policy this connector accepts: ${termsProblems(theirs.errors)}`, pids)
  }
  if (!sameTerms(theirs.model, publishedTerms(published))) {
    throw new PasserelleError(
      'bad_request',
      `offer ${label(published)} as sent differs from the one published for dataset ${datasetId}; request the published offer as it is`,
      pids,
    )
  }
  return published
}

/** The offers a requester may ask for instead, by policy id and title, then offer id. */
export const offerList = (offers: PublishedOffer[]) =>
  offers.length === 0
    ? 'it has no offer open to you'
    : `its offers: ${offers.map((o) => `${offerPolicy(o).replace(/^policy /, '')} ${o.offer['@id']}`).join(', ')}`

/** An offer as stewards and peers know it: its policy id, and the offer id when that differs. */
const label = (published: PublishedOffer) =>
  offerName(published) === published.offer['@id'] ? published.offer['@id'] : `${offerName(published)} (${published.offer['@id']})`

/** The policy engine's compiled policy behind a published offer, when it has one. */
export const compiledOf = (published: PublishedOffer | undefined): CompiledPolicy | undefined => {
  const policy = published?.policy
  return typeof policy === 'object' && policy !== null && 'model' in policy && 'odrl' in policy && 'registry' in policy ? (policy as CompiledPolicy) : undefined
}

const registryOf = (published: PublishedOffer): Registry | undefined => compiledOf(published)?.registry

/** The published offer's terms (read once per offer: `readTerms` keeps what it read). */
function publishedTerms(published: PublishedOffer): PolicyModel {
  const read = readTerms(published.offer, { expect: 'Offer', registry: registryOf(published) })
  // Our own offer always reads; if it ever did not, nothing can equal it.
  if (read.errors) throw new PasserelleError('internal', `the published offer ${offerName(published)} cannot be read: ${termsProblems(read.errors)}`)
  return read.model
}
