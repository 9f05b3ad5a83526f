import { Hono } from 'hono'
import { getRequestListener } from '@hono/node-server'
import { calculateJwkThumbprint, decodeJwt, exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testClock, testIds } from '../../test/support/context.ts'
import { createTestStore } from '../../test/support/stores.ts'
import type { Store } from '../store/store.ts'
import { loopbackServer, startParticipant, type LoopbackServer, type TestParticipant } from './testing.ts'

/**
 * Tokens and presentations in the shapes an Eclipse EDC connector (with its identity hub) produces:
 * ES256 keys published as JsonWebKey2020 with an EC JWK, kid `<did>#<key>`, the self-issued ID token
 * carrying the STS access token in `token`, scopes `org.eclipse.edc.vc.type:<Type>:read`, and a VP
 * JWT whose `vp` lists VC JWTs; an authority signing with the fully specified `Ed25519` algorithm.
 */
interface EdcParty {
  server: LoopbackServer
  did: string
  keyId: string
  privateKey: CryptoKey
  queries: Array<{ authorization: string | undefined; body: Record<string, unknown> }>
}

async function edcParty(kind: 'participant' | 'issuer', algorithm: 'ES256' | 'Ed25519'): Promise<EdcParty> {
  const server = await loopbackServer()
  const { publicKey, privateKey } = await generateKeyPair(algorithm, { extractable: true })
  const publicJwk = await exportJWK(publicKey)
  const keyId = `${server.did}#${kind === 'participant' ? 'key-1' : await calculateJwkThumbprint(publicJwk)}`
  const party: EdcParty = { server, did: server.did, keyId, privateKey, queries: [] }
  // An EDC DID document: JsonWebKey2020, relationships by reference, CredentialService and ProtocolEndpoint services.
  const document = {
    '@context': ['https://www.w3.org/ns/did/v1', 'https://w3id.org/security/suites/jws-2020/v1'],
    id: server.did,
    service: kind === 'participant'
      ? [
          { id: `${server.did}#credential-service`, type: 'CredentialService', serviceEndpoint: `${server.url}/api/credentials/v1/participants/ZWRj` },
          { id: `${server.did}#dsp`, type: 'ProtocolEndpoint', serviceEndpoint: `${server.url}/api/dsp` },
        ]
      : [],
    verificationMethod: [{ id: keyId, type: 'JsonWebKey2020', controller: server.did, publicKeyJwk: publicJwk }],
    authentication: [keyId],
    assertionMethod: [keyId],
    capabilityInvocation: [keyId],
  }
  const app = new Hono()
  app.get('/.well-known/did.json', (c) => c.json(document))
  app.post('/api/credentials/v1/participants/ZWRj/presentations/query', async (c) => {
    party.queries.push({ authorization: c.req.header('authorization'), body: await c.req.json() })
    return c.json(respond(party))
  })
  server.handle(getRequestListener(app.fetch))
  return party
}

let respond: (party: EdcParty) => unknown = () => ({})

const sign = (party: EdcParty, payload: Record<string, unknown>, alg: string) =>
  new SignJWT(payload).setProtectedHeader({ kid: party.keyId, alg, typ: 'JWT' }).sign(party.privateKey)

describe('interoperability with EDC-shaped tokens and presentations', () => {
  const clock = testClock(new Date())
  const ids = testIds()
  let store: Store
  let edc: EdcParty
  let issuer: EdcParty
  let provider: TestParticipant
  const now = () => Math.floor(clock.now().getTime() / 1000)

  beforeAll(async () => {
    store = await createTestStore('sqlite')
    edc = await edcParty('participant', 'ES256')
    issuer = await edcParty('issuer', 'Ed25519')
    provider = await startParticipant({ store, clock, ids, trustedIssuers: [issuer.did] })
  })
  afterAll(async () => {
    await Promise.all([edc?.server.close(), issuer?.server.close(), provider?.close()])
    await store?.close()
  })

  /** EDC's STS access token: a JWT the verifier treats as opaque and hands back. */
  const stsAccessToken = () => sign(edc, { iss: edc.did, sub: edc.did, aud: provider.did, jti: ids.next(), iat: now(), exp: now() + 300, scope: 'org.eclipse.edc.vc.type:MembershipCredential:read' }, 'ES256')
  const idToken = async () => sign(edc, { iss: edc.did, sub: edc.did, aud: provider.did, jti: ids.next(), iat: now(), exp: now() + 300, token: await stsAccessToken() }, 'ES256')

  async function membershipVc(subject = edc.did) {
    return sign(issuer, {
      iss: issuer.did,
      sub: subject,
      jti: `urn:uuid:${ids.next().slice(9)}`,
      iat: now(),
      nbf: now(),
      exp: now() + 86400,
      vc: {
        '@context': ['https://www.w3.org/2018/credentials/v1', 'https://w3id.org/security/suites/jws-2020/v1'],
        id: 'https://example.org/credentials/1872',
        type: ['VerifiableCredential', 'MembershipCredential'],
        issuer: { id: issuer.did },
        issuanceDate: clock.now().toISOString(),
        credentialSubject: { id: subject, membership: { membershipType: 'FullMember', since: '2023-01-01T00:00:00Z' } },
      },
    }, 'Ed25519')
  }

  it('accepts an EDC ID token signed with ES256 under kid <did>#key-1', async () => {
    const requester = await provider.identity.authenticator.authenticate({ authorization: `Bearer ${await idToken()}` })
    expect(requester).toEqual({ participantId: edc.did, credentials: [] })
  })

  it("accepts the ID token bare in the Authorization header, as EDC's DSP client sends it", async () => {
    const requester = await provider.identity.authenticator.authenticate({ authorization: await idToken() })
    expect(requester.participantId).toBe(edc.did)
  })

  it('queries an EDC credential service as EDC expects and verifies its presentation', async () => {
    const vc = await membershipVc()
    const vpFor = async (verifier: string) =>
      sign(edc, {
        iss: edc.did,
        sub: edc.did,
        aud: verifier,
        jti: ids.next(),
        iat: now(),
        nbf: now(),
        exp: now() + 300,
        vp: { '@context': ['https://www.w3.org/2018/credentials/v1'], type: ['VerifiablePresentation'], verifiableCredential: [vc] },
      }, 'ES256')
    const presentation = await vpFor(provider.did)
    respond = () => ({ '@context': ['https://w3id.org/dspace-dcp/v1.0/dcp.jsonld'], type: 'PresentationResponseMessage', presentation: [presentation] })
    const token = await idToken()
    const requester = await provider.identity.authenticator.authenticate({ authorization: `Bearer ${token}`, credentialTypes: ['MembershipCredential'] })
    expect(requester.credentials).toEqual([
      { types: ['VerifiableCredential', 'MembershipCredential'], issuer: issuer.did, claims: { membership: { membershipType: 'FullMember', since: '2023-01-01T00:00:00Z' } }, expiresAt: expect.any(Number) },
    ])
    const [query] = edc.queries
    expect(query!.body).toEqual({ '@context': ['https://w3id.org/dspace-dcp/v1.0/dcp.jsonld'], type: 'PresentationQueryMessage', scope: ['org.eclipse.edc.vc.type:MembershipCredential:read'] })
    const ours = decodeJwt(query!.authorization!.replace(/^Bearer /, ''))
    expect(ours).toMatchObject({ iss: provider.did, sub: provider.did, aud: edc.did, token: decodeJwt(token).token })
  })

  it('refuses an EDC presentation addressed to another verifier', async () => {
    provider.identity.dcp!.clearCaches()
    const vc = await membershipVc()
    const presentation = await sign(edc, { iss: edc.did, aud: 'did:web:someone.else', jti: ids.next(), iat: now(), exp: now() + 300, vp: { type: ['VerifiablePresentation'], verifiableCredential: [vc] } }, 'ES256')
    respond = () => ({ type: 'PresentationResponseMessage', presentation: [presentation] })
    await expect(provider.identity.authenticator.authenticate({ authorization: `Bearer ${await idToken()}`, credentialTypes: ['MembershipCredential'] })).rejects.toThrow(/presentation audience is not this participant/)
  })
})
