import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testIds } from '../support/context.ts'
import { freePort, spawnCli, startCliServer } from '../support/processes.ts'
import { createTestStore } from '../support/stores.ts'
import { systemClock } from '../../connector/clock.ts'
import type { Store } from '../../connector/store/store.ts'
import { startParticipant, type TestParticipant } from '../support/identity.ts'
import { credentialProfiles } from '../../connector/identity/credential-profiles.ts'

/**
 * The development authority as its own process (the built CLI): created with `credentials authority
 * init`, serving its DID document with `credentials authority serve`, issuing with `credentials issue`;
 * a provider verifies a consumer's credential by resolving the authority over HTTP. In both DCP
 * profiles (VC data model 1.1 and 2.0).
 */
describe.each(credentialProfiles)('development authority process (%s)', (profile) => {
  const ids = testIds()
  let dir: string
  let port: number
  let serving: ReturnType<typeof spawnCli>
  const stores: Store[] = []
  let provider: TestParticipant
  let consumer: TestParticipant

  async function run(args: string[]) {
    const { output, exited } = spawnCli({ args, cwd: dir })
    const code = await exited
    return { code, output }
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'passerelle-authority-'))
    port = await freePort()
    // Each DCP profile: the authority issues its credentials and status lists in it.
    expect((await run(['credentials', 'authority', 'init', 'authority', '--port', String(port), '--profile', profile])).code).toBe(0)
    serving = await startCliServer({
      args: ['credentials', 'authority', 'serve', 'authority'],
      cwd: dir,
      readyUrl: `http://127.0.0.1:${port}/.well-known/did.json`,
    })
    stores.push(await createTestStore('sqlite'), await createTestStore('sqlite'))
    const authorityDid = `did:web:127.0.0.1%3A${port}`
    // Status lists asked again at every check (answered 304 while unchanged): a revocation counts at once.
    provider = await startParticipant({ store: stores[0]!, clock: systemClock, ids, trustedIssuers: [authorityDid], identity: { statusList: { maxAgeMs: 0 } } })
    consumer = await startParticipant({ store: stores[1]!, clock: systemClock, ids })
  }, 180_000)
  afterAll(async () => {
    if (serving) {
      try {
        process.kill(-serving.child.pid!, 'SIGTERM')
      } catch {
        // already gone
      }
      await serving.exited
    }
    await Promise.all([provider?.close(), consumer?.close()])
    await Promise.all(stores.map((s) => s.close()))
    rmSync(dir, { recursive: true, force: true })
  })

  it('issues a credential that a provider verifies against the served authority document', async () => {
    const issued = await run([
      'credentials',
      'issue',
      '--issuer',
      'authority/private-key.jwk',
      '--subject',
      consumer.did,
      '--type',
      'MembershipCredential',
      '--claim',
      'country=CA',
    ])
    expect(issued.code).toBe(0)
    // 1.1 keeps the credential in the vc claim; 2.0 is the payload itself.
    expect(decodeJwt(issued.output.join('').trim()).vc === undefined).toBe(profile === 'vc20-bssl/jwt')
    await consumer.identity.credentials.add(issued.output.join('').trim())
    const authorization = await consumer.identity.tokenIssuer.authorizationFor({ participantId: provider.did, dspUrl: provider.url }, ['MembershipCredential'])
    const requester = await provider.identity.authenticator.authenticate({ authorization, credentialTypes: ['MembershipCredential'] })
    expect(requester.credentials).toEqual([
      {
        types: ['VerifiableCredential', 'MembershipCredential'],
        issuer: `did:web:127.0.0.1%3A${port}`,
        claims: { country: 'CA' },
        expiresAt: expect.any(Number),
      },
    ])
  })

  it('serves its status lists with an ETag, and a credential revoked with `passerelle authority revoke` is refused', async () => {
    const list = await fetch(`http://127.0.0.1:${port}/status/revocation`)
    expect(list.status).toBe(200)
    expect(list.headers.get('content-type')).toBe('application/vc+jwt')
    const etag = list.headers.get('etag')!
    expect((await fetch(`http://127.0.0.1:${port}/status/revocation`, { headers: { 'if-none-match': etag } })).status).toBe(304)

    const authorize = async () =>
      provider.identity.authenticator.authenticate({
        authorization: await consumer.identity.tokenIssuer.authorizationFor({ participantId: provider.did, dspUrl: provider.url }, ['MembershipCredential']),
        credentialTypes: ['MembershipCredential'],
      })
    expect((await authorize()).credentials).toHaveLength(1)
    const revoked = await run(['authority', 'revoke', 'authority', '--subject', consumer.did])
    expect(revoked.code).toBe(0)
    expect(revoked.output.join('')).toMatch(/^revoked urn:uuid:/)
    const refusal = await authorize().then(
      () => 'accepted',
      (e: Error) => e.message,
    )
    expect(refusal).toMatch(new RegExp(`^credential urn:uuid:\\S+ is revoked \\(status list http://127\\.0\\.0\\.1:${port}/status/revocation, index \\d+\\)$`))
  })

  it('answers 404 for a registry when its folder has none', async () => {
    const response = await fetch(`http://127.0.0.1:${port}/registry.json`)
    expect(response.status).toBe(404)
  })

  it('stops cleanly on SIGTERM', async () => {
    process.kill(-serving.child.pid!, 'SIGTERM')
    expect(await serving.exited).toBe(0)
  })
})
