/**
 * What the egress check costs. The peer client checks an address when it opens a connection (a
 * kept-alive connection is not checked again), so the figures are per connection:
 *
 * - `policy.check`: classifying one resolved address against the allow-list (no I/O);
 * - connect: opening and closing a TCP connection to a local server with undici's own connector
 *   (baseline) and with the checked connector around it, alternated in rounds in the same run, for an
 *   IP literal and for a host name (both sides resolve `localhost` once per connection);
 * - request: a GET over a kept-alive connection through the peer client, with the real policy and
 *   with a policy that allows everything without looking.
 *
 * `node --import tsx bench/egress.ts [rounds]` prints medians in microseconds, the difference and the ratio.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { buildConnector } from 'undici'
import { egressPolicy, type EgressPolicy } from '../connector/http/egress.ts'
import { checkedConnector, createPeerClient } from '../connector/http/peer-client.ts'
import { median, printTable } from './stats.ts'

const rounds = Number(process.argv[2] ?? 7)
const perRound = 300

const server = createServer((_req, res) => res.end('{}'))
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
const port = (server.address() as AddressInfo).port
const policy = egressPolicy({ allow: [`127.0.0.1:${port}`, `localhost:${port}`, '10.20.0.0/16', 'fd00:1::/64', 'peer.internal:8443'] })
const openPolicy: EgressPolicy = { check: () => ({ allowed: true }), allowsDidHost: () => true }

// 1. The check alone.
const addresses = ['93.184.215.14', '2606:4700::1111', '127.0.0.1', '10.20.1.2', '169.254.169.254', '::ffff:127.0.0.1', 'fe80::1']
const checkTimes: number[] = []
let allowedCount = 0
for (let r = 0; r < rounds; r++) {
  const n = 100_000
  const started = process.hrtime.bigint()
  for (let i = 0; i < n; i++) {
    const address = addresses[i % addresses.length]!
    if (policy.check({ hostname: address, address, port }).allowed) allowedCount++
  }
  checkTimes.push(Number(process.hrtime.bigint() - started) / 1000 / n)
}

// 2. Connections: undici's connector against the checked one.
const raw = buildConnector({ timeout: 10_000 })
const checked = checkedConnector(buildConnector({ timeout: 10_000 }), policy)
type Connect = typeof raw
function connectOnce(connect: Connect, hostname: string): Promise<void> {
  return new Promise((resolve, reject) => {
    connect({ hostname, host: `${hostname}:${port}`, protocol: 'http:', port: String(port), servername: null } as never, (error, socket) => {
      if (error) return reject(error)
      socket!.destroy()
      resolve()
    })
  })
}
async function timeConnects(connect: Connect, hostname: string): Promise<number> {
  const samples: number[] = []
  for (let i = 0; i < perRound; i++) {
    const started = process.hrtime.bigint()
    await connectOnce(connect, hostname)
    samples.push(Number(process.hrtime.bigint() - started) / 1000)
  }
  return median(samples)
}
const connectMedians: Record<string, number[]> = { 'raw ip': [], 'checked ip': [], 'raw name': [], 'checked name': [] }
for (let r = 0; r < rounds; r++) {
  connectMedians['raw ip']!.push(await timeConnects(raw, '127.0.0.1'))
  connectMedians['checked ip']!.push(await timeConnects(checked, '127.0.0.1'))
  connectMedians['raw name']!.push(await timeConnects(raw, 'localhost'))
  connectMedians['checked name']!.push(await timeConnects(checked, 'localhost'))
}

// 3. Requests on a kept-alive connection through the whole peer client.
const real = createPeerClient({ egress: policy })
const open = createPeerClient({ egress: openPolicy })
async function timeRequests(client: ReturnType<typeof createPeerClient>): Promise<number> {
  const samples: number[] = []
  for (let i = 0; i < perRound; i++) {
    const started = process.hrtime.bigint()
    await client.request({ url: `http://127.0.0.1:${port}/` })
    samples.push(Number(process.hrtime.bigint() - started) / 1000)
  }
  return median(samples)
}
const requestMedians = { open: [] as number[], real: [] as number[] }
await timeRequests(open)
await timeRequests(real)
for (let r = 0; r < rounds; r++) {
  requestMedians.open.push(await timeRequests(open))
  requestMedians.real.push(await timeRequests(real))
}
await real.close()
await open.close()
server.close()

const us = (value: number) => value.toFixed(value < 10 ? 2 : 1)
const row = (name: string, baseline: number, measured: number) => [name, us(baseline), us(measured), us(measured - baseline), (measured / baseline).toFixed(3)]
printTable(`egress check (medians of ${rounds} rounds, microseconds; ${allowedCount > 0 ? 'mixed allowed and refused addresses' : ''})`, [
  ['what', 'baseline', 'with check', 'added', 'ratio'],
  ['policy.check, one address', '-', us(median(checkTimes)), us(median(checkTimes)), '-'],
  row('connect 127.0.0.1 (per connection)', median(connectMedians['raw ip']!), median(connectMedians['checked ip']!)),
  row('connect localhost (per connection)', median(connectMedians['raw name']!), median(connectMedians['checked name']!)),
  row('GET, kept-alive (per request)', median(requestMedians.open), median(requestMedians.real)),
])
console.log(
  `\nload average: ${(await import('node:os'))
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
)
