/**
 * bench/transfer-http: a 1 GiB pull of an HTTP API distribution through the provider's data plane
 * against a baseline measured in the same run: `curl` downloading straight from the backend (a
 * minimal Node `http` server piping a file, with a Content-Length, in this process).
 *
 * Ours: curl downloads from the provider's data endpoint, which checks the token, the transfer and
 * the usage rules, checks the declared query parameters, reads the backend through the peer client
 * (egress policy), and relays the body through the guarded stream (byte limits, idle timeout, the
 * watch that stops it when the transfer or agreement ends). Each run measures the baseline, then
 * ours; the ratio is the median of the per-run ratios. Peak RSS growth and CPU time are this
 * process's (backend and connector; curl's is not in it).
 *
 *   node --import tsx bench/transfer-http.ts            (BENCH_TRANSFER_MIB=256 for a quicker run, BENCH_RUNS=5)
 */
import { createReadStream, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { getRequestListener } from '@hono/node-server'
import { HttpApi } from '../catalog/index.ts'
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
import { close, curlDownload, listen, measure, type Measure, writeRandomFile } from './transfer-support.ts'

const mib = Number(process.env.BENCH_TRANSFER_MIB ?? 1024)
const size = mib * 1024 * 1024
const runs = Number(process.env.BENCH_RUNS ?? 3)
const dir = mkdtempSync(join(tmpdir(), 'passerelle-bench-transfer-http-'))
const file = join(dir, 'payload.bin')

async function main() {
  const loadBefore = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')
  mkdirSync(dir, { recursive: true })
  writeRandomFile(file, mib)

  // The institution's API: answers /series?station=… with the file, with its length.
  const backend = createServer((_req, res) => {
    res.writeHead(200, { 'content-length': String(size), 'content-type': 'application/octet-stream' })
    createReadStream(file, { highWaterMark: 1024 * 1024 }).pipe(res)
  })
  const backendPort = await listen(backend)
  const backendUrl = `http://127.0.0.1:${backendPort}/series`

  const store = await createTestStore('sqlite')
  const config = testConfig({ participant: { id: 'did:web:provider.bench', name: 'provider' }, dataDir: join(dir, 'data') }, dir)
  const ctx = testContext(store, { config, clock: systemClock, ids: randomIds })
  const agreement = {
    id: 'urn:agreement:bench',
    state: 'FINALIZED',
    assigner: 'did:web:provider.bench',
    assignee: 'did:web:consumer.bench',
    target: 'urn:dataset:series',
    signedAt: new Date(),
    policy: {},
  }
  const api = HttpApi.parse({ query: [{ name: 'station', pattern: '[A-Z]{3}', required: true }] })
  const area = transferArea(
    { ctx, dispatcher: sharedDispatcher(ctx) },
    {
      agreements: () => ({ find: async () => agreement, providerOf: async () => undefined }),
      usage: { check: () => ({ allowed: true, reason: 'allowed' }) },
      sources: () => ({ resolve: async () => ({ kind: 'http', url: backendUrl, headers: { authorization: 'Bearer bench' }, api }) }),
      monitorIntervalMs: 3_600_000,
    },
  )
  const { app } = createApp(ctx, [area])
  const server = createServer(getRequestListener(app.fetch))
  const port = await listen(server)
  const service = await area.start!(ctx)
  const transfer = await store.transaction((tx) =>
    repo(area.runtime.ctx).insert(
      tx,
      {
        id: 'urn:uuid:bench-http-pull',
        role: 'provider',
        providerPid: 'urn:uuid:bench-http-pull',
        consumerPid: 'urn:uuid:bench-http-pull',
        agreementId: agreement.id,
        datasetId: agreement.target,
        counterpartyId: agreement.assignee,
        counterpartyAddress: 'http://127.0.0.1:1/dsp',
        format: 'HttpData-PULL',
        state: 'STARTED',
      },
      { cause: 'bench', actor: 'local' },
    ),
  )
  const address = readHttpDataAddress(await area.runtime.dataPlane.control.pullAddress(transfer))!
  const pullUrl = `${address.endpoint.replace(/^http:\/\/[^/]+/, `http://127.0.0.1:${port}`)}?station=MTL`
  const auth = [`Authorization: Bearer ${address.token}`]
  await curlDownload(pullUrl, auth)
  await curlDownload(`${backendUrl}?station=MTL`)

  const base: Measure[] = []
  const ours: Measure[] = []
  for (let i = 0; i < runs; i++) {
    base.push(await measure(() => curlDownload(`${backendUrl}?station=MTL`).then(() => {})))
    ours.push(await measure(() => curlDownload(pullUrl, auth).then(() => {})))
  }
  const mbps = (m: Measure[]) => median(m.map((x) => size / 1024 / 1024 / x.seconds))
  const row = (name: string, m: Measure[], ratio: string) => [
    name,
    mbps(m).toFixed(0),
    median(m.map((x) => x.cpuSeconds)).toFixed(2),
    (median(m.map((x) => x.rssGrowth)) / 1024 / 1024).toFixed(1),
    ratio,
  ]
  const ratio = median(ours.map((m, i) => base[i]!.seconds / m.seconds))
  printTable(
    `bench/transfer-http: ${mib} MiB over 127.0.0.1 (target: ratio ≥ 0.85, RSS growth < 64 MiB); load average ${loadBefore} before, ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} after`,
    [
      [
        'case',
        `median MiB/s (${runs} runs of ${mib} MiB)`,
        'median CPU s (this process)',
        'median peak RSS growth MiB',
        'ratio to baseline (median of per-run ratios)',
      ],
      row('backend straight (curl)', base, '1.00'),
      row('pull through passerelle (curl → data plane → backend)', ours, ratio.toFixed(2)),
    ],
  )
  await service.stop()
  await close(server)
  await close(backend)
  await store.close()
  rmSync(dir, { recursive: true, force: true })
}

await main()
