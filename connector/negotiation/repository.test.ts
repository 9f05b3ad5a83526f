import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestStore, dialects } from '../../test/support/stores.ts'
import type { Store } from '../store/store.ts'
import { ConcurrentChange, negotiationRepository, type NegotiationRepository } from './repository.ts'

const row = (id: string) => ({
  id,
  role: 'provider' as const,
  providerPid: id,
  consumerPid: `urn:uuid:consumer-of-${id}`,
  state: 'REQUESTED',
  counterpartyId: 'did:web:consumer.test',
  counterpartyAddress: 'http://consumer.test/dsp',
  datasetId: 'dataset-1',
  offerId: 'offer-1',
  offer: { '@id': 'offer-1', permission: [{ action: 'use' }] },
  agreementId: null,
  mode: 'auto' as const,
  pending: null,
  reason: null,
  createdAt: 1000,
  updatedAt: 1000,
})
const entry = (toState: 'REQUESTED' | 'AGREED' | 'TERMINATED', fromState: 'REQUESTED' | null = null) => ({
  kind: 'test',
  direction: 'local' as const,
  actor: 'test',
  fromState,
  toState,
})

describe.each(dialects)('negotiation repository on %s', (dialect) => {
  let store: Store
  let repo: NegotiationRepository
  beforeAll(async () => {
    store = await createTestStore(dialect)
    repo = negotiationRepository(store)
  })
  afterAll(() => store?.close())

  // Outside a transaction the prepared statements run; inside one (on PostgreSQL) the built queries.
  for (const where of ['on the store handle', 'in a transaction'] as const) {
    const run = <T>(fn: (db: Store['db']) => Promise<T>) => (where === 'in a transaction' ? store.transaction(fn) : fn(store.db))

    it(`saves whole changes with their timeline, and refuses a save from a stale read (${where})`, async () => {
      const id = `urn:uuid:${where.replaceAll(' ', '-')}`
      const created = await run((db) => repo.create(db, row(id), entry('REQUESTED')))
      const saved = await run((db) => repo.save(db, created, { state: 'AGREED', agreementId: 'agreement-1', updatedAt: 2000 }, entry('AGREED', 'REQUESTED')))
      expect(saved).toMatchObject({ state: 'AGREED', version: 2, agreementId: 'agreement-1' })
      await expect(
        run((db) => repo.save(db, created, { state: 'TERMINATED', reason: 'late', updatedAt: 3000 }, entry('TERMINATED', 'REQUESTED'))),
      ).rejects.toBeInstanceOf(ConcurrentChange)
      expect(await repo.find(store.db, id)).toEqual(saved)
      expect((await repo.timeline(store.db, id)).map((e) => [e.seq, e.toState])).toEqual([
        [1, 'REQUESTED'],
        [2, 'AGREED'],
      ])
      expect(await run((db) => repo.findByConsumerPid(db, 'did:web:consumer.test', `urn:uuid:consumer-of-${id}`))).toEqual(saved)
      expect(await repo.findByConsumerPid(store.db, 'did:web:someone-else', `urn:uuid:consumer-of-${id}`)).toBeUndefined()
    })
  }

  it('binds the peer on a save that also changes the state', async () => {
    const id = 'urn:uuid:unbound'
    const created = await repo.create(store.db, { ...row(id), counterpartyId: null }, entry('REQUESTED'))
    const saved = await repo.save(store.db, created, { state: 'AGREED', counterpartyId: 'did:web:late.test', updatedAt: 2000 }, entry('AGREED', 'REQUESTED'))
    expect(await repo.find(store.db, id)).toEqual(saved)
    expect(saved).toMatchObject({ counterpartyId: 'did:web:late.test', state: 'AGREED', version: 2 })
  })

  it('records the provider pid once, never over an existing one', async () => {
    const id = 'urn:uuid:consumer-side'
    await repo.create(store.db, { ...row(id), role: 'consumer', providerPid: null }, entry('REQUESTED'))
    await repo.setProviderPid(store.db, id, 'urn:uuid:first')
    await repo.setProviderPid(store.db, id, 'urn:uuid:second')
    expect((await repo.find(store.db, id))?.providerPid).toBe('urn:uuid:first')
  })
})
