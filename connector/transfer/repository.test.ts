import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestStore, dialects } from '../../test/support/stores.ts'
import type { Store } from '../store/store.ts'
import { transferRepository, type NewTransfer } from './repository.ts'
import { transferDay } from '../../test/support/transfer.ts'
import { testClock, testIds } from '../../test/support/context.ts'

const row = (id: string, over: Partial<NewTransfer> = {}): NewTransfer => ({
  id,
  role: 'provider',
  providerPid: id,
  consumerPid: `${id}-consumer`,
  agreementId: 'urn:agreement:1',
  datasetId: 'urn:dataset:weather',
  counterpartyId: 'did:web:consumer.test',
  counterpartyAddress: 'http://consumer.test/dsp',
  format: 'HttpData-PULL',
  state: 'REQUESTED',
  ...over,
})

describe.each(dialects)('transfer repository on %s', (dialect) => {
  let store: Store
  const clock = testClock(transferDay)
  let r: ReturnType<typeof transferRepository>
  beforeAll(async () => {
    store = await createTestStore(dialect)
    r = transferRepository(store, { clock, ids: testIds() })
  })
  afterAll(() => store?.close())

  it('stores a process with its first timeline event, and reads it back unchanged', async () => {
    const address = { '@type': 'DataAddress', endpointType: 'https://w3id.org/idsa/v4.1/HTTP', endpoint: 'http://x' }
    const created = await store.transaction((tx) =>
      r.insert(tx, row('urn:uuid:a', { dataAddress: address }), { cause: 'TransferRequestMessage', actor: 'peer' }),
    )
    expect(created).toMatchObject({
      id: 'urn:uuid:a',
      state: 'REQUESTED',
      dataAddress: address,
      bytesMoved: 0,
      accessCount: 0,
      createdAt: clock.now().getTime(),
    })
    expect(await r.timeline(store.db, 'urn:uuid:a')).toEqual([
      expect.objectContaining({ fromState: null, toState: 'REQUESTED', cause: 'TransferRequestMessage', actor: 'peer' }),
    ])
  })

  it('appends timeline events in order, even within one millisecond', async () => {
    await store.transaction((tx) => r.insert(tx, row('urn:uuid:b'), { cause: 'TransferRequestMessage', actor: 'peer' }))
    for (const [to, cause] of [
      ['STARTED', 'TransferStartMessage'],
      ['SUSPENDED', 'TransferSuspensionMessage'],
      ['STARTED', 'TransferStartMessage'],
      ['TERMINATED', 'TransferTerminationMessage'],
    ] as const) {
      await store.transaction(async (tx) => {
        const current = (await r.lock(tx, 'urn:uuid:b'))!
        await r.setState(
          tx,
          current,
          to,
          { cause, actor: 'local', reason: to === 'TERMINATED' ? 'done' : undefined },
          to === 'TERMINATED' ? { reason: 'done' } : {},
        )
      })
    }
    const events = await r.timeline(store.db, 'urn:uuid:b')
    expect(events.map((e) => `${e.fromState}>${e.toState}`)).toEqual([
      'null>REQUESTED',
      'REQUESTED>STARTED',
      'STARTED>SUSPENDED',
      'SUSPENDED>STARTED',
      'STARTED>TERMINATED',
    ])
    expect(await r.get(store.db, 'urn:uuid:b')).toMatchObject({ state: 'TERMINATED', reason: 'done' })
  })

  it('counts accesses and bytes atomically and records each access', async () => {
    await store.transaction((tx) => r.insert(tx, row('urn:uuid:c', { state: 'STARTED' }), { cause: 'test', actor: 'local' }))
    await Promise.all(
      Array.from({ length: 5 }, () =>
        store.transaction(async (tx) => {
          await r.lock(tx, 'urn:uuid:c')
          await r.grantAccess(tx, 'urn:uuid:c', { bytes: 10, counted: true })
          await r.recordAccess(tx, { transferId: 'urn:uuid:c', requester: 'did:web:consumer.test', range: null, status: 200, bytes: 10, counted: true })
        }),
      ),
    )
    await r.addBytes(store.db, 'urn:uuid:c', 3_000_000_000)
    await r.addBytes(store.db, 'urn:uuid:c', 50)
    expect(await r.get(store.db, 'urn:uuid:c')).toMatchObject({ accessCount: 5, bytesGranted: 50, bytesMoved: 3_000_000_050 })
    expect(await r.accesses(store.db, 'urn:uuid:c')).toHaveLength(5)
  })

  it('settles a download cut short: its bytes move, the unsent part is given back, its count stays', async () => {
    await store.transaction((tx) => r.insert(tx, row('urn:uuid:g', { state: 'COMPLETED' }), { cause: 'test', actor: 'local' }))
    const accessId = await store.transaction(async (tx) => {
      await r.lock(tx, 'urn:uuid:g')
      await r.grantAccess(tx, 'urn:uuid:g', { bytes: 1000, counted: true })
      return r.recordAccess(tx, { transferId: 'urn:uuid:g', requester: 'did:web:consumer.test', range: null, status: 200, bytes: 1000, counted: true })
    })
    await r.finishAccess('urn:uuid:g', { id: accessId, planned: 1000, sent: 400 })
    expect(await r.get(store.db, 'urn:uuid:g')).toMatchObject({ accessCount: 1, bytesGranted: 400, bytesMoved: 400 })
    expect(await r.accesses(store.db, 'urn:uuid:g')).toEqual([expect.objectContaining({ id: accessId, bytes: 400, counted: true, status: 200 })])
  })

  it('finds a provider process by its consumer and consumerPid only for that consumer', async () => {
    await store.transaction((tx) => r.insert(tx, row('urn:uuid:d'), { cause: 'test', actor: 'peer' }))
    expect((await r.findProviderSideByConsumerPid(store.db, 'did:web:consumer.test', 'urn:uuid:d-consumer'))?.id).toBe('urn:uuid:d')
    expect(await r.findProviderSideByConsumerPid(store.db, 'did:web:other.test', 'urn:uuid:d-consumer')).toBeUndefined()
  })

  it('refuses a second process with the same role and consumerPid', async () => {
    await expect(
      store.transaction((tx) => r.insert(tx, row('urn:uuid:e', { consumerPid: 'urn:uuid:d-consumer' }), { cause: 'test', actor: 'peer' })),
    ).rejects.toThrow()
    expect(await r.get(store.db, 'urn:uuid:e')).toBeUndefined()
  })

  it('lists by state and role, newest first', async () => {
    clock.advance(1000)
    await store.transaction((tx) =>
      r.insert(tx, row('urn:uuid:f', { role: 'consumer', consumerPid: 'urn:uuid:f', providerPid: null, state: 'STARTED' }), { cause: 'test', actor: 'local' }),
    )
    const started = await r.list(store.db, { state: 'STARTED' })
    expect(started.map((t) => t.id)).toEqual(['urn:uuid:f', 'urn:uuid:c'])
    expect((await r.list(store.db, { role: 'consumer' })).map((t) => t.id)).toEqual(['urn:uuid:f'])
  })
})
