/**
 * Datasets kept in S3-compatible storage and in folders: a real S3-protocol server (s3rver, over
 * HTTP on 127.0.0.1) holds the objects; two connectors negotiate and pull an object (Range passed
 * through), a folder and a prefix as tar (unpacked with the system `tar`, checked against the
 * manifest) and as zip. Attacks: wrong credentials, an endpoint at an address the operator did not
 * allow, a storage sending more bytes than it declared, a missing object: clear errors, no secret
 * in answers or logs, nothing counted.
 *
 * Push into the consumer's storage (`AmazonS3-PUSH`): a file and an S3 object written into the
 * consumer's bucket by multipart upload; a key with `..`, a destination on an address the provider
 * does not allow, missing credentials and a bucket that does not exist each end with a clear
 * error, the agreement's count untouched, and the consumer's access key nowhere to be read.
 */
import { execFileSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer as createNetServer, type Server as NetServer } from 'node:net'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { eq } from 'drizzle-orm'
import { getRequestListener } from '@hono/node-server'
import S3rver from 's3rver'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Distribution } from '../../catalog/index.ts'
import { systemClock } from '../../connector/clock.ts'
import { createApp } from '../../connector/http/app.ts'
import { egressPolicy } from '../../connector/http/egress.ts'
import { createPeerClient } from '../../connector/http/peer-client.ts'
import { randomIds } from '../../connector/ids.ts'
import type { Store } from '../../connector/store/store.ts'
import { createLogger } from '../../connector/telemetry/logger.ts'
import { distributionSource, enginePolicyUsage } from '../../connector/transfer/adapters.ts'
import { httpDataAddress, readHttpDataAddress, type DataAddress } from '../../connector/transfer/messages.ts'
import { transferArea } from '../../connector/transfer/area.ts'
import type { Agreement } from '../../connector/transfer/ports.ts'
import { sharedDispatcher } from '../support/areas.ts'
import { testConfig, testContext } from '../support/context.ts'
import { allowAll } from '../support/transfer.ts'
import { freePort } from '../support/processes.ts'
import { createTestStore } from '../support/stores.ts'

const managementKey = 'test-management-key-0123456789'
const secretKey = 'sEcReT-0f-the-store-9876543210'
const object = randomBytes(3 * 1024 * 1024 + 17)
const longName = `${'very-long-station-name-'.repeat(6)}.csv`
const folderFiles: Record<string, Buffer> = {
  'a.csv': Buffer.from('station,t\nA,1.5\n'),
  [`deep/${longName}`]: randomBytes(70_000),
  'deep/été.txt': Buffer.from('non-ASCII name\n'),
  'empty.bin': Buffer.alloc(0),
}
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')
// Larger than two 8 MiB parts: the push into storage goes multipart.
const bigFile = randomBytes(17 * 1024 * 1024 + 5)
// The consumer's access key to its own bucket (s3rver's): it must never be readable anywhere but in the request.
const inboxKey = { id: 'S3RVER', secret: 'S3RVER' }

interface Side {
  id: string
  url: string
  store: Store
  server: Server
  stop(): Promise<void>
  api(path: string, init?: RequestInit): Promise<Response>
}

let root: string
let s3: S3rver
let s3Port: number
let liar: NetServer
let liarPort: number
let provider: Side
let consumer: Side
const logs: string[] = []
const agreements = new Map<string, Agreement>()
const datasets = new Map<string, Distribution>()

const s3Distribution = (s3Fields: Record<string, unknown>, mediaType = 'text/csv') =>
  Distribution.parse({
    mediaType,
    s3: { bucket: 'climate', endpoint: `http://127.0.0.1:${s3Port}`, pathStyle: true, credentials: 'climate-store', ...s3Fields },
  })

async function startSide(name: 'provider' | 'consumer', port: number, ports: { provider: number; consumer: number }): Promise<Side> {
  const folder = join(root, name)
  mkdirSync(join(folder, 'files'), { recursive: true })
  const store = await createTestStore(name === 'provider' ? 'postgres' : 'sqlite')
  const ids = { provider: `did:web:127.0.0.1%3A${ports.provider}`, consumer: `did:web:127.0.0.1%3A${ports.consumer}` }
  const id = ids[name]
  const config = testConfig(
    {
      participant: { id, name },
      server: { host: '127.0.0.1', port },
      identity: { mode: 'static', staticTokens: { 'token-of-provider': ids.provider, 'token-of-consumer': ids.consumer } },
      dataDir: join(folder, 'data'),
    },
    folder,
  )
  const logger = createLogger({ level: 'debug', write: (line: string) => void logs.push(line) })
  // The provider may reach the consumer, the storage and the lying storage on 127.0.0.1, and nothing else private.
  const egress = egressPolicy({ allow: [`127.0.0.1:${ports.consumer}`, `127.0.0.1:${ports.provider}`, `127.0.0.1:${s3Port}`, `127.0.0.1:${liarPort}`] })
  const ctx = testContext(store, {
    config,
    clock: systemClock,
    ids: randomIds,
    ...(name === 'provider' ? { logger, peers: createPeerClient({ egress }) } : {}),
  })
  const env = {
    PASSERELLE_SECRET_CLIMATE_STORE_ACCESS_KEY_ID: 'S3RVER',
    PASSERELLE_SECRET_CLIMATE_STORE_SECRET_ACCESS_KEY: secretKey,
    PASSERELLE_SECRET_WRONG_STORE_ACCESS_KEY_ID: 'NOT-A-KEY-OF-THIS-STORE',
    PASSERELLE_SECRET_WRONG_STORE_SECRET_ACCESS_KEY: secretKey,
  }
  const area = transferArea(
    { ctx, dispatcher: sharedDispatcher(ctx) },
    {
      agreements: () => ({
        find: async (agreementId) => agreements.get(agreementId),
        providerOf: async (agreementId) => {
          const a = agreements.get(agreementId)
          return a && a.assignee === id
            ? { providerId: a.assigner, providerAddress: `http://127.0.0.1:${ports.provider}/dsp/2025-1`, datasetId: a.target }
            : undefined
        },
      }),
      sources: () => ({
        resolve: async (datasetId) => {
          const distribution = datasets.get(datasetId)
          return distribution && distributionSource(distribution, { root: folder, env })
        },
      }),
      // An agreement with a policy is decided by the policy engine; one without (most here) allows all.
      usage: { check: (input) => (Object.keys(input.agreement.policy as object).length > 0 ? enginePolicyUsage : allowAll).check(input) },
      monitorIntervalMs: 3_600_000,
    },
  )
  const { app } = createApp(ctx, [area])
  const server = createServer(getRequestListener(app.fetch))
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  const service = await area.start!(ctx)
  const url = `http://127.0.0.1:${port}`
  return {
    id,
    url,
    store,
    server,
    async stop() {
      await service.stop()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await store.close()
    },
    api: (path, init = {}) =>
      fetch(`${url}/management/v1${path}`, {
        ...init,
        headers: { authorization: `Bearer ${managementKey}`, 'content-type': 'application/json', ...(init.headers as Record<string, string>) },
      }),
  }
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'passerelle-s3-'))
  s3Port = await freePort()
  mkdirSync(join(root, 's3'))
  s3 = new S3rver({ port: s3Port, address: '127.0.0.1', silent: true, directory: join(root, 's3') })
  await s3.run()
  // A "storage" that declares 5 bytes and sends 10.
  liarPort = await freePort()
  liar = createNetServer((socket) => {
    socket.once('data', () => {
      socket.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n0123456789EXTRA-BYTES')
    })
  })
  await new Promise<void>((resolve) => liar.listen(liarPort, '127.0.0.1', resolve))

  const client = new S3Client({
    endpoint: `http://127.0.0.1:${s3Port}`,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  })
  await client.send(new CreateBucketCommand({ Bucket: 'climate' }))
  await client.send(new PutObjectCommand({ Bucket: 'climate', Key: 'series/2020.csv', Body: object }))
  for (const [path, bytes] of Object.entries(folderFiles)) await client.send(new PutObjectCommand({ Bucket: 'climate', Key: `stations/${path}`, Body: bytes }))
  client.destroy()

  const [pp, cp] = [await freePort(), await freePort()]
  provider = await startSide('provider', pp, { provider: pp, consumer: cp })
  consumer = await startSide('consumer', cp, { provider: pp, consumer: cp })
  for (const [path, bytes] of Object.entries(folderFiles)) {
    const file = join(root, 'provider', 'files', 'stations', path)
    mkdirSync(join(file, '..'), { recursive: true })
    writeFileSync(file, bytes)
  }

  datasets.set('urn:dataset:s3-object', s3Distribution({ key: 'series/2020.csv' }))
  datasets.set('urn:dataset:s3-missing', s3Distribution({ key: 'series/1850.csv' }))
  datasets.set('urn:dataset:s3-wrong-credentials', s3Distribution({ key: 'series/2020.csv', credentials: 'wrong-store' }))
  datasets.set('urn:dataset:s3-private', s3Distribution({ key: 'series/2020.csv', endpoint: `http://127.0.0.2:${s3Port}` }))
  datasets.set('urn:dataset:s3-liar', s3Distribution({ key: 'anything.txt', endpoint: `http://127.0.0.1:${liarPort}` }))
  datasets.set('urn:dataset:s3-prefix', s3Distribution({ prefix: 'stations/' }))
  datasets.set('urn:dataset:s3-presign', s3Distribution({ key: 'series/2020.csv', presign: { ttl: 120 } }))
  datasets.set(
    'urn:dataset:s3-presign-declared',
    Distribution.parse({
      mediaType: 'text/csv',
      sha256: sha(object),
      s3: {
        bucket: 'climate',
        endpoint: `http://127.0.0.1:${s3Port}`,
        pathStyle: true,
        credentials: 'climate-store',
        key: 'series/2020.csv',
        presign: { ttl: 120 },
      },
    }),
  )
  datasets.set('urn:dataset:folder', Distribution.parse({ mediaType: 'text/csv', folder: 'files/stations' }))
  writeFileSync(join(root, 'provider', 'files', 'big.bin'), bigFile)
  datasets.set(
    'urn:dataset:big-file',
    Distribution.parse({ mediaType: 'application/octet-stream', file: 'files/big.bin', byteSize: bigFile.length, sha256: sha(bigFile) }),
  )
  const admin = storageClient()
  await admin.send(new CreateBucketCommand({ Bucket: 'inbox' }))
  await admin.send(new PutObjectCommand({ Bucket: 'climate', Key: 'series/big.bin', Body: bigFile }))
  datasets.set('urn:dataset:s3-big', s3Distribution({ key: 'series/big.bin' }, 'application/octet-stream'))
  admin.destroy()
  process.env.PASSERELLE_SECRET_INBOX_ACCESS_KEY_ID = inboxKey.id
  process.env.PASSERELLE_SECRET_INBOX_SECRET_ACCESS_KEY = inboxKey.secret
}, 60_000)

const storageClient = () =>
  new S3Client({
    endpoint: `http://127.0.0.1:${s3Port}`,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  })

afterAll(async () => {
  delete process.env.PASSERELLE_SECRET_INBOX_ACCESS_KEY_ID
  delete process.env.PASSERELLE_SECRET_INBOX_SECRET_ACCESS_KEY
  await consumer?.stop()
  await provider?.stop()
  await s3?.close()
  await new Promise((resolve) => liar?.close(resolve))
  rmSync(root, { recursive: true, force: true })
})

let counter = 0
function newAgreement(target: string, policy: Agreement['policy'] = {}, policyId?: string): string {
  const id = `urn:agreement:s3-${++counter}`
  agreements.set(id, {
    id,
    state: 'FINALIZED',
    assigner: provider.id,
    assignee: consumer.id,
    target,
    signedAt: new Date('2026-11-01T00:00:00Z'),
    policy,
    ...(policyId ? { policyId } : {}),
  })
  return id
}

async function waitFor<T>(read: () => Promise<T>, ok: (value: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 15_000
  for (;;) {
    const value = await read()
    if (ok(value)) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: last ${JSON.stringify(value)}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

type View = { id: string; state: string; providerPid: string | null; accessCount: number; accesses?: Array<{ status: number; reason: string | null }> }
const readTransfer = async (side: Side, id: string) => (await (await side.api(`/transfers/${id}`)).json()) as View

/** A pull transfer of `dataset`, STARTED on both sides. */
async function startPull(dataset: string, agreementId = newAgreement(dataset)) {
  const res = await consumer.api('/transfers', { method: 'POST', body: JSON.stringify({ agreementId, format: 'pull' }) })
  expect(res.status).toBe(201)
  const created = (await res.json()) as View
  const started = await waitFor(
    () => readTransfer(consumer, created.id),
    (t) => t.state === 'STARTED',
    'the transfer to start',
  )
  return { consumerId: created.id, providerId: started.providerPid! }
}

/** Unpacks an archive with the system's tools and returns its files. */
function unpack(bytes: Buffer, format: 'tar' | 'zip'): Map<string, Buffer> {
  const dir = mkdtempSync(join(root, 'unpacked-'))
  const archive = join(dir, `archive.${format}`)
  writeFileSync(archive, bytes)
  const out = join(dir, 'out')
  mkdirSync(out)
  if (format === 'tar') execFileSync('tar', ['-xf', archive, '-C', out])
  else execFileSync('unzip', ['-q', archive, '-d', out])
  const files = new Map<string, Buffer>()
  const listing = execFileSync('find', ['.', '-type', 'f'], { cwd: out, encoding: 'utf8' })
  for (const line of listing.split('\n').filter(Boolean)) files.set(line.slice(2), readFileSync(join(out, line)))
  return files
}

describe('datasets in S3-compatible storage and folders', () => {
  it('pulls an S3 object through the data plane with identical bytes, and passes a Range through', async () => {
    const { consumerId, providerId } = await startPull('urn:dataset:s3-object')
    const whole = await consumer.api(`/transfers/${consumerId}/data`)
    expect(whole.status).toBe(200)
    expect(sha(Buffer.from(await whole.arrayBuffer()))).toBe(sha(object))
    const part = await consumer.api(`/transfers/${consumerId}/data`, { headers: { range: 'bytes=1000-1999' } })
    expect(part.status).toBe(206)
    expect(part.headers.get('content-range')).toBe(`bytes 1000-1999/${object.length}`)
    expect(Buffer.from(await part.arrayBuffer())).toEqual(object.subarray(1000, 2000))
    const onProvider = await readTransfer(provider, providerId)
    expect(onProvider.accesses!.map((a) => a.status)).toEqual([200, 206])
  })

  it('pushes an S3 object into the consumer with identical bytes and sha256', async () => {
    const res = await consumer.api('/transfers', {
      method: 'POST',
      body: JSON.stringify({ agreementId: newAgreement('urn:dataset:s3-object'), format: 'push' }),
    })
    expect(res.status).toBe(201)
    const created = (await res.json()) as View
    const done = (await waitFor(
      () => readTransfer(consumer, created.id),
      (t) => t.state === 'COMPLETED' || t.state === 'TERMINATED',
      'the push to end',
    )) as View & { sha256: string | null; outputPath: string | null }
    expect(done.state).toBe('COMPLETED')
    expect(done.sha256).toBe(sha(object))
    expect(sha(readFileSync(done.outputPath!))).toBe(sha(object))
  })

  for (const [dataset, what] of [
    ['urn:dataset:folder', 'a local folder'],
    ['urn:dataset:s3-prefix', 'an S3 prefix'],
  ] as const) {
    for (const format of ['tar', 'zip'] as const) {
      it(`delivers ${what} as a ${format} whose files match its manifest`, async () => {
        const { consumerId, providerId } = await startPull(dataset)
        const res = await consumer.api(`/transfers/${consumerId}/data${format === 'zip' ? '?archive=zip' : ''}`)
        expect(res.status).toBe(200)
        expect(res.headers.get('content-type')).toBe(format === 'tar' ? 'application/x-tar' : 'application/zip')
        const files = unpack(Buffer.from(await res.arrayBuffer()), format)
        const manifest = JSON.parse(files.get('MANIFEST.passerelle.json')!.toString()) as { files: Array<{ path: string; size: number; sha256: string }> }
        expect(manifest.files.map((f) => f.path).sort()).toEqual(Object.keys(folderFiles).sort())
        for (const entry of manifest.files) {
          const expected = folderFiles[entry.path]!
          expect(entry).toEqual({ path: entry.path, size: expected.length, sha256: sha(expected) })
          expect(sha(files.get(entry.path)!)).toBe(entry.sha256)
        }
        expect(files.size).toBe(Object.keys(folderFiles).length + 1)
        expect((await readTransfer(provider, providerId)).accessCount).toBe(1)
      })
    }
  }

  for (const [dataset, what] of [
    ['urn:dataset:folder', 'a local folder'],
    ['urn:dataset:s3-prefix', 'an S3 prefix'],
  ] as const)
    it(`serves ${what} as a tar by ranges: the parts make the same archive, counted as one download`, async () => {
      const first = await startPull(dataset)
      const whole = await consumer.api(`/transfers/${first.consumerId}/data`)
      expect(whole.status).toBe(200)
      const etag = whole.headers.get('etag')!
      const bytes = Buffer.from(await whole.arrayBuffer())
      expect(Number(whole.headers.get('content-length'))).toBe(bytes.length)
      expect(whole.headers.get('accept-ranges')).toBe('bytes')
      const { consumerId, providerId } = await startPull(dataset)
      const half = Math.floor(bytes.length / 2)
      const head = await consumer.api(`/transfers/${consumerId}/data`, { headers: { range: `bytes=0-${half - 1}` } })
      expect(head.status).toBe(206)
      expect(head.headers.get('content-range')).toBe(`bytes 0-${half - 1}/${bytes.length}`)
      const tail = await consumer.api(`/transfers/${consumerId}/data`, { headers: { range: `bytes=${half}-`, 'if-range': etag } })
      expect(tail.status).toBe(206)
      expect(tail.headers.get('etag')).toBe(etag)
      const joined = Buffer.concat([Buffer.from(await head.arrayBuffer()), Buffer.from(await tail.arrayBuffer())])
      expect(joined.equals(bytes)).toBe(true)
      const onProvider = await readTransfer(provider, providerId)
      expect(onProvider.accessCount).toBe(1)
      expect(onProvider.accesses!.map((a) => a.status)).toEqual([206, 206])
    })

  it('answers 416 with the size for a range beyond the end of a tar, counting nothing', async () => {
    const { consumerId, providerId } = await startPull('urn:dataset:folder')
    const res = await consumer.api(`/transfers/${consumerId}/data`, { headers: { range: 'bytes=99999999-' } })
    expect(res.status).toBe(416)
    expect(res.headers.get('content-range')).toMatch(/^bytes \*\/\d+$/)
    expect((await readTransfer(provider, providerId)).accessCount).toBe(0)
  })

  it('sends a tar whole for several or overlapping ranges and for a stale If-Range, each a download', async () => {
    const { consumerId, providerId } = await startPull('urn:dataset:folder')
    const several = await consumer.api(`/transfers/${consumerId}/data`, { headers: { range: 'bytes=0-10,5-20' } })
    expect(several.status).toBe(200)
    const bytes = Buffer.from(await several.arrayBuffer())
    expect(Number(several.headers.get('content-length'))).toBe(bytes.length)
    const stale = await consumer.api(`/transfers/${consumerId}/data`, { headers: { range: 'bytes=100-', 'if-range': '"tar-not-this-one"' } })
    expect(stale.status).toBe(200)
    expect(Buffer.from(await stale.arrayBuffer()).equals(bytes)).toBe(true)
    expect((await readTransfer(provider, providerId)).accessCount).toBe(2)
  })

  it('refuses a range on a zip with a 416 that says why, counting nothing', async () => {
    const { consumerId, providerId } = await startPull('urn:dataset:folder')
    const res = await consumer.api(`/transfers/${consumerId}/data?archive=zip`, { headers: { range: 'bytes=100-' } })
    expect(res.status).toBe(416)
    expect(await res.text()).toContain('a zip archive is not served by ranges')
    expect((await readTransfer(provider, providerId)).accessCount).toBe(0)
  })

  it('refuses an archive format it does not know, with a 400', async () => {
    const { consumerId } = await startPull('urn:dataset:folder')
    const res = await consumer.api(`/transfers/${consumerId}/data?archive=rar`)
    // The consumer's connector passes the provider's refusal on, with its reason.
    expect(res.status).toBe(400)
    const text = await res.text()
    expect(text).toMatch(/archive/)
    expect(text).toMatch(/tar, zip|tar or zip/)
  })

  it('says the storage refused the credentials, leaks no secret and counts nothing', async () => {
    const { consumerId, providerId } = await startPull('urn:dataset:s3-wrong-credentials')
    const res = await consumer.api(`/transfers/${consumerId}/data`)
    const text = await res.text()
    expect(res.status).toBeGreaterThanOrEqual(400)
    expect(text).toContain("refused the provider's credentials")
    for (const secret of [secretKey, 'NOT-A-KEY-OF-THIS-STORE']) {
      expect(text).not.toContain(secret)
      expect(logs.join('\n')).not.toContain(secret)
    }
    expect((await readTransfer(provider, providerId)).accessCount).toBe(0)
  })

  it('refuses a storage endpoint at a loopback address the operator did not allow, and counts nothing', async () => {
    const { consumerId, providerId } = await startPull('urn:dataset:s3-private')
    const res = await consumer.api(`/transfers/${consumerId}/data`)
    const text = await res.text()
    expect(res.status).toBe(502)
    expect(text).toContain('could not be reached')
    expect(text).not.toContain('127.0.0.2')
    expect((await readTransfer(provider, providerId)).accessCount).toBe(0)
  })

  it('answers 404 for an object missing from the storage, and counts nothing', async () => {
    const { consumerId, providerId } = await startPull('urn:dataset:s3-missing')
    const res = await consumer.api(`/transfers/${consumerId}/data`)
    expect(res.status).toBe(502)
    const text = await res.text()
    expect(text).toContain('(404)')
    expect(text).toContain('no such object')
    expect((await readTransfer(provider, providerId)).accessCount).toBe(0)
  })

  it('cuts a running S3 stream when its agreement stops being in force, and records the bytes actually sent', async () => {
    const { consumerId, providerId } = await startPull('urn:dataset:s3-big')
    const res = await consumer.api(`/transfers/${consumerId}/data`)
    expect(res.status).toBe(200)
    const reader = res.body!.getReader()
    let received = (await reader.read()).value?.length ?? 0
    const agreementId = (await readTransfer(provider, providerId)) as View & { agreementId: string }
    agreements.set(agreementId.agreementId, { ...agreements.get(agreementId.agreementId)!, state: 'TERMINATED' })
    // Nothing read meanwhile: the stream waits on the client, and the watch sees the agreement end.
    await new Promise((r) => setTimeout(r, 1500))
    let cut = false
    try {
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) received += chunk.value.length
    } catch {
      cut = true
    }
    expect(cut || received < bigFile.length).toBe(true)
    expect(received).toBeLessThan(bigFile.length)
    const onProvider = (await waitFor(
      () => readTransfer(provider, providerId) as Promise<View & { accesses: Array<{ status: number; bytes: number }> }>,
      (t) => (t.accesses?.[0] as { bytes?: number } | undefined)?.bytes !== 0,
      'the access to be settled',
    )) as View & { accesses: Array<{ status: number; bytes: number }> }
    expect(onProvider.accesses[0]!.bytes).toBeLessThan(bigFile.length)
  })

  it('never passes on more bytes than the storage declared', async () => {
    const { consumerId } = await startPull('urn:dataset:s3-liar')
    const res = await consumer.api(`/transfers/${consumerId}/data`)
    const body = Buffer.from(await res.arrayBuffer().catch(() => new ArrayBuffer(0)))
    expect(body.length).toBeLessThanOrEqual(5)
    expect(body.toString()).not.toContain('EXTRA')
  })
})

describe('presigned GETs of S3 objects', () => {
  /** The provider's data endpoint and pull token, as the consumer holds them (what a DSP consumer uses directly). */
  async function pullAddress(consumerId: string) {
    const { transfers } = consumer.store.tables
    const [row] = await consumer.store.db.select().from(transfers).where(eq(transfers.id, consumerId))
    return readHttpDataAddress(row!.dataAddress as DataAddress)!
  }
  const askPresigned = async (consumerId: string, query = '?redirect=presigned') => {
    const address = await pullAddress(consumerId)
    return fetch(`${address.endpoint}${query}`, { headers: { authorization: `Bearer ${address.token}` }, redirect: 'manual' })
  }
  /** An ODRL agreement of one permission to use under `constraint`. */
  const agreementPolicy = (constraint: Record<string, unknown>) => ({
    '@id': `urn:uuid:policy-${counter + 1}`,
    '@type': 'Agreement',
    assigner: provider.id,
    assignee: consumer.id,
    target: 'urn:dataset:s3-presign',
    permission: [{ action: 'use', constraint: [constraint] }],
  })

  it('answers a 307 to a presigned GET that downloads the exact bytes from the storage, counted as one access of the whole object', async () => {
    const { consumerId, providerId } = await startPull('urn:dataset:s3-presign')
    const res = await askPresigned(consumerId)
    expect(res.status).toBe(307)
    expect(res.headers.get('cache-control')).toBe('no-store')
    const location = res.headers.get('location')!
    const url = new URL(location)
    expect(url.host).toBe(`127.0.0.1:${s3Port}`)
    expect(url.searchParams.get('X-Amz-Expires')).toBe('120')
    const signature = url.searchParams.get('X-Amz-Signature')!
    expect(signature).toMatch(/^[0-9a-f]{64}$/)
    const download = await fetch(location)
    expect(download.status).toBe(200)
    expect(sha(Buffer.from(await download.arrayBuffer()))).toBe(sha(object))
    const onProvider = (await readTransfer(provider, providerId)) as View & { bytesGranted?: number }
    expect(onProvider.accessCount).toBe(1)
    expect(onProvider.accesses!.map((a) => a.status)).toEqual([307])
    // The URL is a bearer credential: not in the provider's answers, its log or its database.
    const [row] = await provider.store.db.select().from(provider.store.tables.transfers).where(eq(provider.store.tables.transfers.id, providerId))
    for (const place of [
      JSON.stringify(onProvider),
      logs.join('\n'),
      JSON.stringify(row),
      JSON.stringify(await provider.store.db.select().from(provider.store.tables.dataAccesses)),
    ])
      expect(place).not.toContain(signature)
    expect(row!.bytesGranted).toBe(object.length)
  })

  it('refuses a presigned GET once the count the policy allows is spent: no URL, the count unchanged, the policy named', async () => {
    const onlyOnce = agreementPolicy({ leftOperand: 'count', operator: 'lteq', rightOperand: 1 })
    const agreementId = newAgreement('urn:dataset:s3-presign', onlyOnce, 'one-download')
    const { consumerId, providerId } = await startPull('urn:dataset:s3-presign', agreementId)
    expect((await askPresigned(consumerId)).status).toBe(307)
    const again = await askPresigned(consumerId)
    expect(again.status).toBe(403)
    expect(again.headers.get('location')).toBeNull()
    const text = await again.text()
    expect(text).toContain('one-download')
    expect(text).not.toContain('X-Amz')
    const onProvider = await readTransfer(provider, providerId)
    expect(onProvider.accessCount).toBe(1)
    expect(onProvider.accesses!.map((a) => a.status)).toEqual([307, 403])
  })

  it('refuses a presigned GET the policy no longer allows: no URL, nothing counted', async () => {
    const { consumerId, providerId } = await startPull('urn:dataset:s3-presign')
    // The agreement's policy now ends before today (checked at every access).
    const agreementId = ((await readTransfer(provider, providerId)) as View & { agreementId: string }).agreementId
    agreements.set(agreementId, {
      ...agreements.get(agreementId)!,
      policyId: 'until-2020',
      policy: agreementPolicy({ leftOperand: 'dateTime', operator: 'lt', rightOperand: '2020-01-01T00:00:00Z' }),
    })
    const res = await askPresigned(consumerId)
    expect(res.status).toBe(403)
    expect(res.headers.get('location')).toBeNull()
    expect(await res.text()).toContain('until-2020')
    expect((await readTransfer(provider, providerId)).accessCount).toBe(0)
  })

  it("refuses a presigned GET of a distribution whose steward did not allow one, with the reason, through the consumer's API too", async () => {
    const { consumerId, providerId } = await startPull('urn:dataset:s3-object')
    const direct = await askPresigned(consumerId)
    expect(direct.status).toBe(400)
    expect(await direct.text()).toContain('does not allow presigned URLs')
    const viaConsumer = await consumer.api(`/transfers/${consumerId}/data?redirect=presigned`)
    expect(viaConsumer.status).toBe(400)
    expect(await viaConsumer.text()).toContain('does not allow presigned URLs')
    const otherValue = await askPresigned(consumerId, '?redirect=elsewhere')
    expect(otherValue.status).toBe(400)
    expect(await otherValue.text()).toContain('redirect takes one value, presigned')
    expect((await readTransfer(provider, providerId)).accessCount).toBe(0)
  })

  it('checks a HEAD asking for a presigned GET without counting it or handing out a URL', async () => {
    const { consumerId, providerId } = await startPull('urn:dataset:s3-presign')
    const address = await pullAddress(consumerId)
    const res = await fetch(`${address.endpoint}?redirect=presigned`, {
      method: 'HEAD',
      headers: { authorization: `Bearer ${address.token}` },
      redirect: 'manual',
    })
    expect(res.status).toBe(204)
    expect(res.headers.get('location')).toBeNull()
    expect((await readTransfer(provider, providerId)).accessCount).toBe(0)
  })

  it('still streams an object that allows presigned GETs through the connector when none is asked for', async () => {
    const { consumerId } = await startPull('urn:dataset:s3-presign')
    const res = await consumer.api(`/transfers/${consumerId}/data`)
    expect(res.status).toBe(200)
    expect(sha(Buffer.from(await res.arrayBuffer()))).toBe(sha(object))
  })
})

describe("the consumer's download following a presigned GET", () => {
  it("follows the provider's 307 once, to the storage, and relays the exact bytes with the declared sha256; a Range goes with it", async () => {
    const { consumerId, providerId } = await startPull('urn:dataset:s3-presign-declared')
    const whole = await consumer.api(`/transfers/${consumerId}/data?redirect=presigned`)
    expect(whole.status).toBe(200)
    expect(whole.headers.get('x-content-sha256')).toBe(sha(object))
    expect(sha(Buffer.from(await whole.arrayBuffer()))).toBe(sha(object))
    const part = await consumer.api(`/transfers/${consumerId}/data?redirect=presigned`, { headers: { range: 'bytes=1000-1999' } })
    expect(part.status).toBe(206)
    expect(Buffer.from(await part.arrayBuffer())).toEqual(object.subarray(1000, 2000))
    // Each presigned URL handed out is one access (ADR 0024); the consumer records the bytes it relayed.
    const onProvider = await readTransfer(provider, providerId)
    expect(onProvider.accesses!.map((a) => a.status)).toEqual([307, 307])
    const onConsumer = (await waitFor(
      () => readTransfer(consumer, consumerId) as Promise<View & { bytesMoved: number }>,
      (t) => t.bytesMoved === object.length + 1000,
      'the bytes relayed to be recorded',
    )) as View & { bytesMoved: number }
    expect(onConsumer.bytesMoved).toBe(object.length + 1000)
  })

  /**
   * A provider that answers its data endpoint with redirects of its choosing, and a "storage" that
   * records what it was sent: the consumer's transfer is pointed at them (as a hostile provider's
   * data address would point it), on the provider's host.
   */
  let hostile: Server
  let storage: Server
  const storageSaw: Array<{ url: string; headers: Record<string, unknown> }> = []
  const redirects: Record<string, (storagePort: number) => [number, string]> = {
    '/to-storage': (port) => [307, `http://127.0.0.1:${port}/object?X-Amz-Signature=${'ab'.repeat(32)}`],
    '/to-private': () => [307, `http://127.0.0.2:${s3Port}/climate/series/2020.csv?X-Amz-Signature=${'cd'.repeat(32)}`],
    '/to-storage-again': (port) => [307, `http://127.0.0.1:${port}/again`],
    '/found': (port) => [302, `http://127.0.0.1:${port}/object`],
    '/to-file': () => [307, 'file:///etc/passwd'],
    '/with-user': (port) => [307, `http://user:secret@127.0.0.1:${port}/object`],
  }
  beforeAll(async () => {
    storage = createServer((req, res) => {
      storageSaw.push({ url: req.url!, headers: req.headers })
      if (req.url === '/again') return void res.writeHead(307, { location: `http://127.0.0.1:${s3Port}/climate/series/2020.csv` }).end()
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '7' }).end('stored!')
    })
    await new Promise<void>((resolve) => storage.listen(0, '127.0.0.1', resolve))
    const storagePort = (storage.address() as { port: number }).port
    hostile = createServer((req, res) => {
      const path = new URL(req.url!, 'http://x').pathname.replace(/^\/data\/transfers\/[^/]+/, '')
      const redirect = redirects[path]
      if (!redirect) return void res.writeHead(404).end()
      const [status, location] = redirect(storagePort)
      res.writeHead(status, { location, 'cache-control': 'no-store' }).end()
    })
    await new Promise<void>((resolve) => hostile.listen(0, '127.0.0.1', resolve))
  })
  afterAll(async () => {
    for (const server of [hostile, storage]) {
      server?.closeAllConnections()
      await new Promise((resolve) => server?.close(resolve))
    }
  })
  /** A STARTED pull whose data address is the hostile provider's `path` (on the provider's host, as the consumer requires). */
  async function hostilePull(path: string) {
    const { consumerId } = await startPull('urn:dataset:s3-presign')
    const port = (hostile.address() as { port: number }).port
    const { transfers } = consumer.store.tables
    await consumer.store.db
      .update(transfers)
      .set({ dataAddress: httpDataAddress(`http://127.0.0.1:${port}/data/transfers/t${path}`, 'token-the-provider-gave') })
      .where(eq(transfers.id, consumerId))
    return consumerId
  }

  it('sends the storage none of its credentials: no Authorization header, only the Range asked for', async () => {
    const consumerId = await hostilePull('/to-storage')
    storageSaw.length = 0
    const res = await consumer.api(`/transfers/${consumerId}/data?redirect=presigned`, { headers: { range: 'bytes=0-6' } })
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('stored!')
    expect(storageSaw).toHaveLength(1)
    expect(storageSaw[0]!.headers.authorization).toBeUndefined()
    expect(JSON.stringify(storageSaw[0]!.headers)).not.toContain('token-the-provider-gave')
    expect(JSON.stringify(storageSaw[0]!.headers)).not.toContain(managementKey)
    expect(storageSaw[0]!.headers.range).toBe('bytes=0-6')
  })

  it('refuses a redirect it did not ask for, and never contacts where it points', async () => {
    const consumerId = await hostilePull('/to-storage')
    storageSaw.length = 0
    const res = await consumer.api(`/transfers/${consumerId}/data`)
    expect(res.status).toBe(502)
    expect(await res.text()).toContain('redirect (307) that was not asked for')
    expect(storageSaw).toHaveLength(0)
  })

  it('refuses a presigned URL at a private address the operator did not allow, without repeating the URL', async () => {
    const consumerId = await hostilePull('/to-private')
    const res = await consumer.api(`/transfers/${consumerId}/data?redirect=presigned`)
    expect(res.status).toBe(502)
    const text = await res.text()
    expect(text).toContain('could not be reached')
    expect(text).not.toContain('cd'.repeat(32))
  })

  for (const [path, expected] of [
    ['/to-storage-again', 'only one is followed'],
    ['/found', 'answered 302 where a presigned URL is a 307'],
    ['/to-file', 'a file: URL, not http(s)'],
    ['/with-user', 'carries user information'],
  ] as const)
    it(`refuses ${path.slice(1).replace(/-/g, ' ')} with the reason: ${expected}`, async () => {
      const consumerId = await hostilePull(path)
      storageSaw.length = 0
      const res = await consumer.api(`/transfers/${consumerId}/data?redirect=presigned`)
      expect(res.status).toBe(502)
      expect(await res.text()).toContain(expected)
      // The storage is asked at most once, and never the second place.
      expect(storageSaw.length).toBeLessThanOrEqual(1)
    })
})

describe("push into the consumer's S3 storage", () => {
  const destination = (key: string, extra: Record<string, unknown> = {}) => ({
    s3: { bucket: 'inbox', key, endpoint: `http://127.0.0.1:${s3Port}`, credentials: 'inbox', ...extra },
  })
  type Full = Omit<View, 'accesses'> & {
    sha256: string | null
    reason: string | null
    bytesMoved: number
    accesses: Array<{ status: number; bytes: number; reason: string | null }>
  }

  /** Starts a push from the consumer's management API; resolves with both sides once it has ended. */
  async function push(dataset: string, key: string, extra: Record<string, unknown> = {}) {
    const agreementId = newAgreement(dataset)
    const res = await consumer.api('/transfers', {
      method: 'POST',
      body: JSON.stringify({ agreementId, format: 'push', destination: destination(key, extra) }),
    })
    expect(res.status).toBe(201)
    const created = (await res.json()) as View & { format: string }
    expect(created.format).toBe('AmazonS3-PUSH')
    const onConsumer = (await waitFor(
      () => readTransfer(consumer, created.id),
      (t) => t.state === 'COMPLETED' || t.state === 'TERMINATED',
      'the push to end',
    )) as Full
    const onProvider = (await waitFor(
      () => readTransfer(provider, onConsumer.providerPid!),
      (t) => t.state === onConsumer.state,
      'the provider to end the same way',
    )) as Full
    return { agreementId, onConsumer, onProvider }
  }

  const usageCount = async (agreementId: string) => {
    const { agreementUsage } = provider.store.tables
    const [row] = await provider.store.db.select().from(agreementUsage).where(eq(agreementUsage.agreementId, agreementId))
    return row?.accessCount ?? 0
  }

  /** Every place the consumer's key could end up: both sides' answers, the logs, both databases' transfers and outboxes. */
  async function expectNoKeyAnywhere(consumerId: string, providerId: string) {
    const places = [
      await (await consumer.api(`/transfers/${consumerId}`)).text(),
      await (await provider.api(`/transfers/${providerId}`)).text(),
      await (await provider.api('/transfers?role=provider')).text(),
      logs.join('\n'),
    ]
    for (const side of [consumer, provider]) {
      places.push(JSON.stringify(await side.store.db.select().from(side.store.tables.transfers)))
      places.push(JSON.stringify(await side.store.db.select().from(side.store.tables.dispatches)))
    }
    for (const place of places) expect(place).not.toContain(`"${inboxKey.secret}"`)
  }

  for (const [dataset, bytes, what] of [
    ['urn:dataset:big-file', () => bigFile, 'a 17 MiB file (multipart)'],
    ['urn:dataset:s3-object', () => object, "an object of the provider's storage"],
  ] as const) {
    it(`writes ${what} into the consumer's bucket with identical bytes, one access with the bytes sent`, async () => {
      const key = `deliveries/${dataset.split(':').pop()}.bin`
      const { agreementId, onConsumer, onProvider } = await push(dataset, key)
      expect(onConsumer.state).toBe('COMPLETED')
      const client = storageClient()
      const stored = await client.send(new GetObjectCommand({ Bucket: 'inbox', Key: key }))
      const written = Buffer.from(await stored.Body!.transformToByteArray())
      client.destroy()
      expect(written.length).toBe(bytes().length)
      expect(sha(written)).toBe(sha(bytes()))
      expect(onProvider.sha256).toBe(sha(bytes()))
      expect(onProvider.accesses.map((a) => [a.status, a.bytes])).toEqual([[200, bytes().length]])
      expect(onProvider.bytesMoved).toBe(bytes().length)
      expect(await usageCount(agreementId)).toBe(1)
      await expectNoKeyAnywhere(onConsumer.id, onProvider.id)
    })
  }

  it("keeps the file's sha256 with the object", async () => {
    await push('urn:dataset:big-file', 'deliveries/with-digest.bin')
    const client = storageClient()
    const head = await client.send(new HeadObjectCommand({ Bucket: 'inbox', Key: 'deliveries/with-digest.bin' }))
    client.destroy()
    expect(head.Metadata?.sha256).toBe(sha(bigFile))
  })

  it('ends a push into a bucket that does not exist with that reason, and gives its count back', async () => {
    const { agreementId, onConsumer, onProvider } = await push('urn:dataset:big-file', 'deliveries/x.bin', { bucket: 'no-such-bucket' })
    expect(onConsumer.state).toBe('TERMINATED')
    expect(onProvider.reason).toMatch(/^push failed: the destination bucket does not exist \(NoSuchBucket\) \(after 1 attempt\)/)
    expect(onConsumer.reason).toContain('the destination bucket does not exist')
    expect(onProvider.accessCount).toBe(0)
    expect(onProvider.accesses.map((a) => a.status)).toEqual([404])
    expect(await usageCount(agreementId)).toBe(0)
    await expectNoKeyAnywhere(onConsumer.id, onProvider.id)
  })

  it("refuses, from the consumer's management API, a key with .. and a secret that is not set", async () => {
    const agreementId = newAgreement('urn:dataset:big-file')
    for (const [dest, message] of [
      [destination('deliveries/../../etc/passwd'), /\.\. segments/],
      [destination('deliveries/a.bin', { credentials: 'not-set' }), /the secret not-set is not set/],
    ] as const) {
      const res = await consumer.api('/transfers', { method: 'POST', body: JSON.stringify({ agreementId, format: 'push', destination: dest }) })
      expect(res.status).toBe(400)
      expect(await res.text()).toMatch(message)
    }
    expect(await usageCount(agreementId)).toBe(0)
  })

  /** A TransferRequestMessage sent straight to the provider's DSP endpoint, as any consumer could. */
  async function askProvider(agreementId: string, properties: Record<string, string>) {
    const res = await fetch(`${provider.url}/dsp/2025-1/transfers/request`, {
      method: 'POST',
      headers: { authorization: 'Bearer token-of-consumer', 'content-type': 'application/json' },
      body: JSON.stringify({
        '@context': ['https://w3id.org/dspace/2025/1/context.jsonld'],
        '@type': 'TransferRequestMessage',
        consumerPid: `urn:uuid:${crypto.randomUUID()}`,
        agreementId,
        format: 'AmazonS3-PUSH',
        callbackAddress: `${consumer.url}/dsp/2025-1`,
        dataAddress: {
          '@type': 'DataAddress',
          endpointType: 'AmazonS3',
          endpointProperties: Object.entries(properties).map(([name, value]) => ({ '@type': 'EndpointProperty', name, value })),
        },
      }),
    })
    return { status: res.status, text: await res.text() }
  }

  const good = () => ({
    region: 'us-east-1',
    bucketName: 'inbox',
    objectName: 'deliveries/direct.bin',
    endpointOverride: `http://127.0.0.1:${s3Port}`,
    accessKeyId: inboxKey.id,
    secretAccessKey: inboxKey.secret,
  })

  it.each([
    ['a key with ..', { objectName: 'deliveries/../../other-tenant/x' }, /objectName must not start with \/ or contain \. or \.\. segments/],
    ['a key starting with /', { objectName: '/etc/passwd' }, /objectName must not start with \//],
    // The storage's own port, on another loopback address than the one the operator allowed.
    ['an endpoint on a loopback address the provider does not allow', { endpointOverride: 'http://127.0.0.2:{s3Port}' }, /the push destination is not allowed/],
    ['an endpoint on a private address', { endpointOverride: 'http://10.0.0.1:9000' }, /the push destination is not allowed/],
    ['no secretAccessKey', { secretAccessKey: undefined }, /the destination credentials are missing/],
    ['no accessKeyId', { accessKeyId: undefined }, /the destination credentials are missing/],
    ['a bucket name that is not one', { bucketName: '../inbox' }, /bucketName must be an S3 bucket name/],
  ])('refuses a DSP push request with %s: 400, a clear reason, nothing stored or counted', async (_what, change, reason) => {
    const agreementId = newAgreement('urn:dataset:big-file')
    const before = (await (await provider.api('/transfers?role=provider&limit=500')).json()) as { items: unknown[] }
    const properties = Object.fromEntries(
      Object.entries({ ...good(), ...change }).flatMap(([k, v]) => (v === undefined ? [] : [[k, v.replace('{s3Port}', String(s3Port))]])),
    ) as Record<string, string>
    const answer = await askProvider(agreementId, properties)
    expect(answer.status).toBe(400)
    expect(answer.text).toContain('TransferError')
    expect(answer.text).toMatch(reason)
    expect(answer.text).not.toContain(inboxKey.secret)
    const after = (await (await provider.api('/transfers?role=provider&limit=500')).json()) as { items: unknown[] }
    expect(after.items).toHaveLength(before.items.length)
    expect(await usageCount(agreementId)).toBe(0)
  })
})
