/**
 * Cold start to the first 200 from /health, and idle RSS once started, for the real connector
 * (the built CLI on the seed participant, SQLite) against a bare Hono "hello" server measured in
 * the same run. Medians of several runs.
 *
 *   node --import tsx bench/startup.ts [runs]
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { copyParticipant, freePort } from '../test/support/processes.ts'
import { fromRoot } from '../connector/paths.ts'
import { median, printTable } from './stats.ts'

const runs = Number(process.argv[2] ?? 7)

async function measure(command: string[], url: string, env: Record<string, string> = {}) {
  const started = performance.now()
  const child = spawn(process.execPath, command, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'], detached: true })
  let stderr = ''
  child.stderr!.on('data', (chunk) => (stderr += chunk))
  let exited = false
  child.once('exit', () => (exited = true))
  for (;;) {
    if (exited || performance.now() - started > 20_000) throw new Error(`${command.join(' ')} did not become ready:\n${stderr}`)
    try {
      if ((await fetch(url)).status === 200) break
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 2))
  }
  const ready = performance.now() - started
  await new Promise((r) => setTimeout(r, 500)) // let it settle: idle RSS, not start-up garbage
  const rss = readRss(child.pid!)
  process.kill(-child.pid!, 'SIGTERM')
  await new Promise((r) => child.once('exit', r))
  return { ready, rss }
}

function readRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024
}

const helloDir = mkdtempSync(join(tmpdir(), 'passerelle-hello-'))
const helloFile = join(helloDir, 'hello.mjs')
writeFileSync(
  helloFile,
  `import { serve } from '${fromRoot('node_modules/@hono/node-server/dist/index.mjs')}'
import { Hono } from '${fromRoot('node_modules/hono/dist/index.js')}'
const app = new Hono().get('/health', (c) => c.text('hello'))
serve({ fetch: app.fetch, port: Number(process.env.PORT), hostname: '127.0.0.1' })
process.on('SIGTERM', () => process.exit(0))`,
)

const connector = { ready: [] as number[], rss: [] as number[] }
const hello = { ready: [] as number[], rss: [] as number[] }
for (let i = 0; i < runs; i++) {
  const folder = await copyParticipant()
  const a = await measure([fromRoot('dist/passerelle.js'), 'start', '--config', folder.configFile], `${folder.url}/health`, { OTEL_SDK_DISABLED: 'true' })
  folder.remove()
  connector.ready.push(a.ready)
  connector.rss.push(a.rss)
  const port = await freePort()
  const b = await measure([helloFile], `http://127.0.0.1:${port}/health`, { PORT: String(port) })
  hello.ready.push(b.ready)
  hello.rss.push(b.rss)
}

printTable(`startup (${runs} runs, medians)`, [
  ['', 'ready (ms)', 'idle RSS (MB)'],
  ['passerelle (seed, SQLite)', median(connector.ready).toFixed(0), median(connector.rss).toFixed(1)],
  ['bare Hono hello (baseline)', median(hello.ready).toFixed(0), median(hello.rss).toFixed(1)],
  ['ratio', (median(connector.ready) / median(hello.ready)).toFixed(2), (median(connector.rss) / median(hello.rss)).toFixed(2)],
  ['target', '< 400', '< 90'],
])
