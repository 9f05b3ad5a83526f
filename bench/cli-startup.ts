/**
 * What a `passerelle` command costs to start: CPU time and wall time of `dist/passerelle.js
 * <command> --help` for every command, and of two real quick commands (`policy operands`,
 * `catalog validate seeds`), for this tree's build against the build of a baseline revision made in
 * the same run (its sources taken with `git archive`, bundled by its own scripts/build.js).
 * Runs alternate between the two builds; medians of several runs.
 *
 *   node --import tsx bench/cli-startup.ts [runs] [baseline-revision]
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fromRoot } from '../connector/paths.ts'
import { median, printTable } from './stats.ts'

const runs = Number(process.argv[2] ?? 10)
const baselineRevision = process.argv[3] ?? 'HEAD~1'
const root = fromRoot('.')
const work = mkdtempSync(join(tmpdir(), 'passerelle-cli-bench-'))
const cpuFile = join(work, 'cpu.json')
const cpuHook = fromRoot('bench/cli-cpu.mjs')

// The baseline: the revision's sources, bundled the way that revision bundled them.
const baseline = join(work, 'baseline')
execFileSync('sh', ['-c', `mkdir -p "${baseline}" && git -C "${root}" archive "${baselineRevision}" | tar -x -C "${baseline}"`])
symlinkSync(join(root, 'node_modules'), join(baseline, 'node_modules'))
execFileSync(process.execPath, ['scripts/build.js'], { cwd: baseline, stdio: 'ignore' })
execFileSync(process.execPath, ['scripts/build.js'], { cwd: root, stdio: 'ignore' })

const commands = [
  'start',
  'init',
  'doctor',
  'backup',
  'credentials',
  'keys',
  'negotiate',
  'transfer',
  'catalog',
  'dataset',
  'policy',
  'audit',
  'negotiations',
  'federation',
  'search',
  'version',
]
const cases: { name: string; args: string[] }[] = [
  ...commands.map((command) => ({ name: `${command} --help`, args: [command, '--help'] })),
  { name: 'policy operands', args: ['policy', 'operands', 'seeds/policies'] },
  { name: 'catalog validate seeds', args: ['catalog', 'validate', 'seeds'] },
]

function measure(tree: string, args: string[]) {
  const result = spawnSync(process.execPath, ['--import', cpuHook, join(tree, 'dist/passerelle.js'), ...args], {
    cwd: root,
    env: { ...process.env, BENCH_CLI_CPU: cpuFile },
    encoding: 'utf8',
  })
  if (result.status !== 0) throw new Error(`${tree}: passerelle ${args.join(' ')} exited ${result.status}\n${result.stderr}`)
  return JSON.parse(readFileSync(cpuFile, 'utf8')) as { cpuMs: number; wallMs: number }
}

const loadBefore = loadavg()[0]!.toFixed(2)
const rows = [['command', 'baseline cpu ms', 'now cpu ms', 'cpu ratio', 'baseline wall ms', 'now wall ms', 'wall ratio']]
for (const { name, args } of cases) {
  const before = { cpu: [] as number[], wall: [] as number[] }
  const after = { cpu: [] as number[], wall: [] as number[] }
  for (let i = 0; i < runs; i++) {
    for (const [tree, into] of [
      [baseline, before],
      [root, after],
    ] as const) {
      const { cpuMs, wallMs } = measure(tree, args)
      into.cpu.push(cpuMs)
      into.wall.push(wallMs)
    }
  }
  const [bc, ac, bw, aw] = [median(before.cpu), median(after.cpu), median(before.wall), median(after.wall)]
  rows.push([name, bc.toFixed(0), ac.toFixed(0), (ac / bc).toFixed(2), bw.toFixed(0), aw.toFixed(0), (aw / bw).toFixed(2)])
}
printTable(
  `passerelle start-up, medians of ${runs} runs, baseline ${baselineRevision} (load average ${loadBefore} before, ${loadavg()[0]!.toFixed(2)} after)`,
  rows,
)
rmSync(work, { recursive: true, force: true })
