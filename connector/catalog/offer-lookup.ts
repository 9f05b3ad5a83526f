import type { OfferLookup, PublishedOffer } from '../negotiation/decision.ts'
import type { CatalogService } from './catalog-service.ts'

/**
 * The provider's published offers, as negotiation looks them up for one requester: the Offer
 * bodies of the policies a dataset names, left out where the catalog hides them from that
 * requester (the catalog's own visibility decision), so negotiation neither offers nor accepts
 * what the catalog does not show.
 */
export function catalogOfferLookup(service: CatalogService | (() => Promise<CatalogService>)): OfferLookup {
  const get = typeof service === 'function' ? service : async () => service
  // A provider's decision asks for the requested offer and the alternatives at once (same dataset,
  // requester and moment): they share one catalog read while it is under way.
  const reading = new Map<string, { requester: object; now: Date; offers: Promise<PublishedOffer[]> }>()
  const offersOf: OfferLookup['offersOf'] = (input) => {
    const running = reading.get(input.datasetId)
    if (running && running.requester === input.requester && running.now === input.now) return running.offers
    const offers = read(input)
    const entry = { requester: input.requester, now: input.now, offers }
    reading.set(input.datasetId, entry)
    const done = () => {
      if (reading.get(input.datasetId) === entry) reading.delete(input.datasetId)
    }
    offers.then(done, done)
    return offers
  }
  const read = async ({ datasetId, requester, now }: Parameters<OfferLookup['offersOf']>[0]): Promise<PublishedOffer[]> => {
    const catalog = await get()
    const visible = (await catalog.catalog.visibleOffers(datasetId, requester, now)) ?? []
    return visible.flatMap((id) => {
      const offer = catalog.policies.offer(id)
      if (!offer) return []
      const policy = catalog.policies.policy(id)
      return [{ offer, name: id, ...(policy ? { policy } : {}) }]
    })
  }
  return {
    offersOf,
    async find({ datasetId, offerId, requester, now }) {
      return (await offersOf({ datasetId, requester, now })).find((p) => p.offer['@id'] === offerId)
    },
  }
}

/**
 * Credential types any of the participant's policies refers to: what the negotiation and transfer
 * endpoints ask a requester's credential service for, so that offers can be decided on claims.
 */
export function policyCredentialTypes(service: CatalogService): string[] {
  return service.policies.credentialTypes(service.policies.ids)
}
