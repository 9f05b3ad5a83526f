/**
 * How long the example data space takes to come up before its story starts: copy and rewrite the
 * five folders, have both authorities publish their status lists and issue three credentials,
 * start the two authorities and three connectors (built CLI,
 * separate processes, SQLite each) until all answer. Baseline, same run: one seed connector process
 * started until /health answers. Also the shutdown of the whole space.
 *
 *   node --import tsx bench/example.ts [ROUNDS]     (default 3)
 */
import { DataSpace } from '../examples/eu-canada-climate/support/space.ts'
import { copyParticipant, startConnectorProcess } from '../test/support/processes.ts'
import { median, printTable } from './stats.ts'

const rounds = Number(process.argv[2] ?? 3)
const seed: number[] = []
const prepare: number[] = []
const up: number[] = []
const down: number[] = []

for (let round = 0; round < rounds; round++) {
  const folder = await copyParticipant()
  let t = performance.now()
  const connector = await startConnectorProcess(folder)
  seed.push(performance.now() - t)
  await connector.stop()
  folder.remove()

  const space = new DataSpace()
  try {
    t = performance.now()
    await space.prepare()
    prepare.push(performance.now() - t)
    t = performance.now()
    await space.start()
    up.push(performance.now() - t)
  } finally {
    t = performance.now()
    await space.stop()
    down.push(performance.now() - t)
  }
}

const ms = (v: number) => `${Math.round(v)} ms`
const baseline = median(seed)
printTable(`example data space, ${rounds} rounds, medians`, [
  ['what', 'median', 'ratio to one seed start'],
  ['baseline: one seed connector process up', ms(baseline), '1.00'],
  ['prepare: copy, rewrite ports, publish 2 status lists, issue 3 credentials', ms(median(prepare)), (median(prepare) / baseline).toFixed(2)],
  ['start: 2 authorities + 3 connectors up (in parallel)', ms(median(up)), (median(up) / baseline).toFixed(2)],
  ['stop: every process gone, folder removed', ms(median(down)), (median(down) / baseline).toFixed(2)],
])
process.exit(0)
