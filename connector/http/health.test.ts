import { sql } from 'drizzle-orm'
import { afterEach, describe, expect, it } from 'vitest'
import { testContext } from '../../test/support/context.ts'
import { createTestStore } from '../../test/support/stores.ts'
import type { Store } from '../store/store.ts'
import { createApp } from './app.ts'
import type { WorkerState } from './health.ts'

const json = (response: Response): Promise<any> => response.json()

describe('health routes', () => {
  let store: Store | undefined
  afterEach(async () => {
    await store?.close()
    store = undefined
  })

  it('ready only while the background workers run: 503 while starting and once stopping; live throughout', async () => {
    store = await createTestStore('sqlite')
    let workers: WorkerState = 'starting'
    const { app } = createApp(testContext(store), [], { workers: () => workers })
    for (const state of ['starting', 'running', 'stopping'] as const) {
      workers = state
      const ready = await app.request('/health/ready')
      expect(ready.status).toBe(state === 'running' ? 200 : 503)
      const body = await json(ready)
      expect(body.workers).toBe(state)
      if (state === 'running') expect(body).toMatchObject({ status: 'ok', database: { dialect: 'sqlite', status: 'up' } })
      else expect(body).toMatchObject({ status: 'unavailable', problems: [`background workers are ${state}`] })
      expect((await app.request('/health')).status).toBe(ready.status)
      expect((await app.request('/health/live')).status).toBe(200)
    }
  })

  it('unready when the database lacks a migration this version ships, saying how many it has', async () => {
    store = await createTestStore('sqlite')
    const { app } = createApp(testContext(store), [])
    const before = await json(await app.request('/health/ready'))
    expect(before.migrations.applied).toBe(before.migrations.expected)
    await store.db.run(sql`delete from __drizzle_migrations where rowid = (select max(rowid) from __drizzle_migrations)`)
    const ready = await app.request('/health/ready')
    expect(ready.status).toBe(503)
    expect(await json(ready)).toMatchObject({
      status: 'unavailable',
      migrations: { applied: before.migrations.expected - 1, expected: before.migrations.expected },
      problems: [`the database has ${before.migrations.expected - 1} of ${before.migrations.expected} migrations`],
    })
  })

  it('live answers without touching the database: 200 even when it is closed, while ready answers 503', async () => {
    const closed = await createTestStore('sqlite')
    const { app } = createApp(testContext(closed), [])
    await closed.close()
    expect((await app.request('/health/live')).status).toBe(200)
    const ready = await app.request('/health/ready')
    expect(ready.status).toBe(503)
    expect(await json(ready)).toMatchObject({ database: { status: 'down' }, problems: ['the database does not answer'] })
  })
})

describe('a flood of readiness probes', () => {
  it('shares one database check among the probes that arrive together', async () => {
    const store = await createTestStore('sqlite')
    try {
      let checks = 0
      const health = store.health.bind(store)
      const counted: Store = { ...store, health: (timeoutMs) => (checks++, health(timeoutMs)) }
      const { app } = createApp(testContext(counted), [])
      const answers = await Promise.all(Array.from({ length: 200 }, () => app.request('/health/ready')))
      expect(new Set(answers.map((a) => a.status))).toEqual(new Set([200]))
      expect(checks).toBeLessThan(20)
    } finally {
      await store.close()
    }
  })
})
