// Runs every benchmark in turn (`npm run bench`); each prints its own figures.
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'

const only = process.argv.slice(2)
const here = new URL('.', import.meta.url).pathname
const scripts = readdirSync(here)
  .filter((name) => name.endsWith('.ts') && name !== 'stats.ts' && !name.endsWith('.test.ts'))
  .filter((name) => only.length === 0 || only.includes(name.replace(/\.ts$/, '')))
  .sort()
let failed = 0
for (const name of scripts) {
  console.log(`\n=== bench/${name}`)
  const result = spawnSync(process.execPath, ['--import', 'tsx', `${here}${name}`], { stdio: 'inherit' })
  if (result.status !== 0) failed++
}
process.exitCode = failed === 0 ? 0 : 1
