import { fileTypeFor, keywordEntries, textEntries, type Agent, type DatasetDescription, type LocalizedText } from './dataset.ts'

/**
 * The catalog as full DCAT-AP 3.0.1 JSON-LD, for open-data portals: a self-contained inline context
 * (no remote document to fetch) and prefixed DCAT / DCT / FOAF / vCard / SPDX terms, typed values
 * and language-tagged texts. Built when the catalog changes, never per request.
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
}

/** A SKOS concept node; DCAT-AP wants a preferred label on each. */
const concept = (id: string) => ({
  '@id': id,
  '@type': 'skos:Concept',
  'skos:prefLabel': { '@value': conceptLabels[id] ?? decodeURIComponent(id.replace(/[/#]+$/, '').split(/[/#]/).pop() ?? id), '@language': 'en' },
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

export function dcatDataService(service: DcatCatalogInfo['service']): Json {
  return {
    '@id': service.id,
    '@type': 'dcat:DataService',
    'dct:title': texts(service.title),
    'dcat:endpointURL': { '@id': service.endpointURL },
    // The protocol peers speak to it: the Dataspace Protocol, 2025-1.
    'dct:conformsTo': { '@id': 'https://w3id.org/dspace/2025/1/', '@type': 'dct:Standard' },
  }
}

/** One dataset node. `offerIds` are the `@id`s of its offers (the ODRL bodies are in the DSP catalog). */
export function dcatDataset(dataset: DatasetDescription, offerIds: string[], service: DcatCatalogInfo['service']): Json {
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
    ...(dataset.spatial.length > 0 ? { 'dct:spatial': dataset.spatial.map((id) => ({ '@id': id, '@type': 'dct:Location' })) } : {}),
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
    'odrl:hasPolicy': offerIds.map((id) => ({ '@id': id })),
    'dcat:distribution': dataset.distributions.map((d) => ({
      '@type': 'dcat:Distribution',
      ...(d.title ? { 'dct:title': texts(d.title) } : {}),
      // The bytes are reached through the connector, under a contract: never directly.
      'dcat:accessURL': { '@id': service.endpointURL },
      'dcat:accessService': { '@id': service.id },
      'dct:format': { '@id': `http://publications.europa.eu/resource/authority/file-type/${fileTypeFor(d)}`, '@type': 'dct:MediaTypeOrExtent' },
      'dcat:mediaType': { '@id': `https://www.iana.org/assignments/media-types/${d.mediaType}`, '@type': 'dct:MediaType' },
      'dcat:byteSize': { '@value': String(d.byteSize), '@type': 'xsd:nonNegativeInteger' },
      'spdx:checksum': {
        '@type': 'spdx:Checksum',
        'spdx:algorithm': { '@id': 'spdx:checksumAlgorithm_sha256' },
        'spdx:checksumValue': { '@value': d.sha256, '@type': 'xsd:hexBinary' },
      },
      'dct:license': { '@id': dataset.license, '@type': 'dct:LicenseDocument' },
      // DCAT-AP allows one policy per distribution: name it when there is exactly one.
      ...(offerIds.length === 1 ? { 'odrl:hasPolicy': { '@id': offerIds[0] } } : {}),
    })),
  }
}

/** The whole catalog document. */
export function dcatCatalog(info: DcatCatalogInfo, datasets: Json[]): Json {
  return {
    '@context': { ...dcatContext, '@base': info.base },
    '@id': info.id,
    '@type': 'dcat:Catalog',
    'dct:title': texts(info.title),
    'dct:description': texts(info.description),
    'dct:publisher': dcatAgent(info.publisher),
    'foaf:homepage': { '@id': info.homepage, '@type': 'foaf:Document' },
    'dcat:service': [dcatDataService(info.service)],
    ...(datasets.length > 0 ? { 'dcat:dataset': datasets } : {}),
  }
}
