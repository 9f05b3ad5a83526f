import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateSigningKey } from '../../connector/identity/keys.ts'
import { signRaw } from '../support/identity.ts'
import { allowPort, copyParticipant, startConnectorProcess, type ConnectorProcess, type ParticipantFolder } from '../support/processes.ts'

/**
 * Unauthenticated SSRF through did:web: a caller's token names, in `iss`, the host the connector
 * fetches a DID document from, before any signature can be checked. These attacks send real signed
 * tokens (by keys no DID document lists) to a real connector process and prove, with listeners that
 * record every request, what it fetched: nothing on internal addresses or outside the data space's
 * DID hosts, nothing before the token's own claims pass, a failing host only once in a while, and
 * a 401 that says nothing of the network.
 */

/** A server that records every request and answers `status`. */
async function recorder(status: number): Promise<{ server: Server; port: number; hits: string[] }> {
  const hits: string[] = []
  const server = createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`)
    res.writeHead(status, { 'content-type': 'application/json' }).end('{}')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { server, port: (server.address() as AddressInfo).port, hits }
}

const didOf = (host: string) => `did:web:${host.replace(':', '%3A')}`

let folder: ParticipantFolder
let connector: ConnectorProcess
/** An internal service: not in the connector's allow-list. */
let internal: Awaited<ReturnType<typeof recorder>>
/** A member host whose DID document cannot be read (answers 500): allowed, and a DID host. */
let failing: Awaited<ReturnType<typeof recorder>>
/** A host the egress policy allows but that is not one of the data space's DID hosts. */
let stranger: Awaited<ReturnType<typeof recorder>>

beforeAll(async () => {
  internal = await recorder(200)
  failing = await recorder(500)
  stranger = await recorder(200)
  allowPort(failing.port)
  allowPort(stranger.port)
  folder = await copyParticipant({
    config: { identity: { mode: 'dcp', keyFiles: ['identity/private-key.jwk'], allowInsecureLoopback: true, trustedIssuers: [] } },
  })
  connector = await startConnectorProcess(folder, {
    env: { PASSERELLE_EGRESS_DID_HOSTS: [folder.port, failing.port, internal.port].map((port) => `127.0.0.1:${port}`).join(',') },
  })
}, 60_000)
afterAll(async () => {
  await connector?.stop('SIGKILL')
  folder?.remove()
  for (const r of [internal, failing, stranger]) await new Promise((resolve) => r?.server.close(resolve))
})

async function forgedToken(iss: string, claims: Record<string, unknown> = {}) {
  const key = await generateSigningKey('key-1')
  const iat = Math.floor(Date.now() / 1000)
  return signRaw({ iss, sub: iss, aud: folder.did, jti: crypto.randomUUID(), iat, exp: iat + 300, ...claims }, key, { kid: `${iss}#key-1` })
}

async function catalogRequest(token: string) {
  const response = await fetch(`${folder.url}/dsp/2025-1/catalog/request`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ '@context': ['https://w3id.org/dspace/2025/1/context.jsonld'], '@type': 'CatalogRequestMessage' }),
  })
  return { status: response.status, text: await response.text() }
}

/** Words a 401 must not contain: they would tell an unauthenticated caller what listens where. */
const networkWords = /ECONN|refused|reach|loopback|private|egress|timed? ?out|status 5|answered|socket|127\.0\.0\.1:\d|port/i

describe('did:web resolution attacked by unauthenticated callers', () => {
  it('a forged token whose iss names an internal port makes the connector fetch nothing there, and the 401 says nothing of the network', async () => {
    const answer = await catalogRequest(await forgedToken(didOf(`127.0.0.1:${internal.port}`)))
    expect(answer.status).toBe(401)
    expect(answer.text).not.toMatch(networkWords)
    expect(internal.hits).toEqual([])
    // The operator's log has the reason.
    expect(connector.output.join('\n')).toMatch(new RegExp(`127\\.0\\.0\\.1 port ${internal.port} is a loopback address not in egress.allow`))
  })

  it('a forged token whose iss names a private or metadata address is refused at once', async () => {
    for (const host of ['10.0.0.1', '169.254.169.254', '192.168.1.1:8080', 'localhost:22']) {
      const started = Date.now()
      const answer = await catalogRequest(await forgedToken(didOf(host)))
      expect(answer.status, host).toBe(401)
      expect(answer.text).not.toMatch(networkWords)
      expect(Date.now() - started, host).toBeLessThan(2000)
    }
  })

  it('a host outside the DID host allow-list is never asked, even when the egress policy would allow it', async () => {
    const answer = await catalogRequest(await forgedToken(didOf(`127.0.0.1:${stranger.port}`)))
    expect(answer.status).toBe(401)
    expect(stranger.hits).toEqual([])
  })

  it('a token for another audience, expired, or without jti costs no fetch: its claims are checked before its issuer is resolved', async () => {
    const iss = didOf(`127.0.0.1:${stranger.port}`)
    const before = failing.hits.length
    const failingIss = didOf(`127.0.0.1:${failing.port}`)
    for (const claims of [{ aud: 'did:web:someone.else' }, { exp: Math.floor(Date.now() / 1000) - 3600 }, { jti: '' }, { sub: 'did:web:other' }]) {
      expect((await catalogRequest(await forgedToken(failingIss, claims))).status).toBe(401)
      expect((await catalogRequest(await forgedToken(iss, claims))).status).toBe(401)
    }
    expect(failing.hits.length).toBe(before)
    expect(stranger.hits).toEqual([])
  })

  it('a DID whose document cannot be read is fetched once, not once per forged token', async () => {
    const iss = didOf(`127.0.0.1:${failing.port}`)
    const answers = []
    for (let i = 0; i < 5; i++) answers.push(await catalogRequest(await forgedToken(iss)))
    // Another DID of that host is asked once too: one DID's failure does not block its neighbours.
    for (let i = 0; i < 3; i++) answers.push(await catalogRequest(await forgedToken(`${iss}:users:mallory`)))
    for (const answer of answers) {
      expect(answer.status).toBe(401)
      expect(answer.text).not.toMatch(networkWords)
    }
    expect(failing.hits).toEqual(['GET /.well-known/did.json', 'GET /users/mallory/did.json'])
  })
})
