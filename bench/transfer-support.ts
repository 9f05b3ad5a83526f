/** What the transfer benchmarks share: a payload file, a measured run, servers on 127.0.0.1, curl. */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs'
import type { Server } from 'node:http'
import { Session } from 'node:inspector/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'

export const run = promisify(execFile)

/** Writes `mib` MiB of random bytes to `path` (one random block repeated: the content is not what is measured). */
export function writeRandomFile(path: string, mib: number) {
  const block = randomBytes(1024 * 1024)
  const fd = openSync(path, 'w')
  for (let i = 0; i < mib; i++) writeSync(fd, block)
  closeSync(fd)
}

export interface Measure {
  seconds: number
  /** CPU time of this process (user + system, every thread): the servers' side of the transfer. */
  cpuSeconds: number
  rssGrowth: number
}

/** Runs `work` while sampling this process's RSS; returns seconds taken, CPU time and peak RSS growth in bytes. */
export async function measure(work: () => Promise<void>): Promise<Measure> {
  ;(globalThis as { gc?: () => void }).gc?.()
  const before = process.memoryUsage.rss()
  let peak = before
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 10)
  const cpu = process.cpuUsage()
  const started = performance.now()
  await work()
  const seconds = (performance.now() - started) / 1000
  const { user, system } = process.cpuUsage(cpu)
  clearInterval(timer)
  peak = Math.max(peak, process.memoryUsage.rss())
  return { seconds, cpuSeconds: (user + system) / 1e6, rssGrowth: peak - before }
}

export const listen = (server: Server) =>
  new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)))
export const close = (server: Server) =>
  new Promise<void>((resolve) => {
    server.closeAllConnections()
    server.close(() => resolve())
  })

/** curl downloads `url` to nowhere (its CPU is not this process's). */
export async function curlDownload(url: string, headers: string[] = []) {
  await run('curl', ['-sS', '--fail', '-o', '/dev/null', ...headers.flatMap((h) => ['-H', h]), url], { maxBuffer: 1024 * 1024 })
}

/**
 * A CPU profile of chosen stretches of this process (the runs being explained, not the set-up):
 * sampling every 100 µs while resumed; `save` writes `<folder>/<name>.cpuprofile` (open it in Chrome's DevTools).
 */
export async function cpuProfile(folder: string) {
  const session = new Session()
  session.connect()
  await session.post('Profiler.enable')
  await session.post('Profiler.setSamplingInterval', { interval: 100 })
  let started = false
  const samples: Array<{ profile: unknown }> = []
  return {
    async resume() {
      await session.post('Profiler.start')
      started = true
    },
    async pause() {
      if (!started) return
      samples.push(await session.post('Profiler.stop'))
      started = false
    },
    async save(name: string) {
      samples.forEach((s, i) => writeFileSync(join(folder, `${name}-${i + 1}.cpuprofile`), JSON.stringify(s.profile)))
      session.disconnect()
    },
  }
}
