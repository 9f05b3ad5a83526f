import type { Ctx } from '../context.ts'
import type { OfferLookup, PublishedOffer } from '../negotiation/decision.ts'
import type { CatalogService } from './catalog-service.ts'
import { catalogServiceFor } from './routes.ts'

/**
 * The provider's published offers, as negotiation looks them up: a dataset's offers are the Offer
 * bodies of the policies it names, exactly as the catalog publishes them.
 */
export function catalogOfferLookup(service: CatalogService | (() => Promise<CatalogService>)): OfferLookup {
  const get = typeof service === 'function' ? service : async () => service
  const offersOf = async (datasetId: string): Promise<PublishedOffer[]> => {
    const catalog = await get()
    const entry = catalog.catalog.index.get(datasetId)
    if (!entry) return []
    return entry.dataset.policies.flatMap((id) => {
      const offer = catalog.policies.offer(id)
      if (!offer) return []
      const policy = catalog.policies.policy(id)
      return [{ offer, ...(policy ? { policy } : {}) }]
    })
  }
  return {
    offersOf,
    async find({ datasetId, offerId }) {
      return (await offersOf(datasetId)).find((p) => p.offer['@id'] === offerId)
    },
  }
}

/** The lookup for a connector context (the catalog service is created on first use). */
export const offerLookupFor = (ctx: Ctx) => catalogOfferLookup(() => catalogServiceFor(ctx))

/**
 * Credential types any of the participant's policies refers to: what the negotiation and transfer
 * endpoints ask a requester's credential service for, so that offers can be decided on claims.
 */
export async function policyCredentialTypes(ctx: Ctx): Promise<string[]> {
  const service = await catalogServiceFor(ctx)
  return service.policies.credentialTypes(service.policies.ids)
}
