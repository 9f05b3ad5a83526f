import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testClock, testIds } from '../../test/support/context.ts'
import { loopbackServer, signRaw, type LoopbackServer } from '../../test/support/identity.ts'
import { ConfigError, resolveConfig } from '../config/config.ts'
import { verifyPresentation, type PresentationCheck } from './credentials.ts'
import type { DataSpace } from './data-spaces.ts'
import { buildDidDocument } from './did-document.ts'
import { createDidResolver } from './did-resolver.ts'
import { issueCredentialJwt } from './issuer.ts'
import { generateSigningKey, type SigningKey } from './keys.ts'

/**
 * Two data spaces, each with its own authority: a member presents credentials of both; each
 * authority may vouch only for the types and the data space configured for it.
 */
describe('two data spaces with their own authorities', () => {
  const clock = testClock(new Date())
  const ids = testIds()
  const servers: LoopbackServer[] = []
  const keys = new Map<string, SigningKey>()
  let europe: string
  let canada: string
  let stranger: string
  let holder: string
  const verifier = 'did:web:verifier.example'

  beforeAll(async () => {
    for (let i = 0; i < 4; i++) {
      const server = await loopbackServer()
      const key = await generateSigningKey(`key-${i}`)
      const document = JSON.stringify(buildDidDocument({ did: server.did, keys: [key] }))
      server.handle((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(document)
      })
      servers.push(server)
      keys.set(server.did, key)
    }
    ;[europe, canada, stranger, holder] = servers.map((server) => server.did) as [string, string, string, string]
  })
  afterAll(async () => Promise.all(servers.map((server) => server.close())))

  const dataSpaces = (): DataSpace[] => [
    { id: 'eu-climate', issuers: [{ did: europe, types: ['MembershipCredential'] }] },
    { id: 'ca-climate', issuers: [{ did: canada, types: ['MembershipCredential', 'ResearchCredential'] }] },
  ]
  const check = (): PresentationCheck => ({
    resolver: createDidResolver({ clock, allowInsecureLoopback: true }),
    clock,
    ownDid: verifier,
    holder,
    trustedIssuers: new Set([europe, canada]),
    trustedForAll: new Set(),
    dataSpaces: dataSpaces(),
  })
  const credential = (issuer: string, type: string, claims: Record<string, unknown>) =>
    issueCredentialJwt({
      issuerDid: issuer,
      key: keys.get(issuer)!,
      subject: holder,
      type,
      claims,
      issuedAt: clock.now(),
      expiresAt: new Date(clock.now().getTime() + 86_400_000),
      ids,
    })
  const present = async (...credentials: string[]) => {
    const iat = Math.floor(clock.now().getTime() / 1000)
    const key = keys.get(holder)!
    const vp = await signRaw(
      { iss: holder, aud: verifier, iat, exp: iat + 300, vp: { type: ['VerifiablePresentation'], verifiableCredential: credentials } },
      key,
      { kid: `${holder}#${key.kid}` },
    )
    return verifyPresentation(vp, check())
  }

  it('accepts a membership of each data space, each from its own authority', async () => {
    const verified = await present(
      await credential(europe, 'MembershipCredential', { memberOf: 'eu-climate' }),
      await credential(canada, 'MembershipCredential', { memberOf: 'ca-climate' }),
    )
    expect(verified.map((c) => [c.issuer, c.claims.memberOf])).toEqual([
      [europe, 'eu-climate'],
      [canada, 'ca-climate'],
    ])
  })

  it("refuses an authority's credential for another data space, naming both", async () => {
    await expect(present(await credential(europe, 'MembershipCredential', { memberOf: 'ca-climate' }))).rejects.toThrow(
      `credential issuer ${europe} is not an authority of data space "ca-climate" (it is one of eu-climate)`,
    )
  })

  it('refuses a credential type its authority may not issue, and an issuer outside every list', async () => {
    await expect(present(await credential(europe, 'ResearchCredential', {}))).rejects.toThrow(
      `credential issuer ${europe} may issue only MembershipCredential (data space eu-climate), not ResearchCredential`,
    )
    await expect(present(await credential(stranger, 'MembershipCredential', { memberOf: 'eu-climate' }))).rejects.toThrow(
      `credential issuer ${stranger} is not trusted`,
    )
  })

  it('refuses a configuration that lists a data space twice or an issuer without types', () => {
    const configure = (dataSpaces: unknown) => () =>
      resolveConfig({ participant: { id: 'did:web:participant.example', name: 'participant' }, identity: { dataSpaces } }, '/tmp/participant', { env: {} })
    expect(configure([{ id: 'eu-climate', issuers: [{ did: europe, types: ['MembershipCredential'] }] }])).not.toThrow()
    expect(
      configure([
        { id: 'eu-climate', issuers: [{ did: europe, types: ['MembershipCredential'] }] },
        { id: 'eu-climate', issuers: [{ did: canada, types: ['MembershipCredential'] }] },
      ]),
    ).toThrow(/a data space id is listed twice/)
    expect(configure([{ id: 'eu-climate', issuers: [{ did: europe, types: [] }] }])).toThrow(ConfigError)
  })
})
