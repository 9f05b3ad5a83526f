import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import type { Area } from '../area.ts'
import { PasserelleError } from '../errors.ts'
import { createTestStore } from '../../test/support/stores.ts'
import { testConfig, testContext } from '../../test/support/context.ts'
import { dspSchemaErrors } from '../../test/support/dsp-schemas.ts'
import type { Store } from '../store/store.ts'
import { resolveConfig } from '../config/config.ts'
import { createApp } from './app.ts'
import { versionDocument } from './version.ts'
import { parseJsonBody } from './validate.ts'
import { participantArea } from '../management/participant-routes.ts'

/** Response bodies in tests are read loosely; assertions check their shape. */
const json = (response: Response): Promise<any> => response.json()

const key = 'test-management-key-0123456789'
const auth = { authorization: `Bearer ${key}` }

// A stand-in area that exercises the shared machinery (parsing, error mapping, OpenAPI).
const Echo = z.object({ name: z.string().min(1), count: z.number().int() })
const echoArea: Area = {
  name: 'echo',
  routes({ management, openapi }) {
    openapi.add({ method: 'post', path: '/echo', summary: 'echo', tags: ['test'], body: Echo, responses: { 200: { description: 'echo', schema: Echo } } })
    management.post('/echo', async (c) => c.json(await parseJsonBody(c, Echo)))
    management.get('/boom', () => {
      throw new Error('secret internal detail')
    })
    management.get('/conflict', () => {
      throw new PasserelleError('conflict', 'already there')
    })
  },
}

describe('HTTP app', () => {
  let store: Store
  let app: ReturnType<typeof createApp>['app']
  beforeAll(async () => {
    store = await createTestStore('sqlite')
    app = createApp(testContext(store, { config: testConfig({ server: { bodyLimit: 1000 } }) }), [participantArea, echoArea]).app
  })
  afterAll(() => store.close())

  describe('GET /health', () => {
    it('answers 200 with the database status', async () => {
      const response = await app.request('/health')
      expect(response.status).toBe(200)
      expect(await json(response)).toMatchObject({ status: 'ok', database: { dialect: 'sqlite', status: 'up' } })
    })

    it('answers 503 when the database is unreachable', async () => {
      const broken = await createTestStore('sqlite')
      const brokenApp = createApp(testContext(broken), []).app
      await broken.close()
      const response = await brokenApp.request('/health')
      expect(response.status).toBe(503)
      expect(await json(response)).toMatchObject({ status: 'unavailable', database: { status: 'down' } })
    })
  })

  describe('GET /.well-known/dspace-version', () => {
    it('is plain JSON valid against the DSP 2025-1 version schema, without authentication', async () => {
      const response = await app.request('/.well-known/dspace-version')
      expect(response.status).toBe(200)
      const body = await json(response)
      expect(body).not.toHaveProperty('@context')
      expect(dspSchemaErrors('common/protocol-version-schema.json', body)).toEqual([])
      expect(body.protocolVersions).toEqual([
        expect.objectContaining({ version: '2025-1', path: '/dsp/2025-1', binding: 'HTTPS' }),
        expect.objectContaining({ version: '2024-1', path: '/dsp/2024-1', binding: 'HTTPS' }),
      ])
    })

    it('lists each entry with its own path under the public URL, and only the versions configured', () => {
      const base = { participant: { id: 'did:web:x.test', name: 'x' }, management: { apiKey: 'k'.repeat(32) } }
      const only2024 = versionDocument(
        resolveConfig({ ...base, dsp: { versions: ['2024-1'] }, server: { publicUrl: 'https://x.test/connector' } }, '/', { env: {} }),
      )
      expect(only2024.protocolVersions.map((v) => [v.version, v.path])).toEqual([['2024-1', '/connector/dsp/2024-1']])
      expect(() => resolveConfig({ ...base, dsp: { versions: [] } }, '/', { env: {} })).toThrow(/dsp\.versions/)
      expect(() => resolveConfig({ ...base, dsp: { versions: ['2023-1'] } }, '/', { env: {} })).toThrow(/dsp\.versions/)
    })

    it('lists the ODRL profiles the policy engine implements', async () => {
      const body = await json(await app.request('/.well-known/dspace-version'))
      expect(body.protocolVersions[0].odrlProfiles).toEqual(['https://w3id.org/dspace/2025/1/odrl-profile', 'https://w3id.org/passerelle/policy/profile'])
    })
  })

  describe('request ids', () => {
    it('are generated when absent and returned in a header', async () => {
      const response = await app.request('/health')
      expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
    })

    it('are kept when the caller sends a well-formed one, and replaced when it is hostile', async () => {
      expect((await app.request('/health', { headers: { 'x-request-id': 'abc-123' } })).headers.get('x-request-id')).toBe('abc-123')
      const hostile = await app.request('/health', { headers: { 'x-request-id': 'a'.repeat(500) } })
      expect(hostile.headers.get('x-request-id')).not.toBe('a'.repeat(500))
    })
  })

  describe('management API', () => {
    it('answers 401 without a key, with a wrong key and with a malformed header', async () => {
      for (const headers of [{}, { authorization: 'Bearer wrong-key-wrong-key-wrong' }, { authorization: key }] as Record<string, string>[]) {
        const response = await app.request('/management/v1/participant', { headers })
        expect(response.status).toBe(401)
        expect((await json(response)).error.code).toBe('unauthorized')
      }
    })

    it('answers with the key', async () => {
      const response = await app.request('/management/v1/participant', { headers: auth })
      expect(response.status).toBe(200)
      expect(await json(response)).toMatchObject({ participantId: 'did:web:127.0.0.1%3A8181', dspUrl: 'http://127.0.0.1:8181/dsp/2025-1' })
    })

    it('is disabled, with a message saying how to enable it, when no key is configured', async () => {
      const open = createApp(testContext(store, { config: testConfig({ management: {} }) }), [participantArea]).app
      const response = await open.request('/management/v1/participant', { headers: { authorization: 'Bearer anything-at-all-here' } })
      expect(response.status).toBe(401)
      expect((await json(response)).error.message).toMatch(/disabled.*PASSERELLE_MANAGEMENT_KEY/)
    })

    it('serves an OpenAPI 3.1 document generated from the route schemas', async () => {
      const response = await app.request('/management/v1/openapi.json', { headers: auth })
      const document = await json(response)
      expect(document.openapi).toBe('3.1.0')
      expect(document.paths['/participant'].get.responses['200'].content['application/json'].schema.properties).toHaveProperty('participantId')
      expect(document.paths['/echo'].post.requestBody.content['application/json'].schema.required).toEqual(['name', 'count'])
    })

    it('refuses malformed JSON with 400 and says why', async () => {
      const response = await app.request('/management/v1/echo', { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"name":' })
      expect(response.status).toBe(400)
      expect((await json(response)).error.message).toMatch(/not valid JSON/)
    })

    it('refuses a body of the wrong shape with 400 naming the field', async () => {
      const response = await app.request('/management/v1/echo', {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: '{"name":"x","count":"two"}',
      })
      expect(response.status).toBe(400)
      expect((await json(response)).error.message).toMatch(/^body\.count: expected number/)
    })

    it('refuses a body that is not JSON with 415', async () => {
      const response = await app.request('/management/v1/echo', { method: 'POST', headers: { ...auth, 'content-type': 'text/plain' }, body: 'hello' })
      expect(response.status).toBe(415)
    })

    it('refuses a body over the limit with 413', async () => {
      const body = JSON.stringify({ name: 'x'.repeat(2000), count: 1 })
      const response = await app.request('/management/v1/echo', { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body })
      expect(response.status).toBe(413)
      expect((await json(response)).error.message).toMatch(/larger than the limit of 1000 bytes/)
    })

    it('refuses a declared length over the limit with 413 before reading the body', async () => {
      const response = await app.request('/management/v1/echo', {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json', 'content-length': '1001' },
        body: '{"name":"x","count":1}',
      })
      expect(response.status).toBe(413)
      expect((await json(response)).error.message).toMatch(/larger than the limit of 1000 bytes/)
    })

    it('maps domain errors through the closed vocabulary', async () => {
      const response = await app.request('/management/v1/conflict', { headers: auth })
      expect(response.status).toBe(409)
      expect((await json(response)).error).toMatchObject({ code: 'conflict', message: 'already there' })
    })

    it('answers 500 without leaking internal details', async () => {
      const response = await app.request('/management/v1/boom', { headers: auth })
      expect(response.status).toBe(500)
      expect(JSON.stringify(await json(response))).not.toContain('secret internal detail')
    })
  })

  it('answers unknown routes with 404 in JSON', async () => {
    const response = await app.request('/nowhere')
    expect(response.status).toBe(404)
    expect((await json(response)).error.code).toBe('not_found')
  })
})
