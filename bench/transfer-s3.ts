/**
 * bench/transfer-s3: pulling an object from S3-compatible storage through the connector's data plane,
 * against the AWS SDK's own streaming GetObject in the same run. The storage is s3rver (a real
 * S3-protocol server) on 127.0.0.1 in this process. Ours: curl downloads from the provider's data
 * endpoint, which streams GetObject (token, state and usage checks, access record). Baseline: the
 * SDK's GetObject body drained in this process. Each run measures both, baseline first; the ratio
 * is the median of per-run ratios. RSS growth and CPU time are this process's (the storage's and
 * the connector's side; curl's is not in it).
 *
 * Push into storage: the data plane's push of a file into a bucket (AmazonS3-PUSH: token-free,
 * usage check, multipart upload, access record), against a direct lib-storage multipart upload of
 * the same file with the same part size and parallelism, in the same run.
 *
 *   node --import tsx bench/transfer-s3.ts            (BENCH_TRANSFER_MIB=1024 for a 1 GiB object, BENCH_RUNS=5)
 */
import { createReadStream, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { createServer } from 'node:http'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import { getRequestListener } from '@hono/node-server'
import S3rver from 's3rver'
import { systemClock } from '../connector/clock.ts'
import { randomIds } from '../connector/ids.ts'
import { createApp } from '../connector/http/app.ts'
import { readHttpDataAddress } from '../connector/transfer/messages.ts'
import { s3DataAddress } from '../connector/transfer/s3-address.ts'
import { transferArea } from '../connector/transfer/area.ts'
import { repo } from '../connector/transfer/service.ts'
import { testConfig, testContext } from '../test/support/context.ts'
import { sharedDispatcher } from '../test/support/areas.ts'
import { createTestStore } from '../test/support/stores.ts'
import { median, printTable } from './stats.ts'
import { close, curlDownload, listen, measure, type Measure, writeRandomFile } from './transfer-support.ts'

const mib = Number(process.env.BENCH_TRANSFER_MIB ?? 256)
const size = mib * 1024 * 1024
const runs = Number(process.env.BENCH_RUNS ?? 3)
const dir = mkdtempSync(join(tmpdir(), 'passerelle-bench-s3-'))
const file = join(dir, 'payload.bin')

async function main() {
  const loadBefore = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')
  writeRandomFile(file, mib)
  mkdirSync(join(dir, 's3'))
  const s3 = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: join(dir, 's3') })
  const { port: s3Port } = await s3.run()
  const endpoint = `http://127.0.0.1:${s3Port}`
  const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } })
  await client.send(new CreateBucketCommand({ Bucket: 'bench' }))
  await new Upload({ client, params: { Bucket: 'bench', Key: 'payload.bin', Body: createReadStream(file) }, partSize: 16 * 1024 * 1024 }).done()
  console.log(`object stored: ${statSync(file).size} bytes`)

  const store = await createTestStore('sqlite')
  const config = testConfig({ participant: { id: 'did:web:provider.bench', name: 'provider' }, dataDir: join(dir, 'data') }, dir)
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
      sources: () => ({
        resolve: async (datasetId) =>
          datasetId === 'urn:dataset:file'
            ? { kind: 'file', root: dir, path: 'payload.bin' }
            : {
                kind: 's3',
                access: { endpoint, region: 'us-east-1', pathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } },
                bucket: 'bench',
                key: 'payload.bin',
              },
      }),
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
        id: 'urn:uuid:bench-s3-pull',
        role: 'provider',
        providerPid: 'urn:uuid:bench-s3-pull',
        consumerPid: 'urn:uuid:bench-s3-pull',
        agreementId: 'urn:agreement:bench',
        datasetId: 'urn:dataset:payload',
        counterpartyId: 'did:web:consumer.bench',
        counterpartyAddress: 'http://127.0.0.1:1/dsp',
        format: 'HttpData-PULL',
        state: 'STARTED',
      },
      { cause: 'bench', actor: 'local' },
    ),
  )
  const pushTransfer = await store.transaction((tx) =>
    repo(area.runtime.ctx).insert(
      tx,
      {
        id: 'urn:uuid:bench-s3-push',
        role: 'provider',
        providerPid: 'urn:uuid:bench-s3-push',
        consumerPid: 'urn:uuid:bench-s3-push',
        agreementId: 'urn:agreement:bench',
        datasetId: 'urn:dataset:file',
        counterpartyId: 'did:web:consumer.bench',
        counterpartyAddress: 'http://127.0.0.1:1/dsp',
        format: 'AmazonS3-PUSH',
        state: 'STARTED',
      },
      { cause: 'bench', actor: 'local' },
    ),
  )
  const inbox = { region: 'us-east-1', endpoint, bucket: 'bench', key: 'pushed.bin', credentials: 'unused' }
  const pushAddress = s3DataAddress(inbox, { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' })
  const push = async () => {
    const sent = await area.runtime.dataPlane.control.push(pushTransfer, pushAddress)
    if (sent.bytes !== size) throw new Error(`the push sent ${sent.bytes} bytes`)
  }
  // The same part size and parallelism as the data plane's upload (s3-destination.ts).
  const directUpload = async () => {
    await new Upload({ client, queueSize: 4, partSize: 8 * 1024 * 1024, params: { Bucket: 'bench', Key: 'direct.bin', Body: createReadStream(file) } }).done()
  }
  const address = readHttpDataAddress(await area.runtime.dataPlane.control.pullAddress(transfer))!
  const pullUrl = address.endpoint.replace(/^http:\/\/[^/]+/, `http://127.0.0.1:${port}`)

  const sdkGet = async () => {
    const body = (await client.send(new GetObjectCommand({ Bucket: 'bench', Key: 'payload.bin' }))).Body as Readable
    let bytes = 0
    for await (const chunk of body) bytes += (chunk as Buffer).length
    if (bytes !== size) throw new Error(`the SDK read ${bytes} bytes`)
  }
  const results: Record<string, Measure[]> = {}
  const record = (name: string, m: Measure) => (results[name] ??= []).push(m)
  await sdkGet()
  await curlDownload(pullUrl, [`Authorization: Bearer ${address.token}`])
  // The file's sha256 is computed once per file version (when a transfer starts), not per push.
  await directUpload()
  await push()
  const only = process.env.BENCH_CASES ?? 'pull,push'
  for (let i = 0; i < runs; i++) {
    if (only.includes('pull')) {
      record('baseline: SDK streaming GetObject', await measure(sdkGet))
      record('passerelle pull of the object (curl)', await measure(() => curlDownload(pullUrl, [`Authorization: Bearer ${address.token}`])))
    }
    if (only.includes('push')) {
      record('baseline: direct multipart upload (lib-storage)', await measure(directUpload))
      record('passerelle push of a file into the bucket', await measure(push))
    }
  }
  const mbps = (seconds: number) => size / 1024 / 1024 / seconds
  const baselineOf: Record<string, string> = {
    'baseline: SDK streaming GetObject': 'baseline: SDK streaming GetObject',
    'passerelle pull of the object (curl)': 'baseline: SDK streaming GetObject',
    'baseline: direct multipart upload (lib-storage)': 'baseline: direct multipart upload (lib-storage)',
    'passerelle push of a file into the bucket': 'baseline: direct multipart upload (lib-storage)',
  }
  const table: string[][] = [
    ['case', `median MiB/s (${runs} runs of ${mib} MiB)`, 'median CPU s (this process)', 'median peak RSS growth MiB', 'ratio to baseline'],
  ]
  for (const name of Object.keys(baselineOf).filter((n) => results[n])) {
    const r = results[name]!
    const base = baselineOf[name]!
    const ratio = median(r.map((m, i) => results[base]![i]!.seconds / m.seconds))
    table.push([
      name,
      median(r.map((m) => mbps(m.seconds))).toFixed(0),
      median(r.map((m) => m.cpuSeconds)).toFixed(2),
      (median(r.map((m) => m.rssGrowth)) / 1024 / 1024).toFixed(1),
      ratio.toFixed(2),
    ])
  }
  printTable(
    `bench/transfer-s3: ${mib} MiB object in s3rver over 127.0.0.1 (targets: ratio ≥ 0.80 for pull and push, RSS growth < 64 MiB); load average ${loadBefore} before, ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} after`,
    table,
  )
  await service.stop()
  await close(server)
  await store.close()
  client.destroy()
  await s3.close()
  rmSync(dir, { recursive: true, force: true })
}

await main()
