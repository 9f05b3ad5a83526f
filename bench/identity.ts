/**
 * What identity adds to one DSP request: minting our self-issued ID token (sender) and verifying the
 * peer's (receiver), with warm and cold DID-document and claims caches, against the same request
 * without identity, all measured in the same run. In process: two participants and an authority on
 * 127.0.0.1 (real did:web resolution over HTTP), SQLite stores (the replay store is written per request).
 *
 *   node --import tsx bench/identity.ts [iterations]
 */
import { Hono } from 'hono'
import { systemClock } from '../connector/clock.ts'
import { randomIds } from '../connector/ids.ts'
import { startAuthority, startParticipant } from '../test/support/identity.ts'
import { createTestStore } from '../test/support/stores.ts'
import { median, percentile, printTable } from './stats.ts'

const iterations = Number(process.argv[2] ?? 2000)
const coldIterations = Math.max(50, Math.floor(iterations / 10))
const clock = systemClock
const ids = randomIds

const [providerStore, consumerStore] = [await createTestStore('sqlite'), await createTestStore('sqlite')]
const authority = await startAuthority(clock, ids)
const provider = await startParticipant({ store: providerStore, clock, ids, trustedIssuers: [authority.did] })
const consumer = await startParticipant({ store: consumerStore, clock, ids, trustedIssuers: [authority.did] })
await consumer.identity.credentials.add(await authority.issue(consumer.did, 'MembershipCredential', { country: 'CA' }, new Date(Date.now() + 86_400_000)))

// The same request with and without identity: a catalog-like JSON answer from a Hono app.
const body = { '@context': ['https://w3id.org/dspace/2025/1/context.jsonld'], '@type': 'Catalog', dataset: [] }
const app = new Hono()
app.post('/plain', (c) => c.json(body))
app.post('/authenticated', async (c) => {
  const types = c.req.query('types')
  await provider.identity.authenticator.authenticate({ authorization: c.req.header('authorization'), credentialTypes: types ? [types] : [] })
  return c.json(body)
})
const peer = { participantId: provider.did, dspUrl: `${provider.url}/dsp/2025-1` }
const mint = (types?: string[]) => consumer.identity.tokenIssuer.authorizationFor(peer, types)
const clearDidCache = () => (provider.identity.resolver as unknown as { clear(): void }).clear()
const clearClaims = () => provider.identity.dcp!.clearCaches()

async function time(n: number, run: () => unknown, before?: () => void | Promise<void>) {
  const samples: number[] = []
  for (let i = 0; i < n; i++) {
    await before?.()
    const started = performance.now()
    await run()
    samples.push(performance.now() - started)
  }
  return samples
}

// Warm-up: JIT, DID documents and claims in cache.
for (let i = 0; i < 200; i++) {
  await app.request('/plain', { method: 'POST' })
  await app.request('/authenticated?types=MembershipCredential', { method: 'POST', headers: { authorization: await mint(['MembershipCredential']) } })
}

const results: Array<[string, number[]]> = []
results.push(['baseline: request without identity', await time(iterations, () => app.request('/plain', { method: 'POST' }))])
results.push(['mint ID token + access token (sender)', await time(iterations, () => mint())])
let token = ''
results.push([
  'verify, warm DID cache, no credentials',
  await time(
    iterations,
    () => provider.identity.authenticator.authenticate({ authorization: token }),
    async () => void (token = await mint()),
  ),
])
results.push([
  'verify, warm DID + claims cache, 1 credential',
  await time(
    iterations,
    () => provider.identity.authenticator.authenticate({ authorization: token, credentialTypes: ['MembershipCredential'] }),
    async () => void (token = await mint(['MembershipCredential'])),
  ),
])
results.push([
  'request with identity, warm (mint + verify + answer)',
  await time(iterations, async () =>
    app.request('/authenticated?types=MembershipCredential', { method: 'POST', headers: { authorization: await mint(['MembershipCredential']) } }),
  ),
])
results.push([
  'verify, cold DID cache, no credentials',
  await time(
    coldIterations,
    () => provider.identity.authenticator.authenticate({ authorization: token }),
    async () => {
      clearDidCache()
      token = await mint()
    },
  ),
])
results.push([
  'verify, cold DID + claims cache, 1 credential',
  await time(
    coldIterations,
    () => provider.identity.authenticator.authenticate({ authorization: token, credentialTypes: ['MembershipCredential'] }),
    async () => {
      clearDidCache()
      clearClaims()
      token = await mint(['MembershipCredential'])
    },
  ),
])

const baseline = median(results[0]![1])
const fmt = (ms: number) => `${(ms * 1000).toFixed(0)} µs`
printTable(`identity: ${iterations} iterations (cold: ${coldIterations}), medians, Node ${process.version}`, [
  ['case', 'median', 'p90', 'added vs baseline', 'ratio'],
  ...results.map(([name, samples]) => {
    const m = median(samples)
    const added = name.startsWith('baseline') ? '' : name.startsWith('request') ? fmt(m - baseline) : fmt(m)
    return [name, fmt(m), fmt(percentile(samples, 90)), added, `${(m / baseline).toFixed(1)}×`]
  }),
])
const warm = median(results[4]![1]) - baseline
console.log(`\nadded per request with warm caches (mint + verify): ${fmt(warm)} — target < 1000 µs: ${warm < 1 ? 'met' : 'NOT met'}`)

await Promise.all([provider.close(), consumer.close(), authority.close()])
await Promise.all([providerStore.close(), consumerStore.close()])
