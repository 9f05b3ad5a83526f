import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testClock, testConfig, testIds } from '../../test/support/context.ts'
import { createTestStore } from '../../test/support/stores.ts'
import { ConfigError } from '../config/config.ts'
import type { Store } from '../store/store.ts'
import { createLogger } from '../telemetry/logger.ts'
import { createIdentity } from './identity.ts'
import { issueCredentialJwt } from './issuer.ts'
import { generateSigningKey, type SigningKey } from './keys.ts'

/** Credentials held from files named in the configuration (`identity.credentialFiles`), as seeds do. */
describe('credentials held from files', () => {
  const clock = testClock()
  const ids = testIds()
  const did = 'did:web:127.0.0.1%3A8181'
  let dir: string
  let store: Store
  let key: SigningKey
  let authority: SigningKey

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'passerelle-credential-files-'))
    store = await createTestStore('sqlite')
    key = await generateSigningKey('key-1')
    authority = await generateSigningKey('authority-key-1')
    const issue = (subject: string, type: string) =>
      issueCredentialJwt({ issuerDid: 'did:web:authority.example', key: authority, subject, type, issuedAt: clock.now(), ids })
    writeFileSync(join(dir, 'membership.jwt'), `${await issue(did, 'MembershipCredential')}\n`)
    writeFileSync(join(dir, 'other.jwt'), await issue('did:web:someone.else', 'OtherCredential'))
    writeFileSync(join(dir, 'broken.jwt'), 'not a credential')
  })
  afterAll(async () => {
    await store?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const identityWith = (files: string[], write?: (line: string) => void) =>
    createIdentity(
      { config: testConfig({ identity: { credentialFiles: files } }, dir), store, clock, ids, logger: createLogger({ write: write ?? (() => {}) }) },
      { keys: { signing: key, all: [key] } },
    )

  it('holds a credential about this participant, lists it, and offers its type in access tokens', async () => {
    const identity = await identityWith(['membership.jwt'])
    const list = await identity.credentials.list()
    expect(list).toEqual([expect.objectContaining({ id: 'file:membership.jwt', types: ['VerifiableCredential', 'MembershipCredential'], subject: did })])
    const authorization = await identity.tokenIssuer.authorizationFor({ participantId: 'did:web:peer.example', dspUrl: 'https://peer.example/dsp' })
    const accessToken = decodeJwt(authorization.slice('Bearer '.length)).token as string
    expect(decodeJwt(accessToken).scope).toBe('org.eclipse.dspace.dcp.vc.type:MembershipCredential:read')
    await expect(identity.credentials.remove('file:membership.jwt')).rejects.toThrow(/held from a file/)
  })

  it('skips, with a warning, a credential file about another participant', async () => {
    const lines: string[] = []
    const identity = await identityWith(['other.jwt'], (line) => lines.push(line))
    expect(await identity.credentials.list()).toEqual([])
    expect(lines.join('\n')).toMatch(/about another participant; not held/)
  })

  it('stops start-up with one line naming the key for a file that is not a credential or is missing', async () => {
    await expect(identityWith(['broken.jwt'])).rejects.toThrow(ConfigError)
    await expect(identityWith(['broken.jwt'])).rejects.toThrow(/identity.credentialFiles: .*broken.jwt: credential is not a well-formed JWT/)
    await expect(identityWith(['missing.jwt'])).rejects.toThrow(/identity.credentialFiles: cannot read .*missing.jwt: ENOENT/)
  })
})

describe('identity on the context at start-up', () => {
  it('adds the identity to a context, and stops with a ConfigError naming the key file when it is missing', async () => {
    const { withIdentity } = await import('./identity.ts')
    const store = await createTestStore('sqlite')
    const dir = mkdtempSync(join(tmpdir(), 'passerelle-with-identity-'))
    try {
      const base = { config: testConfig({}, dir), store, clock: testClock(), ids: testIds(), logger: createLogger({ write: () => {} }) }
      await expect(withIdentity(base)).rejects.toThrow(/cannot read identity key file .*identity\/private-key.jwk: ENOENT/)
      const { createKeyFile } = await import('./keys.ts')
      await createKeyFile(join(dir, 'identity', 'private-key.jwk'))
      const ctx = await withIdentity(base)
      expect(ctx.identity.didDocument?.id).toBe('did:web:127.0.0.1%3A8181')
      expect(ctx.store).toBe(store)
    } finally {
      await store.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
