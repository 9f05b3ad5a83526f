import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { getRequestListener } from '@hono/node-server'
import { Hono } from 'hono'
import { SignJWT, type JWTPayload } from 'jose'
import { resolveConfig } from '../../connector/config/config.ts'
import type { Clock } from '../../connector/clock.ts'
import type { IdSource } from '../../connector/ids.ts'
import { createErrorRenderers } from '../../connector/http/error-response.ts'
import type { AppEnv } from '../../connector/http/env.ts'
import type { Store } from '../../connector/store/store.ts'
import { createLogger } from '../../connector/telemetry/logger.ts'
import { buildDidDocument } from '../../connector/identity/did-document.ts'
import { createDidResolver, type DidResolverOptions } from '../../connector/identity/did-resolver.ts'
import { didWebForUrl } from '../../connector/identity/did-web.ts'
import { createIdentity, type Identity } from '../../connector/identity/identity.ts'
import { issueCredentialJwt } from '../../connector/identity/issuer.ts'
import { generateSigningKey, type SigningKey } from '../../connector/identity/keys.ts'
import { identityRoutes } from '../../connector/identity/routes.ts'

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

export async function loopbackServer(port = 0): Promise<LoopbackServer> {
  let handler: RawHandler = (_req, res) => {
    res.writeHead(404)
    res.end()
  }
  const server = createServer((req, res) => handler(req, res))
  await new Promise<void>((done) => server.listen(port, '127.0.0.1', () => done()))
  const bound = (server.address() as AddressInfo).port
  const url = `http://127.0.0.1:${bound}`
  return {
    url,
    port: bound,
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
  /** What identity logged (JSON lines): the reasons it keeps from callers. */
  logs: string[]
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
  /** The port to listen on (a port reserved beforehand, so that connector processes may be allowed to reach it); any free one by default. */
  port?: number
  /** More `identity` settings (e.g. `{ keyRelationships: 'strict' }`). */
  identity?: Record<string, unknown>
}

export async function startParticipant(options: ParticipantOptions): Promise<TestParticipant> {
  const server = await loopbackServer(options.port)
  const keys = options.keys ?? [await generateSigningKey('key-1')]
  const config = resolveConfig(
    {
      participant: { id: server.did, name: `participant ${server.port}` },
      server: { host: '127.0.0.1', port: server.port },
      identity: { allowInsecureLoopback: true, trustedIssuers: options.trustedIssuers ?? [], ...options.identity },
    },
    '/nonexistent',
    { env: {} },
  )
  const logs: string[] = []
  const logger = createLogger({ write: (line) => logs.push(line) })
  const resolver = createDidResolver({ clock: options.clock, allowInsecureLoopback: true, timeoutMs: 500, logger, ...options.resolver })
  const identity = await createIdentity(
    { config, store: options.store, clock: options.clock, ids: options.ids, logger },
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
  return { did: server.did, url: server.url, key: keys[0]!, identity, store: options.store, logs, app, close: () => server.close() }
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
