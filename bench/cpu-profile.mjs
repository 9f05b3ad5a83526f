// A CPU profile of a connector process for bench/negotiation.ts (`--cpu-prof` is not allowed in
// NODE_OPTIONS): loaded with `NODE_OPTIONS=--import <this file>`, it profiles from start-up and
// writes $BENCH_CPU_PROF/<pid>.cpuprofile when the process exits (open it in Chrome's DevTools).
import { Session } from 'node:inspector'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

const session = new Session()
session.connect()
session.post('Profiler.setSamplingInterval', { interval: 1000 })
session.post('Profiler.enable')
session.post('Profiler.start')
// An in-thread session answers synchronously: the profile is written before the process ends.
process.on('exit', () =>
  session.post('Profiler.stop', (error, result) => {
    if (!error) writeFileSync(join(process.env.BENCH_CPU_PROF, `${process.pid}.cpuprofile`), JSON.stringify(result.profile))
  }),
)
