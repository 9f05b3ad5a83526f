import { z } from 'zod'

/** One offer of a found dataset: its id (to negotiate), the ODRL body and its plain-language terms. */
export const HitOffer = z.object({
  id: z.string(),
  actions: z.array(z.string()),
  summary: z.string(),
  /** The Offer exactly as the peer's catalog gave it (no `target`: add the dataset id to negotiate). */
  policy: z.record(z.string(), z.unknown()),
})
export type HitOffer = z.infer<typeof HitOffer>

/**
 * A dataset found in the federated catalog: everything needed to start a negotiation with the peer
 * that offers it (`peer.dspUrl`, `peer.participantId`, `datasetId`, an offer's `id` and `policy`).
 */
export const SearchHit = z.object({
  peer: z.object({
    id: z.string(),
    name: z.string().nullable(),
    /** The participant id the peer's catalog states (its DID with DCP). */
    participantId: z.string(),
    /** The peer's DSP base URL: where a ContractRequestMessage goes. */
    dspUrl: z.string(),
  }),
  datasetId: z.string(),
  title: z.string(),
  description: z.string().nullable(),
  keywords: z.array(z.string()),
  themes: z.array(z.string()),
  licenses: z.array(z.string()),
  spatial: z.array(z.string()),
  temporal: z.object({ start: z.string().nullable(), end: z.string().nullable() }).nullable(),
  modified: z.string().nullable(),
  formats: z.array(z.string()),
  offers: z.array(HitOffer),
  /** When our copy was read from the peer (ISO 8601). */
  crawledAt: z.string(),
  /** True when the last crawl of this peer failed: this is the last good copy. */
  stale: z.boolean(),
})
export type SearchHit = z.infer<typeof SearchHit>

/** One value of a facet and how many matches have it; `label` names a publisher. */
export const FacetValue = z.object({ value: z.string(), label: z.string().optional(), count: z.number().int() })
export type FacetValue = z.infer<typeof FacetValue>

/**
 * Counts over the matches of a search (not only the page; see `SearchPage` for the bound), the most frequent values first (at
 * most 20 per facet): the publisher (the participant whose catalog lists the dataset), themes,
 * licences and places (IRIs in lower case; a dataset with two themes counts under both), and the
 * decade its temporal coverage starts in (`"2010"` for 2010–2019).
 */
export const SearchFacets = z.object({
  publisher: z.array(FacetValue),
  theme: z.array(FacetValue),
  license: z.array(FacetValue),
  spatial: z.array(FacetValue),
  temporal: z.array(FacetValue),
})
export type SearchFacets = z.infer<typeof SearchFacets>

/**
 * A search page; `facets` when they were asked for. A search does bounded work: `total` is exact
 * up to a bound (10,000 by default), above it the bound with `totalExact: false`; facets likewise
 * (`facetsExact`). `next`: the cursor of the next page, absent on the last one.
 */
export const SearchPage = z.object({
  total: z.number().int(),
  totalExact: z.boolean(),
  offset: z.number().int(),
  limit: z.number().int(),
  next: z.string().optional(),
  hits: z.array(SearchHit),
  facets: SearchFacets.optional(),
  facetsExact: z.boolean().optional(),
})
export type SearchPage = z.infer<typeof SearchPage>

/** The filters of a search; all optional, combined with AND. */
export const SearchQuery = z.object({
  /** Words to find in titles, descriptions and keywords (prefix match, all words required). */
  q: z.string().max(500).optional(),
  /** A peer id or DSP URL. */
  peer: z.string().optional(),
  /** Case-insensitive substring of a theme, license, spatial coverage or format. */
  theme: z.string().max(500).optional(),
  license: z.string().max(500).optional(),
  spatial: z.string().max(500).optional(),
  format: z.string().max(200).optional(),
  /** An action some offer permits (`use`, `read`, …). */
  action: z.string().max(200).optional(),
  /** Only datasets whose temporal coverage overlaps [temporalFrom, temporalTo] (epoch ms). */
  temporalFrom: z.number().optional(),
  temporalTo: z.number().optional(),
  /** Only datasets modified at or after this time (epoch ms). */
  modifiedSince: z.number().optional(),
  limit: z.number().int().min(1).max(200).default(20),
  offset: z.number().int().min(0).max(100_000).default(0),
  /** The `next` of the previous page: the page after it (not with `offset`). */
  cursor: z.string().max(1000).optional(),
  /** Count publishers, themes, licences, places and decades over every match. */
  facets: z.boolean().default(false),
})
export type SearchQuery = z.input<typeof SearchQuery>
