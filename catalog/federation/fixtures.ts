import { dspContextUrl } from './dsp-catalog.ts'

/**
 * Generated DSP catalogs for tests and benchmarks: valid against the DSP 2025-1 schemas, with
 * real-looking DCAT metadata (titles in English and French, keywords, themes, coverage, licence).
 */

const subjects = [
  ['Daily precipitation', 'Précipitations quotidiennes', 'precipitation'],
  ['Air temperature', 'Température de l’air', 'temperature'],
  ['Sea-ice extent', 'Étendue de la glace de mer', 'sea ice'],
  ['Wildfire risk index', 'Indice de risque de feux de forêt', 'wildfire'],
  ['River discharge', 'Débit des rivières', 'hydrology'],
  ['Snow depth', 'Épaisseur de neige', 'snow'],
  ['Wind speed', 'Vitesse du vent', 'wind'],
  ['Air quality', 'Qualité de l’air', 'air quality'],
] as const
const places = [
  ['Quebec', 'Québec', 'http://sws.geonames.org/6115047/'],
  ['Ontario', 'Ontario', 'http://sws.geonames.org/6093943/'],
  ['Nunavut', 'Nunavut', 'http://sws.geonames.org/6091732/'],
  ['British Columbia', 'Colombie-Britannique', 'http://sws.geonames.org/5909050/'],
  ['Brittany', 'Bretagne', 'http://sws.geonames.org/3030293/'],
] as const
const themes = [
  'http://publications.europa.eu/resource/authority/data-theme/ENVI',
  'http://publications.europa.eu/resource/authority/data-theme/AGRI',
  'http://publications.europa.eu/resource/authority/data-theme/HEAL',
]
const licenses = ['http://creativecommons.org/licenses/by/4.0/', 'http://creativecommons.org/licenses/by-nc/4.0/']
const formats = ['HttpData-PULL', 'HttpData-PUSH']

export interface FixtureOptions {
  /** Prefix of dataset ids (e.g. the peer's name), so that ids differ between peers. */
  prefix?: string
  modified?: string
  /** The offer every dataset carries; defaults to "use for research". */
  offer?: Record<string, unknown>
}

export const researchOffer = (id: string) => ({
  '@id': id,
  '@type': 'Offer',
  permission: [{ action: 'use', constraint: [{ leftOperand: 'purpose', operator: 'eq', rightOperand: 'research' }] }],
  prohibition: [{ action: 'distribute' }],
})

export function fixtureDataset(i: number, options: FixtureOptions = {}): Record<string, unknown> {
  const prefix = options.prefix ?? 'fixture'
  const [en, fr, keyword] = subjects[i % subjects.length]!
  const [placeEn, placeFr, geonames] = places[Math.floor(i / subjects.length) % places.length]!
  const year = 1990 + (i % 30)
  return {
    '@id': `urn:${prefix}:dataset:${i}`,
    '@type': 'Dataset',
    'dct:title': [
      { '@value': `${en} — ${placeEn} stations, ${year} (${prefix} ${i})`, '@language': 'en' },
      { '@value': `${fr} — stations de ${placeFr}, ${year}`, '@language': 'fr' },
    ],
    'dct:description': [
      { '@value': `Station series of ${en.toLowerCase()} measured in ${placeEn} from ${year}, quality-controlled and gap-filled.`, '@language': 'en' },
    ],
    'dcat:keyword': [keyword, placeEn.toLowerCase(), 'climate'],
    'dcat:theme': [{ '@id': themes[i % themes.length]! }],
    'dct:license': { '@id': licenses[i % licenses.length]! },
    'dct:spatial': { '@id': geonames },
    'dct:temporal': { 'dcat:startDate': `${year}-01-01`, 'dcat:endDate': `${year + 5}-12-31` },
    'dct:modified': options.modified ?? `2026-0${1 + (i % 9)}-15T00:00:00Z`,
    hasPolicy: [options.offer ?? researchOffer(`urn:${prefix}:offer:research`)],
    distribution: [{ '@type': 'Distribution', format: formats[i % formats.length]!, accessService: `urn:${prefix}:service` }],
  }
}

export function fixtureCatalog(participantId: string, datasets: unknown[], prefix = 'fixture'): Record<string, unknown> {
  return {
    '@context': [dspContextUrl],
    '@id': `urn:${prefix}:catalog`,
    '@type': 'Catalog',
    participantId,
    service: [{ '@id': `urn:${prefix}:service`, '@type': 'DataService', endpointURL: `https://${prefix}.example/dsp` }],
    ...(datasets.length > 0 ? { dataset: datasets } : {}),
  }
}
