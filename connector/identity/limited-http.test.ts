import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isPasserelleError } from '../errors.ts'
import { egressPolicy } from '../http/egress.ts'
import { createPeerClient, type PeerClient } from '../http/peer-client.ts'
import { limitedHttp, limitedHttpOver, type LimitedHttp } from './limited-http.ts'
import { loopbackServer, type LoopbackServer } from '../../test/support/identity.ts'

/** The limits on calls to other parties hold over undici directly and over the connector's peer client. */
// The peer client may reach exactly the test servers (their ports are known once they listen).
const allowed: string[] = []
const peers: PeerClient = createPeerClient({ egress: { check: (d) => egressPolicy({ allow: allowed }).check(d), allowsDidHost: () => true } })
const implementations: Array<[string, LimitedHttp]> = [
  ['undici', limitedHttp],
  ['peer client', limitedHttpOver(peers)],
]

describe.each(implementations)('limited HTTP over %s', (_name, http) => {
  let server: LoopbackServer
  beforeAll(async () => {
    server = await loopbackServer()
    allowed.push(`127.0.0.1:${server.port}`)
    server.handle((req, res) => {
      if (req.url === '/ok') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"id":"x"}')
      if (req.url === '/same-host') return void res.writeHead(301, { location: '/ok' }).end()
      if (req.url === '/other-host') return void res.writeHead(302, { location: `http://localhost:${server.port}/ok` }).end()
      if (req.url === '/loop') return void res.writeHead(302, { location: '/loop' }).end()
      if (req.url === '/huge') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ x: 'x'.repeat(10_000) }))
      if (req.url === '/text') return void res.writeHead(200).end('<html>')
      if (req.url === '/deep') return void res.writeHead(200, { 'content-type': 'application/json' }).end(`{"id":${'['.repeat(200)}${']'.repeat(200)}}`)
      // '/slow': never answers
    })
  })
  afterAll(() => server.close())

  const call = (path: string) => http({ url: new URL(`${server.url}${path}`), timeoutMs: 300, maxBytes: 1000 })
  const refusal = async (path: string) => {
    const error = await call(path).catch((e: unknown) => e)
    expect(isPasserelleError(error) && error.code, path).toBe('unauthorized')
    return (error as Error).message
  }

  it('answers the parsed JSON and follows a redirect on the same host', async () => {
    expect(await call('/ok')).toEqual({ status: 200, json: { id: 'x' } })
    expect(await call('/same-host')).toEqual({ status: 200, json: { id: 'x' } })
  })

  it('refuses a redirect to another host, and endless redirects', async () => {
    expect(await refusal('/other-host')).toMatch(/redirected to another host/)
    expect(await refusal('/loop')).toMatch(/redirected too often/)
  })

  it('refuses an answer over the size limit, one that is not JSON, and a server that does not answer', async () => {
    expect(await refusal('/huge')).toMatch(/more than 1000 bytes/)
    expect(await refusal('/text')).toMatch(/not JSON/)
    expect(await refusal('/slow')).toMatch(/did not answer|no answer in time/)
  })

  it('refuses a DID document nested deeper than the JSON limit, saying where', async () => {
    expect(await refusal('/deep')).toMatch(/answer at id(\.0)+: nested deeper than 32 levels/)
  })
})

afterAll(() => peers.close())
