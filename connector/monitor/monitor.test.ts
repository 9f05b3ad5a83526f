import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createTestStore } from '../../test/support/stores.ts'
import type { Store } from '../store/store.ts'
import { repo } from '../transfer/service.ts'
import { agreement, agreementBook, stopTestDispatchers, transferTestCtx } from '../transfer/testing.ts'
import type { UsagePolicy } from '../transfer/ports.ts'
import { lapsedTransfers, startPolicyMonitor } from './monitor.ts'

const provider = 'did:web:provider.test'
const consumer = 'did:web:consumer.test'
const endsAt = Date.parse('2026-11-28T13:00:00Z')
// An end date and a count limit, as the policy engine would decide them.
const usage: UsagePolicy = {
  check: ({ now, accessCount, scope }) => {
    if (now.getTime() > endsAt) return { allowed: false, reason: 'the agreement ended at 2026-11-28T13:00:00Z' }
    const used = scope === 'transfer' ? accessCount + 1 : accessCount
    return used <= 3 ? { allowed: true, reason: 'ok' } : { allowed: false, reason: 'at most 3 accesses' }
  },
}

let store: Store
beforeEach(async () => {
  store = await createTestStore('sqlite')
})
afterEach(async () => {
  await stopTestDispatchers()
  await store.close()
})

async function running(t: ReturnType<typeof transferTestCtx>, id: string, over: { state?: 'STARTED' | 'SUSPENDED' | 'COMPLETED'; role?: 'provider' | 'consumer'; agreementId?: string } = {}) {
  return store.transaction((tx) =>
    repo(t.ctx).insert(
      tx,
      { id, role: over.role ?? 'provider', providerPid: id, consumerPid: `${id}-c`, agreementId: over.agreementId ?? 'urn:agreement:1', datasetId: 'urn:dataset:weather', counterpartyId: consumer, counterpartyAddress: 'http://consumer.test/dsp', format: 'HttpData-PULL', state: over.state ?? 'STARTED' },
      { cause: 'test', actor: 'local' },
    ),
  )
}

describe('policy monitor', () => {
  it('terminates a running transfer once its agreement has ended, telling the consumer why', async () => {
    const t = transferTestCtx({ store, participantId: provider, agreements: agreementBook([agreement('urn:agreement:1', { assigner: provider, assignee: consumer })]), usage })
    await running(t, 'urn:uuid:t1')
    await running(t, 'urn:uuid:t2', { state: 'SUSPENDED' })
    const monitor = startPolicyMonitor({ ctx: t.ctx, autoStart: false })
    expect(await monitor.runOnce()).toEqual([])
    t.clock.set(endsAt + 1000)
    const ended = await monitor.runOnce()
    expect(ended.map((e) => e.id).sort()).toEqual(['urn:uuid:t1', 'urn:uuid:t2'])
    await t.queue.settle()
    expect(await repo(t.ctx).get(store.db, 'urn:uuid:t1')).toMatchObject({ state: 'TERMINATED', reason: 'the agreement ended at 2026-11-28T13:00:00Z' })
    const termination = t.sent.find((m) => m.url === 'http://consumer.test/dsp/transfers/urn:uuid:t1-c/termination')
    expect(termination?.body).toMatchObject({ '@type': 'TransferTerminationMessage', code: 'monitor', reason: ['the agreement ended at 2026-11-28T13:00:00Z'] })
    const timeline = await repo(t.ctx).timeline(store.db, 'urn:uuid:t1')
    expect(timeline.at(-1)).toMatchObject({ toState: 'TERMINATED', actor: 'monitor' })
    await monitor.stop()
  })

  it('leaves transfers alone while their agreement holds, and never touches ones we consume', async () => {
    const t = transferTestCtx({ store, participantId: provider, agreements: agreementBook([agreement('urn:agreement:1')]), usage })
    await running(t, 'urn:uuid:mine')
    await running(t, 'urn:uuid:theirs', { role: 'consumer', agreementId: 'urn:agreement:gone' })
    const monitor = startPolicyMonitor({ ctx: t.ctx, autoStart: false })
    expect(await monitor.runOnce()).toEqual([])
    expect((await repo(t.ctx).get(store.db, 'urn:uuid:theirs'))?.state).toBe('STARTED')
  })

  it('decides from counts and missing agreements (pure)', () => {
    const base = { role: 'provider', state: 'STARTED', counterpartyId: consumer } as const
    const transfers = [
      { ...base, id: 'a', agreementId: 'urn:agreement:1', accessCount: 3 },
      { ...base, id: 'b', agreementId: 'urn:agreement:1', accessCount: 4 },
      { ...base, id: 'c', agreementId: 'urn:agreement:missing', accessCount: 0 },
      { ...base, id: 'd', agreementId: 'urn:agreement:1', accessCount: 9, state: 'COMPLETED' },
    ] as unknown as Parameters<typeof lapsedTransfers>[0]['transfers']
    const agreements = new Map([['urn:agreement:1', agreement('urn:agreement:1')], ['urn:agreement:missing', undefined]])
    const out = lapsedTransfers({ transfers, agreements, usage, now: new Date(endsAt - 1) })
    expect(out.map((o) => [o.transfer.id, o.reason])).toEqual([
      ['b', 'at most 3 accesses'],
      ['c', 'the agreement urn:agreement:missing is no longer in force'],
    ])
  })
})
