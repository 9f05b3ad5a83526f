import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateSigningKey } from '../../connector/identity/keys.ts'
import { signRaw } from '../support/identity.ts'
import { allowPort, copyParticipant, startConnectorProcess, type ConnectorProcess, type ParticipantFolder } from '../support/processes.ts'

/**
 * Variants of unauthenticated SSRF through did:web: the `iss` of a forged token names an internal
 * listener in other spellings (percent-encoding in either case or twice, path-based DIDs, shortened,
 * decimal and hexadecimal IPv4, IPv6 loopback, localhost, a leading-zero or overflowing port,
 * userinfo, query and fragment). Each gets a 401 that says nothing of the network, and the listener
 * records no request.
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

/** Words a 401 must not contain: they would tell an unauthenticated caller what listens where ("malformed did:web port" describes the DID the caller sent, and may be said). */
const networkWords = /ECONN|refused|reach|loopback|private|egress|timed? ?out|status 5|answered|socket|127\.0\.0\.1:\d|(?<!did:web )port/i

describe('did:web issuers spelling an internal listener', () => {
  const p = () => internal.port
  it.each([
    ['lower-case %3a', () => `did:web:127.0.0.1%3a${p()}`],
    ['the colon encoded twice', () => `did:web:127.0.0.1%253A${p()}`],
    ['a path-based DID', () => `did:web:127.0.0.1%3A${p()}:users:mallory`],
    ['127.1', () => `did:web:127.1%3A${p()}`],
    ['decimal IPv4', () => `did:web:2130706433%3A${p()}`],
    ['hexadecimal IPv4', () => `did:web:0x7f000001%3A${p()}`],
    ['IPv6 loopback', () => `did:web:%5B%3A%3A1%5D%3A${p()}`],
    ['IPv4-mapped IPv6', () => `did:web:%5B%3A%3Affff%3A127.0.0.1%5D%3A${p()}`],
    ['localhost', () => `did:web:localhost%3A${p()}`],
    ['a leading-zero port', () => `did:web:127.0.0.1%3A0${p()}`],
    ['a port past 65535 that wraps to it', () => `did:web:127.0.0.1%3A${p() + 65536}`],
    ['userinfo before the host', () => `did:web:member%40127.0.0.1%3A${p()}`],
    ['a query', () => `did:web:127.0.0.1%3A${p()}?service=x`],
    ['a fragment', () => `did:web:127.0.0.1%3A${p()}%23x`],
    ['an encoded slash', () => `did:web:127.0.0.1%3A${p()}%2F..%2Fadmin`],
  ])('%s: a 401 that says nothing of the network, and nothing fetched there', async (_name, iss) => {
    const answer = await catalogRequest(await forgedToken(iss()))
    expect(answer.status).toBe(401)
    expect(answer.text).not.toMatch(networkWords)
    expect(internal.hits).toEqual([])
  })
})
