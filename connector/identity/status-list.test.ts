import { createHash } from 'node:crypto'
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { testClock, testIds } from '../../test/support/context.ts'
import { loopbackServer, startParticipant, type LoopbackServer, type TestParticipant } from '../../test/support/identity.ts'
import { createTestStore, dialects } from '../../test/support/stores.ts'
import { isPasserelleError } from '../errors.ts'
import type { Store } from '../store/store.ts'
import { createLogger } from '../telemetry/logger.ts'
import { credentialProfiles, type CredentialProfile } from './credential-profiles.ts'
import { buildDidDocument } from './did-document.ts'
import { createDidResolver } from './did-resolver.ts'
import { issueCredentialJwt } from './issuer.ts'
import { generateSigningKey, type SigningKey } from './keys.ts'
import { limitedHttp } from './limited-http.ts'
import {
  bitAt,
  createStatusListChecker,
  decodeBitstring,
  encodeBitstring,
  minimumListBits,
  setBit,
  signStatusListCredential,
  statusReferencesOf,
  type ValidityPurpose,
} from './status-list.ts'

describe('bitstring encoding', () => {
  it('round-trips a list, bit 0 being the left-most bit of the first byte', () => {
    const bits = new Uint8Array(minimumListBits / 8)
    setBit(bits, 0, true)
    setBit(bits, 131_071, true)
    expect(bits[0]).toBe(0x80)
    const encoded = encodeBitstring(bits)
    expect(encoded.startsWith('u')).toBe(true)
    const decoded = decodeBitstring(encoded, 1024 * 1024)
    expect(bitAt(decoded, 0)).toBe(true)
    expect(bitAt(decoded, 1)).toBe(false)
    expect(bitAt(decoded, 131_071)).toBe(true)
  })

  it('accepts a list without the multibase prefix (StatusList2021 issuers)', () => {
    const encoded = gzipSync(new Uint8Array(minimumListBits / 8)).toString('base64url')
    expect(decodeBitstring(encoded, 1024 * 1024).length).toBe(minimumListBits / 8)
  })

  it.each([
    ['not base64url', 'u!!!not base64', /not base64url/],
    ['not GZIP', `u${Buffer.alloc(64, 7).toString('base64url')}`, /not GZIP-compressed/],
    ['a GZIP bomb', encodeBitstring(new Uint8Array(8 * 1024 * 1024)), /decompresses to more than 1048576 bytes/],
    ['shorter than 16 KB', encodeBitstring(new Uint8Array(1024)), /fewer than the 131072/],
    [
      'truncated GZIP',
      `u${gzipSync(new Uint8Array(minimumListBits / 8))
        .subarray(0, 20)
        .toString('base64url')}`,
      /not valid GZIP/,
    ],
  ])('refuses an encodedList that is %s', (_, encoded, reason) => {
    expect(() => decodeBitstring(encoded, 1024 * 1024)).toThrow(reason)
  })

  it('refuses a status of an unknown type or purpose, and a malformed entry', () => {
    const entry = {
      type: 'BitstringStatusListEntry',
      statusPurpose: 'revocation',
      statusListIndex: '7',
      statusListCredential: 'https://authority.example/status/revocation',
    }
    expect(statusReferencesOf({ credentialStatus: entry }, 'c')).toEqual([
      { purpose: 'revocation', index: 7, url: 'https://authority.example/status/revocation' },
    ])
    expect(statusReferencesOf({ credentialStatus: { ...entry, statusPurpose: 'message' } }, 'c')).toEqual([])
    expect(statusReferencesOf({ credentialStatus: { ...entry, type: 'StatusList2021Entry' } }, 'c')).toHaveLength(1)
    expect(() => statusReferencesOf({ credentialStatus: { ...entry, type: 'RevocationList2020Status' } }, 'c')).toThrow(/not supported/)
    expect(() => statusReferencesOf({ credentialStatus: { ...entry, statusPurpose: 'frozen' } }, 'c')).toThrow(/unknown purpose frozen/)
    expect(() => statusReferencesOf({ credentialStatus: { ...entry, statusListIndex: '-1' } }, 'c')).toThrow(/malformed/)
    expect(() => statusReferencesOf({ credentialStatus: { ...entry, statusSize: 2 } }, 'c')).toThrow(/size 2/)
  })
})

/** A credential issuer that publishes status lists on 127.0.0.1, and counts who asks for them. */
async function startStatusAuthority(profile: CredentialProfile, now: () => Date) {
  const server: LoopbackServer = await loopbackServer()
  const key = await generateSigningKey('authority-key-1')
  const document = JSON.stringify(buildDidDocument({ did: server.did, keys: [key] }))
  const served = new Map<string, string>()
  const requests: Array<{ path: string; ifNoneMatch: string | undefined }> = []
  let down = false
  server.handle((req, res) => {
    if (req.url === '/.well-known/did.json') {
      res.writeHead(200, { 'content-type': 'application/json' })
      return res.end(document)
    }
    requests.push({ path: req.url ?? '', ifNoneMatch: req.headers['if-none-match'] })
    const body = served.get(req.url ?? '')
    if (down || body === undefined) {
      res.writeHead(down ? 503 : 404)
      return res.end()
    }
    const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 16)}"`
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, { etag })
      return res.end()
    }
    res.writeHead(200, { 'content-type': 'application/vc+jwt', etag })
    res.end(body)
  })
  const url = (name: string) => `${server.url}/status/${name}`
  return {
    did: server.did,
    key,
    server,
    requests,
    url,
    setDown: (value: boolean) => void (down = value),
    serve: (name: string, body: string) => void served.set(`/status/${name}`, body),
    async publish(
      name: string,
      purpose: ValidityPurpose,
      set: number[],
      options: { key?: SigningKey; did?: string; ttlMs?: number; bits?: number; now?: Date } = {},
    ) {
      const bits = new Uint8Array((options.bits ?? minimumListBits) / 8)
      for (const index of set) setBit(bits, index, true)
      const jwt = await signStatusListCredential({
        issuerDid: options.did ?? server.did,
        key: options.key ?? key,
        url: url(name),
        purpose,
        bits,
        // The test's clock, not the wall clock: a suite may start long after its clock was made.
        issuedAt: options.now ?? now(),
        ttlMs: options.ttlMs ?? 60_000,
        profile,
      })
      served.set(`/status/${name}`, jwt)
      return jwt
    },
    close: () => server.close(),
  }
}

// Both DCP profiles: VC data model 1.1 credentials and lists, and 2.0 (validFrom/validUntil, the payload is the credential).
const dialectsAndProfiles = dialects.flatMap((dialect) => credentialProfiles.map((profile) => [dialect, profile] as const))

describe.each(dialectsAndProfiles)('status lists in DCP presentation verification (%s, %s)', (dialect, profile) => {
  const clock = testClock(new Date())
  const ids = testIds()
  const stores: Store[] = []
  let authority: Awaited<ReturnType<typeof startStatusAuthority>>
  let provider: TestParticipant
  let consumer: TestParticipant
  let credentialId: string

  beforeAll(async () => {
    stores.push(await createTestStore(dialect), await createTestStore(dialect))
    authority = await startStatusAuthority(profile, () => clock.now())
    provider = await startParticipant({
      store: stores[0]!,
      clock,
      ids,
      trustedIssuers: [authority.did],
      identity: { statusList: { graceMs: 60_000, maxAgeMs: 30_000 } },
    })
    consumer = await startParticipant({ store: stores[1]!, clock, ids })
    credentialId = 'urn:uuid:10000000-0000-4000-8000-000000000001'
    await consumer.identity.credentials.add(await membership(credentialId, 42))
  })
  /** A membership credential for the consumer with status index `index` in both lists. */
  async function membership(id: string, index: number) {
    const entry = (purpose: ValidityPurpose) => ({
      type: 'BitstringStatusListEntry',
      statusPurpose: purpose,
      statusListIndex: String(index),
      statusListCredential: authority.url(purpose),
    })
    return issueCredentialJwt({
      issuerDid: authority.did,
      key: authority.key,
      subject: consumer.did,
      type: 'MembershipCredential',
      claims: { country: 'CA' },
      issuedAt: clock.now(),
      expiresAt: new Date(clock.now().getTime() + 86_400_000),
      ids,
      id,
      credentialStatus: [entry('revocation'), entry('suspension')],
      profile,
    })
  }
  afterAll(async () => {
    await Promise.all([provider?.close(), consumer?.close(), authority?.close()])
    await Promise.all(stores.map((s) => s.close()))
  })
  beforeEach(async () => {
    provider.identity.dcp!.clearCaches()
    await authority.publish('revocation', 'revocation', [])
    await authority.publish('suspension', 'suspension', [])
    authority.setDown(false)
  })

  const authenticate = async () =>
    provider.identity.authenticator.authenticate({
      authorization: await consumer.identity.tokenIssuer.authorizationFor({ participantId: provider.did, dspUrl: provider.url }, ['MembershipCredential']),
      credentialTypes: ['MembershipCredential'],
    })
  const refusal = async () => {
    const error = await authenticate().then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(isPasserelleError(error) && error.code).toBe('unauthorized')
    return (error as Error).message
  }

  it('accepts a credential whose bits are clear', async () => {
    expect((await authenticate()).credentials).toEqual([expect.objectContaining({ types: ['VerifiableCredential', 'MembershipCredential'] })])
  })

  it('refuses a revoked credential, naming it and the status list, even when its claims were cached', async () => {
    await authenticate()
    await authority.publish('revocation', 'revocation', [42])
    // The list is still fresh: reused as it is.
    expect((await authenticate()).credentials).toHaveLength(1)
    clock.advance(31_000)
    expect(await refusal()).toBe(`credential ${credentialId} is revoked (status list ${authority.url('revocation')}, index 42)`)
  })

  it('keeps the statuses it verified in the store, so that they are re-checked after a restart', async () => {
    await authenticate()
    const restarted = await startParticipant({
      store: stores[0]!,
      clock,
      ids,
      trustedIssuers: [authority.did],
      identity: { statusList: { graceMs: 60_000, maxAgeMs: 30_000 } },
    })
    try {
      expect(await restarted.identity.dcp!.recheckPeer(consumer.did)).toBeUndefined()
      expect(await restarted.identity.dcp!.recheckPeer('did:web:stranger.example')).toBeUndefined()
      await authority.publish('suspension', 'suspension', [42])
      clock.advance(31_000)
      expect(await restarted.identity.dcp!.recheckPeer(consumer.did)).toBe(
        `credential ${credentialId} is suspended (status list ${authority.url('suspension')}, index 42)`,
      )
      expect(await restarted.identity.dcp!.recheckPeer(consumer.did, ['ResearchCredential'])).toBeUndefined()
    } finally {
      await restarted.close()
    }
  })

  it('forgets a revoked credential once the peer presents the one re-issued in its place', async () => {
    await authenticate()
    await authority.publish('revocation', 'revocation', [42])
    clock.advance(31_000)
    expect(await provider.identity.dcp!.recheckPeer(consumer.did)).toMatch(/is revoked/)
    const held = await consumer.identity.credentials.list()
    const renewed = await consumer.identity.credentials.add(await membership('urn:uuid:10000000-0000-4000-8000-000000000002', 43))
    for (const credential of held) await consumer.identity.credentials.remove(credential.id)
    provider.identity.dcp!.clearCaches()
    try {
      expect((await authenticate()).credentials).toHaveLength(1)
      expect(await provider.identity.dcp!.recheckPeer(consumer.did)).toBeUndefined()
    } finally {
      // Back as the other tests expect it: the first credential held.
      await consumer.identity.credentials.remove(renewed.id)
      await consumer.identity.credentials.add(await membership(credentialId, 42))
    }
  })

  it('refuses a suspended credential and accepts it again once reinstated', async () => {
    await authority.publish('suspension', 'suspension', [42])
    expect(await refusal()).toMatch(/is suspended \(status list .*\/status\/suspension, index 42\)/)
    await authority.publish('suspension', 'suspension', [])
    clock.advance(31_000)
    expect((await authenticate()).credentials).toHaveLength(1)
  })

  it('asks again with the ETag and keeps the list on 304', async () => {
    provider.logs.length = 0
    await authenticate()
    clock.advance(31_000)
    const before = authority.requests.length
    await authenticate()
    const asked = authority.requests.slice(before).filter((r) => r.path === '/status/revocation')
    expect(asked).toHaveLength(1)
    expect(asked[0]!.ifNoneMatch).toMatch(/^"[0-9a-f]{16}"$/)
    // The 304 confirmed the list: it was not taken for a failure (and the stale copy used in grace).
    expect(provider.logs.join('\n')).not.toMatch(/status list not fetched/)
    // And the confirmed lists are used until they are stale again: no further request.
    const revalidated = authority.requests.length
    await authenticate()
    expect(authority.requests.length).toBe(revalidated)
  })

  it('uses a list it cannot fetch again for the grace period, then fails closed with the reason', async () => {
    await authenticate()
    authority.setDown(true)
    clock.advance(31_000 + 50_000)
    expect((await authenticate()).credentials).toHaveLength(1)
    clock.advance(20_000)
    expect(await refusal()).toMatch(
      /status list .*\/status\/revocation of credential .* could not be fetched and the last copy is older than the grace period \(identity\.statusList\.graceMs, 60000 ms\); failing closed/,
    )
  })

  it('refuses when the list was never fetched and cannot be, and does not ask a dead host again at once', async () => {
    authority.setDown(true)
    expect(await refusal()).toMatch(/could not be fetched; failing closed/)
    const before = authority.requests.length
    expect(await refusal()).toMatch(/could not be fetched; failing closed/)
    expect(authority.requests.length).toBe(before)
    clock.advance(6000)
    authority.setDown(false)
    expect((await authenticate()).credentials).toHaveLength(1)
  })
})

describe.each(credentialProfiles)('status list checker: hostile lists (%s)', (profile) => {
  const clock = testClock(new Date())
  let authority: Awaited<ReturnType<typeof startStatusAuthority>>
  let other: Awaited<ReturnType<typeof startStatusAuthority>>
  const logger = createLogger({ write: () => {} })
  const checkerOptions = () => ({
    http: limitedHttp,
    resolver: createDidResolver({ clock, allowInsecureLoopback: true, timeoutMs: 500, logger }),
    clock,
    logger,
    graceMs: 0,
    maxAgeMs: 60_000,
    maxBytes: 256 * 1024,
    maxLists: 4,
    allowInsecureLoopback: true,
  })
  const checker = () => createStatusListChecker(checkerOptions())
  beforeAll(async () => {
    authority = await startStatusAuthority(profile, () => clock.now())
    other = await startStatusAuthority(profile, () => clock.now())
  })
  afterAll(async () => Promise.all([authority?.close(), other?.close()]))

  const check = (url: string, index = 3, purpose: ValidityPurpose = 'revocation', issuer = authority.did) =>
    checker()
      .check({ credential: 'urn:uuid:c', issuer, references: [{ purpose, index, url }] })
      .then(
        () => 'accepted',
        (e: Error) => e.message,
      )

  it('accepts a good list', async () => {
    await authority.publish('good', 'revocation', [])
    expect(await check(authority.url('good'))).toBe('accepted')
  })

  it('accepts a list written as Eclipse IdentityHub writes one: VC 2.0 context, validFrom/validUntil, the subject as an array of one', async () => {
    const { signJwt } = await import('./jwt.ts')
    const bits = new Uint8Array(minimumListBits / 8)
    setBit(bits, 3, true)
    const iat = Math.floor(clock.now().getTime() / 1000)
    const vc = {
      '@context': ['https://www.w3.org/ns/credentials/v2'],
      id: authority.url('identityhub'),
      type: ['VerifiableCredential', 'BitstringStatusListCredential'],
      issuer: authority.did,
      validFrom: clock.now().toISOString(),
      validUntil: new Date(clock.now().getTime() + 86_400_000).toISOString(),
      credentialSubject: [
        { id: `${authority.url('identityhub')}#list`, type: 'BitstringStatusList', statusPurpose: 'revocation', encodedList: encodeBitstring(bits) },
      ],
    }
    authority.serve('identityhub', await signJwt({ iss: authority.did, sub: authority.did, iat, vc }, authority.key, authority.did))
    expect(await check(authority.url('identityhub'), 2)).toBe('accepted')
    expect(await check(authority.url('identityhub'), 3)).toMatch(/is revoked \(status list .*identityhub, index 3\)/)
  })

  it('refuses an expired list', async () => {
    const { signJwt } = await import('./jwt.ts')
    const iat = Math.floor(clock.now().getTime() / 1000)
    const vc = {
      type: ['VerifiableCredential', 'BitstringStatusListCredential'],
      validUntil: new Date(clock.now().getTime() - 1000).toISOString(),
      credentialSubject: { type: 'BitstringStatusList', statusPurpose: 'revocation', encodedList: encodeBitstring(new Uint8Array(minimumListBits / 8)) },
    }
    authority.serve('expired', await signJwt({ iss: authority.did, iat, vc }, authority.key, authority.did))
    expect(await check(authority.url('expired'))).toMatch(/status list .*expired has expired/)
  })

  it('never uses a list past its validUntil: not on a 304, not in the grace period', async () => {
    const { signJwt } = await import('./jwt.ts')
    const iat = Math.floor(clock.now().getTime() / 1000)
    const vc = {
      type: ['VerifiableCredential', 'BitstringStatusListCredential'],
      validUntil: new Date(clock.now().getTime() + 10_000).toISOString(),
      credentialSubject: { type: 'BitstringStatusList', statusPurpose: 'revocation', encodedList: encodeBitstring(new Uint8Array(minimumListBits / 8)) },
    }
    authority.serve('short-lived', await signJwt({ iss: authority.did, iat, vc }, authority.key, authority.did))
    const graceful = createStatusListChecker({ ...checkerOptions(), graceMs: 3_600_000 })
    const subject = {
      credential: 'urn:uuid:c',
      issuer: authority.did,
      references: [{ purpose: 'revocation' as const, index: 3, url: authority.url('short-lived') }],
    }
    await graceful.check(subject)
    clock.advance(11_000)
    // The issuer answers 304: the list did not change, but it has expired.
    expect(await graceful.check(subject).catch((e: Error) => e.message)).toMatch(/short-lived has expired; credential urn:uuid:c refused/)
    await graceful.check(subject).catch(() => undefined)
    authority.setDown(true)
    try {
      expect(await graceful.check(subject).catch((e: Error) => e.message)).toMatch(/could not be fetched; failing closed/)
    } finally {
      authority.setDown(false)
    }
  })

  it('refuses a list with a bad signature', async () => {
    const jwt = await authority.publish('forged', 'revocation', [])
    const [header, payload, signature] = jwt.split('.')
    authority.serve('forged', `${header}.${payload}.${signature!.slice(0, -4)}AAAA`)
    expect(await check(authority.url('forged'))).toMatch(/status list .*forged signature is invalid; credential urn:uuid:c refused/)
  })

  it("refuses a list signed by another issuer than the credential's", async () => {
    await other.publish('foreign', 'revocation', [])
    expect(await check(other.url('foreign'))).toMatch(new RegExp(`is issued by ${other.did.replace(/[%.]/g, '\\$&')}, not by the credential's issuer`))
  })

  it('refuses a list signed with a key its issuer does not publish', async () => {
    await authority.publish('stolen', 'revocation', [], { key: other.key })
    expect(await check(authority.url('stolen'))).toMatch(/not a key listed|signature is invalid/)
  })

  it('refuses an index beyond the list', async () => {
    await authority.publish('short', 'revocation', [])
    expect(await check(authority.url('short'), minimumListBits)).toMatch(/status index 131072, beyond status list .*short \(131072 entries\)/)
  })

  it('refuses a list for another purpose than the entry says', async () => {
    await authority.publish('other-purpose', 'suspension', [])
    expect(await check(authority.url('other-purpose'))).toMatch(/is for suspension, but credential urn:uuid:c names it for revocation/)
  })

  it('refuses a list that is not GZIP, and one that is not a JWT', async () => {
    const jwt = await authority.publish('plain', 'revocation', [])
    type Credential = { credentialSubject: { encodedList: string } }
    const payload = JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Credential & { vc?: Credential }
    ;(payload.vc ?? payload).credentialSubject.encodedList = `u${Buffer.alloc(minimumListBits / 8).toString('base64url')}`
    const { signJwt } = await import('./jwt.ts')
    authority.serve('plain', await signJwt(payload, authority.key, authority.did))
    expect(await check(authority.url('plain'))).toMatch(/encodedList is not GZIP-compressed/)
    authority.serve('html', '<html>hello</html>')
    expect(await check(authority.url('html'))).toMatch(/is not a well-formed signed JWT/)
  })

  it('refuses a huge list: over the response limit, or decompressing beyond it', async () => {
    await authority.publish('bomb', 'revocation', [], { bits: 8 * 1024 * 1024 * 8 })
    expect(await check(authority.url('bomb'))).toMatch(/decompresses to more than 262144 bytes/)
    authority.serve('big', 'x'.repeat(300 * 1024))
    expect(await check(authority.url('big'))).toMatch(/could not be fetched; failing closed/)
  })

  it('refuses a list that is not HTTPS when loopback is not allowed', async () => {
    const strict = createStatusListChecker({
      http: limitedHttp,
      resolver: createDidResolver({ clock, logger }),
      clock,
      logger,
      graceMs: 0,
      maxAgeMs: 1,
      maxBytes: 1024,
      maxLists: 1,
    })
    const error = await strict
      .check({ credential: 'urn:uuid:c', issuer: authority.did, references: [{ purpose: 'revocation', index: 1, url: authority.url('good') }] })
      .catch((e: Error) => e)
    expect((error as Error).message).toMatch(/is not HTTPS/)
  })

  it('keeps at most maxLists lists', async () => {
    const bounded = checker()
    for (let i = 0; i < 6; i++) {
      await authority.publish(`many-${i}`, 'revocation', [])
      await bounded.check({
        credential: 'urn:uuid:c',
        issuer: authority.did,
        references: [{ purpose: 'revocation', index: 1, url: authority.url(`many-${i}`) }],
      })
    }
    expect(bounded.size).toBe(4)
  })
})
