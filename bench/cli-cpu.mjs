// Loaded with `node --import` by bench/cli-startup.ts: writes the process's CPU time (user + system)
// and its wall time since start to $BENCH_CLI_CPU when it exits.
import { writeFileSync } from 'node:fs'

process.on('exit', () => {
  const { user, system } = process.cpuUsage()
  writeFileSync(process.env.BENCH_CLI_CPU, JSON.stringify({ cpuMs: (user + system) / 1000, wallMs: performance.now() }))
})
