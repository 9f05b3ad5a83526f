import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generatedDataset } from '../../test/support/catalog-fixtures.ts'
import { participantFolder, testPolicySource } from '../../test/support/catalog.ts'
import { testConfig, testContext } from '../../test/support/context.ts'
import { createTestStore, dialects } from '../../test/support/stores.ts'
import { PasserelleError } from '../errors.ts'
import { createApp } from '../http/app.ts'
import type { Identity } from '../identity/identity.ts'
import type { Authenticator } from '../identity/types.ts'
import type { Store } from '../store/store.ts'
import { createCatalog, createCatalogArea } from './routes.ts'

/**
 * POST /management/v1/files/:name: a file streamed into the files folder within the upload limit,
 * measured as it comes, then named by a dataset that peers see in the DSP catalog. Over the limit,
 * a bad name or a taken one: refused, and nothing is left in the files folder.
 */
const key = 'test-management-key-0123456789'
const limit = 4096
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- test bodies are inspected freely
const json = (response: Response): Promise<any> => response.json()
const authenticator: Authenticator = {
  async authenticate({ authorization }) {
    if (authorization === 'Bearer peer-token') return { participantId: 'did:web:peer.example', credentials: [] }
    throw new PasserelleError('unauthorized', 'invalid token')
  },
}

describe.each(dialects)('uploading a file to publish on %s', (dialect) => {
  let store: Store
  let root: string
  let app: ReturnType<typeof createApp>['app']
  const filesOf = () => readdirSync(join(root, 'files')).sort()
  let before: string[]

  beforeAll(async () => {
    store = await createTestStore(dialect)
    root = participantFolder()
    const config = testConfig({ server: { bodyLimit: 1024 }, catalog: { maxUploadBytes: limit } }, root)
    const ctx = testContext(store, { config, identity: { authenticator } as unknown as Identity })
    app = createApp(ctx, [createCatalogArea(await createCatalog(ctx, { policies: testPolicySource() }))]).app
    before = filesOf()
  })
  afterAll(async () => {
    await store?.close()
    rmSync(root, { recursive: true, force: true })
  })

  const upload = (name: string, body: string, headers: Record<string, string> = {}) =>
    app.request(`/management/v1/files/${name}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, ...headers }, body })
  /** A body of `size` bytes sent in chunks, with no declared length: the limit must be counted as it streams. */
  const chunked = (size: number) =>
    new ReadableStream<Uint8Array>({
      start(controller) {
        for (let sent = 0; sent < size; sent += 1000) controller.enqueue(new Uint8Array(Math.min(1000, size - sent)).fill(65))
        controller.close()
      },
    })
  const streamed = { duplex: 'half' } as RequestInit

  it('refuses without the management key, and keeps nothing', async () => {
    const response = await app.request('/management/v1/files/a.csv', { method: 'POST', body: 'x' })
    expect(response.status).toBe(401)
    expect(filesOf()).toEqual(before)
  })

  it('refuses a file over the limit with 413, declared or streamed, and leaves nothing behind', async () => {
    const declared = await upload('big.csv', 'x'.repeat(limit + 1))
    expect(declared.status).toBe(413)
    expect((await json(declared)).error.message).toContain(`upload limit of ${limit} bytes`)
    const counted = await app.request('/management/v1/files/big.csv', {
      method: 'POST',
      headers: { authorization: `Bearer ${key}` },
      body: chunked(limit + 500),
      ...streamed,
    })
    expect(counted.status).toBe(413)
    expect(filesOf()).toEqual(before)
  })

  it('refuses names that are not one file name (folders, .., hidden files, odd characters) with 400', async () => {
    for (const name of ['..%2Fescape.csv', '.hidden', '...', 'a%2Fb.csv', 'sp%20ace.csv', 'x'.repeat(129), 'a..b', '%00.csv']) {
      const response = await upload(name, 'a,b\n')
      expect(response.status, name).toBe(400)
      expect((await json(response)).error.message).toContain('expected a file name')
    }
    // A path segment `..` is resolved away before routing: it reaches no route at all.
    expect((await upload('%2E%2E', 'a')).status).toBe(404)
    expect(filesOf()).toEqual(before)
    expect(existsSync(join(root, 'escape.csv'))).toBe(false)
  })

  it('stores a file measured as it streamed (size, sha256, media type), and refuses the same name again with 409', async () => {
    const content = 'station,temperature\nA,3.5\nB,4.0\n'
    const response = await app.request('/management/v1/files/readings.csv', {
      method: 'POST',
      headers: { authorization: `Bearer ${key}` },
      body: chunked(2500),
      ...streamed,
    })
    expect(response.status).toBe(201)
    const big = new Uint8Array(2500).fill(65)
    expect(await json(response)).toEqual({
      file: 'files/readings.csv',
      byteSize: 2500,
      sha256: createHash('sha256').update(big).digest('hex'),
      mediaType: 'text/csv',
    })
    const again = await upload('readings.csv', content)
    expect(again.status).toBe(409)
    expect(readFileSync(join(root, 'files/readings.csv'))).toEqual(Buffer.from(big))
    expect(filesOf()).toEqual([...before, 'readings.csv'].sort())
  })

  it('publishes a dataset naming the uploaded file: peers see it in the DSP catalog', async () => {
    const received = await json(await upload('stations.json', '{"stations":["A","B"]}', { 'content-type': 'application/json' }))
    const dataset = generatedDataset(7, { distributions: [received], policies: ['open-with-attribution'] })
    const created = await app.request('/management/v1/datasets', {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(dataset),
    })
    expect(created.status).toBe(201)
    const catalog = await app.request('/dsp/2025-1/catalog/request', {
      method: 'POST',
      headers: { authorization: 'Bearer peer-token', 'content-type': 'application/json' },
      body: JSON.stringify({ '@context': ['https://w3id.org/dspace/2025/1/context.jsonld'], '@type': 'CatalogRequestMessage', filter: [] }),
    })
    const entry = ((await json(catalog)).dataset as Array<{ '@id': string; distribution: unknown }>).find((d) => d['@id'] === dataset.id)
    expect(entry).toBeDefined()
    const stored = await app.request(`/management/v1/datasets/${encodeURIComponent(dataset.id)}`, { headers: { authorization: `Bearer ${key}` } })
    expect((await json(stored)).description.distributions).toEqual([received])
  })

  it('refuses a body that breaks off with 400, and keeps nothing', async () => {
    const broken = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(new Uint8Array(100).fill(66))
        controller.error(new Error('connection reset'))
      },
    })
    const response = await app.request('/management/v1/files/broken.csv', {
      method: 'POST',
      headers: { authorization: `Bearer ${key}` },
      body: broken,
      ...streamed,
    })
    expect(response.status).toBe(400)
    expect(filesOf()).not.toContain('broken.csv')
    expect(filesOf().filter((f) => f.startsWith('.upload-'))).toEqual([])
  })

  it('removes an uploaded file on request (a name only), absent or not', async () => {
    await upload('draft.csv', 'a\n')
    expect((await app.request('/management/v1/files/draft.csv', { method: 'DELETE', headers: { authorization: `Bearer ${key}` } })).status).toBe(204)
    expect(existsSync(join(root, 'files/draft.csv'))).toBe(false)
    expect((await app.request('/management/v1/files/draft.csv', { method: 'DELETE', headers: { authorization: `Bearer ${key}` } })).status).toBe(204)
    expect((await app.request('/management/v1/files/..%2Fdatasets', { method: 'DELETE', headers: { authorization: `Bearer ${key}` } })).status).toBe(400)
  })

  it('refuses with 409 to remove a file a dataset names, with the dataset ids, and removes nothing; once the dataset is gone it may go', async () => {
    const received = await json(await upload('named.csv', 'station,t\nA,1\n'))
    const dataset = generatedDataset(8, { distributions: [received], policies: ['open-with-attribution'] })
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' }
    expect((await app.request('/management/v1/datasets', { method: 'POST', headers, body: JSON.stringify(dataset) })).status).toBe(201)

    const refused = await app.request('/management/v1/files/named.csv', { method: 'DELETE', headers })
    expect(refused.status).toBe(409)
    const body = await json(refused)
    expect(body.error.details).toEqual({ datasets: [dataset.id], total: 1 })
    expect(body.error.message).toContain(`files/named.csv is named by dataset ${dataset.id}`)
    expect(readFileSync(join(root, 'files/named.csv'), 'utf8')).toBe('station,t\nA,1\n')

    const path = `/management/v1/datasets/${encodeURIComponent(dataset.id)}`
    expect((await app.request(path, { method: 'DELETE', headers })).status).toBe(204)
    expect((await app.request('/management/v1/files/named.csv', { method: 'DELETE', headers })).status).toBe(204)
    expect(existsSync(join(root, 'files/named.csv'))).toBe(false)
  })
})
