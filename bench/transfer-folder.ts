/**
 * bench/transfer-folder: a folder of 10,000 files pulled as one tar through the provider's data
 * plane, to show that it streams in constant memory: the time, this process's CPU and its peak RSS
 * growth, against a baseline measured in the same run, the system's `tar` writing the same folder
 * to /dev/null (no network, no checks, no manifest). Also a Range of the archive's second half
 * (what `transfer --resume` asks), which skips the first half's files (their sha256 cached).
 *
 * Ours: curl downloads from the data endpoint (token, state and usage checks, the listing read
 * twice: once for the tar's length and ETag, once to stream it, each file read and hashed for the
 * manifest). RSS growth holds the manifest (one line per file, about 150 bytes each) and nothing
 * that grows with the files' sizes.
 *
 *   node --expose-gc --import tsx bench/transfer-folder.ts      (BENCH_FOLDER_FILES=10000, BENCH_FILE_KIB=16, BENCH_RUNS=3)
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
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
import { close, cpuProfile, curlDownload, listen, measure, run, type Measure } from './transfer-support.ts'

const fileCount = Number(process.env.BENCH_FOLDER_FILES ?? 10_000)
const fileKib = Number(process.env.BENCH_FILE_KIB ?? 16)
const runs = Number(process.env.BENCH_RUNS ?? 3)
const dir = mkdtempSync(join(tmpdir(), 'passerelle-bench-folder-'))
const folder = join(dir, 'files', 'stations')

async function main() {
  const loadBefore = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')
  // 100 sub-folders of 100 files (a station per file), random content.
  const block = randomBytes(fileKib * 1024)
  for (let i = 0; i < fileCount; i++) {
    const sub = join(folder, `region-${String(Math.floor(i / 100)).padStart(3, '0')}`)
    if (i % 100 === 0) mkdirSync(sub, { recursive: true })
    block.writeUInt32LE(i, 0)
    writeFileSync(join(sub, `station-${String(i).padStart(5, '0')}.csv`), block)
  }

  const store = await createTestStore('sqlite')
  const config = testConfig({ participant: { id: 'did:web:provider.bench', name: 'provider' }, dataDir: join(dir, 'data') }, dir)
  const ctx = testContext(store, { config, clock: systemClock, ids: randomIds })
  const agreement = {
    id: 'urn:agreement:bench',
    state: 'FINALIZED',
    assigner: 'did:web:provider.bench',
    assignee: 'did:web:consumer.bench',
    target: 'urn:dataset:stations',
    signedAt: new Date(),
    policy: {},
  }
  const area = transferArea(
    { ctx, dispatcher: sharedDispatcher(ctx) },
    {
      agreements: () => ({ find: async () => agreement, providerOf: async () => undefined }),
      usage: { check: () => ({ allowed: true, reason: 'allowed' }) },
      sources: () => ({ resolve: async () => ({ kind: 'folder' as const, root: dir, path: 'files/stations' }) }),
      monitorIntervalMs: 3_600_000,
    },
  )
  const { app } = createApp(ctx, [area])
  const server = createServer(getRequestListener(app.fetch))
  const port = await listen(server)
  const service = await area.start!(ctx)
  const id = 'urn:uuid:bench-folder'
  const transfer = await store.transaction((tx) =>
    repo(area.runtime.ctx).insert(
      tx,
      {
        id,
        role: 'provider',
        providerPid: id,
        consumerPid: id,
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
  const url = address.endpoint.replace(/^http:\/\/[^/]+/, `http://127.0.0.1:${port}`)
  const auth = [`Authorization: Bearer ${address.token}`]
  const head = await run('curl', ['-sS', '--fail', '-I', ...auth.flatMap((h) => ['-H', h]), url])
  const size = Number(/content-length: (\d+)/i.exec(head.stdout)?.[1])
  const half = `Range: bytes=${Math.floor(size / 2)}-`
  // Warm-up: the file system's cache and the digests of the files (the range below uses them).
  await curlDownload(url, auth)
  await curlDownload(url, [...auth, half])

  const cases = { tar: [] as Measure[], whole: [] as Measure[], range: [] as Measure[] }
  // BENCH_CPU_PROF=<folder>: a CPU profile of our pulls only.
  const profile = process.env.BENCH_CPU_PROF ? await cpuProfile(process.env.BENCH_CPU_PROF) : undefined
  for (let i = 0; i < runs; i++) {
    // Through a pipe: GNU tar writing to /dev/null itself skips reading the files.
    cases.tar.push(await measure(() => run('sh', ['-c', 'tar -cf - -C "$0" . | cat > /dev/null', folder]).then(() => {})))
    await profile?.resume()
    cases.whole.push(await measure(() => curlDownload(url, auth)))
    if (!process.env.BENCH_CPU_PROF) cases.range.push(await measure(() => curlDownload(url, [...auth, half])))
    await profile?.pause()
  }
  await profile?.save('transfer-folder')
  const row = (name: string, m: Measure[], ratio: string) => [
    name,
    median(m.map((x) => x.seconds)).toFixed(2),
    median(m.map((x) => x.cpuSeconds)).toFixed(2),
    (median(m.map((x) => x.rssGrowth)) / 1024 / 1024).toFixed(1),
    ratio,
  ]
  const ratio = (ours: Measure[]) => median(ours.map((m, i) => cases.tar[i]!.seconds / m.seconds)).toFixed(2)
  printTable(
    `bench/transfer-folder: ${fileCount} files of ${fileKib} KiB (tar of ${(size / 1024 / 1024).toFixed(0)} MiB) over 127.0.0.1; load average ${loadBefore} before, ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} after`,
    [
      ['case', `median s (${runs} runs)`, 'median CPU s (this process)', 'median peak RSS growth MiB', 'ratio to system tar (time)'],
      row('baseline: system tar -cf - | cat > /dev/null', cases.tar, '1.00'),
      row('pull as tar through passerelle (curl)', cases.whole, ratio(cases.whole)),
      row('second half by Range (resume)', cases.range, ratio(cases.range)),
    ],
  )
  await service.stop()
  await close(server)
  await store.close()
  rmSync(dir, { recursive: true, force: true })
}

await main()
