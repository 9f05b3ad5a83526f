/**
 * What a key rotation costs the requests running through it. Two connector processes with DCP
 * identity (did:web on 127.0.0.1, every DSP message carries a self-issued ID token) negotiate
 * without pause, `inFlight` at a time; after a stretch with no rotation (the baseline, same run),
 * both rotate with `passerelle keys rotate --overlap 4s`, as an operator would: the new key is
 * published at once, signs after the overlap (peers meet an unknown key id and read the DID
 * document again), and the old key is retired. Every negotiation's latency (request to FINALIZED,
 * long-polled) is kept with the phase it started in; the distribution of each phase is printed, and
 * how many took more than twice the baseline's median.
 *
 *   node --import tsx bench/key-rotation.ts [seconds of baseline] [in flight]
 */
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { loadavg } from 'node:os'
import { Agent, request } from 'undici'
import { fromRoot } from '../connector/paths.ts'
import { arcticDataset, startDcpPair } from '../test/support/dcp-participants.ts'
import { management as managementCall, spawnCli, type ParticipantFolder } from '../test/support/processes.ts'
import { median, percentile, printTable } from './stats.ts'

const baselineSeconds = Number(process.argv[2] ?? 20)
const inFlight = Number(process.argv[3] ?? 4)
if (!existsSync(fromRoot('dist/passerelle.js'))) execFileSync(process.execPath, [fromRoot('scripts/build.js')], { stdio: 'inherit' })

const agent = new Agent({ connections: 64 })
async function management(folder: ParticipantFolder, method: string, path: string, body?: unknown): Promise<any> {
  const response = await request(`${folder.url}/management/v1${path}`, {
    method: method as 'GET' | 'POST',
    headers: { authorization: `Bearer ${folder.managementKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    dispatcher: agent,
  })
  const text = await response.body.text()
  if (response.statusCode >= 300) throw new Error(`${method} ${path}: ${response.statusCode} ${text}`)
  return JSON.parse(text)
}

const pair = await startDcpPair({
  policy: { id: 'open-use', yaml: 'id: open-use\npermissions:\n  - action: use\n' },
  // As in the rotation test: peers read a document again for an unknown key at most every 500 ms,
  // so that an overlap of 4 s covers it, as five minutes cover the default.
  identity: { didRefreshMs: 500 },
})

/** One negotiation, request to FINALIZED: its latency in ms. */
async function negotiate(): Promise<number> {
  const started = performance.now()
  const { id } = await management(pair.consumer, 'POST', '/negotiations', {
    peerUrl: `${pair.provider.url}/dsp/2025-1`,
    peerId: pair.provider.did,
    datasetId: arcticDataset,
  })
  let seen = 0
  for (;;) {
    const n = await management(pair.consumer, 'GET', `/negotiations/${encodeURIComponent(id)}?after=${seen}&wait=10`)
    if (n.state === 'FINALIZED') return performance.now() - started
    if (n.state === 'TERMINATED') throw new Error(`negotiation terminated: ${n.reason}`)
    seen = n.timeline.at(-1)?.seq ?? seen
  }
}

type Phase = 'baseline' | 'published (overlap)' | 'new key signs, old retired'
let phase: Phase = 'baseline'
const samples: Array<{ phase: Phase; ms: number }> = []
const failures: string[] = []
let running = true
const loads: number[] = []
const workers = Array.from({ length: inFlight }, async () => {
  while (running) {
    const startedIn = phase
    try {
      samples.push({ phase: startedIn, ms: await negotiate() })
    } catch (error) {
      failures.push((error as Error).message)
    }
  }
})
const keysOf = async (folder: ParticipantFolder) => (await managementCall(folder, 'GET', '/keys')).body.keys as Array<{ kid: string; state: string }>
const rotate = async (folder: ParticipantFolder) => {
  const { output, exited } = spawnCli({ args: ['keys', 'rotate', '--overlap', '4s', '--config', folder.configFile] })
  if ((await exited) !== 0) throw new Error(`keys rotate failed: ${output.join('\n')}`)
  return /^added (key-\S+) /.exec(output.join('\n'))![1]!
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

try {
  // Warm-up (DID documents cached, statements prepared), not counted.
  await sleep(3000)
  samples.length = 0
  loads.push(loadavg()[0]!)
  await sleep(baselineSeconds * 1000)
  loads.push(loadavg()[0]!)
  const olds = [(await keysOf(pair.provider))[0]!.kid, (await keysOf(pair.consumer))[0]!.kid]
  phase = 'published (overlap)'
  const news = [await rotate(pair.provider), await rotate(pair.consumer)]
  // Until both sign with the new key and have retired the old one.
  for (const [i, folder] of [pair.provider, pair.consumer].entries()) {
    for (;;) {
      const keys = await keysOf(folder)
      const state = (kid: string) => keys.find((key) => key.kid === kid)?.state
      if (state(news[i]!) === 'signing' && state(olds[i]!) === 'retired') break
      await sleep(100)
    }
  }
  phase = 'new key signs, old retired'
  loads.push(loadavg()[0]!)
  await sleep(Math.max(10, baselineSeconds / 2) * 1000)
  loads.push(loadavg()[0]!)
} finally {
  running = false
  await Promise.all(workers)
  await pair.stop()
  await agent.close()
}

const base = median(samples.filter((s) => s.phase === 'baseline').map((s) => s.ms))
const row = (name: string, values: number[]) => [
  name,
  String(values.length),
  median(values).toFixed(1),
  percentile(values, 90).toFixed(1),
  percentile(values, 99).toFixed(1),
  Math.max(...values).toFixed(1),
  (Math.max(...values) / base).toFixed(2),
  String(values.filter((ms) => ms > 2 * base).length),
]
const phases: Phase[] = ['baseline', 'published (overlap)', 'new key signs, old retired']
printTable(
  `key rotation: negotiation latency (ms), ${inFlight} in flight, both connectors rotating (overlap 4 s); load average ${loads.map((l) => l.toFixed(1)).join(', ')}`,
  [
    ['phase', 'negotiations', 'median', 'p90', 'p99', 'max', 'max ÷ baseline median', 'above 2× baseline median'],
    ...phases.map((name) =>
      row(
        name,
        samples.filter((s) => s.phase === name).map((s) => s.ms),
      ),
    ),
    row(
      'rotation (both phases after it)',
      samples.filter((s) => s.phase !== 'baseline').map((s) => s.ms),
    ),
  ],
)
console.log(`failed requests: ${failures.length}${failures.length ? ` (${[...new Set(failures)].slice(0, 3).join('; ')})` : ''}`)
const refused = (pair.output().match(/identity: request refused|is not a key listed/g) ?? []).length
console.log(`tokens refused in the connectors' logs: ${refused}`)
process.exitCode = failures.length === 0 && refused === 0 ? 0 : 1
