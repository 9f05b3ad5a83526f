/**
 * HTTP API distributions between two connectors over real HTTP on 127.0.0.1, with real upstream
 * servers (node:http) behind the provider: declared query parameters and path suffixes go through,
 * anything else is refused naming it; the upstream's failures (500, a redirect to another host,
 * more bytes than allowed, silence, an address the egress policy refuses) end with a clear error and
 * spend no count; the secret never shows in answers or logs; a revoked agreement or a terminated
 * transfer stops a running stream from a slow upstream.
 */
import { request as httpRequest, createServer, type IncomingMessage, type Server } from 'node:http'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { getRequestListener } from '@hono/node-server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Distribution } from '../../catalog/index.ts'
import { systemClock } from '../../connector/clock.ts'
import { httpSource } from '../../connector/transfer/data-plane/http-backend.ts'
import { secretLookup } from '../../connector/transfer/data-plane/secrets.ts'
import { egressPolicy } from '../../connector/http/egress.ts'
import { createPeerClient } from '../../connector/http/peer-client.ts'
import { randomIds } from '../../connector/ids.ts'
import { createApp } from '../../connector/http/app.ts'
import type { Store } from '../../connector/store/store.ts'
import { createLogger } from '../../connector/telemetry/logger.ts'
import { transferArea } from '../../connector/transfer/area.ts'
import type { Agreement, DataSource, UsagePolicy } from '../../connector/transfer/ports.ts'
import { act } from '../../connector/transfer/service.ts'
import { readHttpDataAddress, type DataAddress } from '../../connector/transfer/messages.ts'
import { testConfig, testContext } from '../support/context.ts'
import { freePort } from '../support/processes.ts'
import { sharedDispatcher } from '../support/areas.ts'
import { createTestStore } from '../support/stores.ts'

const managementKey = 'test-management-key-0123456789'
const secret = 'Bearer upstream-token-7f3a9c1e55'
const logs: string[] = []

interface Side {
  id: string
  url: string
  store: Store
  area: ReturnType<typeof transferArea>
  stop(): Promise<void>
  api(path: string, init?: RequestInit): Promise<Response>
}

let root: string
let upstream: Server
let refusedUpstream: Server
let upstreamPort: number
let refusedPort: number
let provider: Side
let consumer: Side
const agreements = new Map<string, Agreement>()
const upstreamCalls: Array<{ url: string; authorization: string | undefined }> = []
const usage: UsagePolicy = {
  check: ({ scope, accessCount, counts }) => {
    const used = scope === 'transfer' && counts !== false ? accessCount + 1 : accessCount
    return used <= 5 ? { allowed: true, reason: 'allowed' } : { allowed: false, reason: 'at most 5 downloads (policy `five-downloads`)' }
  },
}

/** The institution's API: a CSV series per station, and endpoints that misbehave. */
function upstreamHandler(req: IncomingMessage, res: import('node:http').ServerResponse) {
  upstreamCalls.push({ url: req.url ?? '', authorization: req.headers.authorization })
  if (req.headers.authorization !== secret) return void res.writeHead(401).end('who are you?')
  const url = new URL(req.url ?? '/', 'http://upstream')
  if (url.pathname.startsWith('/api/series')) {
    const station = url.searchParams.get('station')
    const body = `station,time,value\n${station},${url.searchParams.get('from') ?? 'start'},1.5\nfile,${url.pathname.slice('/api/series'.length)},0\n`
    return void res.writeHead(200, { 'content-type': 'text/csv', 'content-length': Buffer.byteLength(body) }).end(body)
  }
  if (url.pathname === '/fail') return void res.writeHead(500, { 'content-type': 'text/plain' }).end(`internal error; your token was ${secret}`)
  if (url.pathname === '/redirect') return void res.writeHead(302, { location: 'http://elsewhere.example/data.csv' }).end()
  if (url.pathname === '/overflow') {
    // Chunked, no length: more than the distribution's maxBytes.
    res.writeHead(200, { 'content-type': 'application/octet-stream' })
    const block = Buffer.alloc(16 * 1024, 1)
    let sent = 0
    const more = () => {
      while (sent < 1024 * 1024) {
        sent += block.length
        if (!res.write(block)) return void res.once('drain', more)
      }
      res.end()
    }
    return more()
  }
  if (url.pathname === '/silent') return // never answers
  if (url.pathname === '/slow') {
    // A long body, slowly: 64 KiB every 50 ms for about a minute.
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(64 * 1024 * 1200) })
    let left = 1200
    const timer = setInterval(() => {
      if (left-- <= 0 || res.destroyed) return clearInterval(timer)
      res.write(Buffer.alloc(64 * 1024, 2))
    }, 50)
    res.on('close', () => clearInterval(timer))
    return
  }
  res.writeHead(404).end()
}

const api = {
  query: [
    { name: 'station', type: 'string', pattern: '[A-Z]{3}', required: true },
    { name: 'from', type: 'date' },
    { name: 'to', type: 'date' },
    { name: 'variable', enum: ['temperature', 'precipitation'] },
  ],
  path: '[a-z0-9_]+\\.csv',
  maxBytes: 100_000,
  timeoutSeconds: 1,
}
const distribution = (url: string, extra: Record<string, unknown> = {}) =>
  Distribution.parse({ mediaType: 'text/csv', byteSize: 0, sha256: '0'.repeat(64), url, secret: 'climate-api', api, ...extra })

function sources(): Record<string, DataSource> {
  const lookup = secretLookup({ PASSERELLE_SECRET_CLIMATE_API: secret })
  const at = (path: string, extra?: Record<string, unknown>) => {
    const d = distribution(`http://127.0.0.1:${upstreamPort}${path}`, extra)
    return () => httpSource({ ...d, url: d.url! }, lookup)
  }
  const table: Record<string, () => DataSource> = {
    'urn:dataset:series': at('/api/series'),
    'urn:dataset:fail': at('/fail'),
    'urn:dataset:redirect': at('/redirect'),
    'urn:dataset:overflow': at('/overflow'),
    'urn:dataset:silent': at('/silent'),
    'urn:dataset:slow': at('/slow', { api: { ...api, maxBytes: undefined, timeoutSeconds: 30 } }),
    'urn:dataset:own-redirect': at('/api/series', { api: { ...api, query: [...api.query, { name: 'redirect', type: 'string' }] } }),
    'urn:dataset:private': () => {
      const d = distribution(`http://127.0.0.1:${refusedPort}/api/series`)
      return httpSource({ ...d, url: d.url! }, lookup)
    },
  }
  return Object.fromEntries(Object.entries(table).map(([k, v]) => [k, v()]))
}

async function startSide(name: 'provider' | 'consumer', port: number, ids: { provider: string; consumer: string; providerDsp: string }, consumerPort: number) {
  const folder = join(root, name)
  mkdirSync(folder, { recursive: true })
  const store = await createTestStore('sqlite')
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
  // The provider's operator allows the consumer and one upstream on 127.0.0.1, not the other.
  const peers =
    name === 'provider' ? createPeerClient({ egress: egressPolicy({ allow: [`127.0.0.1:${consumerPort}`, `127.0.0.1:${upstreamPort}`] }) }) : undefined
  const logger = createLogger({ level: 'debug', write: (line) => logs.push(line) })
  const ctx = testContext(store, { config, clock: systemClock, ids: randomIds, logger, ...(peers ? { peers } : {}) })
  const table = sources()
  const area = transferArea(
    { ctx, dispatcher: sharedDispatcher(ctx) },
    {
      agreements: () => ({
        find: async (agreementId) => agreements.get(agreementId),
        providerOf: async (agreementId) => {
          const a = agreements.get(agreementId)
          return a && a.assignee === id ? { providerId: a.assigner, providerAddress: ids.providerDsp, datasetId: a.target } : undefined
        },
      }),
      usage,
      sources: () => ({ resolve: async (datasetId) => table[datasetId] }),
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
    area,
    async stop() {
      await service.stop()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await store.close()
    },
    api: (path: string, init: RequestInit = {}) =>
      fetch(`${url}/management/v1${path}`, {
        ...init,
        headers: { authorization: `Bearer ${managementKey}`, 'content-type': 'application/json', ...(init.headers as Record<string, string>) },
      }),
  } satisfies Side
}

const listen = (handler: Parameters<typeof createServer>[1]) =>
  new Promise<{ server: Server; port: number }>((resolve) => {
    const server = createServer(handler)
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port }))
  })

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'passerelle-http-api-'))
  ;({ server: upstream, port: upstreamPort } = await listen(upstreamHandler))
  ;({ server: refusedUpstream, port: refusedPort } = await listen(upstreamHandler))
  const [pp, cp] = [await freePort(), await freePort()]
  const ids = { provider: `did:web:127.0.0.1%3A${pp}`, consumer: `did:web:127.0.0.1%3A${cp}`, providerDsp: `http://127.0.0.1:${pp}/dsp/2025-1` }
  provider = await startSide('provider', pp, ids, cp)
  consumer = await startSide('consumer', cp, ids, cp)
})
afterAll(async () => {
  await consumer?.stop()
  await provider?.stop()
  for (const s of [upstream, refusedUpstream]) {
    s?.closeAllConnections()
    await new Promise<void>((resolve) => (s ? s.close(() => resolve()) : resolve()))
  }
  rmSync(root, { recursive: true, force: true })
})

let counter = 0
function newAgreement(target: string): string {
  const id = `urn:agreement:http-api-${++counter}`
  agreements.set(id, { id, state: 'FINALIZED', assigner: provider.id, assignee: consumer.id, target, signedAt: new Date('2026-11-01T00:00:00Z'), policy: {} })
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

type View = {
  id: string
  state: string
  providerPid: string | null
  accessCount: number
  accesses?: Array<{ status: number; reason: string | null; counted: boolean }>
}
const readTransfer = async (side: Side, id: string) => (await (await side.api(`/transfers/${id}`)).json()) as View

/** Negotiated elsewhere: a pull transfer of `target`, STARTED on both sides. */
async function startedPull(target: string) {
  const agreementId = newAgreement(target)
  const res = await consumer.api('/transfers', { method: 'POST', body: JSON.stringify({ agreementId, format: 'pull' }) })
  expect(res.status).toBe(201)
  const created = (await res.json()) as View
  const started = await waitFor(
    () => readTransfer(consumer, created.id),
    (t) => t.state === 'STARTED' && t.providerPid !== null,
    'the transfer to start',
  )
  return { consumerId: created.id, providerId: started.providerPid!, agreementId }
}

const errorOf = async (res: Response) => ((await res.json()) as { error: { message: string } }).error.message
const providerCounts = async (providerId: string) => (await readTransfer(provider, providerId)).accessCount

describe('HTTP API distributions between two connectors', () => {
  it('passes declared query parameters and a path suffix to the upstream with its secret, and counts one download', async () => {
    const { consumerId, providerId } = await startedPull('urn:dataset:series')
    const res = await consumer.api(`/transfers/${consumerId}/data/montreal_2025.csv?station=MTL&from=2025-01-01&variable=temperature`)
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('station,time,value\nMTL,2025-01-01,1.5\nfile,/montreal_2025.csv,0\n')
    expect(upstreamCalls.at(-1)).toEqual({ url: '/api/series/montreal_2025.csv?station=MTL&from=2025-01-01&variable=temperature', authorization: secret })
    await waitFor(
      () => providerCounts(providerId),
      (n) => n === 1,
      'one counted access',
    )
  })

  it('refuses an undeclared parameter, a bad value, a missing required one and a repeated one with 400 naming it, without asking the upstream or counting', async () => {
    const { consumerId, providerId } = await startedPull('urn:dataset:series')
    const before = upstreamCalls.length
    const cases: Array<[string, string]> = [
      ['?station=MTL&format=netcdf', "the query parameter 'format' is not declared by this distribution"],
      ['?station=mtl', "the query parameter 'station' does not match the pattern"],
      ['?station=MTL&from=yesterday', "the query parameter 'from' expects a date"],
      ['?station=MTL&variable=wind', "the query parameter 'variable' expects one of temperature, precipitation"],
      ['?from=2025-01-01', "the query parameter 'station' is required"],
      ['?station=MTL&station=QUE', "the query parameter 'station' is given twice"],
      ['/data.nc?station=MTL', "the path suffix 'data.nc' does not match the pattern"],
    ]
    for (const [tail, message] of cases) {
      const res = await consumer.api(`/transfers/${consumerId}/data${tail}`)
      expect(res.status, tail).toBe(400)
      expect(await errorOf(res), tail).toContain(message)
    }
    expect(upstreamCalls.length).toBe(before)
    expect(await providerCounts(providerId)).toBe(0)
  })

  it('refuses redirect=presigned (an S3 option) with its reason, unless the API declares its own redirect parameter, which then goes upstream', async () => {
    const plain = await startedPull('urn:dataset:series')
    const refused = await consumer.api(`/transfers/${plain.consumerId}/data?station=MTL&redirect=presigned`)
    expect(refused.status).toBe(400)
    expect(await errorOf(refused)).toContain('does not allow presigned URLs')
    expect(await providerCounts(plain.providerId)).toBe(0)
    const own = await startedPull('urn:dataset:own-redirect')
    const passed = await consumer.api(`/transfers/${own.consumerId}/data?station=MTL&redirect=presigned`)
    expect(passed.status).toBe(200)
    await passed.text()
    expect(upstreamCalls.at(-1)?.url).toBe('/api/series?station=MTL&redirect=presigned')
  })

  it('refuses path suffixes with .. or encoded slashes at the provider, sent raw on the wire', async () => {
    const { consumerId, providerId } = await startedPull('urn:dataset:series')
    const row = (await consumer.store.db.select().from(consumer.store.tables.transfers)).find((t) => t.id === consumerId)!
    const address = readHttpDataAddress(row.dataAddress as DataAddress)!
    const token = address.token
    const endpoint = new URL(address.endpoint)
    const before = upstreamCalls.length
    for (const path of ['/a%2Fb.csv?station=MTL', '/..%2fsecret.csv?station=MTL', '/x/%2e%2e/y.csv?station=MTL', '/a%5cb.csv?station=MTL']) {
      // node:http sends the path as written: no client-side normalisation.
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpRequest(
          { host: '127.0.0.1', port: endpoint.port, path: `${endpoint.pathname}${path}`, headers: { authorization: `Bearer ${token}` } },
          (res) => {
            res.resume()
            resolve(res.statusCode ?? 0)
          },
        )
        req.on('error', reject)
        req.end()
      })
      expect([400, 404], path).toContain(status)
    }
    expect(upstreamCalls.length).toBe(before)
    expect(await providerCounts(providerId)).toBe(0)
  })

  it('maps an upstream 500, a redirect to another host, silence and too many bytes to clear errors, spending no count, never showing the secret', async () => {
    for (const [target, message] of [
      ['urn:dataset:fail', 'the upstream source answered 500'],
      ['urn:dataset:redirect', 'the upstream source answered with a redirect to another host (302)'],
      ['urn:dataset:silent', 'the upstream source did not answer within 1 s'],
    ] as const) {
      const { consumerId, providerId } = await startedPull(target)
      const res = await consumer.api(`/transfers/${consumerId}/data?station=MTL`)
      expect(res.status, target).toBe(502)
      const text = await res.text()
      expect(text, target).toContain(message)
      expect(text).not.toContain('upstream-token')
      expect(await providerCounts(providerId)).toBe(0)
    }
    // More bytes than allowed: the answer has begun, so the stream is cut and the count given back.
    const { consumerId, providerId } = await startedPull('urn:dataset:overflow')
    const res = await consumer.api(`/transfers/${consumerId}/data?station=MTL`)
    expect(res.status).toBe(200)
    await expect(res.arrayBuffer()).rejects.toThrow()
    const settled = await waitFor(
      () => readTransfer(provider, providerId),
      (t) => (t.accesses ?? []).some((a) => a.reason?.includes('more than the 100000 bytes')),
      'the access to be given back',
    )
    expect(settled.accessCount).toBe(0)
    expect(logs.join('\n')).not.toContain('upstream-token')
  })

  it('refuses an upstream at a private address the operator has not allowed, counting nothing', async () => {
    const { consumerId, providerId } = await startedPull('urn:dataset:private')
    const before = upstreamCalls.length
    const res = await consumer.api(`/transfers/${consumerId}/data?station=MTL`)
    expect(res.status).toBe(502)
    expect(await errorOf(res)).toContain('the upstream source is at an address the provider does not allow (its egress policy)')
    expect(upstreamCalls.length).toBe(before)
    expect(await providerCounts(providerId)).toBe(0)
  })

  it('shows the declared schema in the pull answer of nothing else: the secret is in no answer or log', async () => {
    const { consumerId, providerId } = await startedPull('urn:dataset:series')
    await (await consumer.api(`/transfers/${consumerId}/data/a.csv?station=QUE`)).text()
    for (const side of [provider, consumer]) {
      const views = [await side.api(`/transfers/${side === provider ? providerId : consumerId}`), await side.api('/transfers')]
      for (const v of views) expect(await v.text()).not.toContain('upstream-token')
    }
    expect(logs.join('\n')).not.toContain('upstream-token')
  })

  it('stops a running stream from a slow upstream once the agreement is revoked', async () => {
    const { consumerId, agreementId } = await startedPull('urn:dataset:slow')
    const res = await consumer.api(`/transfers/${consumerId}/data?station=MTL`)
    expect(res.status).toBe(200)
    const reader = res.body!.getReader()
    const first = await reader.read()
    expect(first.done).toBe(false)
    agreements.set(agreementId, { ...agreements.get(agreementId)!, state: 'TERMINATED' })
    // The upstream would go on for a minute: the stream ends long before (the test's timeout is 15 s).
    let received = 0
    const ended = await (async () => {
      try {
        for (;;) {
          const { done, value } = await reader.read()
          if (done) return 'done'
          received += value.length
        }
      } catch {
        return 'cut'
      }
    })()
    expect(ended).toBe('cut')
    expect(received).toBeLessThan(64 * 1024 * 1200)
  }, 120_000)

  it('stops a running stream from a slow upstream once the provider terminates the transfer', async () => {
    const { consumerId, providerId } = await startedPull('urn:dataset:slow')
    const res = await consumer.api(`/transfers/${consumerId}/data?station=MTL`)
    const reader = res.body!.getReader()
    expect((await reader.read()).done).toBe(false)
    await act({ ctx: provider.area.runtime.ctx, input: { id: providerId, action: 'terminate', actor: 'local', reason: 'the steward withdrew the dataset' } })
    await expect(
      (async () => {
        for (;;) if ((await reader.read()).done) return 'done'
      })(),
    ).rejects.toThrow()
  }, 120_000)
})
