import { decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testClock, testIds } from '../../test/support/context.ts'
import { loopbackServer, signRaw, type LoopbackServer } from '../../test/support/identity.ts'
import { credentialsV2Context } from './credential-profiles.ts'
import { readCredentialJwt, verifyPresentation, type PresentationCheck } from './credentials.ts'
import { buildDidDocument } from './did-document.ts'
import { createDidResolver } from './did-resolver.ts'
import { issueCredentialJwt } from './issuer.ts'
import { generateSigningKey, type SigningKey } from './keys.ts'

/**
 * The `vc20-bssl/jwt` profile beside `vc11-sl2021/jwt`: VC data model 2.0 credentials secured with
 * JOSE (the payload is the credential; `validFrom`/`validUntil`), in 1.1 presentations and in 2.0
 * presentations that envelope them (`EnvelopedVerifiableCredential`, a `data:application/vc+jwt,` id).
 * Status lists of both profiles are tested in status-list.test.ts.
 */
describe('VC data model 2.0 credentials (vc20-bssl/jwt)', () => {
  const clock = testClock(new Date())
  const ids = testIds()
  let issuer: LoopbackServer
  let holder: LoopbackServer
  let issuerKey: SigningKey
  let holderKey: SigningKey
  const verifier = 'did:web:verifier.example'

  beforeAll(async () => {
    ;[issuer, holder] = [await loopbackServer(), await loopbackServer()]
    ;[issuerKey, holderKey] = [await generateSigningKey('issuer-key'), await generateSigningKey('holder-key')]
    for (const [server, key] of [
      [issuer, issuerKey],
      [holder, holderKey],
    ] as const) {
      const document = JSON.stringify(buildDidDocument({ did: server.did, keys: [key] }))
      server.handle((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(document)
      })
    }
  })
  afterAll(async () => Promise.all([issuer?.close(), holder?.close()]))

  const check = (): PresentationCheck => ({
    resolver: createDidResolver({ clock, allowInsecureLoopback: true }),
    clock,
    ownDid: verifier,
    holder: holder.did,
    trustedIssuers: new Set([issuer.did]),
  })
  const credential = (options: { issuedAt?: Date; expiresAt?: Date } = {}) =>
    issueCredentialJwt({
      issuerDid: issuer.did,
      key: issuerKey,
      subject: holder.did,
      type: 'MembershipCredential',
      claims: { memberOf: 'ca-climate' },
      issuedAt: options.issuedAt ?? clock.now(),
      expiresAt: options.expiresAt ?? new Date(clock.now().getTime() + 86_400_000),
      ids,
      profile: 'vc20-bssl/jwt',
    })
  /** A presentation signed by the holder: 1.1 (`vp` claim) or 2.0 (the payload, credentials enveloped). */
  const presentation = (credentials: string[], shape: '1.1' | '2.0', extra: Record<string, unknown> = {}) => {
    const iat = Math.floor(clock.now().getTime() / 1000)
    const claims = { aud: verifier, iat, exp: iat + 300, jti: ids.next() }
    const body =
      shape === '1.1'
        ? {
            iss: holder.did,
            ...claims,
            vp: { '@context': ['https://www.w3.org/2018/credentials/v1'], type: ['VerifiablePresentation'], verifiableCredential: credentials },
          }
        : {
            ...claims,
            '@context': [credentialsV2Context],
            type: ['VerifiablePresentation'],
            holder: holder.did,
            verifiableCredential: credentials.map((jwt) => ({
              '@context': [credentialsV2Context],
              id: `data:application/vc+jwt,${jwt}`,
              type: 'EnvelopedVerifiableCredential',
            })),
            ...extra,
          }
    return signRaw(body, holderKey, { kid: `${holder.did}#${holderKey.kid}` })
  }

  it('issues the credential as the JWT payload, with validFrom and validUntil', async () => {
    const jwt = await credential()
    const payload = decodeJwt(jwt)
    expect(payload).toMatchObject({
      '@context': [credentialsV2Context],
      issuer: issuer.did,
      validFrom: clock.now().toISOString(),
      credentialSubject: { id: holder.did },
    })
    expect(payload.vc).toBeUndefined()
    expect(readCredentialJwt(jwt)).toMatchObject({ profile: 'vc20-bssl/jwt', issuer: issuer.did, subject: holder.did, claims: { memberOf: 'ca-climate' } })
  })

  it.each(['1.1', '2.0'] as const)('verifies it in a %s presentation', async (shape) => {
    const verified = await verifyPresentation(await presentation([await credential()], shape), check())
    expect(verified).toEqual([
      expect.objectContaining({ types: ['VerifiableCredential', 'MembershipCredential'], issuer: issuer.did, claims: { memberOf: 'ca-climate' } }),
    ])
  })

  it('refuses a credential whose validFrom is still ahead, and one past its validUntil', async () => {
    const payload = decodeJwt(await credential())
    const ahead = new Date(clock.now().getTime() + 3_600_000).toISOString()
    const later = await signRaw({ ...payload, validFrom: ahead }, issuerKey, { kid: `${issuer.did}#${issuerKey.kid}` })
    await expect(verifyPresentation(await presentation([later], '2.0'), check())).rejects.toThrow(/credential is not valid before \S+ \(validFrom\)/)
    const lapsed = await credential({ issuedAt: new Date(clock.now().getTime() - 7_200_000), expiresAt: new Date(clock.now().getTime() - 3_600_000) })
    await expect(verifyPresentation(await presentation([lapsed], '2.0'), check())).rejects.toThrow(/credential has expired/)
  })

  it('refuses a 2.0 credential whose issuer is not its iss, and one from an issuer not trusted', async () => {
    const payload = decodeJwt(await credential())
    const forged = await signRaw({ ...payload, issuer: 'did:web:other.example' }, issuerKey, { kid: `${issuer.did}#${issuerKey.kid}` })
    await expect(verifyPresentation(await presentation([forged], '2.0'), check())).rejects.toThrow(/issuer in vc differs from iss/)
    await expect(verifyPresentation(await presentation([await credential()], '2.0'), { ...check(), trustedIssuers: new Set() })).rejects.toThrow(
      `credential issuer ${issuer.did} is not trusted`,
    )
  })

  it('refuses a 2.0 presentation that is not of type VerifiablePresentation, or whose holder is someone else', async () => {
    const jwt = await credential()
    await expect(verifyPresentation(await presentation([jwt], '2.0', { type: ['Something'] }), check())).rejects.toThrow(
      /presentation type does not include VerifiablePresentation/,
    )
    await expect(verifyPresentation(await presentation([jwt], '2.0', { iss: holder.did, holder: 'did:web:other.example' }), check())).rejects.toThrow(
      /presentation holder is not the token subject/,
    )
  })

  it('refuses an enveloped credential that is not a vc+jwt data URL', async () => {
    const jwt = await credential()
    const iat = Math.floor(clock.now().getTime() / 1000)
    const vp = await signRaw(
      {
        aud: verifier,
        iat,
        exp: iat + 300,
        '@context': [credentialsV2Context],
        type: ['VerifiablePresentation'],
        holder: holder.did,
        verifiableCredential: [{ id: `data:application/json,${jwt}`, type: 'EnvelopedVerifiableCredential' }],
      },
      holderKey,
      { kid: `${holder.did}#${holderKey.kid}` },
    )
    await expect(verifyPresentation(vp, check())).rejects.toThrow(/credential is not a JWT/)
  })
})
