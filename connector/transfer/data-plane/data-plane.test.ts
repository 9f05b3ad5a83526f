import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, existsSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { getRequestListener } from '@hono/node-server'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createTestStore } from '../../../test/support/stores.ts'
import type { Store } from '../../store/store.ts'
import { createLogger } from '../../telemetry/logger.ts'
import { httpDataAddress, readHttpDataAddress } from '../messages.ts'
import type { DataSource, UsagePolicy } from '../ports.ts'
import { transferRepository, type TransferRecord } from '../repository.ts'
import { agreement, agreementBook, allowAll, transferDay } from '../../../test/support/transfer.ts'
import { testClock, testIds } from '../../../test/support/context.ts'
import { Readable } from 'node:stream'
import { createDataPlane, type Upload } from './data-plane.ts'
import { digestCache, reprDigest } from './sources.ts'
import { dataTokens } from './tokens.ts'
import { usageRepository } from '../usage-repository.ts'
import { until } from '../../../test/support/processes.ts'

const provider = 'did:web:provider.test'
const consumer = 'did:web:consumer.test'
const content = Buffer.from('station,temperature\nMTL,-3.5\nQC,-7.25\nOTT,-2.0\n')
const sha = createHash('sha256').update(content).digest('hex')

let store: Store
let root: string
beforeEach(async () => {
  store = await createTestStore('sqlite')
  root = mkdtempSync(join(tmpdir(), 'passerelle-dp-'))
  mkdirSync(join(root, 'participant', 'datasets'), { recursive: true })
  writeFileSync(join(root, 'participant', 'datasets', 'weather.csv'), content)
  writeFileSync(join(root, 'secret.txt'), 'not yours')
})
afterEach(async () => {
  await store.close()
  rmSync(root, { recursive: true, force: true })
})

/** A count limit as the policy engine decides it: a new access is decided on count + 1, a continuation on count. */
const atMost = (limit: number): UsagePolicy => ({
  check: ({ accessCount, counts }) => {
    const used = counts === false ? accessCount : accessCount + 1
    return used <= limit ? { allowed: true, reason: 'ok' } : { allowed: false, reason: `at most ${limit} downloads (policy \`three-downloads\`)` }
  },
})

function setup(
  options: {
    usage?: UsagePolicy
    source?: DataSource
    fetch?: typeof fetch
    upload?: Upload
    secret?: Uint8Array
    maxParallelPerTransfer?: number
    pushRetry?: { windowMs: number; baseDelayMs: number }
  } = {},
) {
  const clock = testClock(transferDay)
  const ids = testIds()
  const tokens = dataTokens({ secret: options.secret ?? new Uint8Array(32).fill(7), issuer: 'http://provider.test', clock, ids, ttlMs: 60_000 })
  const source: DataSource = options.source ?? { kind: 'file', root: join(root, 'participant'), path: 'datasets/weather.csv', mediaType: 'text/csv' }
  const plane = createDataPlane({
    store,
    clock,
    ids,
    logger: createLogger({ level: 'error', write: () => {} }),
    agreements: agreementBook([agreement('urn:agreement:1', { assigner: provider, assignee: consumer })]),
    usage: options.usage ?? allowAll,
    sources: { resolve: async (id) => (id === 'urn:dataset:weather' ? source : undefined) },
    tokens,
    digests: digestCache(),
    publicUrl: 'http://provider.test',
    dataDir: join(root, 'data'),
    fetch: options.fetch,
    upload: options.upload,
    ...(options.pushRetry ? { pushRetry: options.pushRetry } : { pushAttempts: 2 }),
    maxParallelPerTransfer: options.maxParallelPerTransfer,
  })
  const repo = transferRepository(store, { clock, ids })
  const transfer = (id: string, over: Partial<TransferRecord> = {}) =>
    store.transaction((tx) =>
      repo.insert(
        tx,
        {
          id,
          role: 'provider',
          providerPid: id,
          consumerPid: `${id}-consumer`,
          agreementId: 'urn:agreement:1',
          datasetId: 'urn:dataset:weather',
          counterpartyId: consumer,
          counterpartyAddress: 'http://consumer.test/dsp',
          format: 'HttpData-PULL',
          state: 'STARTED',
          ...over,
        } as Parameters<typeof repo.insert>[1],
        { cause: 'test', actor: 'local' },
      ),
    )
  const pullToken = async (t: TransferRecord) => readHttpDataAddress(await plane.control.pullAddress(t))!.token
  const get = (id: string, token: string, headers: Record<string, string> = {}) =>
    plane.routes.request(`/data/transfers/${id}`, { headers: { authorization: `Bearer ${token}`, ...headers } })
  return { plane, clock, repo, tokens, transfer, pullToken, get }
}

describe('pull endpoint', () => {
  it('streams the whole file with length, ETag and a sha256 digest, and records the access', async () => {
    const s = setup()
    const t = await s.transfer('urn:uuid:t1')
    const res = await s.get(t.id, await s.pullToken(t))
    expect(res.status).toBe(200)
    expect(Buffer.from(await res.arrayBuffer())).toEqual(content)
    expect(res.headers.get('content-length')).toBe(String(content.length))
    expect(res.headers.get('etag')).toBe(`"sha256-${sha}"`)
    expect(res.headers.get('repr-digest')).toBe(reprDigest(sha))
    expect(res.headers.get('content-type')).toBe('text/csv')
    await new Promise((r) => setTimeout(r, 20))
    const row = await s.repo.get(store.db, t.id)
    expect(row).toMatchObject({ accessCount: 1, bytesMoved: content.length })
    expect(await s.repo.accesses(store.db, t.id)).toEqual([expect.objectContaining({ status: 200, bytes: content.length, requester: consumer })])
  })

  it('answers HEAD with the headers only, without counting an access', async () => {
    const s = setup()
    const t = await s.transfer('urn:uuid:t1')
    const res = await s.plane.routes.request(`/data/transfers/${t.id}`, { method: 'HEAD', headers: { authorization: `Bearer ${await s.pullToken(t)}` } })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-length')).toBe(String(content.length))
    expect(res.headers.get('repr-digest')).toBe(reprDigest(sha))
    expect(await res.text()).toBe('')
    expect(await s.repo.get(store.db, t.id)).toMatchObject({ accessCount: 0 })
  })

  it('serves byte ranges (206 with Content-Range), suffix ranges, and 416 past the end', async () => {
    const s = setup()
    const t = await s.transfer('urn:uuid:t1')
    const token = await s.pullToken(t)
    const part = await s.get(t.id, token, { range: 'bytes=8-18' })
    expect(part.status).toBe(206)
    expect(part.headers.get('content-range')).toBe(`bytes 8-18/${content.length}`)
    expect(part.headers.get('content-length')).toBe('11')
    expect(Buffer.from(await part.arrayBuffer())).toEqual(content.subarray(8, 19))
    const tail = await s.get(t.id, token, { range: 'bytes=-5' })
    expect(Buffer.from(await tail.arrayBuffer())).toEqual(content.subarray(content.length - 5))
    const open = await s.get(t.id, token, { range: 'bytes=40-' })
    expect(Buffer.from(await open.arrayBuffer())).toEqual(content.subarray(40))
    const beyond = await s.get(t.id, token, { range: `bytes=${content.length + 10}-` })
    expect(beyond.status).toBe(416)
    expect(beyond.headers.get('content-range')).toBe(`bytes */${content.length}`)
  })

  it('refuses a token of another transfer (403) and counts nothing', async () => {
    const s = setup()
    const mine = await s.transfer('urn:uuid:t1')
    const theirs = await s.transfer('urn:uuid:t2')
    const res = await s.get(mine.id, await s.pullToken(theirs))
    expect(res.status).toBe(403)
    expect(await s.repo.get(store.db, mine.id)).toMatchObject({ accessCount: 0, bytesMoved: 0 })
  })

  it('refuses expired, tampered, foreign-secret and wrong-scope tokens (401), and no token at all', async () => {
    const s = setup()
    const t = await s.transfer('urn:uuid:t1')
    const token = await s.pullToken(t)
    const [header, payload, signature] = token.split('.') as [string, string, string]
    const forged = JSON.parse(Buffer.from(payload, 'base64url').toString())
    forged.sub = 'urn:uuid:t2'
    const tampered = `${header}.${Buffer.from(JSON.stringify(forged)).toString('base64url')}.${signature}`
    expect((await s.get(t.id, tampered)).status).toBe(401)
    const flipped = `${header}.${payload}.${signature.slice(0, -2)}${signature.endsWith('AA') ? 'BB' : 'AA'}`
    expect((await s.get(t.id, flipped)).status).toBe(401)
    const other = setup({ secret: new Uint8Array(32).fill(9) })
    expect((await s.get(t.id, await other.pullToken(t))).status).toBe(401)
    const receive = readHttpDataAddress(await s.plane.control.receiveAddress(t))!.token
    expect((await s.get(t.id, receive)).status).toBe(401)
    expect((await s.plane.routes.request(`/data/transfers/${t.id}`)).status).toBe(401)
    s.clock.advance(61_000)
    const expired = await s.get(t.id, token)
    expect(expired.status).toBe(401)
    expect(((await expired.json()) as { error: { message: string } }).error.message).toContain('expired')
    expect(await s.repo.get(store.db, t.id)).toMatchObject({ accessCount: 0 })
  })

  it('refuses access once the transfer is suspended, completed or terminated, and records the refusal', async () => {
    const s = setup()
    for (const state of ['SUSPENDED', 'COMPLETED', 'TERMINATED', 'REQUESTED'] as const) {
      const t = await s.transfer(`urn:uuid:${state}`, { state })
      const res = await s.get(t.id, await s.pullToken(t))
      expect(res.status).toBe(403)
      expect(((await res.json()) as { error: { message: string } }).error.message).toContain(state)
      expect(await s.repo.accesses(store.db, t.id)).toEqual([expect.objectContaining({ status: 403, bytes: 0 })])
    }
  })

  it('refuses the N+1th access of a count-limited agreement with the policy reason', async () => {
    const limit = 2
    const s = setup({
      usage: {
        check: ({ accessCount }) => (accessCount + 1 <= limit ? { allowed: true, reason: 'ok' } : { allowed: false, reason: `at most ${limit} accesses` }),
      },
    })
    const t = await s.transfer('urn:uuid:t1')
    const token = await s.pullToken(t)
    expect((await s.get(t.id, token)).status).toBe(200)
    expect((await s.get(t.id, token, { range: 'bytes=0-1' })).status).toBe(206)
    const third = await s.get(t.id, token)
    expect(third.status).toBe(403)
    expect(await third.json()).toMatchObject({ error: { code: 'policy_refused', message: 'at most 2 accesses' } })
    expect((await s.repo.get(store.db, t.id))?.accessCount).toBe(2)
    expect((await s.repo.accesses(store.db, t.id)).map((a) => a.status)).toEqual([200, 206, 403])
  })

  it('counts downloads on the agreement, not the transfer: three transfers get three downloads in all', async () => {
    const s = setup({ usage: atMost(3) })
    const statuses: number[] = []
    for (const id of ['urn:uuid:a', 'urn:uuid:b', 'urn:uuid:c', 'urn:uuid:d']) {
      const t = await s.transfer(id)
      const token = await s.pullToken(t)
      for (let i = 0; i < 3; i++) {
        const res = await s.get(t.id, token)
        statuses.push(res.status)
        await res.arrayBuffer()
      }
    }
    expect(statuses.filter((status) => status === 200)).toHaveLength(3)
    expect(statuses.filter((status) => status === 403)).toHaveLength(9)
    const refused = await s.get('urn:uuid:d', await s.pullToken((await s.repo.get(store.db, 'urn:uuid:d'))!))
    expect(await refused.json()).toMatchObject({ error: { code: 'policy_refused', message: expect.stringContaining('`three-downloads`') } })
    expect(await usageRepository(store, { clock: s.clock }).count(store.db, 'urn:agreement:1')).toBe(3)
    // What the access log says counted is what the agreement's counter says.
    const logged = (await Promise.all(['urn:uuid:a', 'urn:uuid:b', 'urn:uuid:c', 'urn:uuid:d'].map((id) => s.repo.accesses(store.db, id)))).flat()
    expect(logged.filter((a) => a.counted)).toHaveLength(3)
  })

  it('a Range that resumes or splits one download does not count; a second whole download does', async () => {
    const s = setup({ usage: atMost(2) })
    const t = await s.transfer('urn:uuid:t1')
    const token = await s.pullToken(t)
    const tail = await s.get(t.id, token, { range: 'bytes=20-' })
    const head = await s.get(t.id, token, { range: 'bytes=0-19' })
    expect(Buffer.concat([Buffer.from(await head.arrayBuffer()), Buffer.from(await tail.arrayBuffer())])).toEqual(content)
    expect(await s.repo.get(store.db, t.id)).toMatchObject({ accessCount: 1 })
    const again = await s.get(t.id, token)
    expect(again.status).toBe(200)
    await again.arrayBuffer()
    expect(await s.repo.get(store.db, t.id)).toMatchObject({ accessCount: 2 })
    // Re-reading the file in ranges is a third download: refused.
    expect((await s.get(t.id, token, { range: 'bytes=5-' })).status).toBe(403)
    expect(await usageRepository(store, { clock: s.clock }).count(store.db, 'urn:agreement:1')).toBe(2)
  })

  it('crash: an access records only bytes confirmed sent, so a download a crash cuts is never logged as complete', async () => {
    const s = setup()
    const t = await s.transfer('urn:uuid:t1')
    const res = await s.get(t.id, await s.pullToken(t))
    // Granted and counted, its body not sent yet: what a crash at this moment leaves in the log.
    expect(await s.repo.accesses(store.db, t.id)).toEqual([expect.objectContaining({ status: 200, counted: true, bytes: 0 })])
    expect(Buffer.from(await res.arrayBuffer())).toEqual(content)
    await until(async () => (await s.repo.accesses(store.db, t.id))[0]!.bytes === content.length || undefined)
  })

  it('a download cut short gives back what it did not send: resuming it does not count, its count stays', async () => {
    const s = setup({ usage: atMost(1) })
    const t = await s.transfer('urn:uuid:t1')
    const token = await s.pullToken(t)
    const cut = await s.get(t.id, token)
    await cut.body!.cancel()
    await until(async () => (await s.repo.get(store.db, t.id))!.bytesGranted < content.length || undefined)
    expect((await s.repo.accesses(store.db, t.id))[0]!.bytes).toBeLessThan(content.length)
    const resumed = await s.get(t.id, token, { range: 'bytes=10-' })
    expect(resumed.status).toBe(206)
    expect(Buffer.from(await resumed.arrayBuffer())).toEqual(content.subarray(10))
    expect(await usageRepository(store, { clock: s.clock }).count(store.db, 'urn:agreement:1')).toBe(1)
    expect((await s.repo.accesses(store.db, t.id)).map((a) => a.counted)).toEqual([true, false])
  })

  it('answers 429 with Retry-After beyond the parallel requests allowed on one transfer, and serves again once they end', async () => {
    // Large enough that a stream is still open until its body is read (it reads one chunk ahead).
    writeFileSync(join(root, 'participant', 'datasets', 'large.bin'), randomBytes(3 * 1024 * 1024))
    const s = setup({ maxParallelPerTransfer: 2, source: { kind: 'file', root: join(root, 'participant'), path: 'datasets/large.bin' } })
    const t = await s.transfer('urn:uuid:t1')
    const token = await s.pullToken(t)
    // Two downloads in flight (their bodies not read yet).
    const open = [await s.get(t.id, token), await s.get(t.id, token)]
    expect(open.map((r) => r.status)).toEqual([200, 200])
    const third = await s.get(t.id, token)
    expect(third.status).toBe(429)
    expect(third.headers.get('retry-after')).toBe('1')
    expect(await third.json()).toMatchObject({ error: { code: 'too_many_requests' } })
    // Another transfer is not held up.
    const other = await s.transfer('urn:uuid:t2')
    const elsewhere = await s.get(other.id, await s.pullToken(other))
    expect(elsewhere.status).toBe(200)
    await elsewhere.arrayBuffer()
    for (const r of open) await r.arrayBuffer()
    const later = await s.get(t.id, token)
    expect(later.status).toBe(200)
    await later.arrayBuffer()
    // The refused request changed nothing: two downloads then one, all counted, no access logged for the 429.
    expect((await s.repo.accesses(store.db, t.id)).map((a) => a.status)).toEqual([200, 200, 200])
  })

  it('refuses distributions that leave the participant folder, by path or by symbolic link', async () => {
    symlinkSync(join(root, 'secret.txt'), join(root, 'participant', 'datasets', 'link.txt'))
    for (const path of ['../secret.txt', 'datasets/../../secret.txt', join(root, 'secret.txt'), 'datasets/link.txt']) {
      const s = setup({ source: { kind: 'file', root: join(root, 'participant'), path } })
      const t = await s.transfer(`urn:uuid:${Buffer.from(path).toString('hex').slice(0, 20)}`)
      const res = await s.get(t.id, await s.pullToken(t))
      expect(res.status).toBe(403)
      expect(await res.text()).not.toContain('not yours')
    }
  })

  it('does not route encoded traversal in the path to anything', async () => {
    const s = setup()
    const t = await s.transfer('urn:uuid:t1')
    const res = await s.plane.routes.request(`/data/transfers/..%2F..%2Fsecret.txt`, { headers: { authorization: `Bearer ${await s.pullToken(t)}` } })
    expect(res.status).toBe(403)
  })

  it('exchanges a recently expired token for a fresh one, but not one expired beyond the grace period', async () => {
    const s = setup()
    const t = await s.transfer('urn:uuid:t1')
    const token = await s.pullToken(t)
    s.clock.advance(2 * 60 * 60 * 1000)
    expect((await s.get(t.id, token)).status).toBe(401)
    const refreshed = await s.plane.routes.request(`/data/transfers/${t.id}/token`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })
    expect(refreshed.status).toBe(200)
    expect((await s.get(t.id, ((await refreshed.json()) as { token: string }).token)).status).toBe(200)
    s.clock.advance(25 * 60 * 60 * 1000)
    const stale = await s.plane.routes.request(`/data/transfers/${t.id}/token`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })
    expect(stale.status).toBe(401)
  })

  it('refreshes a token while the transfer is STARTED, and not after', async () => {
    const s = setup()
    const t = await s.transfer('urn:uuid:t1')
    const token = await s.pullToken(t)
    s.clock.advance(30_000)
    const refreshed = await s.plane.routes.request(`/data/transfers/${t.id}/token`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })
    expect(refreshed.status).toBe(200)
    const fresh = ((await refreshed.json()) as { token: string }).token
    s.clock.advance(45_000) // the first token has expired, the fresh one has not
    expect((await s.get(t.id, token)).status).toBe(401)
    expect((await s.get(t.id, fresh)).status).toBe(200)
    await store.db.update(store.tables.transfers).set({ state: 'TERMINATED' })
    const after = await s.plane.routes.request(`/data/transfers/${t.id}/token`, { method: 'POST', headers: { authorization: `Bearer ${fresh}` } })
    expect(after.status).toBe(403)
  })

  it('proxies an upstream HTTP source with its secret header and the Range asked for', async () => {
    const calls: Array<{ url: string; headers: Record<string, string> }> = []
    const upstream = (async (url: string, init?: RequestInit) => {
      calls.push({ url, headers: init?.headers as Record<string, string> })
      return new Response(content.subarray(0, 4), { status: 206, headers: { 'content-length': '4', 'content-range': `bytes 0-3/${content.length}` } })
    }) as unknown as typeof fetch
    const s = setup({
      source: { kind: 'http', url: 'http://upstream.test/weather.csv', headers: { authorization: 'Bearer upstream-secret' } },
      fetch: upstream,
    })
    const t = await s.transfer('urn:uuid:t1')
    const res = await s.get(t.id, await s.pullToken(t), { range: 'bytes=0-3' })
    expect(res.status).toBe(206)
    expect(Buffer.from(await res.arrayBuffer())).toEqual(content.subarray(0, 4))
    expect(calls).toEqual([{ url: 'http://upstream.test/weather.csv', headers: { authorization: 'Bearer upstream-secret', range: 'bytes=0-3' } }])
  })
})

describe('push and the receiving endpoint', () => {
  function consumerPlane() {
    const c = setup()
    const incoming = (id: string) =>
      store.transaction((tx) =>
        c.repo.insert(
          tx,
          {
            id,
            role: 'consumer',
            providerPid: `${id}-p`,
            consumerPid: id,
            agreementId: 'urn:agreement:1',
            counterpartyId: provider,
            counterpartyAddress: 'http://provider.test/dsp',
            format: 'HttpData-PUSH',
            state: 'STARTED',
          },
          { cause: 'test', actor: 'local' },
        ),
      )
    return { ...c, incoming }
  }

  it('pushes the file to the consumer, which verifies size and sha256 and writes it to its data folder', async () => {
    const consumerSide = consumerPlane()
    const receiving = await consumerSide.incoming('urn:uuid:c1')
    const address = await consumerSide.plane.control.receiveAddress(receiving)
    // The provider's upload goes straight into the consumer's routes.
    const route: Upload = async ({ url, headers, body }) =>
      (await consumerSide.plane.routes.request(url, { method: 'PUT', headers, body: Readable.toWeb(body) as ReadableStream, duplex: 'half' } as RequestInit))
        .status
    const providerSide = setup({ upload: route })
    const sending = await providerSide.transfer('urn:uuid:p1', { format: 'HttpData-PUSH', dataAddress: address })
    const sent = await providerSide.plane.control.push(sending, address)
    expect(sent).toEqual({ bytes: content.length, sha256: sha })
    const received = await consumerSide.repo.get(store.db, receiving.id)
    expect(received).toMatchObject({ size: content.length, sha256: sha, bytesMoved: content.length })
    expect(readFileSync(received!.outputPath!)).toEqual(content)
  })

  it('refuses an upload whose digest or size does not match, and keeps nothing', async () => {
    const c = consumerPlane()
    const t = await c.incoming('urn:uuid:c1')
    const token = readHttpDataAddress(await c.plane.control.receiveAddress(t))!.token
    const put = (headers: Record<string, string>, body: Buffer = content) =>
      c.plane.routes.request(`/data/incoming/${t.id}`, { method: 'PUT', headers: { authorization: `Bearer ${token}`, ...headers }, body })
    const badDigest = await put({ 'repr-digest': reprDigest('00'.repeat(32)) })
    expect(badDigest.status).toBe(400)
    const badSize = await put({ 'content-length': String(content.length + 5) }, content)
    expect([400]).toContain(badSize.status)
    expect(existsSync(join(root, 'data', 'received', 'urn_uuid_c1'))).toBe(false)
    expect(existsSync(join(root, 'data', 'received', 'urn_uuid_c1.part'))).toBe(false)
    expect((await c.repo.get(store.db, t.id))?.sha256).toBeNull()
  })

  it('over a real connection, refuses a large upload whose sha256 does not match before answering, and keeps nothing', async () => {
    const c = consumerPlane()
    const t = await c.incoming('urn:uuid:c1')
    const token = readHttpDataAddress(await c.plane.control.receiveAddress(t))!.token
    const server = createServer(getRequestListener(c.plane.routes.fetch))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      // Many socket chunks, so the body goes through the streaming writer, not one buffer.
      const payload = randomBytes(8 * 1024 * 1024 + 123)
      const put = (digest: string) =>
        fetch(`http://127.0.0.1:${(server.address() as { port: number }).port}/data/incoming/${t.id}`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${token}`, 'repr-digest': reprDigest(digest) },
          body: payload,
        })
      const refused = await put(createHash('sha256').update(payload.subarray(1)).digest('hex'))
      expect(refused.status).toBe(400)
      expect(((await refused.json()) as { error: { message: string } }).error.message).toBe('the sha256 of the received bytes does not match the digest sent')
      const received = join(root, 'data', 'received')
      expect(readdirSync(received)).toEqual([])
      expect(await c.repo.get(store.db, t.id)).toMatchObject({ sha256: null, outputPath: null })
      expect(await c.repo.accesses(store.db, t.id)).toMatchObject([{ status: 400, bytes: payload.length }])

      const sha256 = createHash('sha256').update(payload).digest('hex')
      const accepted = await put(sha256)
      expect(accepted.status).toBe(201)
      expect(await accepted.json()).toEqual({ bytes: payload.length, sha256 })
      expect(readFileSync(join(received, 'urn_uuid_c1')).equals(payload)).toBe(true)
    } finally {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    }
  })

  it('refuses uploads with a pull token, a token of another transfer, or to a transfer not STARTED', async () => {
    const c = consumerPlane()
    const t = await c.incoming('urn:uuid:c1')
    const other = await c.incoming('urn:uuid:c2')
    const otherToken = readHttpDataAddress(await c.plane.control.receiveAddress(other))!.token
    const pull = readHttpDataAddress(
      httpDataAddress('x', (await c.tokens.issue({ transferId: t.id, agreementId: 'urn:agreement:1', scope: 'pull' })).token),
    )!.token
    const put = (token: string) =>
      c.plane.routes.request(`/data/incoming/${t.id}`, { method: 'PUT', headers: { authorization: `Bearer ${token}` }, body: content })
    expect((await put(pull)).status).toBe(401)
    expect((await put(otherToken)).status).toBe(403)
    await store.db.update(store.tables.transfers).set({ state: 'SUSPENDED' })
    expect((await put(readHttpDataAddress(await c.plane.control.receiveAddress(t))!.token)).status).toBe(403)
  })

  it('retries a push over its window until a consumer that was restarting takes it', async () => {
    let calls = 0
    // Down for five attempts (connection refused, then 503 while it starts), then back.
    const restarting: Upload = async ({ body }) => {
      calls++
      body.resume()
      if (calls <= 2) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })
      return calls <= 5 ? 503 : 201
    }
    const s = setup({ upload: restarting, pushRetry: { windowMs: 60_000, baseDelayMs: 5 } })
    const t = await s.transfer('urn:uuid:p1', { format: 'HttpData-PUSH' })
    await s.plane.control.push(t, httpDataAddress('http://consumer.test/data/incoming/x', 'tok'))
    expect(calls).toBe(6)
  })

  it('gives up a push once its retry window is over, with the reason and the attempts', async () => {
    let calls = 0
    const failing: Upload = async ({ body }) => {
      calls++
      body.resume()
      return 503
    }
    const s = setup({ upload: failing, pushRetry: { windowMs: 100, baseDelayMs: 10 } })
    const t = await s.transfer('urn:uuid:p1', { format: 'HttpData-PUSH' })
    await expect(s.plane.control.push(t, httpDataAddress('http://consumer.test/data/incoming/x', 'tok'))).rejects.toThrow(
      new RegExp(`503.*after ${'\\d+'} attempts`),
    )
    expect(calls).toBeGreaterThan(2)
  })

  it('gives up a push after its bounded attempts with the reason', async () => {
    let calls = 0
    const failing: Upload = async ({ body }) => {
      calls++
      body.resume()
      return 503
    }
    const s = setup({ upload: failing })
    const t = await s.transfer('urn:uuid:p1', { format: 'HttpData-PUSH' })
    await expect(s.plane.control.push(t, httpDataAddress('http://consumer.test/data/incoming/x', 'tok'))).rejects.toThrow(/503.*after 2 attempts/)
    expect(calls).toBe(2)
    // A push is one access of its transfer: the retry sent the same copy and counted nothing more;
    // and since the consumer received nothing in the end, that count is given back.
    expect((await s.repo.accesses(store.db, t.id)).map((a) => [a.status, a.counted, a.reason])).toEqual([
      [503, false, "the push failed: the consumer's endpoint answered 503"],
      [503, false, 'the consumer answered 503'],
    ])
    expect(await usageRepository(store, { clock: s.clock }).count(store.db, 'urn:agreement:1')).toBe(0)
    expect((await s.repo.get(store.db, t.id))?.accessCount).toBe(0)
  })

  it('refuses a push once the agreement has no downloads left, counting nothing and sending nothing', async () => {
    let calls = 0
    const s = setup({ usage: atMost(1), upload: async ({ body }) => (calls++, body.resume(), 201) })
    const first = await s.transfer('urn:uuid:p1', { format: 'HttpData-PUSH' })
    await s.plane.control.push(first, httpDataAddress('http://consumer.test/data/incoming/x', 'tok'))
    const second = await s.transfer('urn:uuid:p2', { format: 'HttpData-PUSH' })
    await expect(s.plane.control.push(second, httpDataAddress('http://consumer.test/data/incoming/y', 'tok'))).rejects.toThrow(/three-downloads/)
    expect(calls).toBe(1)
    expect(await usageRepository(store, { clock: s.clock }).count(store.db, 'urn:agreement:1')).toBe(1)
  })
})
