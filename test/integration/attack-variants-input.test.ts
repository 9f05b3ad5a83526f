import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { systemClock } from '../../connector/clock.ts'
import { randomIds } from '../../connector/ids.ts'
import { resolveConfig } from '../../connector/config/config.ts'
import { createIdentity, type Identity } from '../../connector/identity/identity.ts'
import { signJwt } from '../../connector/identity/jwt.ts'
import { loadKeyFile, loadKeyRing, type SigningKey } from '../../connector/identity/keys.ts'
import type { Store } from '../../connector/store/store.ts'
import { silentLogger } from '../../connector/telemetry/logger.ts'
import { arcticDataset, startDcpPair, type DcpPair } from '../support/dcp-participants.ts'
import { management } from '../support/processes.ts'
import { createTestDatabase, createTestStore, type TestDatabase } from '../support/stores.ts'

/**
 * Malformed input from a consumer with a real key (its DSP messages carry ID tokens signed with the
 * consumer process's own key) against a provider process on PostgreSQL, which refuses more than
 * SQLite stores (a NUL character in text, for one). Every variant gets a 4xx, never a 5xx, and the
 * provider stores nothing.
 */
const context = ['https://w3id.org/dspace/2025/1/context.jsonld']
const policy = { id: 'open', yaml: ['id: open', 'title: Open', 'permissions:', '  - action: use', ''].join('\n') }

let database: TestDatabase
let pair: DcpPair
let consumerKey: SigningKey
let offer: Record<string, any>
let store: Store
let asConsumer: Identity
beforeAll(async () => {
  database = await createTestDatabase('postgres')
  pair = await startDcpPair({ policy, provider: { config: { database: { url: database.url, poolSize: 4 } } } })
  consumerKey = await loadKeyFile(`${pair.consumer.dir}/identity/private-key.jwk`)
  // The catalog wants the consumer's credentials too: a full identity signing as the consumer.
  store = await createTestStore('sqlite')
  const identity = { mode: 'dcp', keyFiles: ['identity/private-key.jwk'], allowInsecureLoopback: true, trustedIssuers: [] }
  const config = resolveConfig({ participant: { id: pair.consumer.did, name: 'attacker' }, identity }, pair.consumer.dir, { env: {} })
  asConsumer = await createIdentity(
    { config, store, clock: systemClock, ids: randomIds, logger: silentLogger },
    { keys: await loadKeyRing({ root: pair.consumer.dir, keyFiles: ['identity/private-key.jwk'] }) },
  )
  const authorization = await asConsumer.tokenIssuer.authorizationFor({ participantId: pair.provider.did, dspUrl: `${pair.provider.url}/dsp/2025-1` }, [
    'MembershipCredential',
  ])
  const dataset = await fetch(`${pair.provider.url}/dsp/2025-1/catalog/datasets/${encodeURIComponent(arcticDataset)}`, { headers: { authorization } })
  expect(dataset.status, await dataset.clone().text()).toBe(200)
  offer = { ...((await dataset.json()) as any).hasPolicy[0], target: arcticDataset }
}, 60_000)
afterAll(async () => {
  await pair?.stop()
  await store?.close()
  await database?.drop()
})

async function token(claims: Record<string, unknown> = {}) {
  const iat = Math.floor(Date.now() / 1000)
  const { consumer, provider } = pair
  return `Bearer ${await signJwt({ iss: consumer.did, sub: consumer.did, aud: provider.did, jti: crypto.randomUUID(), iat, nbf: iat, exp: iat + 300, ...claims }, consumerKey, consumer.did)}`
}

async function post(path: string, body: string | Uint8Array, authorization?: string) {
  const response = await fetch(`${pair.provider.url}/dsp/2025-1${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: authorization ?? (await token()) },
    body,
  })
  return { status: response.status, text: await response.text() }
}

const negotiationCount = async () => (await management(pair.provider, 'GET', '/negotiations?limit=500')).body.items.length as number
const contractRequest = (overrides: Record<string, unknown> = {}) =>
  JSON.stringify({
    '@context': context,
    '@type': 'ContractRequestMessage',
    consumerPid: `urn:uuid:${crypto.randomUUID()}`,
    callbackAddress: `${pair.consumer.url}/dsp/2025-1`,
    offer,
    ...overrides,
  })

const variants: Array<[string, () => string | Uint8Array | Promise<string | Uint8Array>]> = [
  ['a NUL character in the consumerPid', () => contractRequest({ consumerPid: `urn:uuid:${crypto.randomUUID()}\u0000` })],
  ['a NUL character in the callback address', () => contractRequest({ callbackAddress: `${pair.consumer.url}/dsp/2025-1\u0000` })],
  ['a NUL character in the offer id', () => contractRequest({ offer: { ...offer, '@id': `${offer['@id']}\u0000` } })],
  ['a NUL character in a key of the offer', () => contractRequest({ offer: { ...offer, 'dct:title\u0000': 'x' } })],
  ['a NUL character in an annotation of the offer', () => contractRequest({ offer: { ...offer, 'dct:title': 'x\u0000' } })],
  ['a lone surrogate in the consumerPid', () => contractRequest({ consumerPid: `urn:uuid:${crypto.randomUUID()}\ud800` })],
  ['an empty body', () => ''],
  ['a body of null', () => 'null'],
  ['a body that is an array', () => `[${contractRequest()}]`],
  ['a body that is a string', () => JSON.stringify(contractRequest())],
  [
    'bytes that are not UTF-8',
    () => Buffer.concat([Buffer.from(contractRequest().slice(0, -1)), Buffer.from(',"dct:title":"'), Buffer.from([0xff, 0xfe, 0xc0]), Buffer.from('"}')]),
  ],
  [
    'a key spelled twice with an escape',
    () => contractRequest().replace('"consumerPid"', `"consumerPid":"urn:uuid:${crypto.randomUUID()}","\\u0063onsumerPid"`),
  ],
]

describe('malformed contract requests from a signed consumer, provider on PostgreSQL', () => {
  it.each(variants)('refused: %s, with a 4xx and nothing stored', async (_name, body) => {
    const before = await negotiationCount()
    const answer = await post('/negotiations/request', await body())
    expect(answer.status, answer.text).toBeGreaterThanOrEqual(400)
    expect(answer.status, answer.text).toBeLessThan(500)
    expect(await negotiationCount()).toBe(before)
  })

  it.each([
    ['a token whose payload nests thousands deep', () => token({ x: JSON.parse(`${'['.repeat(5000)}${']'.repeat(5000)}`) })],
    ['a token whose payload carries a NUL in its issuer', () => token({ iss: `${pair.consumer.did}\u0000` })],
    ['a token of 200 kB', () => token({ padding: 'x'.repeat(200_000) })],
  ])('refused: %s, with a 4xx and nothing stored', async (_name, authorization) => {
    const before = await negotiationCount()
    let auth: string
    try {
      auth = await authorization()
    } catch {
      // Too deep to sign with JSON.stringify: write the payload by hand.
      const header = Buffer.from(JSON.stringify({ alg: 'EdDSA', kid: `${pair.consumer.did}#key-1` })).toString('base64url')
      auth = `Bearer ${header}.${Buffer.from(`{"x":${'['.repeat(5000)}${']'.repeat(5000)}}`).toString('base64url')}.AAAA`
    }
    const answer = await post('/negotiations/request', contractRequest(), auth)
    expect(answer.status, answer.text).toBeGreaterThanOrEqual(400)
    expect(answer.status, answer.text).toBeLessThan(500)
    expect(await negotiationCount()).toBe(before)
  })

  it('many small negotiations from one consumer (300, 30 at a time) get 201 or 429, never a 5xx, and /health answers meanwhile', async () => {
    const statuses: number[] = []
    let slowestHealth = 0
    const health = (async () => {
      for (let i = 0; i < 10; i++) {
        const start = performance.now()
        expect((await fetch(`${pair.provider.url}/health`)).status).toBe(200)
        slowestHealth = Math.max(slowestHealth, performance.now() - start)
        await new Promise((r) => setTimeout(r, 100))
      }
    })()
    for (let round = 0; round < 10; round++) {
      const answers = await Promise.all(Array.from({ length: 30 }, () => post('/negotiations/request', contractRequest())))
      statuses.push(...answers.map((a) => a.status))
    }
    await health
    expect(statuses.filter((s) => s !== 201 && s !== 429)).toEqual([])
    expect(slowestHealth).toBeLessThan(2000)
  }, 120_000)

  it('happy: the same request, well formed, is accepted; so is it after a byte-order mark (RFC 8259 lets a parser drop it)', async () => {
    const before = await negotiationCount()
    for (const body of [contractRequest(), `\ufeff${contractRequest()}`]) {
      const answer = await post('/negotiations/request', body)
      expect(answer.status, answer.text).toBe(201)
    }
    expect(await negotiationCount()).toBe(before + 2)
  })
})
