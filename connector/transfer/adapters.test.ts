import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testConfig, testContext } from '../../test/support/context.ts'
import { createTestStore, dialects } from '../../test/support/stores.ts'
import { fromRoot } from '../paths.ts'
import type { Store } from '../store/store.ts'
import { createRegistry } from '../../policies/index.ts'
import { createCatalog } from '../catalog/routes.ts'
import { catalogDistributions, enginePolicyUsage, storedAgreements } from './adapters.ts'
import { agreement } from '../../test/support/transfer.ts'

const body = (constraint: unknown[]) => ({
  '@id': 'urn:agreement:x',
  '@type': 'Agreement',
  target: 'urn:dataset:d',
  assigner: 'did:web:p',
  assignee: 'did:web:c',
  timestamp: '2026-11-01T00:00:00Z',
  permission: [{ action: 'use', constraint }],
})

describe('the policy engine as the transfer usage policy', () => {
  const limited = agreement('urn:agreement:x', {
    assigner: 'did:web:p',
    assignee: 'did:web:c',
    target: 'urn:dataset:d',
    policy: body([
      { leftOperand: 'count', operator: 'lteq', rightOperand: 2 },
      { leftOperand: 'dateTime', operator: 'lt', rightOperand: { '@value': '2026-12-01T00:00:00Z', '@type': 'xsd:dateTime' } },
    ]),
  })
  const check = (scope: 'transfer' | 'monitor', accessCount: number, now = '2026-11-28T00:00:00Z') =>
    enginePolicyUsage.check({ agreement: limited, scope, requester: 'did:web:c', now: new Date(now), accessCount })

  it('allows accesses up to the count and refuses the next one with the reason', () => {
    expect(check('transfer', 0).allowed).toBe(true)
    expect(check('transfer', 1).allowed).toBe(true)
    const third = check('transfer', 2)
    expect(third.allowed).toBe(false)
    expect(third.reason).toContain('number of accesses')
  })

  it('refuses at the monitor once the end date has passed', () => {
    expect(check('monitor', 1).allowed).toBe(true)
    const late = check('monitor', 1, '2026-12-02T00:00:00Z')
    expect(late.allowed).toBe(false)
    expect(late.reason).toContain('2026-12-01')
  })

  it('refuses a transfer of another dataset than the agreement covers', () => {
    const other = enginePolicyUsage.check({
      agreement: { ...limited, target: 'urn:dataset:other' },
      scope: 'transfer',
      requester: 'did:web:c',
      now: new Date('2026-11-28T00:00:00Z'),
      accessCount: 0,
    })
    expect(other.allowed).toBe(false)
  })

  it("evaluates with the stewards' registry the agreement carries, and names the offer in refusals", () => {
    const project = agreement('urn:agreement:p', {
      assigner: 'did:web:p',
      assignee: 'did:web:c',
      target: 'urn:dataset:d',
      offerId: 'arctic-project-only',
      policy: body([
        { leftOperand: 'project', operator: 'eq', rightOperand: 'arctic-ice' },
        { leftOperand: 'count', operator: 'lteq', rightOperand: 1 },
      ]),
    })
    const registry = createRegistry([{ name: 'project', dataType: 'string', values: ['arctic-ice'], scopes: ['negotiation'] }])
    const at = (a: typeof project, accessCount: number) =>
      enginePolicyUsage.check({ agreement: a, scope: 'transfer', requester: 'did:web:c', now: new Date('2026-11-28T00:00:00Z'), accessCount })
    // Without the registry the operand is unknown: unknown means deny.
    expect(at(project, 0).allowed).toBe(false)
    // With it, the negotiation-time operand was settled by the negotiation; the count still holds.
    const withRegistry = { ...project, registry }
    expect(at(withRegistry, 0)).toMatchObject({ allowed: true })
    const refused = at(withRegistry, 1)
    expect(refused.allowed).toBe(false)
    expect(refused.reason).toContain('agreement urn:agreement:p')
    expect(refused.reason).toContain('arctic-project-only')
  })

  it('refuses an agreement whose policy cannot be read (unknown means deny)', () => {
    const broken = enginePolicyUsage.check({
      agreement: agreement('urn:agreement:y', { policy: 'not a policy' }),
      scope: 'transfer',
      requester: 'did:web:c',
      now: new Date(),
      accessCount: 0,
    })
    expect(broken.allowed).toBe(false)
  })
})

describe.each(dialects)('agreements stored by the negotiation area, on %s', (dialect) => {
  let store: Store
  beforeAll(async () => {
    store = await createTestStore(dialect)
    const { negotiations, agreements } = store.tables
    const negotiation = (id: string, role: 'provider' | 'consumer', state: string) => ({
      id,
      role,
      providerPid: id,
      consumerPid: id,
      state,
      counterpartyId: role === 'consumer' ? 'did:web:p' : 'did:web:c',
      counterpartyAddress: 'http://p.test/dsp',
      datasetId: 'urn:dataset:d',
      offerId: 'urn:offer:1',
      offer: {},
      agreementId: null,
      mode: 'auto' as const,
      pending: null,
      reason: null,
      createdAt: 1,
      updatedAt: 1,
      version: 1,
    })
    await store.db
      .insert(negotiations)
      .values([
        negotiation('urn:uuid:n1', 'consumer', 'FINALIZED'),
        negotiation('urn:uuid:n2', 'consumer', 'AGREED'),
        negotiation('urn:uuid:n3', 'provider', 'FINALIZED'),
      ])
    const row = (id: string, negotiationId: string, role: 'provider' | 'consumer') => ({
      id,
      negotiationId,
      role,
      datasetId: 'urn:dataset:d',
      assigner: 'did:web:p',
      assignee: 'did:web:c',
      body: body([]),
      signedAt: Date.parse('2026-11-01T00:00:00Z'),
    })
    await store.db
      .insert(agreements)
      .values([
        row('urn:agreement:1', 'urn:uuid:n1', 'consumer'),
        row('urn:agreement:2', 'urn:uuid:n2', 'consumer'),
        row('urn:agreement:3', 'urn:uuid:n3', 'provider'),
      ])
  })
  afterAll(() => store?.close())

  it('reads an agreement with the state of its negotiation, the offer it came from and the registry to evaluate it with', async () => {
    const registry = createRegistry()
    const lookup = storedAgreements(store, async () => registry)
    const found = await lookup.find('urn:agreement:1')
    expect(found).toMatchObject({
      id: 'urn:agreement:1',
      state: 'FINALIZED',
      assigner: 'did:web:p',
      assignee: 'did:web:c',
      target: 'urn:dataset:d',
      offerId: 'urn:offer:1',
    })
    expect(found?.registry).toBe(registry)
    expect((await lookup.find('urn:agreement:2'))?.state).toBe('AGREED')
    expect(await lookup.find('urn:agreement:nope')).toBeUndefined()
  })

  it('names the provider only for finalized agreements where we are the consumer', async () => {
    const lookup = storedAgreements(store)
    expect(await lookup.providerOf('urn:agreement:1')).toEqual({ providerId: 'did:web:p', providerAddress: 'http://p.test/dsp', datasetId: 'urn:dataset:d' })
    expect(await lookup.providerOf('urn:agreement:2')).toBeUndefined()
    expect(await lookup.providerOf('urn:agreement:3')).toBeUndefined()
  })
})

describe('catalog distributions as data sources', () => {
  let store: Store
  beforeAll(async () => {
    store = await createTestStore('sqlite')
  })
  afterAll(() => store?.close())

  it('resolves a seed dataset to its file under the participant folder, and an unknown one to nothing', async () => {
    const ctx = testContext(store, { config: testConfig({}, fromRoot('seeds')) })
    const sources = catalogDistributions(ctx, (await createCatalog(ctx)).service)
    expect(await sources.resolve('urn:uuid:0f3cee7e-e077-4be0-9365-3a791567f70e')).toEqual({
      kind: 'file',
      root: fromRoot('seeds'),
      path: 'files/arctic-sea-ice-extent-monthly-2015-2024.csv',
      files: {
        root: fromRoot('seeds/files'),
        private: expect.arrayContaining([{ path: fromRoot('seeds/identity/private-key.jwk'), what: 'a private identity key' }]),
      },
      mediaType: 'text/csv',
    })
    expect(await sources.resolve('urn:uuid:unknown')).toBeUndefined()
  })
})
