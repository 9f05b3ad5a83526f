import { getRequestListener } from '@hono/node-server'
import { Hono } from 'hono'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose'
import { randomUUID } from 'node:crypto'
import { loopbackServer, type LoopbackServer } from './identity.ts'

/**
 * An Eclipse EDC participant (connector + IdentityHub, DSP 2025-1 / DCP 1.0 generation) as its peers
 * see it on the wire, for interoperability tests. The shapes follow what EDC and IdentityHub produce:
 *
 * - DID document (EDC's `DidDocument` model, written by IdentityHub): `@context` the DID v1 context
 *   only; `service` entries `{ id, type, serviceEndpoint }` (`CredentialService` pointing at
 *   `…/api/credentials/v1/participants/<base64 participant id>`, `ProtocolEndpoint` at `…/api/dsp`);
 *   each activated key pair added to `verificationMethod` as `{ id, type: JsonWebKey2020, controller,
 *   publicKeyMultibase: null, publicKeyJwk }`; `authentication` serialised as an empty array and no
 *   other relationship: keys are never listed under assertionMethod or capabilityInvocation.
 * - Self-issued ID token (IdentityHub's embedded STS): `iss` = `sub` = own DID, `aud` = the
 *   counterparty's DID, `iat`, `nbf`, `exp`, `jti` a UUID, and `token`, the access token: a JWT with
 *   `iss` = own DID, `aud` = own DID, `sub` = the counterparty's DID, `scope`, `jti` =
 *   `accesstoken-<uuid>`. Both are signed with the participant's key; `kid` is the key pair's id.
 * - Presentation query (EDC's credential service client): `POST <CredentialService>/presentations/query`
 *   with `Authorization: Bearer <ID token>` and `{ "@context": [presentation exchange submission v1, DCP
 *   v1.0], "type": "PresentationQueryMessage", "scope": ["org.eclipse.dspace.dcp.vc.type:<Type>:read"] }`.
 * - Presentation response (IdentityHub): `{ "@context": [DCP v1.0], "type": "PresentationResponseMessage",
 *   "presentation": [<VP JWT>] }`; the VP JWT has `iss` = holder, `aud` = verifier, `iat`, `nbf`, `exp`,
 *   `jti`, no `sub`, and `vp: { @context: [credentials v1, presentation exchange], type:
 *   "VerifiablePresentation" (a string), verifiableCredential: [VC JWTs] }`; `kid` = `<did>#<key id>`.
 * - Credential service scopes accepted by IdentityHub: alias `org.eclipse.dspace.dcp.vc.type`,
 *   operation `read`, `all` or `*`; asking for more than the access token grants gives fewer
 *   credentials, not an error.
 */

export const didContextV1 = 'https://www.w3.org/ns/did/v1'
export const presentationExchangeContext = 'https://identity.foundation/presentation-exchange/submission/v1'
export const dcpContextV1 = 'https://w3id.org/dspace-dcp/v1.0/dcp.jsonld'
export const dcpTypeAlias = 'org.eclipse.dspace.dcp.vc.type'

export interface EdcKey {
  id: string
  privateKey: CryptoKey
  publicJwk: JWK
  alg: 'ES256' | 'Ed25519'
}

export async function edcKey(did: string, alg: 'ES256' | 'Ed25519', name?: string): Promise<EdcKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true })
  const publicJwk = await exportJWK(publicKey)
  return { id: `${did}#${name ?? (await calculateJwkThumbprint(publicJwk))}`, privateKey, publicJwk, alg }
}

/** The DID document IdentityHub publishes for a participant with these keys and services. */
export function edcDidDocument(did: string, keys: Pick<EdcKey, 'id' | 'publicJwk'>[], services: { id: string; type: string; serviceEndpoint: string }[] = []) {
  return {
    id: did,
    '@context': [didContextV1],
    service: services,
    verificationMethod: keys.map((key) => ({ id: key.id, type: 'JsonWebKey2020', controller: did, publicKeyMultibase: null, publicKeyJwk: key.publicJwk })),
    authentication: [] as string[],
  }
}

export const edcSign = (key: EdcKey, payload: Record<string, unknown>, kid = key.id) =>
  new SignJWT(payload).setProtectedHeader({ kid, alg: key.alg, typ: 'JWT' }).sign(key.privateKey)

const seconds = (now: Date) => Math.floor(now.getTime() / 1000)

/** EDC's self-issued ID token, with an access token granting `scopes` to `audience`. */
export async function edcIdToken(party: { did: string; key: EdcKey }, audience: string, now: Date, scopes: string[] = []) {
  const t = seconds(now)
  const token = await edcSign(party.key, {
    iss: party.did,
    aud: party.did,
    sub: audience,
    scope: scopes.join(' '),
    iat: t,
    nbf: t,
    exp: t + 300,
    jti: `accesstoken-${randomUUID()}`,
  })
  return edcSign(party.key, { iss: party.did, sub: party.did, aud: audience, token, iat: t, nbf: t, exp: t + 300, jti: randomUUID() })
}

/** A VC JWT as an EDC data-space issuer signs it (VC data model 1.1, JWT profile). */
export async function edcCredential(issuer: { did: string; key: EdcKey }, subject: string, type: string, claims: Record<string, unknown>, now: Date) {
  const t = seconds(now)
  return edcSign(issuer.key, {
    iss: issuer.did,
    sub: subject,
    jti: `urn:uuid:${randomUUID()}`,
    iat: t,
    nbf: t,
    exp: t + 86400,
    vc: {
      '@context': ['https://www.w3.org/2018/credentials/v1', 'https://w3id.org/security/suites/jws-2020/v1'],
      id: `https://issuer.example/credentials/${randomUUID()}`,
      type: ['VerifiableCredential', type],
      issuer: { id: issuer.did },
      issuanceDate: now.toISOString(),
      credentialSubject: { id: subject, ...claims },
    },
  })
}

/** IdentityHub's VP JWT for `verifier`. */
export async function edcPresentation(holder: { did: string; key: EdcKey }, verifier: string, credentials: string[], now: Date) {
  const t = seconds(now)
  return edcSign(holder.key, {
    iss: holder.did,
    aud: verifier,
    iat: t,
    nbf: t,
    exp: t + 60,
    jti: randomUUID(),
    vp: {
      '@context': ['https://www.w3.org/2018/credentials/v1', presentationExchangeContext],
      type: 'VerifiablePresentation',
      verifiableCredential: credentials,
    },
  })
}

export const edcPresentationQuery = (scopes: string[]) => ({
  '@context': [presentationExchangeContext, dcpContextV1],
  type: 'PresentationQueryMessage',
  scope: scopes,
})
export const edcPresentationResponse = (presentations: string[]) => ({
  '@context': [dcpContextV1],
  type: 'PresentationResponseMessage',
  presentation: presentations,
})

export interface EdcParty {
  server: LoopbackServer
  did: string
  key: EdcKey
  document: ReturnType<typeof edcDidDocument>
  /** Presentation queries its credential service received. */
  queries: Array<{ authorization: string | undefined; body: Record<string, unknown> }>
  /** What its credential service answers (set per test). */
  respond: (query: Record<string, unknown>) => unknown
  close(): Promise<void>
}

/**
 * A participant serving an IdentityHub-shaped DID document and credential service on 127.0.0.1
 * (on `port`, reserved beforehand so that connector processes may reach it; any free one by
 * default); `edit` may change the document (attack cases).
 */
export async function startEdcParty(
  options: {
    alg?: 'ES256' | 'Ed25519'
    credentialService?: boolean
    edit?: (document: Record<string, unknown>) => Record<string, unknown>
    port?: number
  } = {},
): Promise<EdcParty> {
  const server = await loopbackServer(options.port)
  const key = await edcKey(server.did, options.alg ?? 'ES256', 'key-1')
  const participantPath = `/api/credentials/v1/participants/${Buffer.from(server.did).toString('base64url')}`
  const services =
    options.credentialService === false
      ? []
      : [
          { id: 'participant-credentialservice-1', type: 'CredentialService', serviceEndpoint: `${server.url}${participantPath}` },
          { id: 'participant-dsp', type: 'ProtocolEndpoint', serviceEndpoint: `${server.url}/api/dsp` },
        ]
  const document = edcDidDocument(server.did, [key], services)
  const party: EdcParty = { server, did: server.did, key, document, queries: [], respond: () => edcPresentationResponse([]), close: () => server.close() }
  const app = new Hono()
  app.get('/.well-known/did.json', (c) => c.json(options.edit ? options.edit(structuredClone(party.document)) : party.document))
  app.post(`${participantPath}/presentations/query`, async (c) => {
    const body = (await c.req.json()) as Record<string, unknown>
    party.queries.push({ authorization: c.req.header('authorization'), body })
    return c.json(party.respond(body) as object)
  })
  server.handle(getRequestListener(app.fetch))
  return party
}
