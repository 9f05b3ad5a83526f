import { describe, expect, it } from 'vitest'
import { testClock } from '../../test/support/context.ts'
import { createLogger } from '../telemetry/logger.ts'
import { createDidResolver, findVerificationMethod, type DidDocument } from './did-resolver.ts'

const did = 'did:web:peer.example'
const document: DidDocument = {
  id: did,
  verificationMethod: [{ id: `${did}#key-1`, type: 'JsonWebKey2020', publicKeyJwk: { kty: 'OKP', crv: 'Ed25519', x: 'AA' } }],
  capabilityInvocation: [`${did}#key-1`],
  assertionMethod: ['#key-1'],
}

describe('DID resolution', () => {
  it('fetches the HTTPS address of a did:web, caches the document for its TTL, and shares a fetch in flight', async () => {
    const clock = testClock()
    const urls: string[] = []
    const resolver = createDidResolver({ clock, ttlMs: 1000, http: async ({ url }) => (urls.push(url.toString()), { status: 200, json: document }) })
    await Promise.all([resolver.resolve(did), resolver.resolve(did)])
    await resolver.resolve(did)
    expect(urls).toEqual(['https://peer.example/.well-known/did.json'])
    clock.advance(1001)
    await resolver.resolve(did)
    expect(urls).toHaveLength(2)
  })

  it('does not ask again for a while about a DID whose document was not usable, nor block the other DIDs of its host', async () => {
    const clock = testClock()
    let status = 500
    const urls: string[] = []
    const resolver = createDidResolver({
      clock,
      failureTtlMs: 10_000,
      http: async ({ url }) => (
        urls.push(url.pathname), url.pathname === '/.well-known/did.json' ? { status, json: status === 200 ? document : {} } : { status: 404, json: {} }
      ),
    })
    await expect(resolver.resolve(did)).rejects.toThrow(/^the DID did:web:peer.example could not be resolved$/)
    status = 200
    await expect(resolver.resolve(did)).rejects.toThrow(/could not be resolved/)
    expect(urls).toEqual(['/.well-known/did.json'])
    // A 404 for another DID on the host does not stop its fetches.
    await expect(resolver.resolve('did:web:peer.example:users:other')).rejects.toThrow(/could not be resolved/)
    clock.advance(10_001)
    await expect(resolver.resolve(did)).resolves.toEqual(document)
    expect(urls).toEqual(['/.well-known/did.json', '/users/other/did.json', '/.well-known/did.json'])
  })

  it('does not ask a host that could not be reached again for a while, for any of its DIDs', async () => {
    const clock = testClock()
    let calls = 0
    const resolver = createDidResolver({ clock, failureTtlMs: 10_000, http: async () => (calls++, Promise.reject(new Error('no answer in time'))) })
    await expect(resolver.resolve(did)).rejects.toThrow(/could not be resolved/)
    await expect(resolver.resolve(did)).rejects.toThrow(/could not be resolved/)
    await expect(resolver.resolve('did:web:peer.example:users:other')).rejects.toThrow(/could not be resolved/)
    expect(calls).toBe(1)
    clock.advance(10_001)
    await expect(resolver.resolve(did)).rejects.toThrow(/could not be resolved/)
    expect(calls).toBe(2)
  })

  it('hides a network error from the caller and logs it', async () => {
    const lines: string[] = []
    const logger = createLogger({ write: (line) => lines.push(line) })
    const resolver = createDidResolver({ clock: testClock(), logger, http: async () => Promise.reject(new Error('connect ECONNREFUSED 10.0.0.7:6379')) })
    const error = await resolver.resolve(did).catch((e: Error) => e)
    expect((error as Error).message).not.toMatch(/ECONNREFUSED|10\.0\.0\.7/)
    expect(lines.join('\n')).toMatch(/ECONNREFUSED 10\.0\.0\.7:6379/)
  })

  it('refuses a host outside the DID host allow-list before any request', async () => {
    let calls = 0
    const resolver = createDidResolver({
      clock: testClock(),
      allowHost: (host) => host === 'member.example',
      http: async () => (calls++, { status: 200, json: document }),
    })
    await expect(resolver.resolve(did)).rejects.toThrow(/could not be resolved/)
    await expect(resolver.resolve('did:web:127.0.0.1%3A6379')).rejects.toThrow(/could not be resolved/)
    expect(calls).toBe(0)
  })

  it('refuses plain HTTP for a host that is not loopback, before any request', async () => {
    let called = false
    const resolver = createDidResolver({
      clock: testClock(),
      allowInsecureLoopback: true,
      http: async ({ url }) => ((called = url.protocol === 'http:'), { status: 200, json: document }),
    })
    await resolver.resolve(did)
    expect(called).toBe(false)
  })

  it('finds a key only under the relationships asked for, by absolute or relative id', () => {
    expect(findVerificationMethod(document, `${did}#key-1`, ['capabilityInvocation'])?.id).toBe(`${did}#key-1`)
    expect(findVerificationMethod(document, `${did}#key-1`, ['assertionMethod'])?.id).toBe(`${did}#key-1`)
    expect(findVerificationMethod(document, `${did}#key-1`, ['authentication'])).toBeUndefined()
    expect(findVerificationMethod(document, `${did}#key-2`, ['capabilityInvocation'])).toBeUndefined()
  })

  describe('key relationships', () => {
    const jwk = { kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' }
    const method = (id: string, extra: Record<string, unknown> = {}) => ({ id, type: 'JsonWebKey2020', controller: did, publicKeyJwk: jwk, ...extra })
    const edcShape = { id: did, verificationMethod: [method(`${did}#key-1`)], authentication: [] }

    it('accepts a key under verificationMethod for every use when no relationship array is filled, unless strict', () => {
      for (const relationship of ['capabilityInvocation', 'authentication', 'assertionMethod'] as const) {
        expect(findVerificationMethod(edcShape, `${did}#key-1`, [relationship])?.id).toBe(`${did}#key-1`)
        expect(findVerificationMethod(edcShape, `${did}#key-1`, [relationship], 'strict')).toBeUndefined()
      }
    })

    it("matches EDC's bare key ids and relative ones to the token's <did>#key", () => {
      expect(findVerificationMethod({ id: did, verificationMethod: [method('key-1')] }, `${did}#key-1`, ['capabilityInvocation'])?.id).toBe('key-1')
      expect(
        findVerificationMethod({ id: did, verificationMethod: [method('#key-1')], capabilityInvocation: ['key-1'] }, `${did}#key-1`, ['capabilityInvocation'])
          ?.id,
      ).toBe('#key-1')
    })

    it('accepts one embedded method listed under two relationships', () => {
      const embedded = method(`${did}#key-1`)
      expect(findVerificationMethod({ id: did, authentication: [embedded], assertionMethod: [embedded] }, `${did}#key-1`, ['assertionMethod'])?.id).toBe(
        `${did}#key-1`,
      )
    })

    it('refuses documents that define a key twice, refer to an undefined key, or list a foreign key, whatever key is asked for', () => {
      const refusals: Array<[Record<string, unknown>, string]> = [
        [{ verificationMethod: [method(`${did}#key-1`), method('key-1')] }, 'lists key key-1 twice'],
        [
          { verificationMethod: [method(`${did}#key-1`)], authentication: [method(`${did}#key-1`, { publicKeyJwk: { ...jwk, x: 'other' } })] },
          `lists key ${did}#key-1 twice`,
        ],
        [{ verificationMethod: [method(`${did}#key-1`)], assertionMethod: ['#key-2'] }, 'lists a key under assertionMethod that it does not define (key-2)'],
        [
          { verificationMethod: [method(`${did}#key-1`)], capabilityInvocation: ['did:web:other.example#key-1'] },
          'lists a key under capabilityInvocation that it does not define (a key of another DID)',
        ],
        [
          { verificationMethod: [method(`${did}#key-1`), method('did:web:other.example#key-1')] },
          'lists key did:web:other.example#key-1, which belongs to another DID',
        ],
        [
          { verificationMethod: [method(`${did}#key-1`), method(`${did}#key-2`, { controller: 'did:web:other.example' })] },
          `lists key ${did}#key-2 controlled by another DID (did:web:other.example)`,
        ],
      ]
      for (const [document, reason] of refusals) {
        for (const mode of ['when-listed', 'strict'] as const) {
          expect(() => findVerificationMethod({ id: did, ...document }, `${did}#key-1`, ['capabilityInvocation'], mode)).toThrow(
            `the DID document of ${did} ${reason}`,
          )
        }
      }
    })
  })
})
