import { decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testClock, testIds } from '../../test/support/context.ts'
import { createTestStore } from '../../test/support/stores.ts'
import type { Store } from '../store/store.ts'
import { identityRepository } from './identity-repository.ts'
import { signRaw, startAuthority, startParticipant, type TestAuthority, type TestParticipant } from '../../test/support/identity.ts'

/** The holder side of DCP: our credential service answering a verifier's presentation query. */
describe('credential service (presentation query)', () => {
  const clock = testClock(new Date())
  const ids = testIds()
  const stores: Store[] = []
  let authority: TestAuthority
  let holder: TestParticipant
  let verifier: TestParticipant
  let stranger: TestParticipant

  beforeAll(async () => {
    for (let i = 0; i < 3; i++) stores.push(await createTestStore('sqlite'))
    authority = await startAuthority(clock, ids)
    holder = await startParticipant({ store: stores[0]!, clock, ids })
    verifier = await startParticipant({ store: stores[1]!, clock, ids, trustedIssuers: [authority.did] })
    stranger = await startParticipant({ store: stores[2]!, clock, ids })
    await holder.identity.credentials.add(await authority.issue(holder.did, 'MembershipCredential', { sector: 'health' }))
    await holder.identity.credentials.add(await authority.issue(holder.did, 'ResearchCredential', { field: 'climate' }))
  })
  afterAll(async () => {
    await Promise.all([holder?.close(), verifier?.close(), stranger?.close(), authority?.close()])
    await Promise.all(stores.map((s) => s.close()))
  })

  /** The access token the holder hands to `audience` with its ID token. */
  async function accessTokenFor(audience: TestParticipant, types?: string[]) {
    const authorization = await holder.identity.tokenIssuer.authorizationFor({ participantId: audience.did, dspUrl: audience.url }, types)
    return decodeJwt(authorization.slice('Bearer '.length)).token as string
  }

  async function verifierToken(from: TestParticipant, accessToken: string | undefined) {
    const iat = Math.floor(clock.now().getTime() / 1000)
    return signRaw(
      { iss: from.did, sub: from.did, aud: holder.did, jti: ids.next(), iat, exp: iat + 300, ...(accessToken ? { token: accessToken } : {}) },
      from.key,
      { kid: `${from.did}#key-1` },
    )
  }

  async function query(body: unknown, authorization?: string) {
    const response = await fetch(`${holder.url}/dcp/presentations/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
      body: JSON.stringify(body),
    })
    return { status: response.status, body: (await response.json()) as Record<string, unknown> }
  }

  const seen = () => stores[0]!.db.select().from(stores[0]!.tables.seenTokens)
  const message = (scope: string[]) => ({ '@context': ['https://w3id.org/dspace-dcp/v1.0/dcp.jsonld'], type: 'PresentationQueryMessage', scope })

  it('answers a signed VP addressed to the verifier, with only the credentials asked for', async () => {
    const token = await verifierToken(verifier, await accessTokenFor(verifier))
    const { status, body } = await query(message(['org.eclipse.edc.vc.type:MembershipCredential:read']), `Bearer ${token}`)
    expect(status).toBe(200)
    expect(body).toMatchObject({ '@context': ['https://w3id.org/dspace-dcp/v1.0/dcp.jsonld'], type: 'PresentationResponseMessage' })
    const vp = decodeJwt((body.presentation as string[])[0]!)
    expect(vp).toMatchObject({ iss: holder.did, sub: holder.did, aud: verifier.did, vp: { type: ['VerifiablePresentation'], holder: holder.did } })
    const vcs = (vp.vp as { verifiableCredential: string[] }).verifiableCredential.map((jwt) => decodeJwt(jwt))
    expect(vcs.map((vc) => (vc.vc as { type: string[] }).type)).toEqual([['VerifiableCredential', 'MembershipCredential']])
  })

  it('accepts two-part scopes and the DCP specification alias', async () => {
    for (const scope of ['org.eclipse.dspace.dcp.vc.type:ResearchCredential:read', 'org.eclipse.edc.vc.type:ResearchCredential']) {
      const token = await verifierToken(verifier, await accessTokenFor(verifier))
      const { status, body } = await query(message([scope]), `Bearer ${token}`)
      expect(status).toBe(200)
      const vp = decodeJwt((body.presentation as string[])[0]!) as { vp: { verifiableCredential: string[] } }
      expect(vp.vp.verifiableCredential).toHaveLength(1)
    }
  })

  it('answers 501 to a presentation definition query', async () => {
    const token = await verifierToken(verifier, await accessTokenFor(verifier))
    const { status } = await query({ type: 'PresentationQueryMessage', presentationDefinition: { id: 'x', input_descriptors: [] } }, `Bearer ${token}`)
    expect(status).toBe(501)
  })

  it('refuses a query without a token, and stores nothing', async () => {
    const before = await seen()
    const { status } = await query(message(['org.eclipse.edc.vc.type:MembershipCredential:read']))
    expect(status).toBe(401)
    expect(await seen()).toEqual(before)
  })

  /** The credential types in a presentation response. */
  const presentedTypes = (body: Record<string, unknown>) => {
    const vp = decodeJwt((body.presentation as string[])[0]!) as { vp: { verifiableCredential: string[] } }
    return vp.vp.verifiableCredential.map((jwt) => (decodeJwt(jwt).vc as { type: string[] }).type.at(-1))
  }

  it('leaves out held types the access token does not grant: 200 with fewer credentials', async () => {
    const token = await verifierToken(verifier, await accessTokenFor(verifier, ['MembershipCredential']))
    const { status, body } = await query(
      message(['org.eclipse.dspace.dcp.vc.type:MembershipCredential:read', 'org.eclipse.dspace.dcp.vc.type:ResearchCredential:read']),
      `Bearer ${token}`,
    )
    expect(status).toBe(200)
    expect(presentedTypes(body)).toEqual(['MembershipCredential'])
  })

  it('answers an empty presentation when nothing asked for is granted', async () => {
    const token = await verifierToken(verifier, await accessTokenFor(verifier, ['MembershipCredential']))
    const { status, body } = await query(message(['org.eclipse.dspace.dcp.vc.type:ResearchCredential:read']), `Bearer ${token}`)
    expect(status).toBe(200)
    expect(presentedTypes(body)).toEqual([])
  })

  it('answers a query by credential id (org.eclipse.dspace.dcp.vc.id)', async () => {
    const held = await holder.identity.credentials.list()
    const research = held.find((c) => c.types.includes('ResearchCredential'))!
    const token = await verifierToken(verifier, await accessTokenFor(verifier))
    const { status, body } = await query(message([`org.eclipse.dspace.dcp.vc.id:${research.id}:read`]), `Bearer ${token}`)
    expect(status).toBe(200)
    expect(presentedTypes(body)).toEqual(['ResearchCredential'])
  })

  it('accepts the query as EDC and IdentityHub write it (both contexts, presentationDefinition null, @type)', async () => {
    for (const body of [
      {
        '@context': ['https://identity.foundation/presentation-exchange/submission/v1', 'https://w3id.org/dspace-dcp/v1.0/dcp.jsonld'],
        type: 'PresentationQueryMessage',
        scope: ['org.eclipse.dspace.dcp.vc.type:MembershipCredential:read'],
      },
      {
        '@context': ['https://w3id.org/dspace-dcp/v1.0/dcp.jsonld'],
        '@type': 'PresentationQueryMessage',
        presentationDefinition: null,
        scope: ['org.eclipse.dspace.dcp.vc.type:MembershipCredential:*'],
      },
    ]) {
      const token = await verifierToken(verifier, await accessTokenFor(verifier))
      const answer = await query(body, `Bearer ${token}`)
      expect(answer.status).toBe(200)
      expect(presentedTypes(answer.body)).toEqual(['MembershipCredential'])
    }
  })

  it('answers 400 with a reason to an empty or malformed scope, and stores nothing', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [message([]), /empty scope list/],
      [{ type: 'PresentationQueryMessage' }, /no scope/],
      [message(['MembershipCredential']), /has no alias/],
      [message(['com.example.unknown:MembershipCredential:read']), /unknown alias/],
      [message(['org.eclipse.dspace.dcp.vc.type:MembershipCredential:write']), /operation .{0,3}write.{0,3}, not read/],
      [message(['org.eclipse.dspace.dcp.vc.type::read']), /names no credential/],
      [message(['org.eclipse.dspace.dcp.vc.type:Bad Type!:read']), /does not name a credential type/],
      [message(['org.eclipse.dspace.dcp.vc.id:urn:uuid:1']), /operation .{0,4}1.{0,4}, not read/],
      [{ '@context': [], type: 'SomethingElse', scope: ['org.eclipse.dspace.dcp.vc.type:MembershipCredential:read'] }, /expected a PresentationQueryMessage/],
    ]
    for (const [body, reason] of cases) {
      const token = await verifierToken(verifier, await accessTokenFor(verifier))
      const before = await seen()
      const answer = await query(body, `Bearer ${token}`)
      expect(answer.status, JSON.stringify(body)).toBe(400)
      expect(JSON.stringify(answer.body)).toMatch(reason)
      expect(await seen()).toEqual(before)
    }
  })

  it('answers an empty presentation for a type it does not hold, even when the access token does not grant it', async () => {
    const token = await verifierToken(verifier, await accessTokenFor(verifier, ['MembershipCredential']))
    const { status, body } = await query(message(['org.eclipse.edc.vc.type:UnheldCredential:read']), `Bearer ${token}`)
    expect(status).toBe(200)
    const vp = decodeJwt((body.presentation as string[])[0]!) as { vp: { verifiableCredential: string[] } }
    expect(vp.vp.verifiableCredential).toEqual([])
  })

  it('refuses an access token given to another verifier, and stores nothing', async () => {
    const token = await verifierToken(stranger, await accessTokenFor(verifier))
    const before = await seen()
    const { status, body } = await query(message(['org.eclipse.edc.vc.type:MembershipCredential:read']), `Bearer ${token}`)
    expect(status).toBe(401)
    expect(JSON.stringify(body)).toMatch(/access token refused/)
    expect(await seen()).toEqual(before)
  })

  it('refuses an access token it did not issue', async () => {
    const iat = Math.floor(clock.now().getTime() / 1000)
    const foreign = await signRaw(
      { iss: holder.did, sub: holder.did, aud: verifier.did, scope: 'x:MembershipCredential:read', iat, exp: iat + 60 },
      verifier.key,
      { kid: `${verifier.did}#key-1` },
    )
    const { status, body } = await query(message(['org.eclipse.edc.vc.type:MembershipCredential:read']), `Bearer ${await verifierToken(verifier, foreign)}`)
    expect(status).toBe(401)
    expect(JSON.stringify(body)).toMatch(/not issued by this participant/)
  })

  it('refuses an ID token without an access token', async () => {
    const { status } = await query(message(['org.eclipse.edc.vc.type:MembershipCredential:read']), `Bearer ${await verifierToken(verifier, undefined)}`)
    expect(status).toBe(401)
  })

  it('refuses a replayed verifier token', async () => {
    const token = await verifierToken(verifier, await accessTokenFor(verifier))
    expect((await query(message(['org.eclipse.edc.vc.type:MembershipCredential:read']), `Bearer ${token}`)).status).toBe(200)
    const before = await seen()
    expect((await query(message(['org.eclipse.edc.vc.type:MembershipCredential:read']), `Bearer ${token}`)).status).toBe(401)
    expect(await seen()).toEqual(before)
  })

  it('never presents expired credentials', async () => {
    const store = stores[0]!
    const jwt = await authority.issue(holder.did, 'OldCredential', {}, new Date(clock.now().getTime() + 1000))
    await identityRepository(store).addCredential({
      id: 'old',
      jwt,
      types: ['VerifiableCredential', 'OldCredential'],
      issuer: authority.did,
      subject: holder.did,
      expiresAt: clock.now().getTime() + 1000,
      createdAt: 0,
    })
    clock.advance(5000)
    const token = await verifierToken(verifier, await accessTokenFor(verifier, ['OldCredential']))
    const { body } = await query(message(['org.eclipse.edc.vc.type:OldCredential:read']), `Bearer ${token}`)
    const vp = decodeJwt((body.presentation as string[])[0]!) as { vp: { verifiableCredential: string[] } }
    expect(vp.vp.verifiableCredential).toEqual([])
  })
})
