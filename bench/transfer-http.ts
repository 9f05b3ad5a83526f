/**
 * bench/transfer-http: a 1 GiB pull of an HTTP API distribution through the provider's data plane
 * against a baseline measured in the same run: `curl` downloading straight from the backend (a
 * minimal Node `http` server piping a file, with a Content-Length).
 *
 * Ours: curl downloads from the provider's data endpoint, which checks the token, the transfer and
 * the usage rules, checks the declared query parameters, reads the backend through the peer client
 * (egress policy), and relays the body through the guarded stream (byte limits, idle timeout, the
 * watch that stops it when the transfer or agreement ends).
 *
 * The backend runs in a process of its own, as an institution's API runs on a host of its own: the
 * connector's event loop then carries only the relay. The earlier set-up (backend in this process,
 * sharing the connector's one thread) is measured too, as is a pull of the same file as a file
 * distribution (the data endpoint reading it itself). Each run measures every case once, its
 * baseline first; ratios are medians of per-run ratios. Peak RSS growth and CPU time are this
 * process's (the connector, plus the backend when it is in this process; curl's is not in it).
 *
 *   node --import tsx bench/transfer-http.ts            (BENCH_TRANSFER_MIB=256 for a quicker run, BENCH_RUNS=5;
 *                                                       BENCH_CPU_PROF=<folder> profiles our pulls only)
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
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
import { close, cpuProfile, curlDownload, listen, measure, type Measure, writeRandomFile } from './transfer-support.ts'

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

  // The institution's API: answers /series?station=… with the file, with its length. Once in this
  // process (the earlier set-up), once in a process of its own (the same code).
  const backend = createServer((_req, res) => {
    res.writeHead(200, { 'content-length': String(size), 'content-type': 'application/octet-stream' })
    createReadStream(file, { highWaterMark: 1024 * 1024 }).pipe(res)
  })
  const backendPort = await listen(backend)
  const localBackendUrl = `http://127.0.0.1:${backendPort}/series`
  const child = spawn(process.execPath, ['-e', backendProgram, file, String(size)], { stdio: ['ignore', 'pipe', 'inherit'] })
  const [portLine] = (await once(child.stdout!, 'data')) as [Buffer]
  const backendUrl = `http://127.0.0.1:${Number(portLine.toString().trim())}/series`

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
      sources: () => ({
        resolve: async (datasetId: string) =>
          datasetId === 'urn:dataset:file'
            ? { kind: 'file' as const, root: dir, path: 'payload.bin' }
            : { kind: 'http' as const, url: datasetId === 'urn:dataset:local' ? localBackendUrl : backendUrl, headers: { authorization: 'Bearer bench' }, api },
      }),
      monitorIntervalMs: 3_600_000,
    },
  )
  const { app } = createApp(ctx, [area])
  const server = createServer(getRequestListener(app.fetch))
  const port = await listen(server)
  const service = await area.start!(ctx)
  const pullOf = async (name: string, datasetId: string, query: string) => {
    const id = `urn:uuid:bench-${name}`
    const transfer = await store.transaction((tx) =>
      repo(area.runtime.ctx).insert(
        tx,
        {
          id,
          role: 'provider',
          providerPid: id,
          consumerPid: id,
          agreementId: agreement.id,
          datasetId,
          counterpartyId: agreement.assignee,
          counterpartyAddress: 'http://127.0.0.1:1/dsp',
          format: 'HttpData-PULL',
          state: 'STARTED',
        },
        { cause: 'bench', actor: 'local' },
      ),
    )
    const address = readHttpDataAddress(await area.runtime.dataPlane.control.pullAddress(transfer))!
    const url = `${address.endpoint.replace(/^http:\/\/[^/]+/, `http://127.0.0.1:${port}`)}${query}`
    const auth = [`Authorization: Bearer ${address.token}`]
    // Warm-up (and, for the file, its sha256 computed once and cached).
    await curlDownload(url, auth)
    return () => curlDownload(url, auth).then(() => {})
  }
  const pullHttp = await pullOf('http', agreement.target, '?station=MTL')
  const pullLocal = await pullOf('local', 'urn:dataset:local', '?station=MTL')
  const pullFile = await pullOf('file', 'urn:dataset:file', '')
  await curlDownload(`${backendUrl}?station=MTL`)
  await curlDownload(`${localBackendUrl}?station=MTL`)

  const cases = {
    base: [] as Measure[],
    http: [] as Measure[],
    file: [] as Measure[],
    localBase: [] as Measure[],
    local: [] as Measure[],
  }
  // BENCH_CPU_PROF=<folder>: a CPU profile of our HTTP backend pulls only (the baseline runs and set-up left out).
  const profile = process.env.BENCH_CPU_PROF ? await cpuProfile(process.env.BENCH_CPU_PROF) : undefined
  for (let i = 0; i < runs; i++) {
    cases.base.push(await measure(() => curlDownload(`${backendUrl}?station=MTL`).then(() => {})))
    await profile?.resume()
    cases.http.push(await measure(pullHttp))
    await profile?.pause()
    cases.file.push(await measure(pullFile))
    cases.localBase.push(await measure(() => curlDownload(`${localBackendUrl}?station=MTL`).then(() => {})))
    cases.local.push(await measure(pullLocal))
  }
  await profile?.save('transfer-http-pull')
  const mbps = (m: Measure[]) => median(m.map((x) => size / 1024 / 1024 / x.seconds))
  const ratio = (ours: Measure[], base: Measure[]) => median(ours.map((m, i) => base[i]!.seconds / m.seconds)).toFixed(2)
  const row = (name: string, m: Measure[], ratio: string) => [
    name,
    mbps(m).toFixed(0),
    median(m.map((x) => x.cpuSeconds)).toFixed(2),
    (median(m.map((x) => x.rssGrowth)) / 1024 / 1024).toFixed(1),
    ratio,
  ]
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
        'ratio to its baseline (median of per-run ratios)',
      ],
      row('backend straight (curl; backend in its own process)', cases.base, '1.00'),
      row('pull through passerelle (curl → data plane → that backend)', cases.http, ratio(cases.http, cases.base)),
      row('file pull through passerelle (the same file as a file distribution)', cases.file, ratio(cases.file, cases.base)),
      row('backend straight (curl; backend in this process)', cases.localBase, '1.00'),
      row('pull through passerelle (backend in this process)', cases.local, ratio(cases.local, cases.localBase)),
    ],
  )
  await service.stop()
  await close(server)
  await close(backend)
  child.kill()
  await store.close()
  rmSync(dir, { recursive: true, force: true })
}

/** The backend in a process of its own: `node -e <this> <file> <size>`, printing its port. */
const backendProgram = `
const { createServer } = require('node:http')
const { createReadStream } = require('node:fs')
const [file, size] = process.argv.slice(1)
const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-length': size, 'content-type': 'application/octet-stream' })
  createReadStream(file, { highWaterMark: 1024 * 1024 }).pipe(res)
})
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'))
`

await main()
