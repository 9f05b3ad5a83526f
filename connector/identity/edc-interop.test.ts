import { decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testClock, testIds } from '../../test/support/context.ts'
import { createTestStore } from '../../test/support/stores.ts'
import type { Store } from '../store/store.ts'
import {
  dcpContextV1,
  edcCredential,
  edcIdToken,
  edcPresentation,
  edcPresentationQuery,
  edcPresentationResponse,
  edcSign,
  startEdcParty,
  type EdcParty,
} from '../../test/support/edc-fixtures.ts'
import { startParticipant, type TestParticipant } from '../../test/support/identity.ts'

/**
 * Tokens, DID documents and presentations in the shapes an Eclipse EDC connector with IdentityHub
 * produces (see edc-fixtures.ts): keys published under `verificationMethod` only, ES256 participant
 * keys, an issuer signing with the fully specified `Ed25519` algorithm.
 */
describe('interoperability with Eclipse EDC and IdentityHub', () => {
  const clock = testClock(new Date())
  const ids = testIds()
  const stores: Store[] = []
  let edc: EdcParty
  let issuer: EdcParty
  let provider: TestParticipant
  let strict: TestParticipant
  const parties: EdcParty[] = []

  beforeAll(async () => {
    for (let i = 0; i < 2; i++) stores.push(await createTestStore('sqlite'))
    edc = await startEdcParty({ alg: 'ES256' })
    issuer = await startEdcParty({ alg: 'Ed25519', credentialService: false })
    provider = await startParticipant({ store: stores[0]!, clock, ids, trustedIssuers: [issuer.did] })
    strict = await startParticipant({ store: stores[1]!, clock, ids, trustedIssuers: [issuer.did], identity: { keyRelationships: 'strict' } })
  })
  afterAll(async () => {
    await Promise.all([edc?.close(), issuer?.close(), provider?.close(), strict?.close(), ...parties.map((p) => p.close())])
    await Promise.all(stores.map((s) => s.close()))
  })

  const authenticate = (to: TestParticipant, authorization: string, credentialTypes: string[] = []) =>
    to.identity.authenticator.authenticate({ authorization, credentialTypes })

  describe('keys under verificationMethod only', () => {
    it('serves the document EDC publishes: no relationship but an empty authentication', async () => {
      const document = (await (await fetch(`${edc.server.url}/.well-known/did.json`)).json()) as Record<string, unknown>
      expect(document.authentication).toEqual([])
      expect(document).not.toHaveProperty('capabilityInvocation')
      expect(document).not.toHaveProperty('assertionMethod')
    })

    it('accepts an EDC ID token signed with ES256 under kid <did>#key-1', async () => {
      const requester = await authenticate(provider, `Bearer ${await edcIdToken(edc, provider.did, clock.now())}`)
      expect(requester).toEqual({ participantId: edc.did, credentials: [] })
    })

    it("accepts the ID token bare in the Authorization header, as EDC's DSP client sends it", async () => {
      const requester = await authenticate(provider, await edcIdToken(edc, provider.did, clock.now()))
      expect(requester.participantId).toBe(edc.did)
    })

    it('refuses it with identity.keyRelationships: strict, naming the relationship', async () => {
      await expect(authenticate(strict, `Bearer ${await edcIdToken(edc, strict.did, clock.now())}`)).rejects.toThrow(
        `ID token kid ${edc.key.id} is not a key listed under capabilityInvocation in ${edc.did}'s DID document`,
      )
    })

    it('queries an EDC credential service as EDC expects and verifies its IdentityHub presentation', async () => {
      const vc = await edcCredential(
        issuer,
        edc.did,
        'MembershipCredential',
        { membership: { membershipType: 'FullMember', since: '2023-01-01T00:00:00Z' } },
        clock.now(),
      )
      const presentation = await edcPresentation(edc, provider.did, [vc], clock.now())
      edc.respond = () => edcPresentationResponse([presentation])
      const token = await edcIdToken(edc, provider.did, clock.now(), ['org.eclipse.dspace.dcp.vc.type:MembershipCredential:read'])
      const requester = await authenticate(provider, `Bearer ${token}`, ['MembershipCredential'])
      expect(requester.credentials).toEqual([
        {
          types: ['VerifiableCredential', 'MembershipCredential'],
          issuer: issuer.did,
          claims: { membership: { membershipType: 'FullMember', since: '2023-01-01T00:00:00Z' } },
          expiresAt: expect.any(Number),
        },
      ])
      const query = edc.queries.at(-1)!
      expect(query.body).toEqual({
        '@context': [dcpContextV1],
        type: 'PresentationQueryMessage',
        scope: ['org.eclipse.dspace.dcp.vc.type:MembershipCredential:read'],
      })
      const ours = decodeJwt(query.authorization!.replace(/^Bearer /, ''))
      expect(ours).toMatchObject({ iss: provider.did, sub: provider.did, aud: edc.did, token: decodeJwt(token).token })
    })

    it('refuses an EDC presentation addressed to another verifier', async () => {
      provider.identity.dcp!.clearCaches()
      const vc = await edcCredential(issuer, edc.did, 'MembershipCredential', {}, clock.now())
      const misdirected = await edcPresentation(edc, 'did:web:someone.else', [vc], clock.now())
      edc.respond = () => edcPresentationResponse([misdirected])
      const token = await edcIdToken(edc, provider.did, clock.now())
      await expect(authenticate(provider, `Bearer ${token}`, ['MembershipCredential'])).rejects.toThrow(/presentation audience is not this participant/)
    })
  })

  describe('an EDC verifier reading our credential service', () => {
    it('answers the query EDC sends, with the ID token its STS mints, by a VP IdentityHub-compatible verifiers accept', async () => {
      await provider.identity.credentials.add(await edcCredential(issuer, provider.did, 'MembershipCredential', { level: 'gold' }, clock.now()))
      // What our ID token to EDC carried: the access token EDC hands back.
      const ours = await provider.identity.tokenIssuer.authorizationFor({ participantId: edc.did, dspUrl: `${edc.server.url}/api/dsp` }, [
        'MembershipCredential',
      ])
      const accessToken = decodeJwt(ours.slice('Bearer '.length)).token as string
      expect(decodeJwt(accessToken).scope).toBe('org.eclipse.dspace.dcp.vc.type:MembershipCredential:read')
      const t = Math.floor(clock.now().getTime() / 1000)
      const idToken = await edcSign(edc.key, {
        iss: edc.did,
        sub: edc.did,
        aud: provider.did,
        token: accessToken,
        iat: t,
        nbf: t,
        exp: t + 300,
        jti: crypto.randomUUID(),
      })
      const response = await fetch(`${provider.url}/dcp/presentations/query`, {
        method: 'POST',
        headers: { authorization: `Bearer ${idToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(edcPresentationQuery(['org.eclipse.dspace.dcp.vc.type:MembershipCredential:read'])),
      })
      expect(response.status).toBe(200)
      const body = (await response.json()) as { presentation: string[] }
      const vp = decodeJwt(body.presentation[0]!) as { iss: string; aud: string; vp: { verifiableCredential: string[] } }
      // EDC checks the VP's issuer is the ID token's issuer it asked, and counts one credential per scope.
      expect(vp).toMatchObject({ iss: provider.did, aud: edc.did })
      expect(vp.vp.verifiableCredential).toHaveLength(1)
    })
  })

  describe('a document that lists relationships', () => {
    it('must list the key under capabilityInvocation for an ID token', async () => {
      const party = await startEdcParty({ edit: (d) => ({ ...d, authentication: [(d.verificationMethod as { id: string }[])[0]!.id] }) })
      parties.push(party)
      await expect(authenticate(provider, `Bearer ${await edcIdToken(party, provider.did, clock.now())}`)).rejects.toThrow(
        `ID token kid ${party.key.id} is not a key listed under capabilityInvocation in ${party.did}'s DID document`,
      )
    })
  })

  describe('attacks on the key look-up', () => {
    type Method = Record<string, unknown>
    const refusedWith = async (edit: (document: Record<string, unknown>, method: Method) => Record<string, unknown>, reason: (party: EdcParty) => string) => {
      const party = await startEdcParty({ edit: (d) => edit(d, (d.verificationMethod as Method[])[0]!) })
      parties.push(party)
      await expect(authenticate(provider, `Bearer ${await edcIdToken(party, provider.did, clock.now())}`)).rejects.toThrow(reason(party))
    }

    it('refuses a key under verificationMethod whose controller is another DID', () =>
      refusedWith(
        (d, m) => ({ ...d, verificationMethod: [{ ...m, controller: 'did:web:attacker.example' }] }),
        (p) => `the DID document of ${p.did} lists key ${p.key.id} controlled by another DID (did:web:attacker.example)`,
      ))

    it('refuses a key under verificationMethod that belongs to another DID', () =>
      refusedWith(
        (d, m) => ({ ...d, verificationMethod: [m, { ...m, id: 'did:web:attacker.example#key-1' }] }),
        (p) => `the DID document of ${p.did} lists key did:web:attacker.example#key-1, which belongs to another DID`,
      ))

    it('refuses a relationship array that lists a key id not in verificationMethod', () =>
      refusedWith(
        (d) => ({ ...d, capabilityInvocation: [`${d.id}#key-9`] }),
        (p) => `the DID document of ${p.did} lists a key under capabilityInvocation that it does not define (key-9)`,
      ))

    it('refuses duplicate key ids, even spelled once absolute and once relative', () =>
      refusedWith(
        (d, m) => ({ ...d, verificationMethod: [m, { ...m, id: '#key-1', publicKeyJwk: { kty: 'OKP', crv: 'Ed25519', x: 'AAAA' } }] }),
        (p) => `the DID document of ${p.did} lists key #key-1 twice`,
      ))
  })
})
