/**
 * DCAT-AP export benchmark: the public document (`GET /catalog.jsonld`) of a catalog of generated
 * datasets, streamed over HTTP on 127.0.0.1 and read to its end. Reports its size, the time to read
 * it and the serving process's peak RSS while it streams, per catalog size: constant memory means the
 * peak does not grow with the catalog. The datasets are written with bulk inserts straight into the
 * catalog's rows; the server runs in a fresh process with a small V8 heap (`--heap`, MB).
 *
 *   node --import tsx bench/catalog-export.ts [--sizes 10000,100000] [--dialect sqlite] [--heap 96]
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs, promisify } from 'node:util'
import { getRequestListener } from '@hono/node-server'
import { request } from 'undici'
import { fromRoot } from '../connector/paths.ts'
import { createCatalog, createCatalogArea } from '../connector/catalog/routes.ts'
import { createApp } from '../connector/http/app.ts'
import { openStore } from '../connector/store/store.ts'
import { silentLogger } from '../connector/telemetry/logger.ts'
import { createTestDatabase, type Dialect } from '../test/support/stores.ts'
import { testConfig, testContext } from '../test/support/context.ts'
import { benchPolicies, fillCatalog } from './catalog-fill.ts'

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10000,100000' },
    dialect: { type: 'string', default: 'sqlite' },
    heap: { type: 'string', default: '96' },
    serve: { type: 'string' },
  },
})
/** The serving process's V8 heap limit (MB): a document streamed in constant memory fits whatever its size. */
const heapMb = Number(values.heap)

if (values.serve) {
  // Child: serve the catalog and stream the document to ourselves, sampling RSS meanwhile.
  const store = await openStore({ url: values.serve, poolSize: 4 })
  const root = mkdtempSync(join(tmpdir(), 'bench-export-'))
  const ctx = testContext(store, { config: testConfig({ dataDir: join(root, 'data') }, root), logger: silentLogger })
  const { app } = createApp(ctx, [createCatalogArea(await createCatalog(ctx, { policies: benchPolicies }))])
  const server: Server = createServer(getRequestListener(app.fetch))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  globalThis.gc?.()
  const before = process.memoryUsage().rss
  let peak = before
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20)
  const started = performance.now()
  const response = await request(`http://127.0.0.1:${(server.address() as AddressInfo).port}/catalog.jsonld`)
  let bytes = 0
  let datasets = 0
  const marker = '"dcat:Dataset"'
  let tail = ''
  for await (const chunk of response.body) {
    bytes += chunk.length
    // Count dataset nodes without parsing the whole (a marker may straddle two chunks).
    const text = tail + chunk.toString('latin1')
    for (let i = text.indexOf(marker); i !== -1; i = text.indexOf(marker, i + 1)) datasets++
    tail = text.slice(-(marker.length - 1))
  }
  const seconds = (performance.now() - started) / 1000
  clearInterval(sampler)
  peak = Math.max(peak, process.memoryUsage().rss)
  console.log(JSON.stringify({ status: response.statusCode, bytes, datasets, seconds, before, peak }))
  server.close()
  await store.close()
  rmSync(root, { recursive: true, force: true })
  process.exit(0)
}

console.log(`| datasets | database | document (MB) | datasets counted | read (s) | RSS before / peak while streaming (MB), heap limit ${heapMb} MB |`)
console.log('|---|---|---|---|---|---|')
for (const size of values.sizes!.split(',').map(Number)) {
  const database = await createTestDatabase(values.dialect as Dialect)
  try {
    const store = await openStore({ url: database.url, poolSize: 4 })
    await fillCatalog(store, size)
    await store.close()
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--expose-gc', `--max-old-space-size=${heapMb}`, '--import', 'tsx', fromRoot('bench/catalog-export.ts'), '--serve', database.url],
      { maxBuffer: 1 << 20 },
    )
    const r = JSON.parse(stdout.trim().split('\n').at(-1)!)
    if (r.status !== 200) throw new Error(`status ${r.status}`)
    const mb = (n: number) => (n / 2 ** 20).toFixed(0)
    console.log(
      `| ${size.toLocaleString('en')} | ${values.dialect} | ${mb(r.bytes)} | ${r.datasets.toLocaleString('en')} | ${r.seconds.toFixed(1)} | ${mb(r.before)} / ${mb(r.peak)} |`,
    )
  } finally {
    await database.drop()
  }
}
