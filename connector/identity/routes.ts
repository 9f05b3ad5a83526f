import { Hono } from 'hono'
import { z } from 'zod'
import type { Area } from '../areas.ts'
import type { Ctx } from '../context.ts'
import { PasserelleError } from '../errors.ts'
import type { AppEnv } from '../http/env.ts'
import { parseJsonBody, readJson } from '../http/validate.ts'
import type { OpenApiRegistry } from '../management/openapi.ts'
import { didWebDocumentPath } from './did-web.ts'
import { credentialServicePath, type Identity } from './identity.ts'

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
        c.header('cache-control', 'public, max-age=300')
        return c.json(document)
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
  credential: z.string().min(1).max(64 * 1024),
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

/** The identity area: routes need `ctx.identity` (created at start-up with `createIdentity`). */
export const identityArea: Area = {
  name: 'identity',
  routes({ root, management, openapi }, ctx: Ctx) {
    const identity = ctx.identity
    if (!identity) return
    root.route('/', identityRoutes(identity))
    management.route('/', credentialManagementRoutes(identity, openapi))
  },
}
