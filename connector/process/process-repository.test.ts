import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eq } from 'drizzle-orm'
import { createTestStore, dialects } from '../../test/support/stores.ts'
import type { Store } from '../store/store.ts'
import { ConcurrentChange, processRepository, type ProcessRow } from './process-repository.ts'

interface Entry {
  cause: string
  from: string | null
  to: string
}

// The kernel over the two shapes of process table the connector has: one that keeps a version
// (negotiations) and one that does not (transfers, whose timeline is counted).
function versioned(store: Store) {
  const t = store.tables.negotiations
  const e = store.tables.negotiationEvents
  return processRepository<typeof t.$inferSelect, typeof e.$inferSelect, Entry>(store, {
    noun: 'negotiation',
    table: t,
    id: t.id,
    state: t.state,
    version: t.version,
    stepColumns: ['state', 'version', 'updatedAt'],
    timeline: {
      table: e,
      processId: e.negotiationId,
      order: e.seq,
      row: (negotiationId, position, at, entry) => ({
        negotiationId,
        seq: position + 1,
        at,
        kind: entry.cause,
        direction: 'local',
        actor: 'test',
        fromState: entry.from,
        toState: entry.to,
        reason: null,
        detail: null,
      }),
    },
  })
}

function unversioned(store: Store) {
  const t = store.tables.transfers
  const e = store.tables.transferEvents
  return processRepository<typeof t.$inferSelect, typeof e.$inferSelect, Entry>(store, {
    noun: 'transfer',
    table: t,
    id: t.id,
    state: t.state,
    timeline: {
      table: e,
      processId: e.transferId,
      order: e.id,
      row: (transferId, position, at, entry) => ({
        id: `${transferId}#${String(position).padStart(6, '0')}`,
        transferId,
        at,
        fromState: entry.from,
        toState: entry.to,
        cause: entry.cause,
        actor: 'test',
        reason: null,
        digest: null,
      }),
    },
  })
}

const negotiation = (id: string) => ({
  id,
  role: 'provider' as const,
  providerPid: id,
  consumerPid: `${id}-consumer`,
  state: 'S0',
  counterpartyId: 'did:web:consumer.test',
  counterpartyAddress: 'http://consumer.test/dsp',
  datasetId: 'dataset-1',
  offerId: 'offer-1',
  offer: { '@id': 'offer-1' },
  agreementId: null,
  mode: 'auto' as const,
  pending: null,
  reason: null,
  createdAt: 1000,
  updatedAt: 1000,
  version: 1,
})

const transfer = (id: string) => ({
  id,
  role: 'provider' as const,
  providerPid: id,
  consumerPid: `${id}-consumer`,
  agreementId: 'urn:agreement:1',
  datasetId: null,
  counterpartyId: 'did:web:consumer.test',
  counterpartyAddress: 'http://consumer.test/dsp',
  format: 'HttpData-PULL',
  state: 'S0',
  dataAddress: null,
  outputPath: null,
  size: null,
  sha256: null,
  bytesMoved: 0,
  accessCount: 0,
  bytesGranted: 0,
  reason: null,
  createdAt: 1000,
  updatedAt: 1000,
})

describe.each(dialects)('process rows and timelines on %s', (dialect) => {
  let store: Store
  beforeAll(async () => {
    store = await createTestStore(dialect)
  })
  afterAll(() => store?.close())

  // Both shapes through the kernel's one interface.
  type Rows = ReturnType<typeof processRepository<ProcessRow, { fromState: string | null; toState: string }, Entry>>
  const shapes: { name: string; repo: () => Rows; row: (id: string) => ProcessRow }[] = [
    { name: 'a table with a version', repo: () => versioned(store) as unknown as Rows, row: negotiation },
    { name: 'a table without one', repo: () => unversioned(store) as unknown as Rows, row: transfer },
  ]

  for (const shape of shapes) {
    it(`serialises changes of one process made at once, each on a locked read (${shape.name})`, async () => {
      const rows = shape.repo()
      const id = `urn:uuid:race-${shape.row === negotiation ? 'n' : 't'}`
      await store.transaction((tx) => rows.create(tx, shape.row(id), 1000, { cause: 'create', from: null, to: 'S0' }))
      // Each transaction moves the process one state on from what it reads: none may read a state another already left.
      await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          store.transaction(async (tx) => {
            const current = (await rows.lock(tx, id))!
            const to = `S${Number(current.state.slice(1)) + 1}`
            await rows.change(tx, current, { state: to, updatedAt: 2000 + i }, 2000 + i, { cause: 'step', from: current.state, to })
          }),
        ),
      )
      const timeline = await rows.timeline(store.db, id)
      expect(timeline.map((e) => `${e.fromState}>${e.toState}`)).toEqual(['null>S0', ...Array.from({ length: 8 }, (_, i) => `S${i}>S${i + 1}`)])
      expect((await rows.find(store.db, id))?.state).toBe('S8')
      expect((await rows.lastEntry(store.db, id))?.toState).toBe('S8')
    })

    it(`refuses a change from a read the process has moved past, and writes nothing (${shape.name})`, async () => {
      const rows = shape.repo()
      const id = `urn:uuid:stale-${shape.row === negotiation ? 'n' : 't'}`
      await rows.create(store.db, shape.row(id), 1000, { cause: 'create', from: null, to: 'S0' })
      const read = (await rows.find(store.db, id))!
      await store.transaction(async (tx) => {
        const current = (await rows.lock(tx, id))!
        await rows.change(tx, current, { state: 'S1', updatedAt: 2000 }, 2000, { cause: 'step', from: 'S0', to: 'S1' })
      })
      await expect(
        store.transaction((tx) => rows.change(tx, read, { state: 'S9', updatedAt: 3000 }, 3000, { cause: 'late', from: 'S0', to: 'S9' })),
      ).rejects.toBeInstanceOf(ConcurrentChange)
      expect((await rows.find(store.db, id))?.state).toBe('S1')
      expect(await rows.timeline(store.db, id)).toHaveLength(2)
    })
  }

  it('reads a process by another key, locked, and changes it with the prepared save when only step columns change', async () => {
    const rows = versioned(store)
    const t = store.tables.negotiations
    await rows.create(store.db, negotiation('urn:uuid:by-key'), 1000, { cause: 'create', from: null, to: 'S0' })
    const saved = await store.transaction(async (tx) => {
      const current = (await rows.findWhere(tx, eq(t.consumerPid, 'urn:uuid:by-key-consumer'), { lock: true }))!
      return rows.change(tx, current, { state: 'S1', updatedAt: 2000 }, 2000, { cause: 'step', from: 'S0', to: 'S1' })
    })
    expect(saved).toMatchObject({ state: 'S1', version: 2, updatedAt: 2000 })
    expect(await rows.find(store.db, 'urn:uuid:by-key')).toEqual(saved)
    expect(await rows.findWhere(store.db, eq(t.consumerPid, 'urn:uuid:nobody'))).toBeUndefined()
  })
})
