import type { OdrlOffer } from '../../policies/index.ts'
import { Catalog, type CatalogPolicies, type CatalogRequester } from '../../catalog/catalog.ts'
import { DatasetDescription, type DatasetDescriptionInput } from '../../catalog/dataset.ts'

/**
 * Test doubles for the catalog's collaborators: a small policy set whose `members-only` visibility
 * policy allows requesters holding a MembershipCredential.
 */
export const offerBodies: Record<string, OdrlOffer> = {
  'research-only': {
    '@id': 'urn:policy:research-only',
    '@type': 'Offer',
    permission: [{ action: 'use', constraint: [{ leftOperand: 'purpose', operator: 'eq', rightOperand: 'research' }] }],
  },
  'eu-or-canada-processing': {
    '@id': 'urn:policy:eu-or-canada-processing',
    '@type': 'Offer',
    permission: [{ action: 'use', constraint: [{ leftOperand: 'spatial', operator: 'isAnyOf', rightOperand: ['EU', 'CA'] }] }],
  },
  'members-only': {
    '@id': 'urn:policy:members-only',
    '@type': 'Offer',
    permission: [{ action: 'use', constraint: [{ leftOperand: 'membership', operator: 'eq', rightOperand: 'active' }] }],
  },
  'open-with-attribution': {
    '@id': 'urn:policy:open-with-attribution',
    '@type': 'Offer',
    permission: [{ action: 'use', duty: [{ action: 'attribute' }] }],
  },
}

export function fakePolicies(bodies: Record<string, OdrlOffer> = offerBodies): CatalogPolicies & { decisions: string[] } {
  const decisions: string[] = []
  return {
    decisions,
    offer: (id) => bodies[id],
    visible(id, requester) {
      decisions.push(id)
      if (!bodies[id]) return { allowed: false, reason: `unknown policy ${id}` }
      const member = requester.credentials.some((c) => c.types.includes('MembershipCredential'))
      return member ? { allowed: true, reason: 'member' } : { allowed: false, reason: 'requires a MembershipCredential' }
    },
  }
}

export const member: CatalogRequester = {
  participantId: 'did:web:member.example',
  credentials: [{ types: ['VerifiableCredential', 'MembershipCredential'], issuer: 'did:web:issuer.example', claims: { membership: 'active' } }],
}
export const stranger: CatalogRequester = { participantId: 'did:web:stranger.example', credentials: [] }

export const participantId = 'did:web:127.0.0.1%3A8181'
export const dspUrl = 'http://127.0.0.1:8181/dsp/2025-1'

export function testCatalog(policies: CatalogPolicies = fakePolicies()) {
  return new Catalog({
    participantId,
    catalogId: `${dspUrl}/catalog`,
    service: { id: `${dspUrl}#data-service`, endpointURL: dspUrl },
    policies,
    dcat: {
      title: { en: 'St. Lawrence Climate Observatory catalog', fr: "Catalogue de l'Observatoire climatique du Saint-Laurent" },
      description: { en: 'Climate datasets.', fr: 'Jeux de données climatiques.' },
      publisher: { id: 'https://observatoire-climatique.example/', name: 'Observatoire climatique du Saint-Laurent' },
      homepage: 'http://127.0.0.1:8181/',
      base: 'http://127.0.0.1:8181/catalog/datasets/',
      serviceTitle: { en: 'Dataspace Protocol endpoint' },
    },
  })
}

/** A generated, valid dataset description (benchmarks and paging tests). */
export function generatedDataset(n: number, overrides: Partial<DatasetDescriptionInput> = {}): DatasetDescription {
  const id = `urn:uuid:00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`
  return DatasetDescription.parse({
    id,
    title: { en: `Station series ${n}`, fr: `Série de la station ${n}` },
    description: { en: `Hourly observations from station ${n}.`, fr: `Observations horaires de la station ${n}.` },
    keywords: { en: [n % 2 ? 'temperature' : 'precipitation', `station-${n % 100}`] },
    themes: ['http://publications.europa.eu/resource/authority/data-theme/ENVI'],
    publisher: { name: 'Observatoire climatique du Saint-Laurent' },
    contactPoint: { name: 'Data desk', email: 'data@observatoire-climatique.example' },
    license: 'https://creativecommons.org/licenses/by/4.0/',
    issued: '2024-01-01',
    modified: `2024-${String((n % 12) + 1).padStart(2, '0')}-15`,
    distributions: [{ mediaType: 'text/csv', byteSize: 1000 + n, sha256: 'a'.repeat(64), url: `https://upstream.example/series/${n}.csv` }],
    policies: ['open-with-attribution'],
    ...overrides,
  })
}
