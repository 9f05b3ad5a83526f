import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { getRequestListener } from '@hono/node-server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Area } from '../areas.ts'
import { createTestStore } from '../../test/support/stores.ts'
import { testContext } from '../../test/support/context.ts'
import type { Store } from '../store/store.ts'
import { startTelemetry } from '../telemetry/telemetry.ts'
import { createApp } from './app.ts'
import { createPeerClient, type PeerClient } from './peer-client.ts'

/** A peer on 127.0.0.1 whose behaviour each test sets. */
let peer: Server
let peerUrl: string
let lastHeaders: IncomingHttpHeaders = {}
let behaviour: (res: import('node:http').ServerResponse) => void = (res) => res.end('{}')

beforeAll(async () => {
  await startTelemetry({})
  peer = createServer((req, res) => {
    lastHeaders = req.headers
    behaviour(res)
  })
  await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve))
  peerUrl = `http://127.0.0.1:${(peer.address() as AddressInfo).port}`
})
afterAll(() => new Promise((resolve) => peer.close(resolve)))

describe('peer client', () => {
  let client: PeerClient
  beforeAll(() => {
    client = createPeerClient()
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
    await expect(client.request({ url: peerUrl, maxBytes: 1000 })).rejects.toMatchObject({ code: 'peer_failed', message: expect.stringMatching(/more than 1000 bytes/) })
  })

  it('gives up on a peer that does not answer in time', async () => {
    behaviour = () => {}
    await expect(client.request({ url: peerUrl, timeout: 200 })).rejects.toMatchObject({ code: 'peer_failed', message: expect.stringMatching(/no answer in time/) })
  })

  it('reports a refused connection as a peer failure', async () => {
    await expect(client.request({ url: 'http://127.0.0.1:1/' })).rejects.toMatchObject({ code: 'peer_failed', message: expect.stringMatching(/connection refused/) })
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
