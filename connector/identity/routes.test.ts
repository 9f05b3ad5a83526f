import { decodeProtectedHeader } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expectDspValid } from '../../test/support/dsp-schemas.ts'
import { testClock, testConfig, testContext, testIds } from '../../test/support/context.ts'
import { createTestStore, dialects } from '../../test/support/stores.ts'
import { createApp } from '../http/app.ts'
import type { Store } from '../store/store.ts'
import { silentLogger } from '../telemetry/logger.ts'
import { buildDidDocument } from './did-document.ts'
import { createIdentity, type Identity } from './identity.ts'
import { issueCredentialJwt } from './issuer.ts'
import { generateSigningKey, type SigningKey } from './keys.ts'
import { identityArea } from './routes.ts'
import { loopbackServer, signRaw, startParticipant } from '../../test/support/identity.ts'

const key = 'test-management-key-0123456789'
const did = 'did:web:127.0.0.1%3A8181'

describe.each(dialects)('identity routes in the app (%s)', (dialect) => {
  const clock = testClock()
  const ids = testIds()
  let store: Store
  let identity: Identity
  let app: ReturnType<typeof createApp>['app']
  let keys: SigningKey[]
  let authorityKey: SigningKey

  beforeAll(async () => {
    store = await createTestStore(dialect)
    keys = [await generateSigningKey('key-2'), await generateSigningKey('key-1')]
    authorityKey = await generateSigningKey('authority-key-1')
    const config = testConfig({ identity: { trustedIssuers: ['did:web:authority.example'] } })
    identity = await createIdentity({ config, store, clock, ids, logger: silentLogger }, { keys: { signing: keys[0]!, all: keys } })
    app = createApp(testContext(store, { config, clock, ids, identity }), [identityArea]).app
  })
  afterAll(() => store?.close())

  const manage = (path: string, init: RequestInit = {}) =>
    app.request(`/management/v1${path}`, { ...init, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...init.headers } })
  const credential = (subject: string, exp?: Date) =>
    issueCredentialJwt({
      issuerDid: 'did:web:authority.example',
      key: authorityKey,
      subject,
      type: 'MembershipCredential',
      claims: { country: 'CA' },
      issuedAt: clock.now(),
      expiresAt: exp,
      ids,
    })
  const held = () => store.db.select().from(store.tables.heldCredentials)

  it('serves the DID document without authentication: every key, the three relationships, DSP and credential services', async () => {
    const response = await app.request('/.well-known/did.json')
    expect(response.status).toBe(200)
    const document = (await response.json()) as Record<string, any>
    expect(document.id).toBe(did)
    expect(document.verificationMethod).toEqual([
      {
        id: `${did}#key-2`,
        type: 'JsonWebKey2020',
        controller: did,
        publicKeyJwk: { kty: 'OKP', crv: 'Ed25519', x: keys[0]!.publicJwk.x, kid: 'key-2', alg: 'EdDSA' },
      },
      {
        id: `${did}#key-1`,
        type: 'JsonWebKey2020',
        controller: did,
        publicKeyJwk: { kty: 'OKP', crv: 'Ed25519', x: keys[1]!.publicJwk.x, kid: 'key-1', alg: 'EdDSA' },
      },
    ])
    for (const relationship of ['authentication', 'assertionMethod', 'capabilityInvocation']) {
      expect(document[relationship]).toEqual([`${did}#key-2`, `${did}#key-1`])
    }
    expect(JSON.stringify(document)).not.toMatch(/"d":/)
    const [catalogService, credentialService] = document.service
    expect(catalogService).toEqual({ id: `${did}#dsp-catalog`, type: 'CatalogService', serviceEndpoint: 'http://127.0.0.1:8181/dsp/2025-1/catalog' })
    expectDspValid('common/did-service-schema.json', { '@context': document['@context'], ...catalogService })
    expect(credentialService).toEqual({ id: `${did}#credential-service`, type: 'CredentialService', serviceEndpoint: 'http://127.0.0.1:8181/dcp' })
  })

  it('holds, lists and removes credentials through the management API', async () => {
    const jwt = await credential(did, new Date(clock.now().getTime() + 86_400_000))
    const added = await manage('/credentials', { method: 'POST', body: JSON.stringify({ credential: jwt }) })
    expect(added.status).toBe(201)
    const summary = (await added.json()) as { id: string }
    expect(summary).toMatchObject({ types: ['VerifiableCredential', 'MembershipCredential'], issuer: 'did:web:authority.example', subject: did })
    const list = (await (await manage('/credentials')).json()) as { credentials: Array<{ id: string }> }
    expect(list.credentials.map((c) => c.id)).toEqual([summary.id])
    expect((await manage(`/credentials/${encodeURIComponent(summary.id)}`, { method: 'DELETE' })).status).toBe(204)
    expect(await held()).toEqual([])
    expect((await manage(`/credentials/${encodeURIComponent(summary.id)}`, { method: 'DELETE' })).status).toBe(404)
  })

  it('refuses, and stores nothing for, a credential about someone else, an expired one, or something that is not a VC JWT', async () => {
    const cases: Array<[string, RegExp]> = [
      [await credential('did:web:someone.else'), /is not this participant/],
      [await credential(did, new Date(clock.now().getTime() - 1000)), /expired/],
      ['not.a.jwt', /not a well-formed JWT/],
      [await signRaw({ iss: 'did:web:authority.example', sub: did }, authorityKey), /no valid vc claim/],
    ]
    for (const [jwt, reason] of cases) {
      const response = await manage('/credentials', { method: 'POST', body: JSON.stringify({ credential: jwt }) })
      expect(response.status).toBe(400)
      expect(JSON.stringify(await response.json())).toMatch(reason)
    }
    expect(await held()).toEqual([])
  })

  it('refuses the credentials API without the management key', async () => {
    const response = await app.request('/management/v1/credentials', {
      method: 'POST',
      body: JSON.stringify({ credential: await credential(did) }),
      headers: { 'content-type': 'application/json' },
    })
    expect(response.status).toBe(401)
    expect(await held()).toEqual([])
  })
})

describe('key rotation', () => {
  it('accepts tokens of every published key, and refuses a retired key once the document no longer lists it', async () => {
    const clock = testClock(new Date())
    const ids = testIds()
    const store = await createTestStore('sqlite')
    const oldKey = await generateSigningKey('key-1')
    const newKey = await generateSigningKey('key-2')
    const provider = await startParticipant({ store, clock, ids, resolver: { ttlMs: 0 } })
    const sender = await loopbackServer()
    let published = [newKey, oldKey]
    sender.handle((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify(buildDidDocument({ did: sender.did, keys: published })))
    })
    const token = async (signer: SigningKey) => {
      const iat = Math.floor(clock.now().getTime() / 1000)
      return `Bearer ${await signRaw({ iss: sender.did, sub: sender.did, aud: provider.did, jti: ids.next(), iat, exp: iat + 60 }, signer, { kid: `${sender.did}#${signer.kid}` })}`
    }
    try {
      await expect(provider.identity.authenticator.authenticate({ authorization: await token(newKey) })).resolves.toMatchObject({ participantId: sender.did })
      await expect(provider.identity.authenticator.authenticate({ authorization: await token(oldKey) })).resolves.toMatchObject({ participantId: sender.did })
      published = [newKey]
      await expect(provider.identity.authenticator.authenticate({ authorization: await token(newKey) })).resolves.toMatchObject({ participantId: sender.did })
      await expect(provider.identity.authenticator.authenticate({ authorization: await token(oldKey) })).rejects.toThrow(/kid .*#key-1 is not a key listed/)
    } finally {
      await sender.close()
      await provider.close()
      await store.close()
    }
  })

  it('reads the document again for a key it has not seen (rotation), at most every 30 seconds', async () => {
    const clock = testClock(new Date())
    const ids = testIds()
    const store = await createTestStore('sqlite')
    const oldKey = await generateSigningKey('key-1')
    const newKey = await generateSigningKey('key-2')
    const provider = await startParticipant({ store, clock, ids })
    const sender = await loopbackServer()
    let published = [oldKey]
    let fetches = 0
    sender.handle((_req, res) => {
      fetches++
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify(buildDidDocument({ did: sender.did, keys: published })))
    })
    const token = async (signer: SigningKey) => {
      const iat = Math.floor(clock.now().getTime() / 1000)
      return `Bearer ${await signRaw({ iss: sender.did, sub: sender.did, aud: provider.did, jti: ids.next(), iat, exp: iat + 60 }, signer, { kid: `${sender.did}#${signer.kid}` })}`
    }
    try {
      await provider.identity.authenticator.authenticate({ authorization: await token(oldKey) })
      published = [newKey, oldKey]
      // Within 30 s of the last fetch, an unknown key does not trigger another fetch.
      await expect(provider.identity.authenticator.authenticate({ authorization: await token(newKey) })).rejects.toThrow(/key-2 is not a key listed/)
      expect(fetches).toBe(1)
      clock.advance(31_000)
      await expect(provider.identity.authenticator.authenticate({ authorization: await token(newKey) })).resolves.toMatchObject({ participantId: sender.did })
      expect(fetches).toBe(2)
    } finally {
      await sender.close()
      await provider.close()
      await store.close()
    }
  })

  it('signs with the newest key', async () => {
    const clock = testClock(new Date())
    const ids = testIds()
    const store = await createTestStore('sqlite')
    const participant = await startParticipant({ store, clock, ids, keys: [await generateSigningKey('key-2'), await generateSigningKey('key-1')] })
    try {
      const minted = await participant.identity.tokenIssuer.authorizationFor({ participantId: 'did:web:peer.example', dspUrl: 'https://peer.example/dsp' })
      expect(decodeProtectedHeader(minted.slice('Bearer '.length)).kid).toBe(`${participant.did}#key-2`)
    } finally {
      await participant.close()
      await store.close()
    }
  })
})
