import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { evaluate } from '../../policies/index.ts'
import { testClock, testConfig } from '../../test/support/context.ts'
import { createTestStore } from '../../test/support/stores.ts'
import { fromRoot } from '../paths.ts'
import { egressPolicy } from '../http/egress.ts'
import { createPeerClient, type PeerClient } from '../http/peer-client.ts'
import type { Store } from '../store/store.ts'
import { createLogger, silentLogger } from '../telemetry/logger.ts'
import { createCatalogService } from './catalog-service.ts'
import { createVocabularySources } from './vocabularies.ts'

const vocabulary = `@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
<https://authority.example/purposes#ClimateModelTraining> a skos:Concept ;
  skos:prefLabel "Training climate models"@en ;
  skos:notation "climate-model-training" ;
  skos:broader <https://w3id.org/passerelle/ns#AIModelTraining> .
`
const noClimateTraining = `id: no-climate-model-training
conflict: prohibit
permissions:
  - action: use
    constraints: [{ leftOperand: purpose, operator: isA, rightOperand: research }]
prohibitions:
  - action: use
    constraints: [{ leftOperand: purpose, operator: isA, rightOperand: climate-model-training }]
`

/** A data-space authority publishing its vocabulary; each answer can be changed by the test. */
let served: { status: number; type: string; body: string }
let requests = 0
let server: Server
let url: string
let root: string
let peers: PeerClient
let logs: Array<Record<string, unknown>>

beforeEach(async () => {
  served = { status: 200, type: 'text/turtle', body: vocabulary }
  requests = 0
  server = createServer((_request, response) => {
    requests++
    response.writeHead(served.status, { 'content-type': served.type }).end(served.body)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  url = `http://127.0.0.1:${port}/vocabularies/purposes`
  root = mkdtempSync(join(tmpdir(), 'vocabularies-'))
  // The authority is on loopback: allowed explicitly, as an operator would for a local authority.
  peers = createPeerClient({ egress: egressPolicy({ allow: [`127.0.0.1:${port}`] }) })
  logs = []
})
afterEach(async () => {
  await peers.close()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  rmSync(root, { recursive: true, force: true })
})

const config = () => testConfig({ vocabularies: { sources: [{ url, operand: 'purpose' }], refreshMs: 60_000 } }, root)
const logger = createLogger({ write: (line) => logs.push(JSON.parse(line)) })
const open = () => createVocabularySources({ config: config(), peers, logger })

describe("the data space's published vocabulary", () => {
  it('is fetched through the HTTP client, put in force and cached in a private file', async () => {
    const sources = await open()
    expect(sources.current()).toEqual([])
    expect(await sources.refresh()).toBe(true)
    expect(sources.current()).toEqual([{ operand: 'purpose', file: url, text: vocabulary, format: 'turtle' }])
    const folder = join(root, 'data', 'vocabularies')
    const [file] = readdirSync(folder)
    expect(statSync(join(folder, file!)).mode & 0o777).toBe(0o600)
    expect(statSync(folder).mode & 0o777).toBe(0o700)
    expect(await sources.refresh()).toBe(false)
  })

  it('a restart without the network starts with the cached version', async () => {
    await (await open()).refresh()
    served = { status: 503, type: 'text/plain', body: 'down' }
    const again = await open()
    expect(again.current()[0]!.text).toBe(vocabulary)
    expect(await again.refresh()).toBe(false)
    expect(again.current()[0]!.text).toBe(vocabulary)
    expect(logs.at(-1)).toMatchObject({
      level: 'warn',
      msg: 'data-space vocabulary not fetched; the previous version stays in force',
      url,
      problem: 'answered 503',
    })
  })

  it.each([
    ['a broken file', { status: 200, type: 'text/turtle', body: vocabulary.replace(' ;\n  skos:prefLabel', '\n  skos:prefLabel') }, /:3:\d+: not valid Turtle/],
    [
      'a concept under one nobody knows',
      { status: 200, type: 'text/turtle', body: vocabulary.replace('AIModelTraining', 'AIModelTrainnig') },
      /:5:\d+: `https:\/\/w3id.org\/passerelle\/ns#AIModelTrainnig` .* is not a known concept/,
    ],
    [
      'a short name taken from the shipped purposes',
      { status: 200, type: 'text/turtle', body: vocabulary.replace('"climate-model-training"', '"research"') },
      /short name `research` is given to both/,
    ],
    ['an answer that is not a vocabulary', { status: 200, type: 'text/html', body: '<html></html>' }, /text\/html, which is not Turtle/],
    ['an answer larger than the limit', { status: 200, type: 'text/turtle', body: `# ${'x'.repeat(8_100_000)}\n` }, /more than 8000000 bytes/],
  ])('a new version with %s is refused with its reason, and the previous one stays in force', async (_name, answer, reason) => {
    const sources = await open()
    await sources.refresh()
    served = answer
    expect(await sources.refresh()).toBe(false)
    expect(sources.current()[0]!.text).toBe(vocabulary)
    const warning = logs.filter((l) => l.level === 'warn').at(-1)!
    expect(String(warning.problem)).toMatch(reason)
    // Nor does the cache change: a restart still has the good version.
    expect((await open()).current()[0]!.text).toBe(vocabulary)
  })

  it('goes through the egress policy: an authority on an address egress does not allow is never asked', async () => {
    const guarded = createPeerClient()
    try {
      const sources = await createVocabularySources({ config: config(), peers: guarded, logger })
      expect(await sources.refresh()).toBe(false)
      expect(sources.current()).toEqual([])
      expect(requests).toBe(0)
      expect(logs.at(-1)).toMatchObject({ level: 'warn', msg: 'data-space vocabulary not fetched; the previous version stays in force', url })
    } finally {
      await guarded.close()
    }
  })

  it('a new good version replaces the old one', async () => {
    const sources = await open()
    await sources.refresh()
    served = {
      status: 200,
      type: 'application/yaml',
      body: 'concepts:\n  - id: https://authority.example/purposes#FloodForecasting\n    notation: flood-forecasting\n    broader: weather-forecasting\n',
    }
    expect(await sources.refresh()).toBe(true)
    expect(sources.current()).toEqual([expect.objectContaining({ format: 'yaml', text: served.body })])
  })

  it('policies naming its concepts are published once it is in force, and decide by it', async () => {
    mkdirSync(join(root, 'policies'))
    cpSync(fromRoot('seeds/policies/open-with-attribution.yaml'), join(root, 'policies', 'open-with-attribution.yaml'))
    writeFileSync(join(root, 'policies', 'no-climate-model-training.yaml'), noClimateTraining)
    const store: Store = await createTestStore('sqlite')
    try {
      const sources = await open()
      const service = await createCatalogService({ config: config(), store, clock: testClock(), logger: silentLogger, vocabularies: sources.current })
      expect(service.policies.ids.has('no-climate-model-training')).toBe(false)
      expect(service.policies.errors.map((e) => e.message)).toContain('`climate-model-training` is not a known purpose')

      await sources.refresh()
      await service.reloadPolicies()
      const policy = service.policies.policy('no-climate-model-training')!
      const context = { scope: 'negotiation' as const, action: 'use', assignee: 'did:web:lab.example', credentials: [], now: new Date() }
      expect(evaluate(policy, { ...context, purpose: 'climate-research' }).allowed).toBe(true)
      const refused = evaluate(policy, { ...context, purpose: 'https://authority.example/purposes#ClimateModelTraining' })
      expect(refused.allowed).toBe(false)
      expect(refused.reason).toContain('no-climate-model-training')
    } finally {
      await store.close()
    }
  })

  it('start fetches at once and recompiles on a change; nothing is fetched without sources', async () => {
    const sources = await open()
    let changes = 0
    const stop = sources.start(async () => void changes++)
    await expect.poll(() => changes).toBe(1)
    stop()
    const none = await createVocabularySources({ config: testConfig({}, root), peers, logger })
    none.start(async () => {})()
    expect(requests).toBe(1)
  })
})
