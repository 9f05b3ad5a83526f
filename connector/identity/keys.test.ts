import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { exportJWK, generateKeyPair } from 'jose'
import { afterEach, describe, expect, it } from 'vitest'
import { ConfigError } from '../config/config.ts'
import { createKeyFile, identityKeyVariable, importPrivateJwk, loadKeyFile, loadKeyRing } from './keys.ts'
import { buildDidDocument } from './did-document.ts'
import { createDidResolver } from './did-resolver.ts'
import { signJwt, verifyDidJwt } from './jwt.ts'
import { testClock } from '../../test/support/context.ts'
import { createParticipantKey } from './participant-key.ts'

describe('identity keys', () => {
  let dir: string
  const fresh = () => (dir = mkdtempSync(join(tmpdir(), 'passerelle-keys-')))
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it('creates an Ed25519 key file readable by its owner only, and loads it', async () => {
    fresh()
    const path = join(dir, 'identity', 'private-key.jwk')
    const stored = await createKeyFile(path)
    expect(statSync(path).mode & 0o777).toBe(0o600)
    expect(stored).toMatchObject({ kty: 'OKP', crv: 'Ed25519', kid: expect.stringMatching(/^key-/) })
    const key = await loadKeyFile(path)
    expect(key).toMatchObject({ kid: stored.kid, alg: 'EdDSA', publicJwk: { kty: 'OKP', crv: 'Ed25519', x: stored.x } })
    expect(key.publicJwk).not.toHaveProperty('d')
  })

  it('never overwrites an existing key file', async () => {
    fresh()
    const path = join(dir, 'private-key.jwk')
    await createKeyFile(path)
    const before = readFileSync(path, 'utf8')
    await expect(createKeyFile(path)).rejects.toThrow(/EEXIST/)
    expect(readFileSync(path, 'utf8')).toBe(before)
  })

  it('refuses a key file that group or others can read, saying how to fix it', async () => {
    fresh()
    const path = join(dir, 'private-key.jwk')
    await createKeyFile(path)
    chmodSync(path, 0o644)
    const error = await loadKeyFile(path).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as Error).message).toMatch(/readable by group or others \(mode 644\); run: chmod 600/)
  })

  it('loads a key marked devOnly (published on purpose, like the seeds) whatever its file mode', async () => {
    fresh()
    const path = join(dir, 'seed.jwk')
    const stored = await createKeyFile(path)
    writeFileSync(path, JSON.stringify({ ...stored, devOnly: true }))
    chmodSync(path, 0o644)
    await expect(loadKeyFile(path)).resolves.toMatchObject({ kid: stored.kid })
  })

  it('refuses a file that is not a private JWK', async () => {
    fresh()
    const path = join(dir, 'bad.jwk')
    writeFileSync(path, JSON.stringify({ kty: 'OKP', crv: 'Ed25519', x: 'abc' }), { mode: 0o600 })
    await expect(loadKeyFile(path)).rejects.toThrow(/not a private Ed25519 or P-256 JWK \(d:/)
  })

  it('loads the key file that participant initialisation creates', async () => {
    fresh()
    const { fileName, keyId } = await createParticipantKey(join(dir, 'identity'))
    const key = await loadKeyFile(join(dir, 'identity', fileName))
    expect(key.kid).toBe(keyId)
  })

  it('takes keys from the environment variable first, then the files (rotation: newest signs, all published)', async () => {
    fresh()
    await createKeyFile(join(dir, 'old.jwk'), 'key-old')
    const { privateKey } = await generateKeyPair('Ed25519', { extractable: true })
    const envKey = { ...(await exportJWK(privateKey)), kid: 'key-new' }
    const ring = await loadKeyRing({ root: dir, keyFiles: ['old.jwk'], env: { [identityKeyVariable]: JSON.stringify(envKey) } })
    expect(ring.signing.kid).toBe('key-new')
    expect(ring.all.map((k) => k.kid)).toEqual(['key-new', 'key-old'])
  })

  it('says so when there is no key at all, or two keys share an id', async () => {
    fresh()
    await expect(loadKeyRing({ root: dir, keyFiles: [], env: {} })).rejects.toThrow(/no identity key/)
    await createKeyFile(join(dir, 'a.jwk'), 'same')
    await createKeyFile(join(dir, 'b.jwk'), 'same')
    await expect(loadKeyRing({ root: dir, keyFiles: ['a.jwk', 'b.jwk'], env: {} })).rejects.toThrow(/two keys have the id same/)
    await expect(loadKeyRing({ root: dir, keyFiles: [], env: { [identityKeyVariable]: '{not json' } })).rejects.toThrow(/is not JSON/)
  })

  it('signs with a P-256 key as ES256, verifiable through the DID document', async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true })
    const key = await importPrivateJwk({ ...(await exportJWK(privateKey)), kid: 'key-ec' }, 'test key')
    expect(key.alg).toBe('ES256')
    const did = 'did:web:ec.example'
    const clock = testClock()
    const document = buildDidDocument({ did, keys: [key] })
    const resolver = createDidResolver({ clock, http: async () => ({ status: 200, json: document }) })
    const iat = Math.floor(clock.now().getTime() / 1000)
    const token = await signJwt({ iss: did, sub: did, iat, exp: iat + 60 }, key, did)
    const verified = await verifyDidJwt(token, { resolver, clock, relationships: ['capabilityInvocation'], what: 'ID token' })
    expect(verified).toMatchObject({ did, kid: `${did}#key-ec` })
  })
})
