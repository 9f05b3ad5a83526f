import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { testClock } from '../../test/support/context.ts'
import { fromRoot } from '../paths.ts'
import { verifyCredential } from './credentials.ts'
import { createDidResolver } from './did-resolver.ts'
import { loadKeyFile } from './keys.ts'

/** The development authority in seeds/authority and the credential it issued to the seed participant. */
describe('seed development authority', () => {
  const document = JSON.parse(readFileSync(fromRoot('seeds/authority/did.json'), 'utf8'))
  const credential = readFileSync(fromRoot('seeds/authority/issued/seed-participant-membership.jwt'), 'utf8').trim()
  const seedParticipant = 'did:web:127.0.0.1%3A8181'

  it('publishes the key its private key file holds', async () => {
    const key = await loadKeyFile(fromRoot('seeds/authority/private-key.jwk'))
    expect(document.id).toBe('did:web:127.0.0.1%3A8190')
    expect(document.verificationMethod[0].publicKeyJwk.x).toBe(key.publicJwk.x)
  })

  it('issued a membership credential that verifies for the seed participant', async () => {
    const clock = testClock(new Date())
    const resolver = createDidResolver({ clock, http: async () => ({ status: 200, json: document }) })
    const verified = await verifyCredential(credential, {
      resolver,
      clock,
      ownDid: 'did:web:verifier.example',
      holder: seedParticipant,
      trustedIssuers: new Set([document.id]),
    })
    expect(verified).toMatchObject({
      types: ['VerifiableCredential', 'MembershipCredential'],
      issuer: document.id,
      claims: { memberOf: 'passerelle-dev-dataspace', country: 'CA', sector: 'climate' },
    })
  })
})
