import { rmSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testClock, testConfig, testContext, testIds } from '../../test/support/context.ts'
import { expectDspValid } from '../../test/support/dsp-schemas.ts'
import { createTestStore } from '../../test/support/stores.ts'
import { createApp } from '../http/app.ts'
import { startAuthority, startParticipant, type TestAuthority, type TestParticipant } from '../../test/support/identity.ts'
import { fromRoot } from '../paths.ts'
import type { Store } from '../store/store.ts'
import { loadCatalogPolicies } from './policy-source.ts'
import { createCatalog, createCatalogArea } from './routes.ts'
import { participantFolder } from '../../test/support/catalog.ts'

/**
 * The catalog behind real DCP authentication (did:web, self-issued tokens, verifiable
 * presentations) and the seed policies: who sees the members-only dataset, and the security cases.
 */
const hiddenId = 'urn:uuid:d9c7c33d-9423-4f98-9122-8c84794feb94'
const message = JSON.stringify({ '@context': ['https://w3id.org/dspace/2025/1/context.jsonld'], '@type': 'CatalogRequestMessage', filter: [] })

describe('catalog with DCP authentication', () => {
  const clock = testClock(new Date())
  const ids = testIds()
  const stores: Store[] = []
  let authority: TestAuthority
  let untrusted: TestAuthority
  let provider: TestParticipant
  let member: TestParticipant
  let outsider: TestParticipant
  let impostor: TestParticipant
  let root: string
  let app: ReturnType<typeof createApp>['app']

  beforeAll(async () => {
    const store = async () => {
      const s = await createTestStore('sqlite')
      stores.push(s)
      return s
    }
    authority = await startAuthority(clock, ids)
    untrusted = await startAuthority(clock, ids)
    provider = await startParticipant({ store: await store(), clock, ids, trustedIssuers: [authority.did] })
    member = await startParticipant({ store: await store(), clock, ids })
    outsider = await startParticipant({ store: await store(), clock, ids })
    impostor = await startParticipant({ store: await store(), clock, ids })
    await member.identity.credentials.add(await authority.issue(member.did, 'MembershipCredential', {}, new Date(clock.now().getTime() + 86_400_000)))
    await impostor.identity.credentials.add(await untrusted.issue(impostor.did, 'MembershipCredential'))
    root = participantFolder()
    const config = testConfig({ participant: { id: provider.did, name: 'Provider' } }, root)
    const ctx = testContext(provider.store, { config, clock, ids, identity: provider.identity })
    app = createApp(ctx, [createCatalogArea(await createCatalog(ctx, { policies: await loadCatalogPolicies(fromRoot('seeds/policies')) }))]).app
  })
  afterAll(async () => {
    await Promise.all([provider?.close(), member?.close(), outsider?.close(), impostor?.close(), authority?.close(), untrusted?.close()])
    for (const s of stores) await s.close()
    rmSync(root, { recursive: true, force: true })
  })

  const tokenFor = (who: TestParticipant, audience = provider.did) =>
    who.identity.tokenIssuer.authorizationFor({ participantId: audience, dspUrl: `${provider.url}/dsp/2025-1` }, ['MembershipCredential'])
  const catalog = (authorization: string) =>
    app.request('/dsp/2025-1/catalog/request', { method: 'POST', headers: { authorization, 'content-type': 'application/json' }, body: message })
  const ids_ = async (response: Response) => ((await response.json()) as { dataset: Array<{ '@id': string }> }).dataset.map((d) => d['@id'])

  it('shows the members-only dataset to a member holding a trusted MembershipCredential', async () => {
    const response = await catalog(await tokenFor(member))
    expect(response.status).toBe(200)
    expect(await ids_(response)).toContain(hiddenId)
  })

  it('hides it from a participant without the credential, in the list and in a direct read', async () => {
    const response = await catalog(await tokenFor(outsider))
    expect(response.status).toBe(200)
    const found = await ids_(response)
    expect(found).toHaveLength(4)
    expect(found).not.toContain(hiddenId)
    const read = await app.request(`/dsp/2025-1/catalog/datasets/${encodeURIComponent(hiddenId)}`, { headers: { authorization: await tokenFor(outsider) } })
    expect(read.status).toBe(404)
    expectDspValid('catalog/catalog-error-schema.json', await read.json())
  })

  it('refuses a replayed token with 401', async () => {
    const token = await tokenFor(member)
    expect((await catalog(token)).status).toBe(200)
    const again = await catalog(token)
    expect(again.status).toBe(401)
    expectDspValid('catalog/catalog-error-schema.json', await again.json())
  })

  it('refuses a token made for another participant with 401', async () => {
    const response = await catalog(await tokenFor(member, outsider.did))
    expect(response.status).toBe(401)
    expectDspValid('catalog/catalog-error-schema.json', await response.json())
  })

  it('refuses a holder of a credential from an untrusted issuer with 401', async () => {
    // The authenticator refuses a presentation with an untrusted issuer's credential outright.
    const response = await catalog(await tokenFor(impostor))
    expect(response.status).toBe(401)
    expectDspValid('catalog/catalog-error-schema.json', await response.json())
  })
})
