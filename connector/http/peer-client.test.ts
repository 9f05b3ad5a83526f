import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { getRequestListener } from '@hono/node-server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Area } from '../area.ts'
import { createTestStore } from '../../test/support/stores.ts'
import { testContext } from '../../test/support/context.ts'
import type { Store } from '../store/store.ts'
import { startTelemetry } from '../telemetry/telemetry.ts'
import { createApp } from './app.ts'
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { egressPolicy } from './egress.ts'
import { createPeerClient, type PeerClient } from './peer-client.ts'

/** A peer on 127.0.0.1 whose behaviour each test sets. */
let peer: Server
let peerUrl: string
let peerPort: number
let lastHeaders: IncomingHttpHeaders = {}
let behaviour: (res: import('node:http').ServerResponse) => void = (res) => res.end('{}')

beforeAll(async () => {
  await startTelemetry({})
  peer = createServer((req, res) => {
    lastHeaders = req.headers
    behaviour(res)
  })
  await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve))
  peerPort = (peer.address() as AddressInfo).port
  peerUrl = `http://127.0.0.1:${peerPort}`
})
afterAll(() => new Promise((resolve) => peer.close(resolve)))

describe('peer client', () => {
  let client: PeerClient
  beforeAll(() => {
    client = createPeerClient({ egress: egressPolicy({ allow: [`127.0.0.1:${peerPort}`, '127.0.0.1:1'] }) })
  })
  afterAll(() => client.close())

  it('sends JSON and reads JSON', async () => {
    behaviour = (res) => res.setHeader('content-type', 'application/json').end('{"ok":true}')
    const response = await client.request({ url: `${peerUrl}/x`, body: { hello: 'peer' } })
    expect(response.status).toBe(200)
    expect(response.json()).toEqual({ ok: true })
    expect(lastHeaders['content-type']).toBe('application/json')
  })

  it('refuses an answer larger than the limit', async () => {
    behaviour = (res) => res.end('x'.repeat(10_000))
    await expect(client.request({ url: peerUrl, maxBytes: 1000 })).rejects.toMatchObject({
      code: 'peer_failed',
      message: expect.stringMatching(/more than 1000 bytes/),
    })
  })

  it('gives up on a peer that does not answer in time', async () => {
    behaviour = () => {}
    await expect(client.request({ url: peerUrl, timeout: 200 })).rejects.toMatchObject({
      code: 'peer_failed',
      message: expect.stringMatching(/no answer in time/),
    })
  })

  it('reports a refused connection as a peer failure', async () => {
    await expect(client.request({ url: 'http://127.0.0.1:1/' })).rejects.toMatchObject({
      code: 'peer_failed',
      message: expect.stringMatching(/connection refused/),
    })
  })

  it('does not follow redirects', async () => {
    behaviour = (res) => res.writeHead(302, { location: 'http://127.0.0.1:1/elsewhere' }).end()
    const response = await client.request({ url: peerUrl })
    expect(response.status).toBe(302)
  })

  it('says so when a peer answers something that is not JSON', async () => {
    behaviour = (res) => res.end('<html>')
    const response = await client.request({ url: peerUrl })
    expect(() => response.json()).toThrow(/not JSON/)
  })
})

describe('egress policy', () => {
  /** An internal service: it records every request that reaches it. */
  let internal: Server
  let internalPort: number
  const hits: string[] = []
  let client: PeerClient
  beforeAll(async () => {
    internal = createServer((req, res) => {
      hits.push(`${req.method} ${req.url}`)
      req.resume()
      res.end('{}')
    })
    await new Promise<void>((resolve) => internal.listen(0, '127.0.0.1', resolve))
    internalPort = (internal.address() as AddressInfo).port
    client = createPeerClient({ egress: egressPolicy({ allow: [`127.0.0.1:${peerPort}`] }) })
  })
  afterAll(async () => {
    await client.close()
    await new Promise((resolve) => internal.close(resolve))
  })

  const refused = { code: 'peer_failed', message: 'the destination could not be reached' }

  it('refuses another port of an allowed host, and nothing reaches it', async () => {
    const error = await client.request({ url: `http://127.0.0.1:${internalPort}/admin` }).catch((e) => e)
    expect(error).toMatchObject({ ...refused, details: { egress: expect.stringMatching(/127\.0\.0\.1 port \d+ is a loopback address/) } })
    expect(hits).toEqual([])
  })

  it('refuses a host name that resolves to loopback, checking the address it resolved to', async () => {
    await expect(client.request({ url: `http://localhost:${internalPort}/` })).rejects.toMatchObject(refused)
    expect(hits).toEqual([])
  })

  it('refuses loopback, private, link-local, unspecified and mapped addresses before connecting', async () => {
    for (const host of ['127.0.0.2', '[::1]', '[::ffff:127.0.0.1]', '0.0.0.0', '10.0.0.1', '169.254.169.254', '[fe80::1]', '100.64.0.1']) {
      const started = Date.now()
      await expect(client.request({ url: `http://${host}:${internalPort}/`, timeout: 2000 })).rejects.toMatchObject(refused)
      // Refused at once, not after a connection attempt timed out.
      expect(Date.now() - started).toBeLessThan(1000)
    }
    expect(hits).toEqual([])
  })

  it('does not follow a redirect from an allowed peer to an internal address', async () => {
    behaviour = (res) => res.writeHead(307, { location: `http://127.0.0.1:${internalPort}/secret` }).end()
    expect((await client.request({ url: peerUrl })).status).toBe(307)
    expect(hits).toEqual([])
  })

  it('uploads a stream to an allowed destination and refuses an internal one', async () => {
    behaviour = (res) => res.writeHead(201).end()
    expect(await client.upload({ url: `${peerUrl}/incoming`, headers: { authorization: 'Bearer t' }, body: Readable.from([Buffer.from('data')]) })).toBe(201)
    expect(lastHeaders.authorization).toBe('Bearer t')
    await expect(client.upload({ url: `http://127.0.0.1:${internalPort}/`, headers: {}, body: Readable.from([Buffer.from('data')]) })).rejects.toMatchObject(
      refused,
    )
    expect(hits).toEqual([])
  })

  it('connects to the address it checked: a name that rebinds to a refused address after the check reaches nothing there', async () => {
    // 127.0.0.2 stands for a public address (allowed), 127.0.0.1 for the internal one, both on one port.
    const outside = createServer((_req, res) => res.end('{"outside":true}'))
    await new Promise<void>((resolve) => outside.listen(internalPort, '127.0.0.2', resolve))
    const answers = [['127.0.0.2'], ['127.0.0.1']]
    let lookups = 0
    const rebinding = createPeerClient({ egress: egressPolicy({ allow: ['127.0.0.2/32'] }), resolve: async () => answers[Math.min(lookups++, 1)]! })
    try {
      // First connection: resolved once, checked and connected to that very address.
      expect((await rebinding.request({ url: `http://rebinding.test:${internalPort}/`, headers: { connection: 'close' } })).json()).toEqual({ outside: true })
      // The name now resolves to the internal address: the next connection is refused.
      await expect(rebinding.request({ url: `http://rebinding.test:${internalPort}/` })).rejects.toMatchObject(refused)
      expect(lookups).toBe(2)
      expect(hits).toEqual([])
    } finally {
      await rebinding.close()
      await new Promise((resolve) => outside.close(resolve))
    }
  })

  it('uploads every byte of a stream that a digest reader already set flowing, on a first connection', async () => {
    const data = randomBytes(8 * 1024 * 1024)
    const dir = mkdtempSync(join(tmpdir(), 'passerelle-upload-'))
    writeFileSync(join(dir, 'data.bin'), data)
    const received = createHash('sha256')
    let size = 0
    const sink = createServer((req, res) => {
      req.on('data', (chunk: Buffer) => ((size += chunk.length), received.update(chunk)))
      req.on('end', () => res.writeHead(201).end())
    })
    await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve))
    const port = (sink.address() as AddressInfo).port
    const fresh = createPeerClient({ egress: egressPolicy({ allow: [`127.0.0.1:${port}`] }) })
    try {
      const body = createReadStream(join(dir, 'data.bin'), { highWaterMark: 1024 * 1024 })
      const seen = createHash('sha256')
      body.on('data', (chunk) => seen.update(chunk as Buffer))
      expect(await fresh.upload({ url: `http://127.0.0.1:${port}/incoming`, headers: {}, body })).toBe(201)
      expect(size).toBe(data.length)
      expect(received.digest('hex')).toBe(createHash('sha256').update(data).digest('hex'))
    } finally {
      await fresh.close()
      await new Promise((resolve) => sink.close(resolve))
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('by default, allows no internal address at all', async () => {
    const strict = createPeerClient()
    await expect(strict.request({ url: peerUrl })).rejects.toMatchObject(refused)
    await strict.close()
  })
})

describe('trace context', () => {
  let store: Store
  let server: Server
  let url: string
  beforeAll(async () => {
    store = await createTestStore('sqlite')
    const ctx = testContext(store)
    // A route that calls the peer, as DSP routes do.
    const relay: Area = {
      name: 'relay',
      routes({ root }) {
        root.get('/relay', async (c) => c.json((await ctx.peers.request({ url: peerUrl })).status))
      },
    }
    server = createServer(getRequestListener(createApp(ctx, [relay]).app.fetch))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve))
    await store.close()
  })

  it('continues an inbound traceparent on the outbound call to the peer', async () => {
    behaviour = (res) => res.end('{}')
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736'
    await fetch(`${url}/relay`, { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } })
    expect(lastHeaders.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-0[01]$`))
  })
})
