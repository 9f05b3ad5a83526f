import type { OdrlOffer } from '../policies/index.ts'
import { keywordEntries, textEntries, type DatasetDescription, type LocalizedText } from './dataset.ts'
import { apiSchemaJson } from './http-api.ts'

/**
 * DSP 2025-1 catalog objects as plain JSON, built from typed templates (never by JSON-LD processing
 * on the request path). The output is compact JSON-LD under the DSP context: bare DSP terms, and
 * `dct:`/`dcat:` compact IRIs (prefixes the DSP context defines) for the descriptive metadata. A test
 * proves these templates equal what JSON-LD compaction of the full DCAT description gives.
 */

export const dspContext = 'https://w3id.org/dspace/2025/1/context.jsonld'
export const dspContextArray = [dspContext] as const

/**
 * The transfer types every dataset is offered with; `format` of a DSP Distribution. `AmazonS3-PUSH`:
 * the provider writes the dataset into the consumer's S3-compatible storage (any source can be pushed there).
 */
export const transferFormats = ['HttpData-PULL', 'HttpData-PUSH', 'AmazonS3-PUSH'] as const

export interface DspService {
  /** The DataService's `@id`. */
  id: string
  /** Our DSP base URL. */
  endpointURL: string
}

export interface DspDataService {
  '@id': string
  '@type': 'DataService'
  endpointURL: string
}

export const dataServiceFor = (service: DspService): DspDataService => ({
  '@id': service.id,
  '@type': 'DataService',
  endpointURL: service.endpointURL,
})

type LiteralJson = string | { '@value': string; '@language': string }

/** A localized text as JSON-LD compaction writes it: one value alone, several as an array. */
function literals(entries: Array<[string | undefined, string]>): LiteralJson | LiteralJson[] {
  const values = entries.map(([language, value]): LiteralJson => (language ? { '@value': value, '@language': language } : value))
  return values.length === 1 ? values[0]! : values
}
export const localized = (text: LocalizedText) => literals(textEntries(text))

export interface DspDatasetJson {
  '@id': string
  '@type': 'Dataset'
  'dct:title': LiteralJson | LiteralJson[]
  'dct:description': LiteralJson | LiteralJson[]
  'dcat:keyword'?: LiteralJson | LiteralJson[]
  'dcat:theme'?: { '@id': string } | Array<{ '@id': string }>
  'dct:spatial'?: DspLocation | DspLocation[]
  'dct:temporal'?: { '@type': 'dct:PeriodOfTime'; 'dcat:startDate': DateJson; 'dcat:endDate'?: DateJson }
  'dct:modified': DateJson
  [tdmReservation]?: 0 | 1
  [tdmPolicy]?: { '@id': string }
  hasPolicy: OdrlOffer[]
  distribution: Array<{ '@type': 'Distribution'; format: string; accessService: string | DspDataService; 'dct:license': DspLicense }>
}

/*
 * TDMRep names its properties `tdm-reservation` and `tdm-policy` (HTTP headers, HTML meta, the
 * well-known JSON file) and, in RDF metadata (its EPUB binding), `tdm:reservation` and `tdm:policy`
 * under http://www.w3.org/ns/tdmrep#. DCAT has no property of its own for mining rights, so the
 * catalog carries TDMRep's: the reservation as the integer 0 or 1, the policy as an IRI. The DSP
 * context has no `tdm` prefix: the DSP entry writes them as full IRIs, the DCAT-AP export prefixed.
 */
export const tdmNamespace = 'http://www.w3.org/ns/tdmrep#'
export const tdmReservation = `${tdmNamespace}reservation` as const
export const tdmPolicy = `${tdmNamespace}policy` as const

/** A dataset's TDMRep properties, under the given names (full IRIs in DSP, `tdm:` in DCAT-AP). */
export function tdmProperties<R extends string, P extends string>(dataset: DatasetDescription, reservation: R, policy: P) {
  if (!dataset.tdm) return {}
  return {
    [reservation]: dataset.tdm.reservation ? 1 : 0,
    ...(dataset.tdm.policy ? { [policy]: { '@id': dataset.tdm.policy } } : {}),
  } as { [K in R]?: 0 | 1 } & { [K in P]?: { '@id': string } }
}

interface DspLicense {
  '@id': string
  '@type': 'dct:LicenseDocument'
}
interface DspLocation {
  '@id': string
  '@type': 'dct:Location'
}
interface DateJson {
  '@value': string
  '@type': 'xsd:date' | 'xsd:dateTime'
}
const dateJson = (value: string): DateJson => ({ '@value': value, '@type': value.length === 10 ? 'xsd:date' : 'xsd:dateTime' })

/**
 * A DSP `Dataset`. Inside a catalog, `accessService` names the catalog's DataService by id; a
 * dataset answered alone embeds the DataService object. Besides what the DSP schema requires, it
 * carries the DCAT terms peers filter on (places, time coverage, last modification, and the
 * license on each distribution, where DCAT-AP puts it), so that a federated catalog can search
 * them without reading the DCAT-AP document.
 */
export function dspDataset(
  dataset: DatasetDescription,
  offers: OdrlOffer[],
  service: DspService,
  accessService: 'reference' | 'embedded' = 'reference',
): DspDatasetJson {
  const keywords = keywordEntries(dataset.keywords)
  const themes = dataset.themes.map((id) => ({ '@id': id }))
  const places = dataset.spatial.map((id): DspLocation => ({ '@id': id, '@type': 'dct:Location' }))
  const license: DspLicense = { '@id': dataset.license, '@type': 'dct:LicenseDocument' }
  const access = accessService === 'reference' ? service.id : dataServiceFor(service)
  return {
    '@id': dataset.id,
    '@type': 'Dataset',
    'dct:title': localized(dataset.title),
    'dct:description': localized(dataset.description),
    ...(keywords.length > 0 ? { 'dcat:keyword': literals(keywords) } : {}),
    ...(themes.length > 0 ? { 'dcat:theme': themes.length === 1 ? themes[0]! : themes } : {}),
    ...(places.length > 0 ? { 'dct:spatial': places.length === 1 ? places[0]! : places } : {}),
    ...(dataset.temporal
      ? {
          'dct:temporal': {
            '@type': 'dct:PeriodOfTime',
            'dcat:startDate': dateJson(dataset.temporal.start),
            ...(dataset.temporal.end ? { 'dcat:endDate': dateJson(dataset.temporal.end) } : {}),
          },
        }
      : {}),
    'dct:modified': dateJson(dataset.modified),
    ...tdmProperties(dataset, tdmReservation, tdmPolicy),
    ...apiProperty(dataset),
    hasPolicy: offers,
    distribution: transferFormats.map((format) => ({ '@type': 'Distribution' as const, format, accessService: access, 'dct:license': license })),
  }
}

/** Our own terms, for what DCAT has no property for. */
export const passerelleNamespace = 'https://w3id.org/passerelle/ns#'
export const httpApiTerm = `${passerelleNamespace}httpApi` as const

/** The query parameters and path suffixes a consumer may pass when pulling (a JSON literal), when the distribution declares them. */
function apiProperty(dataset: DatasetDescription) {
  const api = dataset.distributions[0]?.api
  return api ? { [httpApiTerm]: { '@type': '@json' as const, '@value': apiSchemaJson(api) } } : {}
}

export interface CatalogHeader {
  /** The catalog's `@id`. */
  id: string
  participantId: string
  service: DspService
}

/**
 * A DSP `Catalog` page as text, from the datasets' prebuilt JSON texts: no parsing or
 * re-serialising of datasets per request. The schema wants `dataset` absent rather than empty.
 */
export function catalogText(header: CatalogHeader, datasetTexts: readonly string[]): string {
  const head = JSON.stringify({
    '@context': dspContextArray,
    '@id': header.id,
    '@type': 'Catalog',
    participantId: header.participantId,
    service: [dataServiceFor(header.service)],
  })
  if (datasetTexts.length === 0) return head
  return `${head.slice(0, -1)},"dataset":[${datasetTexts.join(',')}]}`
}

export const datasetText = (dataset: DspDatasetJson) => JSON.stringify({ '@context': dspContextArray, ...dataset })

export interface CatalogErrorJson {
  '@context': readonly string[]
  '@type': 'CatalogError'
  code: string
  reason: string[]
}

export const catalogError = (code: string, reason: string): CatalogErrorJson => ({
  '@context': dspContextArray,
  '@type': 'CatalogError',
  code,
  reason: [reason],
})
