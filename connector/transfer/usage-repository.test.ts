import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { agreementFor, compilePolicyText } from '../../policies/index.ts'
import { createTestStore, dialects } from '../../test/support/stores.ts'
import type { Store } from '../store/store.ts'
import { enginePolicyUsage } from './adapters.ts'
import { agreement, agreementBook, transferDay } from '../../test/support/transfer.ts'
import { testClock, testIds } from '../../test/support/context.ts'
import { usageGate } from './usage-gate.ts'
import { usageRepository } from './usage-repository.ts'

const provider = 'did:web:provider.test'
const consumer = 'did:web:consumer.test'
const threeDownloads = [
  'id: three-downloads',
  'title: At most three downloads',
  'permissions:',
  '  - action: use',
  '    constraints:',
  '      - leftOperand: count',
  '        operator: lteq',
  '        rightOperand: 3',
].join('\n')

describe.each(dialects)('agreement usage counter on %s', (dialect) => {
  let store: Store
  const clock = testClock(transferDay)
  beforeAll(async () => {
    store = await createTestStore(dialect)
  })
  afterAll(() => store?.close())

  it('starts at 0, creates its row once, and counts only what a locking transaction adds', async () => {
    const counters = usageRepository(store, { clock })
    expect(await counters.count(store.db, 'urn:agreement:fresh')).toBe(0)
    await store.transaction(async (tx) => {
      expect(await counters.lock(tx, 'urn:agreement:fresh')).toEqual({ count: 0, obligationsRecorded: false, violatedObligations: [] })
    })
    // `take` creates a missing row too, and tells the count before its own access.
    await store.transaction(async (tx) => expect((await counters.take(tx, 'urn:agreement:new')).count).toBe(0))
    await store.transaction(async (tx) => expect((await counters.take(tx, 'urn:agreement:fresh')).count).toBe(0))
    await store.transaction(async (tx) => expect((await counters.lock(tx, 'urn:agreement:fresh')).count).toBe(1))
    // Given back in the same transaction: as if never taken.
    await store.transaction(async (tx) => {
      await counters.take(tx, 'urn:agreement:fresh')
      await counters.giveBack(tx, 'urn:agreement:fresh')
    })
    expect(await counters.count(store.db, 'urn:agreement:fresh')).toBe(1)
    // A transaction that fails after counting leaves the count as it was.
    await expect(
      store.transaction(async (tx) => {
        await counters.take(tx, 'urn:agreement:fresh')
        throw new Error('the stream could not start')
      }),
    ).rejects.toThrow('the stream could not start')
    expect(await counters.count(store.db, 'urn:agreement:fresh')).toBe(1)
  })

  it('a race of 24 parallel increments at a limit of 3 counts exactly 3, and refuses the rest', async () => {
    const counters = usageRepository(store, { clock })
    // The row exists already: only its lock (not the insert of a new row) can keep the racers apart.
    await store.transaction((tx) => counters.lock(tx, 'urn:agreement:race'))
    const results = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        store.transaction(async (tx) => {
          // Half decide under the read lock (as a dry run or a continuation does), half take at once.
          const { count } = i % 2 ? await counters.lock(tx, 'urn:agreement:race') : await counters.take(tx, 'urn:agreement:race')
          // Let the other transactions run in between: only the row lock keeps them out.
          await new Promise((r) => setTimeout(r, 2))
          if (count >= 3) {
            if (i % 2 === 0) await counters.giveBack(tx, 'urn:agreement:race')
            return false
          }
          if (i % 2) {
            await counters.take(tx, 'urn:agreement:race')
          }
          return true
        }),
      ),
    )
    expect(results.filter(Boolean)).toHaveLength(3)
    expect(await counters.count(store.db, 'urn:agreement:race')).toBe(3)
  })

  it("through the policy: 20 parallel accesses under a 'three downloads' agreement get exactly 3, the others are refused naming the policy file", async () => {
    const { policy, errors } = await compilePolicyText(threeDownloads, 'three-downloads.yaml')
    expect(errors).toEqual([])
    const body = agreementFor(policy!, {
      id: 'urn:agreement:three',
      target: 'urn:dataset:weather',
      assigner: provider,
      assignee: consumer,
      timestamp: clock.now(),
    })
    const gate = usageGate({
      store,
      clock,
      ids: testIds(),
      agreements: agreementBook([
        agreement('urn:agreement:three', { assigner: provider, assignee: consumer, policy: body, offerId: policy!.odrl['@id'], policyId: 'three-downloads' }),
      ]),
      usage: enginePolicyUsage,
    })
    const decisions = await Promise.all(
      Array.from({ length: 20 }, () => store.transaction((tx) => gate.decide(tx, { agreementId: 'urn:agreement:three', requester: consumer, counts: true }))),
    )
    expect(decisions.filter((d) => d.allowed)).toHaveLength(3)
    const refused = decisions.find((d) => !d.allowed) as { reason: string }
    expect(refused.reason).toContain('`three-downloads`')
    expect(refused.reason).not.toMatch(/urn:uuid/)
    expect(await usageRepository(store, { clock }).count(store.db, 'urn:agreement:three')).toBe(3)
    // A continuation of a counted download is still allowed, and counts nothing.
    const continuation = await store.transaction((tx) => gate.decide(tx, { agreementId: 'urn:agreement:three', requester: consumer, counts: false }))
    expect(continuation.allowed).toBe(true)
    expect(await usageRepository(store, { clock }).count(store.db, 'urn:agreement:three')).toBe(3)
  })
})
