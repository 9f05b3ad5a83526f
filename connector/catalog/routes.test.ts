import { rmSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generatedDataset } from '../../test/support/catalog-fixtures.ts'
import { testConfig, testContext } from '../../test/support/context.ts'
import { expectDspValid } from '../../test/support/dsp-schemas.ts'
import { createTestStore, dialects } from '../../test/support/stores.ts'
import { PasserelleError } from '../errors.ts'
import { createApp } from '../http/app.ts'
import type { Identity } from '../identity/identity.ts'
import type { Authenticator } from '../identity/types.ts'
import type { Store } from '../store/store.ts'
import { createCatalog, createCatalogArea } from './routes.ts'
import { participantFolder, testPolicySource } from '../../test/support/catalog.ts'

const dsp = '/dsp/2025-1'
const key = 'test-management-key-0123456789'
const manage = { authorization: `Bearer ${key}`, 'content-type': 'application/json' }
const asMember = { authorization: 'Bearer member-token', 'content-type': 'application/json' }
const asStranger = { authorization: 'Bearer stranger-token', 'content-type': 'application/json' }
const hiddenId = 'urn:uuid:d9c7c33d-9423-4f98-9122-8c84794feb94'
const iceId = 'urn:uuid:0f3cee7e-e077-4be0-9365-3a791567f70e'
const request = (filter: unknown[] = []) =>
  JSON.stringify({ '@context': ['https://w3id.org/dspace/2025/1/context.jsonld'], '@type': 'CatalogRequestMessage', filter })

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- test bodies are inspected freely
type JsonResponse = Omit<Response, 'json'> & { json(): Promise<any> }

const authenticator: Authenticator = {
  async authenticate({ authorization }) {
    if (authorization === 'Bearer member-token')
      return {
        participantId: 'did:web:member.example',
        credentials: [{ types: ['VerifiableCredential', 'MembershipCredential'], issuer: 'did:web:issuer.example', claims: {} }],
      }
    if (authorization === 'Bearer stranger-token') return { participantId: 'did:web:stranger.example', credentials: [] }
    throw new PasserelleError('unauthorized', 'invalid token')
  },
}

describe.each(dialects)('catalog routes on %s', (dialect) => {
  let store: Store
  let root: string
  let app: ReturnType<typeof createApp>['app']

  beforeAll(async () => {
    store = await createTestStore(dialect)
    root = participantFolder()
    const config = testConfig({ server: { bodyLimit: 64 * 1024 } }, root)
    const ctx = testContext(store, { config, identity: { authenticator } as unknown as Identity })
    app = createApp(ctx, [createCatalogArea(await createCatalog(ctx, { policies: testPolicySource() }))]).app
  })
  afterAll(async () => {
    await store?.close()
    rmSync(root, { recursive: true, force: true })
  })

  const call = (url: string, init?: RequestInit) => app.request(url, init) as unknown as Promise<JsonResponse>
  const catalogRequest = (headers = asMember, body = request(), query = '') => call(`${dsp}/catalog/request${query}`, { method: 'POST', headers, body })
  const ids = async (response: JsonResponse) => ((await response.json()).dataset ?? []).map((d: { '@id': string }) => d['@id'])

  describe('POST <dsp>/catalog/request', () => {
    it('answers a valid DSP Catalog of the seed datasets', async () => {
      const response = await catalogRequest()
      expect(response.status).toBe(200)
      const body = await response.json()
      expectDspValid('catalog/catalog-schema.json', body)
      expect(body.dataset).toHaveLength(5)
      expect(body.service[0].endpointURL).toBe('http://127.0.0.1:8181/dsp/2025-1')
    })

    it('hides the members-only dataset from a stranger and shows it to a member', async () => {
      expect(await ids(await catalogRequest(asStranger))).not.toContain(hiddenId)
      expect(await ids(await catalogRequest(asMember))).toContain(hiddenId)
    })

    it('walks every dataset exactly once through Link rel="next", and back through rel="previous"', async () => {
      const seen: string[] = []
      let url: string | undefined = `${dsp}/catalog/request?limit=2`
      let last: JsonResponse | undefined
      while (url) {
        last = await call(url, { method: 'POST', headers: asStranger, body: request() })
        expect(last.status).toBe(200)
        const body = await last.json()
        expectDspValid('catalog/catalog-schema.json', body)
        seen.push(...body.dataset.map((d: { '@id': string }) => d['@id']))
        const next = /<([^>]+)>; rel="next"/.exec(last.headers.get('link') ?? '')?.[1]
        url = next ? next.replace('http://127.0.0.1:8181', '') : undefined
      }
      expect(seen).toHaveLength(4)
      expect(new Set(seen).size).toBe(4)
      expect(last!.headers.get('link')).toMatch(/offset=0&limit=2>; rel="previous"/)
    })

    it('answers 304 without a body to a requester who holds the current page, and the new page after a change', async () => {
      const first = await catalogRequest(asMember)
      const tag = first.headers.get('etag')!
      expect(tag).toMatch(/^"[^"]+"$/)
      const again = await catalogRequest({ ...asMember, 'if-none-match': tag } as typeof asMember)
      expect(again.status).toBe(304)
      expect(await again.text()).toBe('')
      // Another requester's decisions give another tag: a member's tag never answers a stranger.
      const stranger = await catalogRequest({ ...asStranger, 'if-none-match': tag } as typeof asStranger)
      expect(stranger.status).toBe(200)
      expect(await ids(stranger)).not.toContain(hiddenId)
      // A stale tag gets the full answer.
      const changed = generatedDataset(4242)
      expect((await call('/management/v1/datasets', { method: 'POST', headers: manage, body: JSON.stringify(changed) })).status).toBe(201)
      const after = await catalogRequest({ ...asMember, 'if-none-match': tag } as typeof asMember)
      expect(after.status).toBe(200)
      expect(after.headers.get('etag')).not.toBe(tag)
      expect(await ids(after)).toContain(changed.id)
      expect((await call(`/management/v1/datasets/${encodeURIComponent(changed.id)}`, { method: 'DELETE', headers: manage })).status).toBe(204)
    })

    it('filters by keyword', async () => {
      expect(await ids(await catalogRequest(asMember, request([{ keyword: 'sea ice' }])))).toEqual([iceId])
    })

    it('answers 401 with a CatalogError without valid authentication', async () => {
      for (const headers of [{ 'content-type': 'application/json' }, { authorization: 'Bearer forged', 'content-type': 'application/json' }]) {
        const response = await catalogRequest(headers as typeof asMember)
        expect(response.status).toBe(401)
        expectDspValid('catalog/catalog-error-schema.json', await response.json())
      }
    })

    it.each([
      ['malformed JSON', '{"@context": [', 400],
      ['a wrong @type', JSON.stringify({ '@context': ['https://w3id.org/dspace/2025/1/context.jsonld'], '@type': 'DatasetRequestMessage' }), 400],
      [
        'a prefixed @type of another message',
        JSON.stringify({ '@context': ['https://w3id.org/dspace/2025/1/context.jsonld'], '@type': 'dspace:DatasetRequestMessage' }),
        400,
      ],
      [
        'a @context naming a context the connector does not have',
        JSON.stringify({ '@context': ['https://w3id.org/dspace/2025/1/context.jsonld', 'https://example.org/other.jsonld'], '@type': 'CatalogRequestMessage' }),
        400,
      ],
      ['a @context without the DSP context', JSON.stringify({ '@context': ['https://example.org/other.jsonld'], '@type': 'CatalogRequestMessage' }), 400],
      ['an array body', '[]', 400],
      ['an unsupported filter', request([{ colour: 'blue' }]), 400],
      [
        'a filter that is not an array',
        JSON.stringify({ '@context': ['https://w3id.org/dspace/2025/1/context.jsonld'], '@type': 'CatalogRequestMessage', filter: 'keyword=ice' }),
        400,
      ],
      ['a huge body', request([{ text: 'x'.repeat(100 * 1024) }]), 413],
    ])('refuses %s with a CatalogError', async (_name, body, status) => {
      const response = await catalogRequest(asMember, body)
      expect(response.status).toBe(status)
      expectDspValid('catalog/catalog-error-schema.json', await response.json())
    })

    it('refuses bad paging parameters with a CatalogError', async () => {
      for (const query of ['?limit=0', '?limit=5000', '?offset=-1', '?page=2']) {
        const response = await catalogRequest(asMember, request(), query)
        expect(response.status).toBe(400)
        expectDspValid('catalog/catalog-error-schema.json', await response.json())
      }
    })
  })

  describe('GET <dsp>/catalog/datasets/:id', () => {
    it('answers a valid DSP Dataset, with a percent-encoded urn:uuid id', async () => {
      const response = await call(`${dsp}/catalog/datasets/${encodeURIComponent(iceId)}`, { headers: asStranger })
      expect(response.status).toBe(200)
      const body = await response.json()
      expectDspValid('catalog/dataset-schema.json', body)
      expect(body['@id']).toBe(iceId)
      // Push into the consumer's S3 storage is offered alongside the HTTP transfer types.
      expect((body.distribution as Array<{ format: string }>).map((d) => d.format)).toEqual(['HttpData-PULL', 'HttpData-PUSH', 'AmazonS3-PUSH'])
    })

    it('answers 404 with a CatalogError for an unknown dataset, and for a hidden one alike', async () => {
      for (const id of ['urn:uuid:00000000-0000-0000-0000-000000000000', hiddenId]) {
        const response = await call(`${dsp}/catalog/datasets/${encodeURIComponent(id)}`, { headers: asStranger })
        expect(response.status).toBe(404)
        const body = await response.json()
        expectDspValid('catalog/catalog-error-schema.json', body)
        expect(body.reason[0]).toBe(`no dataset ${id}`)
      }
      expect((await call(`${dsp}/catalog/datasets/${encodeURIComponent(hiddenId)}`, { headers: asMember })).status).toBe(200)
    })

    it('answers 401 without authentication', async () => {
      const response = await call(`${dsp}/catalog/datasets/${encodeURIComponent(iceId)}`)
      expect(response.status).toBe(401)
      expectDspValid('catalog/catalog-error-schema.json', await response.json())
    })
  })

  describe('GET /catalog.jsonld', () => {
    it('answers the DCAT-AP document without authentication, public datasets only', async () => {
      const response = await call('/catalog.jsonld')
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toMatch(/^application\/ld\+json/)
      const body = await response.json()
      expect(body['@type']).toBe('dcat:Catalog')
      expect(body['dcat:dataset'].map((d: { '@id': string }) => d['@id'])).not.toContain(hiddenId)
    })

    it('pages the DCAT-AP document with Link headers, every public dataset exactly once', async () => {
      const seen: string[] = []
      let url: string | undefined = '/catalog.jsonld?limit=3'
      while (url) {
        const response: JsonResponse = await call(url)
        expect(response.status).toBe(200)
        const body = await response.json()
        expect(body['@type']).toBe('dcat:Catalog')
        seen.push(...(body['dcat:dataset'] ?? []).map((d: { '@id': string }) => d['@id']))
        url = /<([^>]+)>; rel="next"/.exec(response.headers.get('link') ?? '')?.[1]?.replace('http://127.0.0.1:8181', '')
      }
      const whole = (await (await call('/catalog.jsonld')).json())['dcat:dataset'].map((d: { '@id': string }) => d['@id'])
      expect(seen).toEqual(whole)
      expect((await call('/catalog.jsonld?limit=0')).status).toBe(400)
    })
  })

  describe('management API /management/v1/datasets', () => {
    const created = generatedDataset(42, { policies: ['research-only'] })

    it('refuses requests without the management key', async () => {
      expect((await call('/management/v1/datasets')).status).toBe(401)
      expect(
        (await call('/management/v1/datasets', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(created) })).status,
      ).toBe(401)
      expect(await ids(await catalogRequest(asMember, request([{ keyword: 'station-42' }])))).toEqual([])
    })

    it('creates a dataset that peers see at once, and stores it', async () => {
      const response = await call('/management/v1/datasets', { method: 'POST', headers: manage, body: JSON.stringify(created) })
      expect(response.status).toBe(201)
      expect(await response.json()).toMatchObject({ id: created.id, source: 'api', published: true })
      expect(await ids(await catalogRequest(asStranger, request([{ keyword: 'station-42' }])))).toEqual([created.id])
      const rows = await store.db.select().from(store.tables.catalogDatasets)
      expect(rows.filter((r) => r.source === 'api').map((r) => r.id)).toEqual([created.id])
    })

    it('refuses an invalid description naming the field, and publishes nothing', async () => {
      const before = (await (await call('/management/v1/datasets', { headers: manage })).json()).total
      for (const [body, field] of [
        [{ ...created, id: 'urn:uuid:new-1', license: undefined }, 'license'],
        [{ ...created, id: 'urn:uuid:new-2', policies: ['no-such-policy'] }, 'policies.0'],
        [{ ...created, id: 'urn:uuid:new-3', surprise: true }, ''],
        [
          { ...created, id: 'urn:uuid:new-4', distributions: [{ ...created.distributions[0], file: 'files/nope.csv', url: undefined }] },
          'distributions.0.file',
        ],
      ] as const) {
        const response = await call('/management/v1/datasets', { method: 'POST', headers: manage, body: JSON.stringify(body) })
        expect(response.status).toBe(400)
        expect((await response.json()).error.message).toContain(field)
      }
      expect((await (await call('/management/v1/datasets', { headers: manage })).json()).total).toBe(before)
    })

    it('refuses a duplicate id with 409', async () => {
      const again = await call('/management/v1/datasets', { method: 'POST', headers: manage, body: JSON.stringify(created) })
      expect(again.status).toBe(409)
      const fileId = await call('/management/v1/datasets', { method: 'POST', headers: manage, body: JSON.stringify({ ...created, id: iceId }) })
      expect(fileId.status).toBe(409)
    })

    it('keeps file datasets read-only through the API', async () => {
      const path = `/management/v1/datasets/${encodeURIComponent(iceId)}`
      const read = await call(path, { headers: manage })
      expect(await read.json()).toMatchObject({ source: 'file', file: 'datasets/arctic-sea-ice-extent.yaml' })
      expect((await call(path, { method: 'PUT', headers: manage, body: JSON.stringify({ ...created, id: iceId }) })).status).toBe(409)
      expect((await call(path, { method: 'DELETE', headers: manage })).status).toBe(409)
      expect(await ids(await catalogRequest(asStranger, request([{ keyword: 'sea ice' }])))).toEqual([iceId])
    })

    it('replaces a dataset and republishes it', async () => {
      const path = `/management/v1/datasets/${encodeURIComponent(created.id)}`
      const response = await call(path, { method: 'PUT', headers: manage, body: JSON.stringify({ ...created, title: 'Renamed series' }) })
      expect(response.status).toBe(200)
      const dataset = await (await call(`${dsp}/catalog/datasets/${encodeURIComponent(created.id)}`, { headers: asStranger })).json()
      expect(dataset['dct:title']).toBe('Renamed series')
      const mismatch = await call(path, { method: 'PUT', headers: manage, body: JSON.stringify({ ...created, id: 'urn:uuid:other' }) })
      expect(mismatch.status).toBe(400)
    })

    it('lists with paging and Link headers', async () => {
      const response = await call('/management/v1/datasets?limit=2&offset=2', { headers: manage })
      const body = await response.json()
      expect(body).toMatchObject({ total: 6, offset: 2, limit: 2 })
      expect(body.items).toHaveLength(2)
      expect(response.headers.get('link')).toContain('rel="next"')
      expect(response.headers.get('link')).toContain('rel="previous"')
    })

    it('reads a dataset whose id is an http IRI (slashes percent-encoded) over DSP and the API', async () => {
      const iri = generatedDataset(43, { id: 'https://observatoire-climatique.example/datasets/ice?v=2' })
      expect((await call('/management/v1/datasets', { method: 'POST', headers: manage, body: JSON.stringify(iri) })).status).toBe(201)
      const response = await call(`${dsp}/catalog/datasets/${encodeURIComponent(iri.id)}`, { headers: asStranger })
      expect(response.status).toBe(200)
      expect((await response.json())['@id']).toBe(iri.id)
      expect((await call(`/management/v1/datasets/${encodeURIComponent(iri.id)}`, { method: 'DELETE', headers: manage })).status).toBe(204)
    })

    it('deletes a dataset: gone from the catalog, 404 afterwards', async () => {
      const path = `/management/v1/datasets/${encodeURIComponent(created.id)}`
      expect((await call(path, { method: 'DELETE', headers: manage })).status).toBe(204)
      expect((await call(path, { headers: manage })).status).toBe(404)
      expect((await call(path, { method: 'DELETE', headers: manage })).status).toBe(404)
      expect((await call(`${dsp}/catalog/datasets/${encodeURIComponent(created.id)}`, { headers: asStranger })).status).toBe(404)
    })
  })
})
