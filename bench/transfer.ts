/**
 * bench/transfer: a 1 GiB pull and a 1 GiB push over 127.0.0.1 through the connector's data plane,
 * against a baseline measured in the same run: a minimal Node `http` server piping the same file,
 * with `curl` as the client (pull: curl downloads; push: curl uploads to a server writing the file).
 *
 * Ours, pull: curl downloads from the provider's data endpoint (token check, state and usage check,
 * access record, Range-capable streaming). Ours, push: `curl -T` uploads to the consumer's receiving
 * endpoint, which verifies size and sha256 while writing; then the provider's push sender streams to
 * that endpoint (both in this process). Each run measures every case once, baseline first, and the
 * ratio is the median of the per-run ratios, so a burst of load on the machine weighs on both sides.
 * Peak RSS growth and CPU time of this process (the servers' side; curl's is not in it) are measured
 * during each transfer. The file's sha256 is computed once per file version when a transfer starts
 * (cached), so it is warmed before timing.
 *
 *   node --import tsx bench/transfer.ts            (BENCH_TRANSFER_MIB=256 for a quicker run, BENCH_RUNS=5)
 */
import { createReadStream, createWriteStream, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { getRequestListener } from '@hono/node-server'
import { systemClock } from '../connector/clock.ts'
import { randomIds } from '../connector/ids.ts'
import { createApp } from '../connector/http/app.ts'
import { readHttpDataAddress } from '../connector/transfer/messages.ts'
import { transferArea } from '../connector/transfer/area.ts'
import { repo } from '../connector/transfer/service.ts'
import { testConfig, testContext } from '../test/support/context.ts'
import { sharedDispatcher } from '../test/support/areas.ts'
import { createTestStore } from '../test/support/stores.ts'
import { median, printTable } from './stats.ts'
import { close, curlDownload, listen, measure, type Measure, run, writeRandomFile } from './transfer-support.ts'

const mib = Number(process.env.BENCH_TRANSFER_MIB ?? 1024)
const size = mib * 1024 * 1024
const runs = Number(process.env.BENCH_RUNS ?? 3)
const dir = mkdtempSync(join(tmpdir(), 'passerelle-bench-transfer-'))
const file = join(dir, 'files', 'payload.bin')
const baselineReceived = join(dir, 'baseline-received.bin')

function makeFile() {
  mkdirSync(join(dir, 'files'), { recursive: true })
  writeRandomFile(file, mib)
}

async function curlUpload(url: string, headers: string[] = []) {
  await run('curl', ['-sS', '--fail', '-o', '/dev/null', ...headers.flatMap((h) => ['-H', h]), '-T', file, url], { maxBuffer: 1024 * 1024 })
}

async function main() {
  const loadBefore = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')
  makeFile()
  const results: Record<string, Measure[]> = {}
  const record = (name: string, m: Measure) => (results[name] ??= []).push(m)

  // Baselines: a minimal Node http server piping the same file; curl as the client.
  const baselinePull = createServer((_req, res) => {
    res.writeHead(200, { 'content-length': String(size), 'content-type': 'application/octet-stream' })
    createReadStream(file, { highWaterMark: 1024 * 1024 }).pipe(res)
  })
  const baselinePush = createServer((req, res) => {
    pipeline(req, createWriteStream(baselineReceived)).then(
      () => res.end('ok'),
      () => res.writeHead(500).end(),
    )
  })
  const bpPort = await listen(baselinePull)
  const bsPort = await listen(baselinePush)

  // Ours: a provider and a consumer connector, each with the transfer area and its own database.
  const sides = await Promise.all(
    ['provider', 'consumer'].map(async (name) => {
      const store = await createTestStore('sqlite')
      const config = testConfig({ participant: { id: `did:web:${name}.bench`, name }, dataDir: join(dir, name, 'data') }, dir)
      const ctx = testContext(store, { config, clock: systemClock, ids: randomIds })
      const agreement = {
        id: 'urn:agreement:bench',
        state: 'FINALIZED',
        assigner: 'did:web:provider.bench',
        assignee: 'did:web:consumer.bench',
        target: 'urn:dataset:payload',
        signedAt: new Date(),
        policy: {},
      }
      const area = transferArea(
        { ctx, dispatcher: sharedDispatcher(ctx) },
        {
          agreements: () => ({ find: async () => agreement, providerOf: async () => undefined }),
          usage: { check: () => ({ allowed: true, reason: 'allowed' }) },
          sources: () => ({ resolve: async () => ({ kind: 'file', root: dir, path: 'files/payload.bin' }) }),
          monitorIntervalMs: 3_600_000,
        },
      )
      const { app } = createApp(ctx, [area])
      const server = createServer(getRequestListener(app.fetch))
      const port = await listen(server)
      const service = await area.start!(ctx)
      return { store, ctx, rt: area.runtime, server, port, service }
    }),
  )
  const [provider, consumer] = sides as [(typeof sides)[0], (typeof sides)[0]]
  // Processes as they would be once STARTED; the pull address starts hashing the file (warmed below).
  const insert = (side: typeof provider, id: string, role: 'provider' | 'consumer', format: string) =>
    side.store.transaction((tx) =>
      repo(side.rt.ctx).insert(
        tx,
        {
          id,
          role,
          providerPid: id,
          consumerPid: id,
          agreementId: 'urn:agreement:bench',
          datasetId: 'urn:dataset:payload',
          counterpartyId: role === 'provider' ? 'did:web:consumer.bench' : 'did:web:provider.bench',
          counterpartyAddress: 'http://127.0.0.1:1/dsp',
          format,
          state: 'STARTED',
        },
        { cause: 'bench', actor: 'local' },
      ),
    )
  const pullTransfer = await insert(provider, 'urn:uuid:bench-pull', 'provider', 'HttpData-PULL')
  const pullAddress = readHttpDataAddress(await provider.rt.dataPlane.control.pullAddress(pullTransfer))!
  const pullUrl = pullAddress.endpoint.replace(/^http:\/\/[^/]+/, `http://127.0.0.1:${provider.port}`)
  const warm = await measure(() => curlDownload(pullUrl, [`Authorization: Bearer ${pullAddress.token}`]))
  console.log(`warm-up pull (includes hashing ${mib} MiB once): ${warm.seconds.toFixed(2)} s`)

  for (let i = 0; i < runs; i++) {
    record('pull baseline (node http + curl)', await measure(() => curlDownload(`http://127.0.0.1:${bpPort}/`)))
    record('pull passerelle (curl)', await measure(() => curlDownload(pullUrl, [`Authorization: Bearer ${pullAddress.token}`])))
    // Every push writes a new file, as the receiving endpoint does: no truncating of the last copy in the timing.
    rmSync(baselineReceived, { force: true })
    record('push baseline (curl -T + node http)', await measure(() => curlUpload(`http://127.0.0.1:${bsPort}/`)))
    const receiving = await insert(consumer, `urn:uuid:bench-receive-${i}`, 'consumer', 'HttpData-PUSH')
    const sending = await insert(provider, `urn:uuid:bench-push-${i}`, 'provider', 'HttpData-PUSH')
    const address = await consumer.rt.dataPlane.control.receiveAddress(receiving)
    const target = readHttpDataAddress(address)!
    const local = { ...address, endpoint: target.endpoint.replace(/^http:\/\/[^/]+/, `http://127.0.0.1:${consumer.port}`) }
    const curlTarget = await insert(consumer, `urn:uuid:bench-curl-receive-${i}`, 'consumer', 'HttpData-PUSH')
    const curlToken = readHttpDataAddress(await consumer.rt.dataPlane.control.receiveAddress(curlTarget))!.token
    record(
      'push receive (curl -T → passerelle)',
      await measure(() => curlUpload(`http://127.0.0.1:${consumer.port}/data/incoming/${curlTarget.id}`, [`Authorization: Bearer ${curlToken}`])),
    )
    record('push passerelle (sender → receiver)', await measure(async () => void (await provider.rt.dataPlane.control.push(sending, local))))
    // Received copies go before the next run, so their pages do not weigh on it (nor fill the disk).
    rmSync(join(dir, 'consumer', 'data', 'received'), { recursive: true, force: true })
  }

  const mbps = (seconds: number) => size / 1024 / 1024 / seconds
  const row = (name: string) => {
    const r = results[name]!
    return { throughput: median(r.map((m) => mbps(m.seconds))), cpu: median(r.map((m) => m.cpuSeconds)), rss: median(r.map((m) => m.rssGrowth)) / 1024 / 1024 }
  }
  // Each run measures the baseline right before ours, so the load of the moment weighs on both alike.
  const ratio = (name: string, base: string) => median(results[name]!.map((m, i) => results[base]![i]!.seconds / m.seconds))
  const table: string[][] = [
    [
      'case',
      `median MiB/s (${runs} runs of ${mib} MiB)`,
      'median CPU s (this process)',
      'median peak RSS growth MiB',
      'ratio to baseline (median of per-run ratios)',
    ],
  ]
  for (const [base, ...ours] of [
    ['pull baseline (node http + curl)', 'pull passerelle (curl)'],
    ['push baseline (curl -T + node http)', 'push receive (curl -T → passerelle)', 'push passerelle (sender → receiver)'],
  ] as const) {
    const b = row(base)
    table.push([base, b.throughput.toFixed(0), b.cpu.toFixed(2), b.rss.toFixed(1), '1.00'])
    for (const name of ours) {
      const o = row(name)
      table.push([name, o.throughput.toFixed(0), o.cpu.toFixed(2), o.rss.toFixed(1), ratio(name, base).toFixed(2)])
    }
  }
  printTable(
    `bench/transfer: ${mib} MiB over 127.0.0.1 (target: ratio ≥ 0.80, RSS growth < 64 MiB); load average ${loadBefore} before, ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} after`,
    table,
  )

  await close(baselinePull)
  await close(baselinePush)
  for (const side of sides) {
    await side.service.stop()
    await close(side.server)
    await side.store.close()
  }
  rmSync(dir, { recursive: true, force: true })
}

await main()
