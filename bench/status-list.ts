/**
 * What a status list check costs a verifier (W3C Bitstring Status List): warm (the list cached and
 * fresh: a map look-up and a bit test, as for every credential of every request), revalidated (the
 * list stale, its issuer answers 304 to the ETag), and cold (fetch over HTTP, signature check against
 * the issuer's DID document, GZIP and base64url decoding of the 16 KB list). In process, one authority
 * on 127.0.0.1 serving its DID document and a list with about 1% of the bits set.
 *
 *   node --import tsx bench/status-list.ts [iterations]
 */
import { createHash } from 'node:crypto'
import { testClock } from '../test/support/context.ts'
import { loopbackServer } from '../test/support/identity.ts'
import { buildDidDocument } from '../connector/identity/did-document.ts'
import { createDidResolver } from '../connector/identity/did-resolver.ts'
import { generateSigningKey } from '../connector/identity/keys.ts'
import { limitedHttp } from '../connector/identity/limited-http.ts'
import { createStatusListChecker, minimumListBits, setBit, signStatusListCredential } from '../connector/identity/status-list.ts'
import { silentLogger } from '../connector/telemetry/logger.ts'
import { median, percentile, printTable } from './stats.ts'

const iterations = Number(process.argv[2] ?? 100_000)
const slowIterations = Math.max(50, Math.floor(iterations / 200))
const clock = testClock(new Date())

const server = await loopbackServer()
const key = await generateSigningKey('authority-key-1')
const document = JSON.stringify(buildDidDocument({ did: server.did, keys: [key] }))
const url = `${server.url}/status/revocation`
const bits = new Uint8Array(minimumListBits / 8)
for (let i = 0; i < minimumListBits / 100; i++) setBit(bits, (i * 7919) % minimumListBits, true)
const list = await signStatusListCredential({ issuerDid: server.did, key, url, purpose: 'revocation', bits, issuedAt: clock.now(), ttlMs: 300_000 })
const etag = `"${createHash('sha256').update(list).digest('hex').slice(0, 16)}"`
server.handle((req, res) => {
  if (req.url === '/.well-known/did.json') {
    res.writeHead(200, { 'content-type': 'application/json' })
    return res.end(document)
  }
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, { etag })
    return res.end()
  }
  res.writeHead(200, { 'content-type': 'application/vc+jwt', etag })
  res.end(list)
})

const resolver = createDidResolver({ clock, allowInsecureLoopback: true, logger: silentLogger })
const options = {
  http: limitedHttp,
  resolver,
  clock,
  logger: silentLogger,
  graceMs: 0,
  maxAgeMs: 300_000,
  maxBytes: 2 * 1024 * 1024,
  maxLists: 256,
  allowInsecureLoopback: true,
}
const checker = createStatusListChecker(options)
// An index whose bit is clear: the check passes (the common case).
const subject = { credential: 'urn:uuid:bench', issuer: server.did, references: [{ purpose: 'revocation' as const, index: 1, url }] }

async function time(n: number, run: () => Promise<unknown>, before?: () => void) {
  const samples: number[] = []
  for (let i = 0; i < n; i++) {
    before?.()
    const started = performance.now()
    await run()
    samples.push(performance.now() - started)
  }
  return samples
}

for (let i = 0; i < 2000; i++) await checker.check(subject)
const results: Array<[string, number[]]> = []
results.push(['warm: list cached and fresh', await time(iterations, () => checker.check(subject))])
const stale = createStatusListChecker({ ...options, maxAgeMs: 0 })
await stale.check(subject)
results.push(['revalidated: stale list, 304 to its ETag', await time(slowIterations, () => stale.check(subject))])
results.push([
  'cold: fetch, verify signature, decode 16 KB list',
  await time(
    slowIterations,
    () => checker.check(subject),
    () => checker.clear(),
  ),
])

const fmt = (ms: number) => (ms < 0.01 ? `${(ms * 1000).toFixed(2)} µs` : `${(ms * 1000).toFixed(0)} µs`)
printTable(`status list check: ${iterations} warm iterations (others: ${slowIterations}), Node ${process.version}`, [
  ['case', 'median', 'p99'],
  ...results.map(([name, samples]) => [name, fmt(median(samples)), fmt(percentile(samples, 99))]),
])
const warm = median(results[0]![1])
console.log(`\nwarm status list check: ${fmt(warm)} — target < 100 µs: ${warm < 0.1 ? 'met' : 'NOT met'}`)
await server.close()
