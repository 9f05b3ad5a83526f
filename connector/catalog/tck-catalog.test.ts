import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { catalogPoliciesFrom } from './policy-source.ts'
import { testConfig, testContext } from '../../test/support/context.ts'
import { expectDspValid } from '../../test/support/dsp-schemas.ts'
import { createTestStore } from '../../test/support/stores.ts'
import { createApp } from '../http/app.ts'
import type { Identity } from '../identity/identity.ts'
import { createStaticIdentity } from '../identity/static-identity.ts'
import { fromRoot } from '../paths.ts'
import type { Store } from '../store/store.ts'
import type { CompiledPolicy } from '../../policies/index.ts'
import { catalogOfferLookup } from './offer-lookup.ts'
import { createCatalog, createCatalogArea, type CatalogParts } from './routes.ts'

/**
 * The DSP TCK's catalog cases over a TCK-like participant (fixtures/tck: datasets CAT0101 and
 * CAT0102 with an open offer, static bearer tokens as the TCK uses):
 * CAT0101 the dataset is listed, CAT0102 the dataset is readable, CAT0103 an unknown dataset
 * answers a CatalogError.
 */
const openOffer = { '@id': 'urn:policy:tck-open', '@type': 'Offer' as const, permission: [{ action: 'use' }] }
const policies = new Map([
  [
    'tck-open',
    { id: 'tck-open', title: 'open', sourceFile: 'tck-open.yaml', odrl: openOffer, plainText: 'Anyone may use it.', model: {} } as unknown as CompiledPolicy,
  ],
])

describe('TCK catalog cases', () => {
  let store: Store
  let app: ReturnType<typeof createApp>['app']
  let catalog: CatalogParts
  const headers = { authorization: 'Bearer tck-consumer-token', 'content-type': 'application/json' }
  const dataDir = mkdtempSync(join(tmpdir(), 'tck-catalog-'))

  beforeAll(async () => {
    store = await createTestStore('sqlite')
    const config = testConfig({ dataDir, catalog: { datasetsDir: 'datasets', policiesDir: 'policies' } }, fromRoot('connector/catalog/fixtures/tck'))
    const identity = createStaticIdentity({ 'tck-consumer-token': 'did:web:tck.example' }, config.participant.id)
    const ctx = testContext(store, { config, identity: identity as unknown as Identity })
    catalog = await createCatalog(ctx, { policies: catalogPoliciesFrom(policies) })
    app = createApp(ctx, [createCatalogArea(catalog)]).app
  })
  afterAll(async () => {
    await store?.close()
    rmSync(dataDir, { recursive: true, force: true })
  })

  it('CAT0101: the dataset is listed in the catalog', async () => {
    const response = await app.request('/dsp/2025-1/catalog/request', {
      method: 'POST',
      headers,
      body: JSON.stringify({ '@context': ['https://w3id.org/dspace/2025/1/context.jsonld'], '@type': 'CatalogRequestMessage', filter: [] }),
    })
    expect(response.status).toBe(200)
    const body = (await response.json()) as { dataset: Array<{ '@id': string; hasPolicy: Array<{ '@id': string }> }> }
    expectDspValid('catalog/catalog-schema.json', body)
    expect(body.dataset.map((d) => d['@id'])).toContain('CAT0101')
    expect(body.dataset.find((d) => d['@id'] === 'CAT0101')!.hasPolicy[0]!['@id']).toBe('urn:policy:tck-open')
  })

  it('CAT0102: the dataset is readable', async () => {
    const response = await app.request('/dsp/2025-1/catalog/datasets/CAT0102', { headers })
    expect(response.status).toBe(200)
    const body = (await response.json()) as { '@id': string }
    expectDspValid('catalog/dataset-schema.json', body)
    expect(body['@id']).toBe('CAT0102')
  })

  it('CAT0103: an unknown dataset answers 404 with a CatalogError', async () => {
    const response = await app.request('/dsp/2025-1/catalog/datasets/CAT0103', { headers })
    expect(response.status).toBe(404)
    expectDspValid('catalog/catalog-error-schema.json', await response.json())
  })

  it('gives negotiation the offers the catalog publishes, and none for an unknown dataset', async () => {
    const lookup = catalogOfferLookup(catalog.service)
    const asked = { requester: { participantId: 'urn:connector:tck', credentials: [] }, now: new Date() }
    expect(await lookup.find({ datasetId: 'CAT0101', offerId: 'urn:policy:tck-open', ...asked })).toMatchObject({
      offer: openOffer,
      name: 'tck-open',
      policy: { id: 'tck-open' },
    })
    expect(await lookup.find({ datasetId: 'CAT0101', offerId: 'urn:policy:other', ...asked })).toBeUndefined()
    expect(await lookup.offersOf({ datasetId: 'CAT0103', ...asked })).toEqual([])
  })
})
