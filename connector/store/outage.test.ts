import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { eq, sql } from 'drizzle-orm'
import type { Hono } from 'hono'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase, postgresAdminUrl, type TestDatabase } from '../../test/support/stores.ts'
import { testContext } from '../../test/support/context.ts'
import { startTcpProxy, type TcpProxy } from '../../test/support/tcp-proxy.ts'
import { freePort } from '../../test/support/processes.ts'
import type { Area } from '../area.ts'
import { dspErrorRenderer } from '../dsp/errors.ts'
import { createApp } from '../http/app.ts'
import { DatabaseInUseError, isDatabaseUnavailable, openStore, type Store } from './store.ts'

/** What PostgreSQL does to every client when it shuts down (57P01), without stopping the shared server. */
async function terminateBackends(database: string) {
  const admin = new pg.Client({ connectionString: postgresAdminUrl })
  await admin.connect()
  try {
    const result = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database])
    return result.rowCount ?? 0
  } finally {
    await admin.end()
  }
}

const databaseName = (url: string) => new URL(url).pathname.slice(1)
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('PostgreSQL connections terminated by the server while transactions are open', () => {
  let database: TestDatabase
  let store: Store
  const lost: Error[] = []
  beforeAll(async () => {
    database = await createTestDatabase('postgres')
    store = await openStore({ url: database.url, poolSize: 6, onConnectionError: (error) => lost.push(error) })
  })
  afterAll(async () => {
    await store?.close()
    await database?.drop()
  })

  it('fail only the transactions they held, as "database unavailable", store nothing of them, and the store recovers by itself', async () => {
    const { settings } = store.tables
    await store.transaction((tx) => tx.insert(settings).values({ key: 'before', value: 'kept', updatedAt: 1 }))
    for (let round = 0; round < 5; round++) {
      // As many transactions at once as the store runs side by side (its group-commit lanes; a third
      // would wait behind one of these): one idle inside its transaction, one inside a running statement.
      const atOnce = 2
      let begun = 0
      let killed!: () => void
      const terminated = new Promise<void>((resolve) => (killed = resolve))
      const open = Promise.allSettled(
        Array.from({ length: atOnce }, (_, i) =>
          store.transaction(async (tx) => {
            await tx.insert(settings).values({ key: `round-${round}-${i}`, value: i, updatedAt: i })
            begun++
            // Held open until the server has terminated the connections.
            if (i % 2 === 0) await terminated
            else await (tx as unknown as { execute(q: unknown): Promise<unknown> }).execute(sql`select pg_sleep(5)`)
            await tx.insert(settings).values({ key: `round-${round}-${i}-second`, value: i, updatedAt: i })
          }),
        ),
      )
      while (begun < atOnce) await pause(5)
      await pause(50)
      expect(await terminateBackends(databaseName(database.url))).toBeGreaterThan(0)
      await pause(50)
      killed()
      const outcomes = await open
      for (const outcome of outcomes) {
        expect(outcome.status).toBe('rejected')
        expect(isDatabaseUnavailable((outcome as PromiseRejectedResult).reason)).toBe(true)
      }
    }
    expect(lost.length).toBeGreaterThan(0)
    // The pool dropped the dead clients: the next transaction gets a fresh connection.
    await store.transaction((tx) => tx.insert(settings).values({ key: 'after', value: 'stored', updatedAt: 2 }))
    const rows = await store.db.select().from(settings)
    expect(rows.map((r) => r.key).sort()).toEqual(['after', 'before'])
    await expect(store.health()).resolves.toEqual({ migrations: { applied: expect.any(Number), expected: expect.any(Number) } })
  })

  it('idle pooled connections terminated between requests cost nothing: the next query reconnects', async () => {
    await Promise.all(Array.from({ length: 6 }, () => store.ping()))
    await terminateBackends(databaseName(database.url))
    await pause(50)
    // A query may still meet a dead idle client once; the one after must work.
    await store.ping().catch((error) => expect(isDatabaseUnavailable(error)).toBe(true))
    await expect(store.ping()).resolves.toBeUndefined()
  })
})

describe('an HTTP request whose transaction loses the database', () => {
  let database: TestDatabase
  let store: Store
  let app: Hono<any>
  let proxy: TcpProxy
  let release!: () => void
  let gate = Promise.resolve()
  const close = () => {
    gate = new Promise((resolve) => (release = resolve))
  }
  // A route that holds a transaction open (until the test opens the gate), as a negotiation step
  // does between its statements.
  const slowWrite: Area = {
    name: 'slow-write',
    routes({ management, dsp, errors }, ctx) {
      const handler = async () => {
        await ctx.store.transaction(async (tx) => {
          await tx.insert(ctx.store.tables.settings).values({ key: `slow-${Math.random()}`, value: 1, updatedAt: 1 })
          await gate
          await tx.select().from(ctx.store.tables.settings)
        })
        return new Response('{}', { status: 201 })
      }
      management.post('/slow-write', handler)
      dsp.post('/negotiations/slow-write', handler)
      errors.register('/dsp/2025-1/negotiations', dspErrorRenderer('ContractNegotiationError'))
    },
  }
  const key = { authorization: 'Bearer test-management-key-0123456789' }
  beforeAll(async () => {
    database = await createTestDatabase('postgres')
    const server = new URL(postgresAdminUrl)
    proxy = await startTcpProxy({ host: server.hostname, port: Number(server.port || 5432) })
    const url = new URL(database.url)
    url.port = String(proxy.port)
    store = await openStore({ url: url.toString(), poolSize: 4 })
    app = createApp(testContext(store), [slowWrite]).app
  })
  afterAll(async () => {
    await store?.close()
    await proxy?.close()
    await database?.drop()
  })

  it('is answered 503 "unavailable" with Retry-After and a readable message, in the management API and in DSP, and nothing is stored', async () => {
    close()
    const answers = Promise.all([
      app.request('/management/v1/slow-write', { method: 'POST', headers: key }),
      app.request('/dsp/2025-1/negotiations/slow-write', { method: 'POST' }),
    ])
    await pause(300)
    await terminateBackends(databaseName(database.url))
    await pause(50)
    release()
    const [managementAnswer, dspAnswer] = await answers
    expect(managementAnswer!.status).toBe(503)
    expect(managementAnswer!.headers.get('retry-after')).toBe('1')
    const body = (await managementAnswer!.json()) as any
    expect(body.error.code).toBe('unavailable')
    expect(body.error.message).toMatch(/cannot reach its database/)
    expect(JSON.stringify(body)).not.toMatch(/at .*\.ts|Failed query|insert into/)
    expect(dspAnswer!.status).toBe(503)
    expect(await dspAnswer!.json()).toMatchObject({ '@type': 'ContractNegotiationError', code: 'unavailable', providerPid: '', consumerPid: '' })
    expect(await store.db.select().from(store.tables.settings)).toEqual([])
    // Recovered without restart.
    expect((await app.request('/management/v1/slow-write', { method: 'POST', headers: key })).status).toBe(201)
  })

  it('makes /health/ready and /health answer 503 while the database is out of reach, and 200 again once it is back; /health/live answers 200 throughout', async () => {
    expect((await app.request('/health/ready')).status).toBe(200)
    proxy.cut()
    try {
      for (const path of ['/health/ready', '/health']) {
        const answer = await app.request(path)
        expect(answer.status).toBe(path === '/health/live' ? 200 : 503)
        expect(await answer.json()).toMatchObject({
          status: 'unavailable',
          database: { dialect: 'postgres', status: 'down' },
          problems: ['the database does not answer'],
        })
      }
      expect((await app.request('/health/live')).status).toBe(200)
      const refused = await app.request('/management/v1/slow-write', { method: 'POST', headers: key })
      expect(refused.status).toBe(503)
      expect(((await refused.json()) as any).error.code).toBe('unavailable')
      // A plain query, outside any transaction, fails the same way.
      expect(
        isDatabaseUnavailable(
          await store.db
            .select()
            .from(store.tables.settings)
            .catch((error) => error),
        ),
      ).toBe(true)
    } finally {
      proxy.restore()
    }
    const ready = await app.request('/health/ready')
    expect(ready.status).toBe(200)
    expect(await ready.json()).toMatchObject({
      status: 'ok',
      database: { status: 'up' },
      migrations: { applied: expect.any(Number), expected: expect.any(Number) },
    })
    expect((await app.request('/management/v1/slow-write', { method: 'POST', headers: key })).status).toBe(201)
  })
})

describe('errors that are the request\'s fault are not "database unavailable"', () => {
  it('a syntax error, a unique violation, a peer that is down and an application error stay what they are (never a 503)', async () => {
    const database = await createTestDatabase('postgres')
    const store = await openStore({ url: database.url, poolSize: 2 })
    try {
      const { settings } = store.tables
      await store.db.insert(settings).values({ key: 'one', value: 1, updatedAt: 1 })
      const duplicate = await store.db
        .insert(settings)
        .values({ key: 'one', value: 1, updatedAt: 1 })
        .catch((error) => error)
      const syntax = await (store.db as unknown as { execute(q: unknown): Promise<unknown> }).execute(sql`selec 1`).catch((error) => error)
      // A peer that is down fails with the same socket codes as a lost database: it is not the database.
      const peerDown = await fetch(`http://127.0.0.1:${await freePort()}/dsp/2025-1/catalog/request`).catch((error) => error)
      expect(peerDown.cause.code).toBe('ECONNREFUSED')
      for (const error of [duplicate, syntax, peerDown, new Error('boom'), new TypeError('x is undefined'), undefined])
        expect(isDatabaseUnavailable(error)).toBe(false)
      expect(await store.db.select().from(settings).where(eq(settings.key, 'one'))).toHaveLength(1)
    } finally {
      await store.close()
      await database.drop()
    }
  })
})

describe('one process per SQLite file', () => {
  let database: TestDatabase
  beforeAll(async () => {
    database = await createTestDatabase('sqlite')
  })
  afterAll(() => database.drop())

  // The refusal between two real processes is in test/e2e/sqlite-single-process.test.ts; here the
  // other process is this test's parent, which runs.
  it('refuses an exclusive open of a file another running process holds, naming both; frees the file on close', async () => {
    const first = await openStore({ url: database.url, exclusive: true })
    expect(readFileSync(`${database.url}.lock`, 'utf8')).toBe(`${process.pid}\n`)
    await first.close()
    expect(existsSync(`${database.url}.lock`)).toBe(false)
    writeFileSync(`${database.url}.lock`, `${process.ppid}\n`)
    const held = await openStore({ url: database.url, exclusive: true }).catch((error) => error)
    expect(held).toBeInstanceOf(DatabaseInUseError)
    expect(held.message).toBe(
      `the database file ${database.url} is in use by another connector process (pid ${process.ppid}); stop it first (lock file ${database.url}.lock)`,
    )
    expect(readFileSync(`${database.url}.lock`, 'utf8')).toBe(`${process.ppid}\n`)
    // Read-only commands (not exclusive) may still open it.
    const reader = await openStore({ url: database.url })
    await reader.close()
  })

  it('takes over a lock left by a process that no longer runs, or one left empty', async () => {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!
    for (const content of [`${dead}\n`, '', 'garbage']) {
      writeFileSync(`${database.url}.lock`, content)
      const store = await openStore({ url: database.url, exclusive: true })
      expect(readFileSync(`${database.url}.lock`, 'utf8')).toBe(`${process.pid}\n`)
      await store.close()
      expect(existsSync(`${database.url}.lock`)).toBe(false)
    }
  })
})
