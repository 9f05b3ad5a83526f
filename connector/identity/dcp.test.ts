import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestStore, dialects } from '../../test/support/stores.ts'
import { testClock, testIds } from '../../test/support/context.ts'
import { isPasserelleError } from '../errors.ts'
import type { Store } from '../store/store.ts'
import { identityRepository } from './identity-repository.ts'
import { generateSigningKey } from './keys.ts'
import {
  signRaw,
  startAuthority,
  startParticipant,
  unsignedJwt,
  loopbackServer,
  type TestAuthority,
  type TestParticipant,
} from '../../test/support/identity.ts'

/**
 * DCP between two participants on 127.0.0.1 with real did:web resolution: the consumer's ID token
 * is verified by the provider, which reads the consumer's credentials from its credential service.
 */
describe.each(dialects)('DCP between two participants (%s)', (dialect) => {
  const clock = testClock(new Date())
  const ids = testIds()
  let providerStore: Store & { url: string }
  let consumerStore: Store & { url: string }
  let authority: TestAuthority
  let untrusted: TestAuthority
  let provider: TestParticipant
  let consumer: TestParticipant
  let membership: string

  beforeAll(async () => {
    ;[providerStore, consumerStore] = await Promise.all([createTestStore(dialect), createTestStore(dialect)])
    authority = await startAuthority(clock, ids)
    untrusted = await startAuthority(clock, ids)
    provider = await startParticipant({ store: providerStore, clock, ids, trustedIssuers: [authority.did] })
    consumer = await startParticipant({ store: consumerStore, clock, ids, trustedIssuers: [authority.did] })
    membership = await authority.issue(consumer.did, 'MembershipCredential', { sector: 'health', country: 'CA' }, new Date(clock.now().getTime() + 86_400_000))
    await consumer.identity.credentials.add(membership)
  })
  afterAll(async () => {
    await Promise.all([provider?.close(), consumer?.close(), authority?.close(), untrusted?.close()])
    await Promise.all([providerStore?.close(), consumerStore?.close()])
  })

  /** Everything identity stores, on both sides. */
  async function storedState() {
    const read = async (store: Store) => {
      const repository = identityRepository(store)
      const seen = await store.db.select().from(store.tables.seenTokens).orderBy(store.tables.seenTokens.key)
      return { seen, held: await repository.listCredentials() }
    }
    return { provider: await read(providerStore), consumer: await read(consumerStore) }
  }

  const authorizationFor = (types?: string[]) =>
    consumer.identity.tokenIssuer.authorizationFor({ participantId: provider.did, dspUrl: `${provider.url}/dsp/2025-1` }, types)

  async function expectRefused(authorization: string | undefined, reason: RegExp, credentialTypes: string[] = []) {
    const before = await storedState()
    const error = await provider.identity.authenticator.authenticate({ authorization, credentialTypes }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(isPasserelleError(error) && error.code).toBe('unauthorized')
    expect((error as Error).message).toMatch(reason)
    expect(await storedState()).toEqual(before)
  }

  describe('happy path', () => {
    it('accepts a minted ID token and reports the requester without credentials when none are asked', async () => {
      const requester = await provider.identity.authenticator.authenticate({ authorization: await authorizationFor() })
      expect(requester).toEqual({ participantId: consumer.did, credentials: [] })
    })

    it('fetches, verifies and returns the requester credentials the decision needs', async () => {
      const requester = await provider.identity.authenticator.authenticate({
        authorization: await authorizationFor(['MembershipCredential']),
        credentialTypes: ['MembershipCredential'],
      })
      expect(requester.participantId).toBe(consumer.did)
      expect(requester.credentials).toEqual([
        {
          types: ['VerifiableCredential', 'MembershipCredential'],
          issuer: authority.did,
          claims: { sector: 'health', country: 'CA' },
          expiresAt: expect.any(Number),
        },
      ])
    })

    it('authenticates a participant that holds no credential of the asked type, with no credentials', async () => {
      const otherStore = await createTestStore('sqlite')
      const outsider = await startParticipant({ store: otherStore, clock, ids })
      try {
        const authorization = await outsider.identity.tokenIssuer.authorizationFor({ participantId: provider.did, dspUrl: provider.url })
        await expect(provider.identity.authenticator.authenticate({ authorization, credentialTypes: ['MembershipCredential'] })).resolves.toEqual({
          participantId: outsider.did,
          credentials: [],
        })
      } finally {
        await outsider.close()
        await otherStore.close()
      }
    })

    it('answers an HTTP request through the routes with the verified requester', async () => {
      const response = await fetch(`${provider.url}/protected?types=MembershipCredential`, {
        headers: { authorization: await authorizationFor(['MembershipCredential']) },
      })
      expect(response.status).toBe(200)
      const body = (await response.json()) as { participantId: string; credentials: unknown[] }
      expect(body.participantId).toBe(consumer.did)
      expect(body.credentials).toHaveLength(1)
    })

    it('records the token id, so the same token is refused the second time', async () => {
      const authorization = await authorizationFor()
      await provider.identity.authenticator.authenticate({ authorization })
      await expectRefused(authorization, /jti was already used/)
    })
  })

  describe('security: ID token', () => {
    const claims = () => {
      const iat = Math.floor(clock.now().getTime() / 1000)
      return { iss: consumer.did, sub: consumer.did, aud: provider.did, jti: ids.next(), iat, exp: iat + 300 }
    }

    it('refuses a request without a token', async () => {
      await expectRefused(undefined, /no token/)
    })

    it('refuses a token that is not a bearer JWT', async () => {
      await expectRefused('Basic dXNlcjpwYXNz', /not a Bearer token/)
      await expectRefused('Bearer not-a-jwt', /not a well-formed signed JWT/)
    })

    it('refuses an expired token', async () => {
      const past = Math.floor(clock.now().getTime() / 1000) - 3600
      const token = await signRaw({ ...claims(), iat: past, exp: past + 300 }, consumer.key, { kid: `${consumer.did}#key-1` })
      await expectRefused(`Bearer ${token}`, /expired/)
    })

    it('refuses a token issued in the future, or not valid yet, beyond the leeway', async () => {
      const later = Math.floor(clock.now().getTime() / 1000) + 600
      const future = await signRaw({ ...claims(), iat: later, exp: later + 300 }, consumer.key, { kid: `${consumer.did}#key-1` })
      await expectRefused(`Bearer ${future}`, /issued in the future/)
      const notYet = await signRaw({ ...claims(), nbf: later }, consumer.key, { kid: `${consumer.did}#key-1` })
      await expectRefused(`Bearer ${notYet}`, /claim nbf is invalid/)
    })

    it('refuses a token that claims to live longer than an hour', async () => {
      const iat = Math.floor(clock.now().getTime() / 1000)
      const token = await signRaw({ ...claims(), exp: iat + 7200 }, consumer.key, { kid: `${consumer.did}#key-1` })
      await expectRefused(`Bearer ${token}`, /lives longer than 3600 s/)
    })

    it('refuses a token issued for another audience', async () => {
      const token = await signRaw({ ...claims(), aud: 'did:web:elsewhere.example' }, consumer.key, { kid: `${consumer.did}#key-1` })
      await expectRefused(`Bearer ${token}`, /audience is not this participant/)
    })

    it('refuses a token whose iss and sub differ', async () => {
      const token = await signRaw({ ...claims(), sub: provider.did }, consumer.key, { kid: `${consumer.did}#key-1` })
      await expectRefused(`Bearer ${token}`, /iss and sub differ/)
    })

    it('refuses a token without jti', async () => {
      const { jti: _jti, ...rest } = claims()
      const token = await signRaw(rest, consumer.key, { kid: `${consumer.did}#key-1` })
      await expectRefused(`Bearer ${token}`, /no jti/)
    })

    it('refuses a forged signature (another key under the consumer kid)', async () => {
      const forger = await generateSigningKey('key-1')
      const token = await signRaw(claims(), forger, { kid: `${consumer.did}#key-1` })
      await expectRefused(`Bearer ${token}`, /signature is invalid/)
    })

    it('refuses a tampered token (payload changed after signing)', async () => {
      const token = await signRaw(claims(), consumer.key, { kid: `${consumer.did}#key-1` })
      const [header, payload, signature] = token.split('.')
      const changed = Buffer.from(
        JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), aud: provider.did, iss: consumer.did, extra: 1 }),
      ).toString('base64url')
      await expectRefused(`Bearer ${header}.${changed}.${signature}`, /signature is invalid/)
    })

    it('refuses a kid that names a key of another DID', async () => {
      const token = await signRaw(claims(), provider.key, { kid: `${provider.did}#key-1` })
      await expectRefused(`Bearer ${token}`, /kid names a key of another DID/)
    })

    it('refuses a kid the DID document does not list', async () => {
      const token = await signRaw(claims(), consumer.key, { kid: `${consumer.did}#key-9` })
      await expectRefused(`Bearer ${token}`, /not a key listed under capabilityInvocation/)
    })

    it('refuses alg none', async () => {
      await expectRefused(`Bearer ${unsignedJwt(claims(), `${consumer.did}#key-1`)}`, /alg none refused/)
    })

    it('refuses an algorithm outside EdDSA, Ed25519 and ES256', async () => {
      const token = await signRaw(claims(), consumer.key, { kid: `${consumer.did}#key-1` })
      const [, payload, signature] = token.split('.')
      const header = Buffer.from(JSON.stringify({ alg: 'HS256', kid: `${consumer.did}#key-1` })).toString('base64url')
      await expectRefused(`Bearer ${header}.${payload}.${signature}`, /algorithm HS256, not accepted/)
    })

    it('refuses a token from an unknown DID (no document there)', async () => {
      const empty = await loopbackServer()
      try {
        const token = await signRaw({ ...claims(), iss: empty.did, sub: empty.did }, consumer.key, { kid: `${empty.did}#key-1` })
        await expectRefused(`Bearer ${token}`, /could not be resolved$/)
        expect(provider.logs.join('\n')).toContain('answered status 404')
      } finally {
        await empty.close()
      }
    })
  })

  describe('security: DID documents served by hostile servers', () => {
    async function withServer(handler: Parameters<Awaited<ReturnType<typeof loopbackServer>>['handle']>[0], reason: RegExp) {
      const hostile = await loopbackServer()
      hostile.handle(handler)
      try {
        const iat = Math.floor(clock.now().getTime() / 1000)
        const token = await signRaw({ iss: hostile.did, sub: hostile.did, aud: provider.did, jti: ids.next(), iat, exp: iat + 300 }, consumer.key, {
          kid: `${hostile.did}#key-1`,
        })
        // The caller learns only that the DID could not be resolved; the reason is in the log.
        await expectRefused(`Bearer ${token}`, /^the DID did:web:127\.0\.0\.1%3A\d+ could not be resolved$/)
        expect(provider.logs.join('\n')).toMatch(reason)
      } finally {
        await hostile.close()
      }
    }

    it('gives up on a server that does not answer in time', async () => {
      await withServer(() => {}, /did not answer within/)
    })

    it('refuses a document larger than the limit', async () => {
      await withServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ id: 'x', padding: 'x'.repeat(200_000) }))
      }, /more than 65536 bytes/)
    })

    it('refuses a huge document sent without a length', async () => {
      await withServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' })
        const chunk = 'x'.repeat(16_384)
        let sent = 0
        const pump = () => {
          while (sent < 100 && res.write(chunk)) sent++
          if (sent < 100) res.once('drain', pump)
          else res.end()
        }
        pump()
      }, /more than 65536 bytes/)
    })

    it('refuses a redirect to another host', async () => {
      await withServer((_req, res) => {
        res.writeHead(302, { location: 'http://localhost:1/.well-known/did.json' })
        res.end()
      }, /redirected to another host/)
    })

    it('refuses a document for another DID', async () => {
      await withServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ id: consumer.did }))
      }, /is for did:web/)
    })
  })

  describe('security: credentials', () => {
    it('refuses a credential from an untrusted issuer', async () => {
      const otherStore = await createTestStore('sqlite')
      const holder = await startParticipant({ store: otherStore, clock, ids })
      try {
        await holder.identity.credentials.add(await untrusted.issue(holder.did, 'MembershipCredential'))
        const authorization = await holder.identity.tokenIssuer.authorizationFor({ participantId: provider.did, dspUrl: provider.url }, [
          'MembershipCredential',
        ])
        await expectRefused(authorization, /issuer did:web:[^ ]+ is not trusted/, ['MembershipCredential'])
      } finally {
        await holder.close()
        await otherStore.close()
      }
    })

    it('refuses a credential issued to another subject', async () => {
      const otherStore = await createTestStore('sqlite')
      const holder = await startParticipant({ store: otherStore, clock, ids })
      try {
        // Stored behind the API's back: the management API refuses credentials about someone else.
        const stolen = await authority.issue(consumer.did, 'MembershipCredential')
        await identityRepository(otherStore).addCredential({
          id: 'stolen',
          jwt: stolen,
          types: ['VerifiableCredential', 'MembershipCredential'],
          issuer: authority.did,
          subject: holder.did,
          expiresAt: null,
          createdAt: 0,
        })
        const authorization = await holder.identity.tokenIssuer.authorizationFor({ participantId: provider.did, dspUrl: provider.url }, [
          'MembershipCredential',
        ])
        await expectRefused(authorization, /credential subject .* is not the holder/, ['MembershipCredential'])
      } finally {
        await holder.close()
        await otherStore.close()
      }
    })

    it('refuses a tampered presentation', async () => {
      const otherStore = await createTestStore('sqlite')
      const holder = await startParticipant({
        store: otherStore,
        clock,
        ids,
        tamperPresentation: (body) => {
          const [vp] = body.presentation as string[]
          const [h, p, s] = vp!.split('.')
          const payload = JSON.parse(Buffer.from(p!, 'base64url').toString())
          payload.vp.verifiableCredential.push(payload.vp.verifiableCredential[0])
          return { ...body, presentation: [`${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`] }
        },
      })
      try {
        await holder.identity.credentials.add(await authority.issue(holder.did, 'MembershipCredential'))
        const authorization = await holder.identity.tokenIssuer.authorizationFor({ participantId: provider.did, dspUrl: provider.url }, [
          'MembershipCredential',
        ])
        await expectRefused(authorization, /presentation signature is invalid/, ['MembershipCredential'])
      } finally {
        await holder.close()
        await otherStore.close()
      }
    })

    it('refuses a credential whose claims were changed after the issuer signed it, inside a validly signed presentation', async () => {
      const otherStore = await createTestStore('sqlite')
      const holder = await startParticipant({ store: otherStore, clock, ids })
      try {
        const genuine = await authority.issue(holder.did, 'MembershipCredential', { country: 'FR' })
        const [h, p, sig] = genuine.split('.')
        const payload = JSON.parse(Buffer.from(p!, 'base64url').toString())
        payload.vc.credentialSubject.country = 'CA'
        const forged = `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${sig}`
        await identityRepository(otherStore).addCredential({
          id: 'forged',
          jwt: forged,
          types: ['VerifiableCredential', 'MembershipCredential'],
          issuer: authority.did,
          subject: holder.did,
          expiresAt: null,
          createdAt: 0,
        })
        const authorization = await holder.identity.tokenIssuer.authorizationFor({ participantId: provider.did, dspUrl: provider.url }, [
          'MembershipCredential',
        ])
        await expectRefused(authorization, /credential signature is invalid/, ['MembershipCredential'])
      } finally {
        await holder.close()
        await otherStore.close()
      }
    })

    it("refuses a presentation signed by another participant than the token's subject", async () => {
      const otherStore = await createTestStore('sqlite')
      const iat = Math.floor(clock.now().getTime() / 1000)
      // The holder's credential service answers with the consumer's presentation (e.g. one it intercepted).
      const intercepted = await signRaw(
        {
          iss: consumer.did,
          sub: consumer.did,
          aud: provider.did,
          jti: ids.next(),
          iat,
          exp: iat + 300,
          vp: { type: ['VerifiablePresentation'], verifiableCredential: [membership] },
        },
        consumer.key,
        { kid: `${consumer.did}#key-1` },
      )
      const holder = await startParticipant({ store: otherStore, clock, ids, tamperPresentation: (body) => ({ ...body, presentation: [intercepted] }) })
      try {
        const authorization = await holder.identity.tokenIssuer.authorizationFor({ participantId: provider.did, dspUrl: provider.url }, [
          'MembershipCredential',
        ])
        await expectRefused(authorization, /presentation holder .* is not the token subject/, ['MembershipCredential'])
      } finally {
        await holder.close()
        await otherStore.close()
      }
    })

    it('refuses an expired credential', async () => {
      const otherStore = await createTestStore('sqlite')
      const holder = await startParticipant({ store: otherStore, clock, ids, trustedIssuers: [] })
      try {
        const soon = new Date(clock.now().getTime() + 1000)
        const jwt = await authority.issue(holder.did, 'MembershipCredential', {}, soon)
        await holder.identity.credentials.add(jwt)
        // Served as if still valid: the holder's own filter is bypassed by the expiry of the check.
        await identityRepository(otherStore).addCredential({
          id: 'late',
          jwt,
          types: ['VerifiableCredential', 'MembershipCredential'],
          issuer: authority.did,
          subject: holder.did,
          expiresAt: null,
          createdAt: 0,
        })
        const authorization = await holder.identity.tokenIssuer.authorizationFor({ participantId: provider.did, dspUrl: provider.url }, [
          'MembershipCredential',
        ])
        clock.advance(120_000)
        try {
          await expectRefused(authorization, /credential has expired/, ['MembershipCredential'])
        } finally {
          clock.advance(-120_000)
        }
      } finally {
        await holder.close()
        await otherStore.close()
      }
    })
  })
})
