import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createTestStore, dialects } from '../../test/support/stores.ts'
import { silentLogger } from '../telemetry/logger.ts'
import { systemClock } from '../context.ts'
import type { Store } from '../store/store.ts'
import { createDispatcher, type FailedOutcome, type Send } from './dispatcher.ts'

/** Local steps in the outbox: rows of kind `step`, run by the topic handler in order with the process's messages. */
describe.each(dialects)('outbox steps on %s', (dialect) => {
  let store: Store
  beforeEach(async () => {
    store = await createTestStore(dialect)
  })
  afterEach(async () => {
    await store.close()
  })

  it('happy: a step runs in enqueue order with the messages of its process, with its input, once', async () => {
    const order: string[] = []
    const send: Send = async ({ url }) => {
      order.push(`send ${url}`)
      return { status: 200, body: {} }
    }
    const dispatcher = createDispatcher({ store, clock: systemClock, logger: silentLogger, send })
    dispatcher.handle('test', {
      failed: async () => {},
      run: async (item) => void order.push(`run ${item.body.step} ${JSON.stringify(item.body.input)}`),
    })
    await store.transaction(async (tx) => {
      await dispatcher.enqueue(tx, { topic: 'test', processId: 'a', url: 'http://127.0.0.1:1/a/1', body: {}, peer: { dspUrl: 'http://127.0.0.1:1' } })
      await dispatcher.enqueueStep(tx, { topic: 'test', processId: 'a', step: 'decide', input: { requester: 'did:web:x' } })
      await dispatcher.enqueue(tx, { topic: 'test', processId: 'a', url: 'http://127.0.0.1:1/a/2', body: {}, peer: { dspUrl: 'http://127.0.0.1:1' } })
    })
    dispatcher.start()
    await dispatcher.idle()
    await dispatcher.stop()
    expect(order).toEqual(['send http://127.0.0.1:1/a/1', 'run decide {"requester":"did:web:x"}', 'send http://127.0.0.1:1/a/2'])
    // Nothing is left pending: a restart does not run it again.
    const again = createDispatcher({ store, clock: systemClock, logger: silentLogger, send })
    again.handle('test', { failed: async () => {}, run: async () => void order.push('again') })
    again.start()
    await again.idle()
    await again.stop()
    expect(order).not.toContain('again')
  })

  it('a step that throws is retried; one that keeps throwing fails with a readable reason', async () => {
    let runs = 0
    const failures: FailedOutcome[] = []
    const dispatcher = createDispatcher({
      store,
      clock: systemClock,
      logger: silentLogger,
      send: async () => ({ status: 200, body: {} }),
      maxAttempts: 3,
      baseDelayMs: 1,
    })
    dispatcher.handle('test', {
      failed: async (outcome) => void failures.push(outcome),
      run: async (item) => {
        runs++
        if (item.body.step === 'flaky' && runs === 1) throw new Error('database unavailable')
        if (item.body.step === 'broken') throw new Error('always broken')
      },
    })
    await store.transaction(async (tx) => {
      await dispatcher.enqueueStep(tx, { topic: 'test', processId: 'a', step: 'flaky' })
      await dispatcher.enqueueStep(tx, { topic: 'test', processId: 'b', step: 'broken' })
    })
    dispatcher.start()
    await dispatcher.idle()
    await dispatcher.stop()
    expect(failures).toHaveLength(1)
    expect(failures[0]!.item).toMatchObject({ kind: 'step', processId: 'b' })
    expect(failures[0]!.reason).toBe('step failed after 3 attempts: always broken')
  })

  it('a step left pending by a stop (a crash) runs when the outbox starts again', async () => {
    const first = createDispatcher({ store, clock: systemClock, logger: silentLogger, send: async () => ({ status: 200, body: {} }) })
    await store.transaction((tx) => first.enqueueStep(tx, { topic: 'test', processId: 'a', step: 'decide' }))
    const ran: string[] = []
    const second = createDispatcher({ store, clock: systemClock, logger: silentLogger, send: async () => ({ status: 200, body: {} }) })
    second.handle('test', { failed: async () => {}, run: async (item) => void ran.push(item.body.step) })
    second.start()
    await second.idle()
    await second.stop()
    expect(ran).toEqual(['decide'])
  })
})
