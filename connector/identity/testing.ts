import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { getRequestListener } from '@hono/node-server'
import { Hono } from 'hono'
import { SignJWT, type JWTPayload } from 'jose'
import { resolveConfig } from '../config/config.ts'
import type { Clock, IdSource } from '../context.ts'
import { createErrorRenderers } from '../http/error-response.ts'
import type { AppEnv } from '../http/env.ts'
import type { Store } from '../store/store.ts'
import { silentLogger } from '../telemetry/logger.ts'
import { buildDidDocument } from './did-document.ts'
import { createDidResolver, type DidResolverOptions } from './did-resolver.ts'
import { didWebForUrl } from './did-web.ts'
import { createIdentity, type Identity } from './identity.ts'
import { issueCredentialJwt } from './issuer.ts'
import { generateSigningKey, type SigningKey } from './keys.ts'
import { identityRoutes } from './routes.ts'

/**
 * In-process parties for identity tests and benchmarks: HTTP servers on 127.0.0.1 (port 0) serving
 * real did:web documents, participants with a credential service, and a credential authority.
 */

export type RawHandler = (req: IncomingMessage, res: ServerResponse) => void

export interface LoopbackServer {
  url: string
  port: number
  /** The did:web identifier of this server's root. */
  did: string
  handle(handler: RawHandler): void
  close(): Promise<void>
}

export async function loopbackServer(): Promise<LoopbackServer> {
  let handler: RawHandler = (_req, res) => {
    res.writeHead(404)
    res.end()
  }
  const server = createServer((req, res) => handler(req, res))
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', () => done()))
  const port = (server.address() as AddressInfo).port
  const url = `http://127.0.0.1:${port}`
  return {
    url,
    port,
    did: didWebForUrl(url),
    handle: (next) => void (handler = next),
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections()
        server.close(() => done())
      }),
  }
}

export interface TestParticipant {
  did: string
  url: string
  key: SigningKey
  identity: Identity
  store: Store
  /** The HTTP app: identity routes plus `GET /protected` that authenticates its caller. */
  app: Hono<AppEnv>
  close(): Promise<void>
}

export interface ParticipantOptions {
  store: Store
  clock: Clock
  ids: IdSource
  trustedIssuers?: string[]
  resolver?: Partial<DidResolverOptions>
  /** Changes the credential service's answers before they leave (tampering tests). */
  tamperPresentation?: (body: Record<string, unknown>) => Record<string, unknown>
  keys?: SigningKey[]
}

export async function startParticipant(options: ParticipantOptions): Promise<TestParticipant> {
  const server = await loopbackServer()
  const keys = options.keys ?? [await generateSigningKey('key-1')]
  const config = resolveConfig(
    {
      participant: { id: server.did, name: `participant ${server.port}` },
      server: { host: '127.0.0.1', port: server.port },
      identity: { allowInsecureLoopback: true, trustedIssuers: options.trustedIssuers ?? [] },
    },
    '/nonexistent',
    { env: {} },
  )
  const resolver = createDidResolver({ clock: options.clock, allowInsecureLoopback: true, timeoutMs: 500, ...options.resolver })
  const identity = await createIdentity(
    { config, store: options.store, clock: options.clock, ids: options.ids, logger: silentLogger },
    { keys: { signing: keys[0]!, all: keys }, resolver },
  )
  const errors = createErrorRenderers()
  const app = new Hono<AppEnv>()
  if (options.tamperPresentation) {
    const tamper = options.tamperPresentation
    app.use('/dcp/presentations/query', async (c, next) => {
      await next()
      if (c.res.status !== 200) return
      const body = (await c.res.json()) as Record<string, unknown>
      c.res = new Response(JSON.stringify(tamper(body)), { status: 200, headers: { 'content-type': 'application/json' } })
    })
  }
  app.route('/', identityRoutes(identity))
  app.get('/protected', async (c) => {
    const types = c.req.query('types')
    const requester = await identity.authenticator.authenticate({
      authorization: c.req.header('authorization'),
      credentialTypes: types ? types.split(',') : [],
    })
    return c.json(requester)
  })
  app.onError((error, c) => errors.render(error, c))
  server.handle(getRequestListener(app.fetch))
  return { did: server.did, url: server.url, key: keys[0]!, identity, store: options.store, app, close: () => server.close() }
}

export interface TestAuthority {
  did: string
  key: SigningKey
  issue(subject: string, type: string, claims?: Record<string, unknown>, expiresAt?: Date): Promise<string>
  close(): Promise<void>
}

/** A credential issuer serving its DID document (no services). */
export async function startAuthority(clock: Clock, ids: IdSource): Promise<TestAuthority> {
  const server = await loopbackServer()
  const key = await generateSigningKey('authority-key-1')
  const document = JSON.stringify(buildDidDocument({ did: server.did, keys: [key] }))
  server.handle((req, res) => {
    const ok = req.url === '/.well-known/did.json'
    res.writeHead(ok ? 200 : 404, { 'content-type': 'application/json' })
    res.end(ok ? document : '{}')
  })
  return {
    did: server.did,
    key,
    issue: (subject, type, claims, expiresAt) =>
      issueCredentialJwt({ issuerDid: server.did, key, subject, type, claims, issuedAt: clock.now(), expiresAt, ids }),
    close: () => server.close(),
  }
}

/** Signs arbitrary claims and header: for forged, expired or misdirected tokens. */
export function signRaw(payload: JWTPayload & Record<string, unknown>, key: SigningKey, header: { kid?: string; alg?: string } = {}) {
  return new SignJWT(payload).setProtectedHeader({ alg: header.alg ?? key.alg, ...(header.kid ? { kid: header.kid } : {}) }).sign(key.privateKey)
}

/** An unsigned token (`alg: none`), as an attacker would send it. */
export function unsignedJwt(payload: Record<string, unknown>, kid: string) {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
  return `${part({ alg: 'none', kid, typ: 'JWT' })}.${part(payload)}.`
}
