import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createTestStore } from '../../../test/support/stores.ts'
import type { Store } from '../../store/store.ts'
import { repo } from '../service.ts'
import { agreement, agreementBook, stopTestDispatchers, transferTestCtx } from '../../../test/support/transfer.ts'
import type { UsagePolicy } from '../ports.ts'
import { lapsedTransfers, startPolicyMonitor } from './monitor.ts'
import { agreementFor, compilePolicyText } from '../../../policies/index.ts'
import { enginePolicyUsage, storedAgreements } from '../adapters.ts'
import { obligationRepository } from '../obligations.ts'
import { gate } from '../service.ts'

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

async function running(
  t: ReturnType<typeof transferTestCtx>,
  id: string,
  over: { state?: 'STARTED' | 'SUSPENDED' | 'COMPLETED'; role?: 'provider' | 'consumer'; agreementId?: string } = {},
) {
  return store.transaction((tx) =>
    repo(t.ctx).insert(
      tx,
      {
        id,
        role: over.role ?? 'provider',
        providerPid: id,
        consumerPid: `${id}-c`,
        agreementId: over.agreementId ?? 'urn:agreement:1',
        datasetId: 'urn:dataset:weather',
        counterpartyId: consumer,
        counterpartyAddress: 'http://consumer.test/dsp',
        format: 'HttpData-PULL',
        state: over.state ?? 'STARTED',
      },
      { cause: 'test', actor: 'local' },
    ),
  )
}

describe('policy monitor', () => {
  it('terminates a running transfer once its agreement has ended, telling the consumer why', async () => {
    const t = transferTestCtx({
      store,
      participantId: provider,
      agreements: agreementBook([agreement('urn:agreement:1', { assigner: provider, assignee: consumer })]),
      usage,
    })
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

  it("terminates the running transfers of a counterparty whose credential was withdrawn, with the credential's reason, asking once per counterparty", async () => {
    const t = transferTestCtx({
      store,
      participantId: provider,
      agreements: agreementBook([agreement('urn:agreement:1', { assigner: provider, assignee: consumer })]),
      usage,
    })
    await running(t, 'urn:uuid:r1')
    await running(t, 'urn:uuid:r2', { state: 'SUSPENDED' })
    const asked: string[] = []
    let withdrawn: string | undefined
    // The port the identity area fills with its status list re-check (dcp.recheckPeer).
    const credentials = async (participantId: string) => {
      asked.push(participantId)
      return withdrawn
    }
    const monitor = startPolicyMonitor({ ctx: t.ctx, autoStart: false, credentials })
    expect(await monitor.runOnce()).toEqual([])
    expect(asked).toEqual([consumer])
    withdrawn = 'credential urn:uuid:m is revoked (status list https://authority.test/status/revocation, index 7)'
    const ended = await monitor.runOnce()
    const reason = `a credential of ${consumer} no longer holds: ${withdrawn}`
    expect(ended.sort((a, b) => a.id.localeCompare(b.id))).toEqual([
      { id: 'urn:uuid:r1', reason },
      { id: 'urn:uuid:r2', reason },
    ])
    const timeline = await repo(t.ctx).timeline(store.db, 'urn:uuid:r1')
    expect(timeline.at(-1)).toMatchObject({ toState: 'TERMINATED', actor: 'monitor', reason })
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

  it("decides on the agreement's count over all its transfers, not each transfer's own (pure)", () => {
    const base = { role: 'provider', state: 'STARTED', counterpartyId: consumer } as const
    const transfers = [
      // Two accesses each, four under agreement 1: both of its transfers end.
      { ...base, id: 'a', agreementId: 'urn:agreement:1', accessCount: 2 },
      { ...base, id: 'b', agreementId: 'urn:agreement:1', accessCount: 2 },
      { ...base, id: 'c', agreementId: 'urn:agreement:missing', accessCount: 0 },
      { ...base, id: 'd', agreementId: 'urn:agreement:1', accessCount: 9, state: 'COMPLETED' },
      { ...base, id: 'e', agreementId: 'urn:agreement:2', accessCount: 3 },
    ] as unknown as Parameters<typeof lapsedTransfers>[0]['transfers']
    const agreements = new Map([
      ['urn:agreement:1', agreement('urn:agreement:1')],
      ['urn:agreement:missing', undefined],
      ['urn:agreement:2', agreement('urn:agreement:2')],
    ])
    const counts = new Map([
      ['urn:agreement:1', 4],
      ['urn:agreement:2', 3],
    ])
    const out = lapsedTransfers({ transfers, agreements, counts, usage, now: new Date(endsAt - 1) })
    expect(out.map((o) => [o.transfer.id, o.reason])).toEqual([
      ['a', 'at most 3 accesses'],
      ['b', 'at most 3 accesses'],
      ['c', 'the agreement urn:agreement:missing is no longer in force'],
    ])
  })
})

describe('policy monitor and obligations', () => {
  // A steward's policy: use for a year, delete within 30 days, credit the source.
  const policyText = [
    'id: delete-within-a-month',
    'title: Use, credit, and delete within 30 days',
    'permissions:',
    '  - action: use',
    '    duties:',
    '      - action: attribute',
    'obligations:',
    '  - action: delete',
    '    constraints:',
    '      - leftOperand: elapsedTime',
    '        operator: lteq',
    '        rightOperand: P30D',
  ].join('\n')
  const signedAt = new Date('2026-11-28T12:00:00Z')

  async function withPolicy() {
    const { policy, errors } = await compilePolicyText(policyText, 'delete-within-a-month.yaml')
    expect(errors).toEqual([])
    const body = agreementFor(policy!, { id: 'urn:agreement:d', target: 'urn:dataset:weather', assigner: provider, assignee: consumer, timestamp: signedAt })
    const a = agreement('urn:agreement:d', {
      assigner: provider,
      assignee: consumer,
      signedAt,
      policy: body,
      offerId: policy!.odrl['@id'],
      policyId: 'delete-within-a-month',
    })
    const t = transferTestCtx({ store, participantId: provider, agreements: agreementBook([a]), usage: enginePolicyUsage })
    await running(t, 'urn:uuid:d1', { agreementId: 'urn:agreement:d' })
    return t
  }

  it('records the duties on first use; once the deletion deadline passes, marks it violated and ends the transfer naming the policy', async () => {
    const t = await withPolicy()
    // First use of an agreement finalized before duties were recorded: they are recorded, acknowledged.
    const first = await store.transaction((tx) => gate(t.ctx).decide(tx, { agreementId: 'urn:agreement:d', requester: consumer, counts: true }))
    expect(first.allowed).toBe(true)
    const duties = obligationRepository(store, t.ctx)
    expect((await duties.list(store.db, 'urn:agreement:d')).map((o) => [o.obligationId, o.action, o.checkedBy, o.status])).toEqual([
      ['obligation-1', 'delete', 'monitor', 'acknowledged'],
      ['permission-1-duty-1', 'attribute', 'operator', 'acknowledged'],
    ])
    const monitor = startPolicyMonitor({ ctx: t.ctx, autoStart: false })
    t.clock.set(signedAt.getTime() + 29 * 86_400_000)
    expect(await monitor.runOnce()).toEqual([])
    t.clock.set(signedAt.getTime() + 31 * 86_400_000)
    const ended = await monitor.runOnce()
    expect(ended.map((e) => e.id)).toEqual(['urn:uuid:d1'])
    expect(ended[0]!.reason).toContain('policy `delete-within-a-month`')
    expect(ended[0]!.reason).not.toMatch(/urn:uuid/)
    const deletion = (await duties.list(store.db, 'urn:agreement:d')).find((o) => o.obligationId === 'obligation-1')!
    expect(deletion.status).toBe('violated')
    expect(deletion.reason).toMatch(/duty `obligation-1` of policy `delete-within-a-month`/)
    expect((await duties.timeline(store.db, 'urn:agreement:d')).at(-1)).toMatchObject({
      obligationId: 'obligation-1',
      fromStatus: 'acknowledged',
      toStatus: 'violated',
      actor: 'monitor',
    })
    // And no new access is permitted under the agreement.
    const after = await store.transaction((tx) => gate(t.ctx).decide(tx, { agreementId: 'urn:agreement:d', requester: consumer, counts: true }))
    expect(after).toMatchObject({ allowed: false, reason: expect.stringContaining('delete-within-a-month') })
    await monitor.stop()
  })

  it('records the obligations of an agreement made since the last pass, before any transfer, once', async () => {
    const { policy } = await compilePolicyText(policyText, 'delete-within-a-month.yaml')
    const body = agreementFor(policy!, { id: 'urn:agreement:new', target: 'urn:dataset:weather', assigner: provider, assignee: consumer, timestamp: signedAt })
    const now = signedAt.getTime()
    for (const [id, state] of [
      ['urn:uuid:n1', 'FINALIZED'],
      ['urn:uuid:n2', 'AGREED'],
    ] as const) {
      await store.db.insert(store.tables.negotiations).values({
        id,
        role: 'provider',
        providerPid: id,
        consumerPid: `${id}-c`,
        state,
        counterpartyId: consumer,
        counterpartyAddress: 'http://consumer.test/dsp',
        datasetId: 'urn:dataset:weather',
        offerId: policy!.odrl['@id'],
        offer: policy!.odrl as never,
        mode: 'auto',
        createdAt: now,
        updatedAt: now,
        version: 1,
      })
    }
    await store.db.insert(store.tables.agreements).values({
      id: 'urn:agreement:new',
      negotiationId: 'urn:uuid:n1',
      role: 'provider',
      datasetId: 'urn:dataset:weather',
      assigner: provider,
      assignee: consumer,
      body: body as never,
      signedAt: now,
    })
    await store.db.insert(store.tables.agreements).values({
      id: 'urn:agreement:pending',
      negotiationId: 'urn:uuid:n2',
      role: 'provider',
      datasetId: 'urn:dataset:weather',
      assigner: provider,
      assignee: consumer,
      body: body as never,
      signedAt: now,
    })
    const t = transferTestCtx({ store, participantId: provider, agreements: storedAgreements(store), usage: enginePolicyUsage })
    const monitor = startPolicyMonitor({ ctx: t.ctx, autoStart: false })
    await monitor.runOnce()
    await monitor.runOnce()
    const duties = obligationRepository(store, t.ctx)
    expect((await duties.list(store.db, 'urn:agreement:new')).map((o) => o.obligationId).sort()).toEqual(['obligation-1', 'permission-1-duty-1'])
    expect(await duties.timeline(store.db, 'urn:agreement:new')).toHaveLength(2)
    // Not yet in force: nothing recorded.
    expect(await duties.list(store.db, 'urn:agreement:pending')).toEqual([])
  })

  it('a duty the operator marked fulfilled is not violated by the monitor', async () => {
    const t = await withPolicy()
    await store.transaction((tx) => gate(t.ctx).decide(tx, { agreementId: 'urn:agreement:d', requester: consumer, counts: true }))
    const duties = obligationRepository(store, t.ctx)
    await store.transaction((tx) =>
      duties.setStatus(tx, { agreementId: 'urn:agreement:d', obligationId: 'obligation-1' }, 'fulfilled', {
        actor: 'management',
        reason: 'deletion certificate received',
      }),
    )
    t.clock.set(signedAt.getTime() + 31 * 86_400_000)
    const monitor = startPolicyMonitor({ ctx: t.ctx, autoStart: false })
    expect(await monitor.runOnce()).toEqual([])
    expect((await duties.list(store.db, 'urn:agreement:d')).find((o) => o.obligationId === 'obligation-1')?.status).toBe('fulfilled')
  })
})
