import { describe, expect, it } from 'vitest'
import { testClock } from '../../test/support/context.ts'
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

  it('never caches a failure', async () => {
    let status = 500
    const resolver = createDidResolver({ clock: testClock(), http: async () => ({ status, json: status === 200 ? document : {} }) })
    await expect(resolver.resolve(did)).rejects.toThrow(/could not be resolved \(status 500\)/)
    status = 200
    await expect(resolver.resolve(did)).resolves.toEqual(document)
  })

  it('refuses plain HTTP for a host that is not loopback, before any request', async () => {
    let called = false
    const resolver = createDidResolver({ clock: testClock(), allowInsecureLoopback: true, http: async ({ url }) => ((called = url.protocol === 'http:'), { status: 200, json: document }) })
    await resolver.resolve(did)
    expect(called).toBe(false)
  })

  it('finds a key only under the relationships asked for, by absolute or relative id', () => {
    expect(findVerificationMethod(document, `${did}#key-1`, ['capabilityInvocation'])?.id).toBe(`${did}#key-1`)
    expect(findVerificationMethod(document, `${did}#key-1`, ['assertionMethod'])?.id).toBe(`${did}#key-1`)
    expect(findVerificationMethod(document, `${did}#key-1`, ['authentication'])).toBeUndefined()
    expect(findVerificationMethod(document, `${did}#key-2`, ['capabilityInvocation'])).toBeUndefined()
  })
})
