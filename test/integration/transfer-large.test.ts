/**
 * A 1 GiB file moves through the data plane (pull and push, over real HTTP on 127.0.0.1) with
 * bounded memory: the process's resident memory grows by far less than the file.
 */
import { createHash, randomBytes } from 'node:crypto'
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs'
import { createServer, get as httpGet, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { getRequestListener } from '@hono/node-server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDataPlane } from '../../connector/transfer/data-plane/data-plane.ts'
import { digestCache, hashFile } from '../../connector/transfer/data-plane/sources.ts'
import { dataTokens } from '../../connector/transfer/data-plane/tokens.ts'
import type { Store } from '../../connector/store/store.ts'
import { silentLogger } from '../../connector/telemetry/logger.ts'
import { readHttpDataAddress } from '../../connector/transfer/messages.ts'
import { transferRepository } from '../../connector/transfer/repository.ts'
import { testIds } from '../support/context.ts'
import { agreement, agreementBook, allowAll } from '../support/transfer.ts'
import { systemClock } from '../../connector/clock.ts'
import { createTestStore } from '../support/stores.ts'

const mib = 1024
const size = mib * 1024 * 1024
const limit = 64 * 1024 * 1024

let dir: string
let store: Store
let server: Server
let base: string
let plane: ReturnType<typeof createDataPlane>
let repo: ReturnType<typeof transferRepository>
let expectedSha: string

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'passerelle-large-'))
  mkdirSync(join(dir, 'files'))
  const block = randomBytes(1024 * 1024)
  const fd = openSync(join(dir, 'files', 'big.bin'), 'w')
  for (let i = 0; i < mib; i++) writeSync(fd, block)
  closeSync(fd)
  expectedSha = await hashFile(join(dir, 'files', 'big.bin'))
  store = await createTestStore('sqlite')
  const ids = testIds()
  repo = transferRepository(store, { clock: systemClock, ids })
  plane = createDataPlane({
    store,
    clock: systemClock,
    ids,
    logger: silentLogger,
    agreements: agreementBook([agreement('urn:agreement:1')]),
    usage: allowAll,
    sources: { resolve: async () => ({ kind: 'file', root: dir, path: 'files/big.bin' }) },
    tokens: dataTokens({ secret: randomBytes(32), issuer: 'http://127.0.0.1', clock: systemClock, ids }),
    digests: digestCache(),
    publicUrl: 'http://127.0.0.1:1',
    dataDir: join(dir, 'data'),
  })
  server = createServer(getRequestListener(plane.routes.fetch))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`
}, 120_000)

afterAll(async () => {
  server?.closeAllConnections()
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()))
  await store?.close()
  rmSync(dir, { recursive: true, force: true })
})

const insert = (id: string, role: 'provider' | 'consumer', format: string) =>
  store.transaction((tx) =>
    repo.insert(
      tx,
      {
        id,
        role,
        providerPid: id,
        consumerPid: id,
        agreementId: 'urn:agreement:1',
        datasetId: 'urn:dataset:big',
        counterpartyId: 'did:web:consumer.test',
        counterpartyAddress: 'http://127.0.0.1:1/dsp',
        format,
        state: 'STARTED',
      },
      { cause: 'test', actor: 'local' },
    ),
  )

/** Peak growth of resident memory while `work` runs. */
async function peakGrowth(work: () => Promise<void>) {
  ;(globalThis as { gc?: () => void }).gc?.()
  const before = process.memoryUsage.rss()
  let peak = before
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 10)
  try {
    await work()
  } finally {
    clearInterval(timer)
  }
  return Math.max(peak, process.memoryUsage.rss()) - before
}

describe('a 1 GiB file through the data plane', () => {
  it('is pulled whole with the right sha256 while memory stays bounded', async () => {
    const t = await insert('urn:uuid:pull', 'provider', 'HttpData-PULL')
    const address = readHttpDataAddress(await plane.control.pullAddress(t))!
    const url = `${base}/data/transfers/${t.id}`
    // The file's sha256 is computed once when the transfer starts; wait for it (HEAD waits for it and
    // counts nothing) so that the figure below is the streaming alone.
    const head = await fetch(url, { method: 'HEAD', headers: { authorization: `Bearer ${address.token}` } })
    expect(head.headers.get('x-content-sha256')).toBe(expectedSha)
    let received = 0
    const hash = createHash('sha256')
    // A plain node:http client, so that the figure is the data plane's, not a heavier client's.
    const growth = await peakGrowth(
      () =>
        new Promise<void>((resolve, reject) => {
          httpGet(url, { headers: { authorization: `Bearer ${address.token}` } }, (res) => {
            try {
              expect(res.statusCode).toBe(200)
              expect(res.headers['content-length']).toBe(String(size))
              expect(res.headers['x-content-sha256']).toBe(expectedSha)
            } catch (error) {
              reject(error)
            }
            res.on('data', (chunk: Buffer) => {
              hash.update(chunk)
              received += chunk.length
            })
            res.on('end', () => resolve())
            res.on('error', reject)
          }).on('error', reject)
        }),
    )
    expect(received).toBe(size)
    expect(hash.digest('hex')).toBe(expectedSha)
    expect(growth).toBeLessThan(limit)
    await new Promise((r) => setTimeout(r, 50))
    expect((await repo.get(store.db, t.id))?.bytesMoved).toBe(size)
  }, 180_000)

  it('is pushed whole into the receiving endpoint, which verifies size and sha256, while memory stays bounded', async () => {
    const receiving = await insert('urn:uuid:receive', 'consumer', 'HttpData-PUSH')
    const sending = await insert('urn:uuid:push', 'provider', 'HttpData-PUSH')
    const address = await plane.control.receiveAddress(receiving)
    const local = { ...address, endpoint: `${base}/data/incoming/${receiving.id}` }
    let sent: { bytes: number; sha256: string } | undefined
    const growth = await peakGrowth(async () => {
      sent = await plane.control.push(sending, local)
    })
    expect(sent).toEqual({ bytes: size, sha256: expectedSha })
    const stored = await repo.get(store.db, receiving.id)
    expect(stored).toMatchObject({ size, sha256: expectedSha })
    expect(await hashFile(stored!.outputPath!)).toBe(expectedSha)
    expect(growth).toBeLessThan(limit)
  }, 180_000)
})
