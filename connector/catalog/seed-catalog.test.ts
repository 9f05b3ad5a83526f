import { cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { emptyFilter } from '../../catalog/filter.ts'
import { generatedDataset } from '../../test/support/catalog-fixtures.ts'
import { testClock, testConfig } from '../../test/support/context.ts'
import { expectDspValid } from '../../test/support/dsp-schemas.ts'
import { createTestStore } from '../../test/support/stores.ts'
import { fromRoot } from '../paths.ts'
import type { Store } from '../store/store.ts'
import { silentLogger } from '../telemetry/logger.ts'
import { createCatalogService, type CatalogService } from './catalog-service.ts'

/** The seed participant's catalog with the real policy engine and the seed policy files. */
const hiddenId = 'urn:uuid:d9c7c33d-9423-4f98-9122-8c84794feb94'
const stranger = { participantId: 'did:web:stranger.example', credentials: [] }
const member = {
  participantId: 'did:web:member.example',
  credentials: [
    { types: ['VerifiableCredential', 'MembershipCredential'], issuer: 'did:web:authority.example', claims: { membership: 'active', status: 'active' } },
  ],
}

describe('seed catalog with the seed policies', () => {
  let store: Store
  let root: string
  let service: CatalogService
  beforeAll(async () => {
    store = await createTestStore('sqlite')
    root = mkdtempSync(join(tmpdir(), 'seed-catalog-'))
    for (const dir of ['datasets', 'files', 'policies']) cpSync(fromRoot('seeds', dir), join(root, dir), { recursive: true })
    service = await createCatalogService({ config: testConfig({}, root), store, clock: testClock(), logger: silentLogger })
  })
  afterAll(async () => {
    await store?.close()
    rmSync(root, { recursive: true, force: true })
  })

  const page = (requester: typeof member | typeof stranger) =>
    service.catalog.page({ requester, now: new Date('2026-06-01T00:00:00Z'), filter: emptyFilter, offset: 0, limit: 100 })

  it('publishes every seed dataset with the offers the policy engine compiled, valid DSP', async () => {
    expect(service.fileErrors()).toEqual([])
    const body = JSON.parse((await page(member)).body)
    expectDspValid('catalog/catalog-schema.json', body)
    expect(body.dataset).toHaveLength(5)
    for (const dataset of body.dataset) for (const offer of dataset.hasPolicy) expect(offer['@id']).toMatch(/^urn:uuid:/)
  })

  it('publishes offers that name the participant as their assigner (an ODRL Offer has one)', async () => {
    const body = JSON.parse((await page(member)).body)
    const offers = body.dataset.flatMap((d: { hasPolicy: Array<{ assigner?: unknown }> }) => d.hasPolicy)
    expect(offers.length).toBeGreaterThan(0)
    for (const offer of offers) expect(offer.assigner).toBe(testConfig({}, root).participant.id)
  })

  it('hides the members-only dataset from a stranger and shows it to a member', async () => {
    const ids = (p: Awaited<ReturnType<typeof page>>) => JSON.parse(p.body).dataset.map((d: { '@id': string }) => d['@id'])
    expect((await page(stranger)).total).toBe(4)
    expect(ids(await page(stranger))).not.toContain(hiddenId)
    expect(ids(await page(member))).toContain(hiddenId)
    expect(await service.credentialTypes()).toEqual(['MembershipCredential'])
  })

  it('answers each dataset as a valid DSP Dataset', async () => {
    for (const entry of await service.catalog.rows.page({ hiddenGroups: [], filter: emptyFilter, offset: 0, limit: 100 }))
      expectDspValid('catalog/dataset-schema.json', JSON.parse((await service.catalog.dataset(entry.id, member, new Date()))!))
  })

  it('unpublishes what a removed policy governed, and publishes it again when the policy is back', async () => {
    const api = generatedDataset(5, { policies: ['research-only'] })
    await service.create({ input: api })
    const policy = join(root, 'policies/research-only.yaml')
    const text = readFileSync(policy, 'utf8')
    unlinkSync(policy)
    await service.reloadPolicies()
    expect((await service.catalog.get(api.id))?.published).toBe(false)
    expect((await service.catalog.get('urn:uuid:37b4f568-20c5-486a-abff-1eaa42633253'))?.published).toBe(false)
    expect((await service.get(api.id)).published).toBe(false)
    writeFileSync(policy, text)
    await service.reloadPolicies()
    expect(await service.catalog.get(api.id)).toMatchObject({ source: { kind: 'api' }, published: true })
    expect((await service.catalog.get('urn:uuid:37b4f568-20c5-486a-abff-1eaa42633253'))?.published).toBe(true)
  })
})
