import { Hono } from 'hono'
import { z } from 'zod'
import type { Area } from '../area.ts'
import type { Clock } from '../clock.ts'
import type { Ctx } from '../context.ts'
import { PasserelleError } from '../errors.ts'
import type { AppEnv } from '../http/env.ts'
import { parseJsonBody, readJson } from '../http/validate.ts'
import type { OpenApiRegistry } from '../management/openapi.ts'
import { didWebDocumentPath } from './did-web.ts'
import { credentialServicePath, type Identity } from './identity.ts'
import { keyStates } from './key-schedule.ts'

/**
 * Identity's public routes, mounted at the server root: our DID document (no authentication) and our
 * credential service's presentation query (authenticated by the verifier's ID token).
 */
export function identityRoutes(identity: Identity) {
  const app = new Hono<AppEnv>()
  const document = identity.didDocument
  if (document) {
    const paths = new Set(['/.well-known/did.json', didWebDocumentPath(document.id)])
    for (const path of paths) {
      app.get(path, (c) => {
        // Short: a key added by rotation should reach peers that ask well before it signs.
        c.header('cache-control', 'public, max-age=60')
        return c.json(identity.didDocument)
      })
    }
  }
  app.post(`${credentialServicePath}/presentations/query`, async (c) => {
    if (!identity.dcp) throw new PasserelleError('not_found', 'this participant has no credential service (identity mode static)')
    const authorization = c.req.header('authorization')
    // The token is checked before the body is read: anonymous callers learn nothing about the body rules.
    if (!authorization) throw new PasserelleError('unauthorized', 'no token (Authorization header missing)')
    const body = await readJson(c)
    return c.json(await identity.dcp.queryPresentations({ authorization, body }))
  })
  return app
}

export const AddCredential = z.object({
  /** A VC JWT (VC data model 1.1 JWT profile) whose subject is this participant. */
  credential: z
    .string()
    .min(1)
    .max(64 * 1024),
})
export type AddCredential = z.infer<typeof AddCredential>

export const HeldCredential = z.object({
  id: z.string(),
  types: z.array(z.string()),
  issuer: z.string(),
  subject: z.string(),
  expiresAt: z.string().nullable(),
  createdAt: z.string(),
})
export type HeldCredential = z.infer<typeof HeldCredential>

/** `/management/v1/credentials`: the credentials this participant holds and presents. */
export function credentialManagementRoutes(identity: Identity, openapi?: OpenApiRegistry) {
  const app = new Hono<AppEnv>()
  openapi?.add({
    method: 'get',
    path: '/credentials',
    summary: 'The verifiable credentials this participant holds',
    tags: ['identity'],
    responses: { 200: { description: 'held credentials', schema: z.object({ credentials: z.array(HeldCredential) }) } },
  })
  openapi?.add({
    method: 'post',
    path: '/credentials',
    summary: 'Hold a verifiable credential (a VC JWT about this participant)',
    tags: ['identity'],
    body: AddCredential,
    responses: { 201: { description: 'the credential is held', schema: HeldCredential } },
  })
  openapi?.add({
    method: 'delete',
    path: '/credentials/{id}',
    summary: 'Stop holding a credential',
    tags: ['identity'],
    params: z.object({ id: z.string() }),
    responses: { 204: { description: 'removed' } },
  })
  app.get('/credentials', async (c) => c.json({ credentials: await identity.credentials.list() }))
  app.post('/credentials', async (c) => {
    const input = await parseJsonBody(c, AddCredential)
    return c.json(await identity.credentials.add(input.credential), 201)
  })
  app.delete('/credentials/:id', async (c) => {
    await identity.credentials.remove(c.req.param('id'))
    return c.body(null, 204)
  })
  return app
}

export const ParticipantKey = z.object({
  kid: z.string(),
  state: z.enum(['signing', 'published', 'pending', 'retired']),
  signsFrom: z.string().nullable(),
  retireAt: z.string().nullable(),
})
export type ParticipantKey = z.infer<typeof ParticipantKey>

/** `GET /management/v1/keys`: our keys as this process uses them now (which signs, which are published). */
export function keyManagementRoutes(identity: Identity, clock: Clock, openapi?: OpenApiRegistry) {
  const app = new Hono<AppEnv>()
  openapi?.add({
    method: 'get',
    path: '/keys',
    summary: "The participant's signing keys as the running connector uses them",
    tags: ['identity'],
    responses: { 200: { description: 'keys, newest first', schema: z.object({ keys: z.array(ParticipantKey) }) } },
  })
  app.get('/keys', (c) => {
    const ring = identity.keys
    if (!ring) throw new PasserelleError('not_found', 'this participant has no keys (identity mode static)')
    const now = clock.now().getTime()
    const signing = ring.signing
    const instant = (time: number) => (Number.isFinite(time) && time > 0 ? new Date(time).toISOString() : null)
    const keys: ParticipantKey[] = ring.scheduled
      ? keyStates(ring.scheduled(), now).map(({ key, state }) => ({ kid: key.kid, state, signsFrom: instant(key.signsFrom), retireAt: instant(key.retireAt) }))
      : ring.all.map((key) => ({ kid: key.kid, state: key === signing ? 'signing' : 'published', signsFrom: null, retireAt: null }))
    return c.json({ keys })
  })
  return app
}

/** The identity area: routes need `ctx.identity` (created at start-up with `createIdentity`). */
export const identityArea: Area = {
  name: 'identity',
  routes({ root, management, openapi }, ctx: Ctx) {
    const identity = ctx.identity
    if (!identity) return
    root.route('/', identityRoutes(identity))
    management.route('/', credentialManagementRoutes(identity, openapi))
    management.route('/', keyManagementRoutes(identity, ctx.clock, openapi))
  },
}
