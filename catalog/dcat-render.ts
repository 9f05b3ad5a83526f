import { fileTypeFor, keywordEntries, textEntries, type Agent, type DatasetDescription, type Distribution, type LocalizedText } from './dataset.ts'
import { tdmNamespace, tdmProperties } from './dsp-render.ts'
import { describeApi } from './http-api.ts'
import { policyLabelOf, type OdrlOffer } from '../policies/index.ts'

/**
 * The catalog as full DCAT-AP 3.0.1 JSON-LD, for open-data portals: a self-contained inline context
 * (no remote document to fetch) and prefixed DCAT / DCT / FOAF / vCard / SPDX terms, typed values
 * and language-tagged texts. Built when the catalog changes, never per request.
 *
 * Portals validate with the consolidated release shapes and their range shapes, without RDFS
 * inference: every object names the exact class a range asks for (`odrl:Policy` beside `odrl:Offer`,
 * `spdx:ChecksumAlgorithm`, `rdfs:Resource` for endpoint URLs). Recommended properties are filled
 * from the datasets where they say it (the catalog's languages, dates, places and themes; what the
 * data service serves); `spec/dcat-ap-3.0.1/SOURCE.md` lists what stays a warning.
 */

export const dcatContext = {
  dcat: 'http://www.w3.org/ns/dcat#',
  dct: 'http://purl.org/dc/terms/',
  foaf: 'http://xmlns.com/foaf/0.1/',
  vcard: 'http://www.w3.org/2006/vcard/ns#',
  spdx: 'http://spdx.org/rdf/terms#',
  odrl: 'http://www.w3.org/ns/odrl/2/',
  skos: 'http://www.w3.org/2004/02/skos/core#',
  xsd: 'http://www.w3.org/2001/XMLSchema#',
  rdfs: 'http://www.w3.org/2000/01/rdf-schema#',
  dcatap: 'http://data.europa.eu/r5r/',
  locn: 'http://www.w3.org/ns/locn#',
  gsp: 'http://www.opengis.net/ont/geosparql#',
  // W3C TDMRep: text-and-data-mining reservation (see dsp-render.ts).
  tdm: tdmNamespace,
} as const

export interface DcatCatalogInfo {
  /** The catalog's IRI. */
  id: string
  title: LocalizedText
  description: LocalizedText
  publisher: Agent
  /** Our public base URL (a home page for the catalog). */
  homepage: string
  /** Base IRI against which short dataset ids (e.g. the TCK's) are resolved. */
  base: string
  service: { id: string; endpointURL: string; title: LocalizedText }
}

type Json = Record<string, unknown>

/** Labels of the controlled vocabularies the seeds use; other concepts are labelled by their code. */
const conceptLabels: Record<string, string> = {
  'http://publications.europa.eu/resource/authority/data-theme/AGRI': 'Agriculture, fisheries, forestry and food',
  'http://publications.europa.eu/resource/authority/data-theme/ECON': 'Economy and finance',
  'http://publications.europa.eu/resource/authority/data-theme/EDUC': 'Education, culture and sport',
  'http://publications.europa.eu/resource/authority/data-theme/ENER': 'Energy',
  'http://publications.europa.eu/resource/authority/data-theme/ENVI': 'Environment',
  'http://publications.europa.eu/resource/authority/data-theme/GOVE': 'Government and public sector',
  'http://publications.europa.eu/resource/authority/data-theme/HEAL': 'Health',
  'http://publications.europa.eu/resource/authority/data-theme/INTR': 'International issues',
  'http://publications.europa.eu/resource/authority/data-theme/JUST': 'Justice, legal system and public safety',
  'http://publications.europa.eu/resource/authority/data-theme/REGI': 'Regions and cities',
  'http://publications.europa.eu/resource/authority/data-theme/SOCI': 'Population and society',
  'http://publications.europa.eu/resource/authority/data-theme/TECH': 'Science and technology',
  'http://publications.europa.eu/resource/authority/data-theme/TRAN': 'Transport',
  'http://purl.org/adms/publishertype/Academia-ScientificOrganisation': 'Academia/Scientific organisation',
  'http://purl.org/adms/publishertype/NationalAuthority': 'National authority',
  'http://purl.org/adms/publishertype/Company': 'Company',
  'http://purl.org/adms/licencetype/Attribution': 'Attribution',
  'http://purl.org/adms/licencetype/NonCommercialUseOnly': 'Non-commercial use only',
  'http://purl.org/adms/licencetype/ShareAlike': 'Share alike',
  'http://purl.org/adms/licencetype/NoDerivativeWork': 'No derivative work',
  'http://purl.org/adms/licencetype/PublicDomain': 'Public domain',
  'http://publications.europa.eu/resource/authority/planned-availability/AVAILABLE': 'Available',
}

/** ADMS licence types of the Creative Commons licences, from their IRI (`…/licenses/by-nc/4.0/`). */
function licenceTypes(license: string): string[] {
  const adms = 'http://purl.org/adms/licencetype/'
  if (/creativecommons\.org\/publicdomain\/zero\//.test(license)) return [`${adms}PublicDomain`]
  const match = /creativecommons\.org\/licenses\/(by(?:-nc)?(?:-sa|-nd)?)\//.exec(license)
  if (!match) return []
  const parts = match[1]!.split('-')
  return [
    `${adms}Attribution`,
    ...(parts.includes('nc') ? [`${adms}NonCommercialUseOnly`] : []),
    ...(parts.includes('sa') ? [`${adms}ShareAlike`] : []),
    ...(parts.includes('nd') ? [`${adms}NoDerivativeWork`] : []),
  ]
}

/** EU language authority entries of the ISO 639-1 tags the texts use; other tags are not listed. */
const languages: Record<string, string> = {
  en: 'ENG',
  fr: 'FRA',
  de: 'DEU',
  es: 'SPA',
  it: 'ITA',
  nl: 'NLD',
  pt: 'POR',
  pl: 'POL',
  sv: 'SWE',
  da: 'DAN',
  fi: 'FIN',
  cs: 'CES',
  sk: 'SLK',
  sl: 'SLV',
  hu: 'HUN',
  ro: 'RON',
  bg: 'BUL',
  el: 'ELL',
  et: 'EST',
  lv: 'LAV',
  lt: 'LIT',
  hr: 'HRV',
  ga: 'GLE',
  mt: 'MLT',
  nb: 'NOB',
  nn: 'NNO',
  no: 'NOR',
  is: 'ISL',
  ca: 'CAT',
  eu: 'EUS',
  gl: 'GLG',
  lb: 'LTZ',
}

/**
 * Extents of the places the seeds name (GeoNames), for portals' map search: the published limits
 * as a bounding box, the centroid its centre (the pole for a polar ocean). Other places are named
 * only (a portal shows a warning, not a wrong shape).
 */
const placeExtents: Record<string, { west: number; south: number; east: number; north: number; centroid: [number, number] }> = {
  // Canada
  'https://sws.geonames.org/6251999/': { west: -141, south: 41.68, east: -52.62, north: 83.11, centroid: [-96.81, 62.4] },
  // Québec
  'https://sws.geonames.org/6115047/': { west: -79.76, south: 44.99, east: -57.1, north: 62.59, centroid: [-68.43, 53.79] },
  // Arctic Ocean
  'https://sws.geonames.org/2960860/': { west: -180, south: 66.56, east: 180, north: 90, centroid: [0, 90] },
}

const wkt = (value: string) => ({ '@value': value, '@type': 'gsp:wktLiteral' })

function location(id: string): Json {
  const extent = placeExtents[id]
  if (!extent) return { '@id': id, '@type': 'dct:Location' }
  const { west, south, east, north, centroid } = extent
  return {
    '@id': id,
    '@type': 'dct:Location',
    'dcat:bbox': wkt(`POLYGON((${west} ${south},${east} ${south},${east} ${north},${west} ${north},${west} ${south}))`),
    'dcat:centroid': wkt(`POINT(${centroid[0]} ${centroid[1]})`),
  }
}

/** Concept schemes of the concepts the seeds use, named for portals (themes taxonomy). */
const conceptSchemes: Array<{ prefix: string; id: string; title: string }> = [
  {
    prefix: 'http://publications.europa.eu/resource/authority/data-theme/',
    id: 'http://publications.europa.eu/resource/authority/data-theme',
    title: 'Data theme',
  },
]

/** A SKOS concept node; DCAT-AP wants a preferred label on each. */
const concept = (id: string) => ({
  '@id': id,
  '@type': 'skos:Concept',
  'skos:prefLabel': {
    '@value':
      conceptLabels[id] ??
      decodeURIComponent(
        id
          .replace(/[/#]+$/, '')
          .split(/[/#]/)
          .pop() ?? id,
      ),
    '@language': 'en',
  },
})

const texts = (text: LocalizedText) =>
  textEntries(text).map(([language, value]) => (language ? { '@value': value, '@language': language } : { '@value': value }))

const dateValue = (value: string) => ({ '@value': value, '@type': value.length === 10 ? 'xsd:date' : 'xsd:dateTime' })

export function dcatAgent(agent: Agent): Json {
  return {
    ...(agent.id ? { '@id': agent.id } : {}),
    '@type': 'foaf:Agent',
    'foaf:name': texts(agent.name),
    ...(agent.type ? { 'dct:type': concept(agent.type) } : {}),
  }
}

const dspSpecification = 'https://eclipse-dataspace-protocol-base.github.io/DataspaceProtocol/2025-1/'

/**
 * An offer named by a dataset or distribution: typed with the exact class the range shapes ask for,
 * with the steward's policy id and title when the offer carries them (what people name it by).
 */
const policyNode = (offer: string | OdrlOffer) => {
  if (typeof offer === 'string') return { '@id': offer, '@type': ['odrl:Policy', 'odrl:Offer'] }
  const label = policyLabelOf(offer)
  return {
    '@id': offer['@id'],
    '@type': ['odrl:Policy', 'odrl:Offer'],
    ...(label ? { 'dct:identifier': label.id, 'dct:title': label.title ?? label.id } : {}),
  }
}

export function dcatDataService(service: DcatCatalogInfo['service']): Json {
  return {
    '@id': service.id,
    '@type': 'dcat:DataService',
    'dct:title': texts(service.title),
    'dcat:endpointURL': { '@id': service.endpointURL, '@type': 'rdfs:Resource' },
    // What the endpoint's operations are: the Dataspace Protocol specification (HTTPS binding).
    'dcat:endpointDescription': { '@id': dspSpecification, '@type': 'rdfs:Resource' },
    // The protocol peers speak to it: the Dataspace Protocol, 2025-1.
    'dct:conformsTo': { '@id': 'https://w3id.org/dspace/2025/1/', '@type': 'dct:Standard' },
  }
}

function licenseNode(license: string): Json {
  const types = licenceTypes(license)
  return { '@id': license, '@type': 'dct:LicenseDocument', ...(types.length > 0 ? { 'dct:type': types.map(concept) } : {}) }
}

/** One dataset node. `offerIds` are its offers or their `@id`s (the ODRL bodies are in the DSP catalog). */
export function dcatDataset(dataset: DatasetDescription, offerIds: Array<string | OdrlOffer>, service: DcatCatalogInfo['service']): Json {
  const keywords = keywordEntries(dataset.keywords).map(([language, value]) => (language ? { '@value': value, '@language': language } : { '@value': value }))
  return {
    '@id': dataset.id,
    '@type': 'dcat:Dataset',
    'dct:title': texts(dataset.title),
    'dct:description': texts(dataset.description),
    ...(keywords.length > 0 ? { 'dcat:keyword': keywords } : {}),
    ...(dataset.themes.length > 0 ? { 'dcat:theme': dataset.themes.map(concept) } : {}),
    'dct:publisher': dcatAgent(dataset.publisher),
    'dcat:contactPoint': {
      '@type': 'vcard:Kind',
      'vcard:fn': dataset.contactPoint.name,
      'vcard:hasEmail': { '@id': `mailto:${dataset.contactPoint.email}` },
      ...(dataset.contactPoint.url ? { 'vcard:hasURL': { '@id': dataset.contactPoint.url } } : {}),
    },
    ...(dataset.spatial.length > 0 ? { 'dct:spatial': dataset.spatial.map(location) } : {}),
    ...(dataset.temporal
      ? {
          'dct:temporal': {
            '@type': 'dct:PeriodOfTime',
            'dcat:startDate': dateValue(dataset.temporal.start),
            ...(dataset.temporal.end ? { 'dcat:endDate': dateValue(dataset.temporal.end) } : {}),
          },
        }
      : {}),
    'dct:issued': dateValue(dataset.issued),
    'dct:modified': dateValue(dataset.modified),
    ...(dataset.version ? { 'dcat:version': dataset.version } : {}),
    ...tdmProperties(dataset, 'tdm:reservation', 'tdm:policy'),
    'odrl:hasPolicy': offerIds.map(policyNode),
    'dcat:distribution': dataset.distributions.map((d) => ({
      '@type': 'dcat:Distribution',
      ...(d.title ? { 'dct:title': texts(d.title) } : {}),
      'dct:description': {
        '@value': `${distributionSummary(d)}, delivered by the connector once a contract is agreed.${d.api ? ` ${describeApi(d.api)}` : ''}`,
        '@language': 'en',
      },
      // Served from the connector's files for as long as the dataset is published.
      'dcatap:availability': concept('http://publications.europa.eu/resource/authority/planned-availability/AVAILABLE'),
      // The bytes are reached through the connector, under a contract: never directly.
      'dcat:accessURL': { '@id': service.endpointURL },
      'dcat:accessService': { '@id': service.id },
      'dct:format': { '@id': `http://publications.europa.eu/resource/authority/file-type/${fileTypeFor(d)}`, '@type': 'dct:MediaTypeOrExtent' },
      'dcat:mediaType': { '@id': `https://www.iana.org/assignments/media-types/${d.mediaType}`, '@type': 'dct:MediaType' },
      ...(d.byteSize !== undefined ? { 'dcat:byteSize': { '@value': String(d.byteSize), '@type': 'xsd:nonNegativeInteger' } } : {}),
      ...(d.sha256 !== undefined
        ? {
            'spdx:checksum': {
              '@type': 'spdx:Checksum',
              'spdx:algorithm': { '@id': 'spdx:checksumAlgorithm_sha256', '@type': 'spdx:ChecksumAlgorithm' },
              'spdx:checksumValue': { '@value': d.sha256, '@type': 'xsd:hexBinary' },
            },
          }
        : {}),
      'dct:license': licenseNode(dataset.license),
      // DCAT-AP allows one policy per distribution: name it when there is exactly one.
      ...(offerIds.length === 1 ? { 'odrl:hasPolicy': policyNode(offerIds[0]!) } : {}),
    })),
  }
}

/** The whole catalog document. What the catalog says as a whole is gathered from its dataset nodes. */
export function dcatCatalog(info: DcatCatalogInfo, datasets: Json[]): Json {
  const summary = catalogSummary(info)
  for (const dataset of datasets) summary.add(dataset)
  const { service, ...tail } = summary.tail()
  return {
    ...dcatCatalogHead(info),
    ...tail,
    'dcat:service': [{ ...service, ...(datasets.length > 0 ? { 'dcat:servesDataset': datasets.map(servedDataset) } : {}) }],
    ...(datasets.length > 0 ? { 'dcat:dataset': datasets } : {}),
  }
}

/** What the catalog document says before its datasets: written first when the document is streamed. */
export function dcatCatalogHead(info: DcatCatalogInfo): Json {
  return {
    '@context': { ...dcatContext, '@base': info.base },
    '@id': info.id,
    '@type': 'dcat:Catalog',
    'dct:title': texts(info.title),
    'dct:description': texts(info.description),
    'dct:publisher': dcatAgent(info.publisher),
    'foaf:homepage': { '@id': info.homepage, '@type': 'foaf:Document' },
  }
}

/** A data service's reference to a dataset it serves. */
export const servedDataset = (dataset: Json): Json => ({ '@id': dataset['@id'], '@type': 'dcat:Dataset' })

/** Keywords and places gathered for the catalog as a whole, at most (a streamed document stays small in memory). */
const summaryLimit = 1000

/**
 * What the catalog says as a whole, gathered from its dataset nodes one at a time (a streamed
 * document adds them as it writes them): the unions of the datasets' places, themes, keywords and
 * languages, the first issue and last modification, and the licence and contact point every dataset
 * shares. `tail()` gives those properties and the data service (without `dcat:servesDataset`, which
 * the caller lists).
 */
export function catalogSummary(info: DcatCatalogInfo) {
  const list = (value: unknown): Json[] => (Array.isArray(value) ? value : value === undefined ? [] : [value]) as Json[]
  const byId = (node: Json) => String(node['@id'])
  const add = (into: Map<string, Json>, node: Json, key: string) => {
    if (into.size < summaryLimit || into.has(key)) into.set(key, node)
  }
  const tags = new Set<string>()
  const collectTags = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(collectTags)
    else if (value && typeof value === 'object') {
      const language = (value as Json)['@language']
      if (typeof language === 'string') tags.add(language.toLowerCase().split('-')[0]!)
      else Object.values(value).forEach(collectTags)
    }
  }
  collectTags([info.title, info.description].map(texts))
  let issued: { '@value': string } | undefined
  let modified: { '@value': string } | undefined
  const licenses = new Map<string, Json>()
  const contacts = new Map<string, Json>()
  const themes = new Map<string, Json>()
  const spatial = new Map<string, Json>()
  const keywords = new Map<string, Json>()
  let count = 0
  return {
    add(dataset: Json) {
      count++
      collectTags(dataset)
      const i = dataset['dct:issued'] as { '@value': string } | undefined
      if (i && (!issued || Date.parse(i['@value']) < Date.parse(issued['@value']))) issued = i
      const m = dataset['dct:modified'] as { '@value': string } | undefined
      if (m && (!modified || Date.parse(m['@value']) > Date.parse(modified['@value']))) modified = m
      // A licence or contact shared by every dataset is the catalog's: two different ones are enough to know it is not.
      for (const distribution of list(dataset['dcat:distribution'])) {
        const license = distribution['dct:license'] as Json | undefined
        if (license && licenses.size < 2) licenses.set(byId(license), license)
      }
      const contact = dataset['dcat:contactPoint'] as Json | undefined
      if (contacts.size < 2) contacts.set(JSON.stringify(contact), contact as Json)
      for (const node of list(dataset['dcat:theme'])) add(themes, node, byId(node))
      for (const node of list(dataset['dct:spatial'])) add(spatial, node, byId(node))
      for (const node of list(dataset['dcat:keyword'])) add(keywords, node, JSON.stringify(node))
    },
    tail(): Json & { service: Json } {
      const themeList = [...themes.values()]
      const schemes = conceptSchemes
        .filter((scheme) => themeList.some((t) => byId(t).startsWith(scheme.prefix)))
        .map((scheme) => ({ '@id': scheme.id, '@type': 'skos:ConceptScheme', 'dct:title': { '@value': scheme.title, '@language': 'en' } }))
      const codes = [...tags]
        .map((tag) => languages[tag])
        .filter((code): code is string => code !== undefined)
        .sort()
      const license = count > 0 && licenses.size === 1 ? [...licenses.values()][0] : undefined
      const contactPoint = count > 0 && contacts.size === 1 ? [...contacts.values()][0] : undefined
      return {
        ...(codes.length > 0
          ? {
              'dct:language': codes.map((code) => ({
                '@id': `http://publications.europa.eu/resource/authority/language/${code}`,
                '@type': 'dct:LinguisticSystem',
              })),
            }
          : {}),
        ...(issued ? { 'dct:issued': issued } : {}),
        ...(modified ? { 'dct:modified': modified } : {}),
        ...(license ? { 'dct:license': license } : {}),
        ...(spatial.size > 0 ? { 'dct:spatial': [...spatial.values()] } : {}),
        ...(schemes.length > 0 ? { 'dcat:themeTaxonomy': schemes } : {}),
        service: {
          ...dcatDataService(info.service),
          'dct:publisher': dcatAgent(info.publisher),
          ...(contactPoint ? { 'dcat:contactPoint': contactPoint } : {}),
          ...(themeList.length > 0 ? { 'dcat:theme': themeList } : {}),
          ...(keywords.size > 0 ? { 'dcat:keyword': [...keywords.values()] } : {}),
        },
      }
    },
  }
}

/** What a distribution is, in a few words: a folder is an archive of files, whose size varies. */
function distributionSummary(d: Distribution): string {
  if (d.folder !== undefined || d.s3?.prefix !== undefined) return `A folder of ${fileTypeFor(d)} files (${d.mediaType}) as one tar or zip archive`
  return `${fileTypeFor(d)} file (${d.mediaType}${d.byteSize !== undefined ? `, ${d.byteSize} bytes` : ''})`
}
