import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fromRoot } from '../../connector/paths.ts'
import { startDcpPair, type DcpPair } from '../support/dcp-participants.ts'
import { management } from '../support/processes.ts'
import { createTestDatabase, type TestDatabase } from '../support/stores.ts'

/**
 * Attack: a consumer fires 40 parallel GETs on one pull transfer at a provider on PostgreSQL. Each
 * answer is the data or 429 (retry later), never a 5xx; the database pool is not exhausted, and
 * the provider's health check and management API answer quickly meanwhile.
 */
const arcticFile = fromRoot('seeds/files/arctic-sea-ice-extent-monthly-2015-2024.csv')
const openPolicy = { id: 'open-with-attribution', yaml: readFileSync(fromRoot('seeds/policies/open-with-attribution.yaml'), 'utf8') }

let database: TestDatabase
let pair: DcpPair
beforeAll(async () => {
  database = await createTestDatabase('postgres')
  pair = await startDcpPair({ policy: openPolicy, provider: { config: { database: { url: database.url, poolSize: 10 } } } })
}, 60_000)
afterAll(async () => {
  await pair?.stop()
  await database?.drop()
})

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = performance.now()
  const value = await fn()
  return { ms: performance.now() - start, value }
}

describe('parallel GETs on one pull transfer, provider on PostgreSQL', () => {
  it('40 parallel GETs answer 200 or 429 (with Retry-After), never 5xx; /health and management answer quickly meanwhile', async () => {
    const health = await fetch(`${pair.provider.url}/health`)
    expect(((await health.json()) as any).database.dialect).toBe('postgres')
    const agreementId = await pair.negotiate()
    const transfer = await pair.requestPull(agreementId)
    expect(transfer.state).toBe('STARTED')
    const address = await pair.pullAddress(transfer.id)
    const expected = readFileSync(arcticFile)

    const attack = Promise.all(
      Array.from({ length: 40 }, async () => {
        const response = await fetch(address.endpoint, { headers: { authorization: `Bearer ${address.token}` } })
        const body = Buffer.from(await response.arrayBuffer())
        return { status: response.status, retryAfter: response.headers.get('retry-after'), intact: body.equals(expected) }
      }),
    )
    // Meanwhile, unrelated requests.
    const [healthCheck, managementList] = await Promise.all([
      timed(async () => (await fetch(`${pair.provider.url}/health`)).status),
      timed(async () => (await management(pair.provider, 'GET', '/transfers?role=provider')).status),
    ])
    const results = await attack
    const statuses = results.map((r) => r.status)
    expect(
      statuses.filter((s) => s >= 500),
      JSON.stringify(statuses),
    ).toEqual([])
    expect(
      statuses.every((s) => s === 200 || s === 429),
      JSON.stringify(statuses),
    ).toBe(true)
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(0)
    expect(results.filter((r) => r.status === 200).every((r) => r.intact)).toBe(true)
    expect(results.filter((r) => r.status === 429).every((r) => r.retryAfter === '1')).toBe(true)
    expect(healthCheck.value).toBe(200)
    expect(managementList.value).toBe(200)
    // Before the fix they stalled for the pool's 5 s connection timeout (the margin is for a loaded machine).
    expect(healthCheck.ms).toBeLessThan(2000)
    expect(managementList.ms).toBeLessThan(2000)
    // Every download that answered 200 was counted and logged, and nothing else.
    const detail = await management(
      pair.provider,
      'GET',
      `/transfers/${(await management(pair.provider, 'GET', '/transfers?role=provider')).body.items.find((t: any) => t.consumerPid === transfer.id).id}`,
    )
    expect(detail.body.accesses.filter((a: any) => a.status === 200)).toHaveLength(statuses.filter((s) => s === 200).length)
    expect(pair.output()).not.toMatch(/data plane failed/)
  }, 120_000)
})
