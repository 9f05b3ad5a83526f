/**
 * The catalog: dataset model, the stewards' files, DSP and DCAT-AP rendering, the catalog's rows and their queries;
 * for the federated catalog, reading peers' DSP catalogs and searching what they offer.
 */
export * from './dataset.ts'
export * from './http-api.ts'
export * from './dataset-files.ts'
export * from './files-root.ts'
export * from './dsp-render.ts'
export * from './dcat-render.ts'
export * from './filter.ts'
export { edcNamespace, isQuerySpec, parseQuerySpec, type CatalogProperty, type PropertyCondition, type QuerySpec } from './query-spec.ts'
export * from './catalog-index.ts'
export * from './catalog.ts'
export { ChangeTokenRefused, changeTokenHeader, removedDatasetsKey, maxDepartures, changeTokenRetentionMs, decodeChangeToken } from './change-token.ts'
// The federated catalog's reading of peers' catalogs and its search (a peer's entry is not one of ours: other names).
export { InvalidCatalogError, readCatalogPage, datasetLimits, type RejectedDataset } from './federation/read-catalog-page.ts'
export type { CatalogEntry as PeerCatalogEntry, CatalogPage as PeerCatalogPage } from './federation/read-catalog-page.ts'
export { dspContextUrl } from './federation/dsp-catalog.ts'
export { FacetValue, HitOffer, SearchFacets, SearchHit, SearchPage, SearchQuery } from './federation/search-hit.ts'
export { formatSearchTable } from './federation/search-table.ts'
export { fold, queryTokens, fts5Query, tsQuery, listKey, likeEscape, scoreTexts } from './federation/text.ts'
export { summarizeOffer, permittedActions } from './federation/offer-summary.ts'
