import type { OfferLookup } from '../negotiation/decision.ts'
import type { CatalogService } from './catalog-service.ts'

/**
 * The provider's published offers, as negotiation looks them up for one requester: the Offer
 * bodies of the policies a dataset names, left out where the catalog hides them from that
 * requester (the catalog's own visibility decision), so negotiation neither offers nor accepts
 * what the catalog does not show.
 */
export function catalogOfferLookup(service: CatalogService | (() => Promise<CatalogService>)): OfferLookup {
  const get = typeof service === 'function' ? service : async () => service
  const offersOf: OfferLookup['offersOf'] = async ({ datasetId, requester, now }) => {
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
