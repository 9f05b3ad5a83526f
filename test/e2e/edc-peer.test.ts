import { chmodSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { edcCredential, edcIdToken, edcPresentation, edcPresentationResponse, startEdcParty, type EdcParty } from '../support/edc-fixtures.ts'
import { copyParticipant, freePort, startConnectorProcess, type ConnectorProcess, type ParticipantFolder } from '../support/processes.ts'

/**
 * A connector process (the seed participant) asked for its catalog by a peer shaped like Eclipse EDC
 * with IdentityHub: its DID document lists keys under `verificationMethod` only, its ID token comes
 * bare in the Authorization header, its credential service answers IdentityHub's presentations, and
 * its membership credential comes from an issuer whose document has the same shape.
 */
describe('an Eclipse EDC-shaped peer asking a connector process for its catalog', () => {
  let edc: EdcParty
  let issuer: EdcParty
  let forger: EdcParty
  let provider: ParticipantFolder
  let connector: ConnectorProcess

  beforeAll(async () => {
    edc = await startEdcParty({ alg: 'ES256', port: await freePort() })
    issuer = await startEdcParty({ alg: 'Ed25519', credentialService: false, port: await freePort() })
    // Its document lists its key as controlled by another DID.
    forger = await startEdcParty({
      port: await freePort(),
      edit: (d) => ({ ...d, verificationMethod: (d.verificationMethod as object[]).map((m) => ({ ...m, controller: 'did:web:someone.else' })) }),
    })
    provider = await copyParticipant({
      config: { identity: { mode: 'dcp', keyFiles: ['identity/private-key.jwk'], allowInsecureLoopback: true, trustedIssuers: [issuer.did] } },
    })
    chmodSync(join(provider.dir, 'identity', 'private-key.jwk'), 0o600)
    connector = await startConnectorProcess(provider)
  }, 120_000)
  afterAll(async () => {
    await connector?.stop()
    provider?.remove()
    await Promise.all([edc?.close(), issuer?.close(), forger?.close()])
  })

  const catalogRequest = async (authorization: string) => {
    const response = await fetch(`${provider.url}/dsp/2025-1/catalog/request`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization },
      body: JSON.stringify({ '@context': ['https://w3id.org/dspace/2025/1/context.jsonld'], '@type': 'CatalogRequestMessage' }),
    })
    return { status: response.status, body: (await response.json()) as { dataset?: unknown[] } & Record<string, unknown> }
  }

  let outsider = 0

  it('answers 200 to the EDC ID token; asked with DCP scopes, a credential service without the membership gives the outsider view', async () => {
    edc.respond = () => edcPresentationResponse([])
    const { status, body } = await catalogRequest(await edcIdToken(edc, provider.did, new Date(), ['org.eclipse.dspace.dcp.vc.type:MembershipCredential:read']))
    expect(status).toBe(200)
    outsider = (body.dataset ?? []).length
    expect(outsider).toBeGreaterThan(0)
    const query = edc.queries.at(-1)!
    expect(query.body).toMatchObject({ type: 'PresentationQueryMessage', scope: ['org.eclipse.dspace.dcp.vc.type:MembershipCredential:read'] })
  })

  it('shows the member view once the EDC credential service presents a membership from the trusted EDC-shaped issuer', async () => {
    const vc = await edcCredential(issuer, edc.did, 'MembershipCredential', { membership: { membershipType: 'FullMember' } }, new Date())
    const presentation = await edcPresentation(edc, provider.did, [vc], new Date())
    edc.respond = () => edcPresentationResponse([presentation])
    const { status, body } = await catalogRequest(
      `Bearer ${await edcIdToken(edc, provider.did, new Date(), ['org.eclipse.dspace.dcp.vc.type:MembershipCredential:read'])}`,
    )
    expect(status).toBe(200)
    expect((body.dataset ?? []).length).toBeGreaterThan(outsider)
  })

  it('refuses with 401 a peer whose DID document lists its key as controlled by another DID, and says why', async () => {
    const { status, body } = await catalogRequest(`Bearer ${await edcIdToken(forger, provider.did, new Date())}`)
    expect(status).toBe(401)
    expect(JSON.stringify(body)).toMatch(/controlled by another DID/)
  })
})
