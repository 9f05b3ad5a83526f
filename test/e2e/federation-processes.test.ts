import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { fixtureDataset } from '../../catalog/federation/fixtures.ts'
import { SearchHit } from '../../catalog/federation/search-hit.ts'
import { startFixturePeer, type FixturePeer } from '../support/fixture-peer.ts'
import { fromRoot } from '../../connector/paths.ts'
import {
  allowPort,
  until,
  management,
  copyParticipant,
  freePort,
  spawnCli,
  startConnectorProcess,
  type ConnectorProcess,
  type ParticipantFolder,
} from '../support/processes.ts'
import { expectDspValid } from '../support/dsp-schemas.ts'
import { createTestDatabase } from '../support/stores.ts'

/**
 * Three connector processes on 127.0.0.1: two providers with different datasets and visibility
 * policies, and a consumer (on PostgreSQL) that crawls both. The consumer finds the datasets of
 * both, sees only what each allows it, keeps a provider's results (stale) when it goes down, drops
 * a dataset its provider deleted, refuses hostile catalogs without harming its cache, and a hit
 * is enough to negotiate.
 */
const arctic = 'urn:uuid:0f3cee7e-e077-4be0-9365-3a791567f70e' // provider A, open-with-attribution
const wildfire = 'urn:uuid:d9c7c33d-9423-4f98-9122-8c84794feb94' // provider A, visible to members only
const greatLakes = 'urn:uuid:5b0f5e1e-6a55-4c55-9d7e-1c1f3f0b2a01'
const snowpack = 'urn:uuid:5b0f5e1e-6a55-4c55-9d7e-1c1f3f0b2a02'
const heatWaves = 'urn:uuid:5b0f5e1e-6a55-4c55-9d7e-1c1f3f0b2a03' // provider B, visible to members only

const cleanups: Array<() => unknown> = []
let providerA: ParticipantFolder
let providerB: ParticipantFolder
let consumer: ParticipantFolder
let processA: ConnectorProcess
let hostile: FixturePeer
const env = { PASSERELLE_LOG_LEVEL: 'warn' }

const search = async (query: string) => (await management(consumer, 'GET', `/federated-catalog?${query}`)).body
const peerOf = async (folder: ParticipantFolder | FixturePeer) => {
  const dspUrl = 'dspUrl' in folder ? folder.dspUrl : `${folder.url}/dsp/2025-1`
  return ((await management(consumer, 'GET', '/peers')).body.peers as any[]).find((p) => p.dspUrl === dspUrl)
}
/** Asks the consumer to crawl a peer now and waits until that crawl has finished. */
async function crawlNow(folder: ParticipantFolder | FixturePeer) {
  const before = await peerOf(folder)
  await management(consumer, 'POST', `/peers/${encodeURIComponent(before.id)}/crawl`)
  return until(async () => {
    const peer = await peerOf(folder)
    return peer.lastAttemptAt !== before.lastAttemptAt ? peer : undefined
  })
}

function dataset(id: string, title: string, keywords: string[], extra: Record<string, unknown> = {}) {
  const template = parse(readFileSync(fromRoot('seeds/datasets/arctic-sea-ice-extent.yaml'), 'utf8')) as Record<string, any>
  return {
    ...template,
    id,
    title: { en: title },
    description: { en: `${title}. Quality-controlled series from provider B.` },
    keywords: { en: keywords },
    ...extra,
  }
}

beforeAll(async () => {
  const [portA, portB, portC] = [await freePort(), await freePort(), await freePort()]
  const did = (port: number) => `did:web:127.0.0.1%3A${port}`
  const identity = { mode: 'static', staticTokens: { 'provider-a-token': did(portA), 'provider-b-token': did(portB), 'consumer-token': did(portC) } }
  providerA = await copyParticipant({ port: portA, config: { identity } })
  providerB = await copyParticipant({ port: portB, config: { identity, participant: { id: did(portB), name: 'Great Lakes Water Institute' } } })
  // Provider B publishes its own datasets (through its management API), not the seed's.
  for (const file of [
    'arctic-sea-ice-extent',
    'quebec-daily-precipitation',
    'quebec-daily-temperature',
    'quebec-wildfire-risk-index',
    'st-lawrence-water-temperature',
  ])
    rmSync(join(providerB.dir, 'datasets', `${file}.yaml`), { force: true })
  hostile = await startFixturePeer({ participantId: 'did:web:hostile.example', datasets: [fixtureDataset(0, { prefix: 'hostile' })], prefix: 'hostile' })
  // A server of the test's own: the consumer may crawl it.
  allowPort(Number(new URL(hostile.url).port))
  const database = await createTestDatabase('postgres')
  cleanups.push(database.drop, () => hostile.close())
  consumer = await copyParticipant({
    port: portC,
    config: {
      identity,
      federation: {
        peers: [
          { dspUrl: `http://127.0.0.1:${portA}/dsp/2025-1` },
          { dspUrl: `http://127.0.0.1:${portB}/dsp/2025-1`, did: did(portB), name: 'Great Lakes Water Institute' },
        ],
        interval: 600_000,
        jitter: 0,
        timeout: 5000,
        maxPageBytes: 1024 * 1024,
      },
    },
  })
  cleanups.push(providerA.remove, providerB.remove, consumer.remove)
  processA = await startConnectorProcess(providerA, { env })
  const processB = await startConnectorProcess(providerB, { env })
  cleanups.push(
    () => processA.stop('SIGKILL'),
    () => processB.stop('SIGKILL'),
  )
  for (const body of [
    dataset(greatLakes, 'Great Lakes ice cover, daily 2010–2024', ['ice cover', 'Great Lakes']),
    dataset(snowpack, 'Ontario snowpack survey', ['snow', 'Ontario'], { policies: ['research-only'] }),
    dataset(heatWaves, 'Heat-wave hospital admissions, Ontario', ['heat wave', 'health'], { visibility: 'members-only' }),
  ]) {
    const created = await management(providerB, 'POST', '/datasets', body)
    expect(created.status, JSON.stringify(created.body)).toBe(201)
  }
  // The providers must answer a catalog request from the consumer (this checks the wiring the
  // crawl depends on, so that a failure says where it is).
  const probe = await fetch(`${providerA.url}/dsp/2025-1/catalog/request`, {
    method: 'POST',
    headers: { authorization: 'Bearer consumer-token', 'content-type': 'application/json' },
    body: JSON.stringify({ '@context': ['https://w3id.org/dspace/2025/1/context.jsonld'], '@type': 'CatalogRequestMessage', filter: [] }),
  })
  expect(probe.status, `provider A refuses the consumer's catalog request: ${await probe.clone().text()}`).toBe(200)
  const processC = await startConnectorProcess(consumer, { env: { ...env, PASSERELLE_DATABASE_URL: database.url } })
  cleanups.push(() => processC.stop('SIGKILL'))
  // Both providers crawled once.
  await until(async () => {
    const { peers } = (await management(consumer, 'GET', '/peers')).body
    return peers.length === 2 && peers.every((p: any) => p.lastSuccessAt !== null) ? peers : undefined
  }).catch(async (error) => {
    throw new Error(`${error.message}: ${JSON.stringify((await management(consumer, 'GET', '/peers')).body)}\n${processC.output.join('\n')}`)
  })
}, 90_000)

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

describe('a consumer crawls two provider processes', () => {
  it('happy: finds the datasets of both providers, with their offers in plain language', async () => {
    const fromA = await search('q=precipitation%20qu%C3%A9bec')
    expect(fromA.hits.map((h: any) => h.peer.dspUrl)).toContain(`${providerA.url}/dsp/2025-1`)
    const precipitation = fromA.hits[0]
    expect(precipitation.title).toMatch(/precipitation/i)
    expect(precipitation.peer.participantId).toBe(providerA.did)
    expect(precipitation.offers.length).toBeGreaterThan(0)
    for (const offer of precipitation.offers) expect(offer.summary).toMatch(/^You may /)
    const fromB = await search('q=great%20lakes%20ice')
    expect(fromB.hits.map((h: any) => h.datasetId)).toEqual([greatLakes])
    expect(fromB.hits[0].peer).toMatchObject({ participantId: providerB.did, name: 'Great Lakes Water Institute' })
    const all = await search('limit=50')
    expect(all.hits.map((h: any) => h.datasetId).sort()).toEqual(expect.arrayContaining([arctic, greatLakes, snowpack]))
  })

  it('security: sees only what each provider shows this consumer', async () => {
    const all = await search('limit=50')
    const ids = all.hits.map((h: any) => h.datasetId)
    expect(ids).not.toContain(wildfire)
    expect(ids).not.toContain(heatWaves)
    // They exist, hidden by each provider's visibility policy.
    expect((await management(providerA, 'GET', `/datasets/${encodeURIComponent(wildfire)}`)).status).toBe(200)
    expect((await management(providerB, 'GET', `/datasets/${encodeURIComponent(heatWaves)}`)).status).toBe(200)
    const peers = (await management(consumer, 'GET', '/peers')).body.peers
    expect(peers.map((p: any) => p.datasetCount).sort()).toEqual([2, 4])
    expect(all.total).toBe(6)
  })

  it('happy: a provider publishes license, places, time coverage and modification, and the consumer filters on them', async () => {
    // Through the provider's DSP catalog endpoint, as the consumer asks it.
    const answer = await fetch(`${providerA.url}/dsp/2025-1/catalog/request`, {
      method: 'POST',
      headers: { authorization: 'Bearer consumer-token', 'content-type': 'application/json' },
      body: JSON.stringify({ '@context': ['https://w3id.org/dspace/2025/1/context.jsonld'], '@type': 'CatalogRequestMessage', filter: [] }),
    })
    const catalog = (await answer.json()) as { dataset: any[] }
    expectDspValid('catalog/catalog-schema.json', catalog)
    const published = catalog.dataset.find((d: any) => d['@id'] === arctic)
    expect(published).toMatchObject({
      'dct:spatial': { '@id': 'https://sws.geonames.org/2960860/', '@type': 'dct:Location' },
      'dct:temporal': {
        '@type': 'dct:PeriodOfTime',
        'dcat:startDate': { '@value': '2015-01-01', '@type': 'xsd:date' },
        'dcat:endDate': { '@value': '2024-12-31', '@type': 'xsd:date' },
      },
      'dct:modified': { '@value': '2025-02-03', '@type': 'xsd:date' },
    })
    for (const distribution of published.distribution)
      expect(distribution['dct:license']).toEqual({ '@id': 'https://creativecommons.org/licenses/by/4.0/', '@type': 'dct:LicenseDocument' })

    // What the consumer's crawl made of it.
    const hit = (await search('q=arctic%20sea%20ice')).hits[0]
    expect(hit).toMatchObject({
      datasetId: arctic,
      licenses: ['https://creativecommons.org/licenses/by/4.0/'],
      spatial: ['https://sws.geonames.org/2960860/'],
      temporal: { start: '2015-01-01', end: '2024-12-31' },
      modified: '2025-02-03',
    })
    const total = async (filter: string) => (await search(`q=arctic%20sea%20ice&${filter}`)).total
    expect(await total('license=licenses/by/4.0')).toBe(1)
    expect(await total('license=by-nc')).toBe(0)
    expect(await total('spatial=geonames.org/2960860')).toBe(1)
    expect(await total('spatial=geonames.org/6115047')).toBe(0)
    expect(await total('temporalFrom=2020-01-01&temporalTo=2020-12-31')).toBe(1)
    expect(await total('temporalFrom=2025-06-01')).toBe(0)
    expect(await total('modifiedSince=2025-02-01')).toBe(1)
    expect(await total('modifiedSince=2025-03-01')).toBe(0)
  })

  it('happy: the search command prints a table with peer, dataset, title and terms', async () => {
    const cli = spawnCli({ args: ['search', 'snowpack', '--url', consumer.url, '--key', consumer.managementKey], env: { COLUMNS: '200' } })
    expect(await cli.exited).toBe(0)
    const text = cli.output.join('\n')
    expect(text).toMatch(/PEER\s+DATASET\s+TITLE\s+TERMS/)
    expect(text).toContain('Great Lakes Water Institute')
    expect(text).toContain(snowpack)
    expect(text).toContain('Ontario snowpack survey')
    expect(text).toMatch(/You may use it/)
  })

  it('happy: a hit carries everything needed to negotiate', async () => {
    const hit = SearchHit.parse((await search(`q=arctic%20sea%20ice`)).hits[0])
    expect(hit.datasetId).toBe(arctic)
    const started = await management(consumer, 'POST', '/negotiations', {
      peerUrl: hit.peer.dspUrl,
      peerId: hit.peer.participantId,
      datasetId: hit.datasetId,
      offer: hit.offers[0]!.policy,
    })
    expect(started.status, JSON.stringify(started.body)).toBe(201)
    const done = await until(async () => {
      const { body } = await management(consumer, 'GET', `/negotiations/${started.body.id}`)
      return ['FINALIZED', 'TERMINATED'].includes(body.state) ? body : undefined
    })
    expect(done.state, done.reason).toBe('FINALIZED')
  })

  it('happy: passerelle negotiate --hit takes a hit printed by passerelle search --hit and reaches FINALIZED', async () => {
    const search = spawnCli({ args: ['search', 'arctic', 'sea', 'ice', '--hit', '1', '--config', consumer.configFile] })
    expect(await search.exited, search.output.join('\n')).toBe(0)
    const hitFile = join(consumer.dir, 'hit.json')
    writeFileSync(hitFile, search.output.join('\n'))
    const negotiate = spawnCli({ args: ['negotiate', '--hit', hitFile, '--wait', '--config', consumer.configFile] })
    expect(await negotiate.exited, negotiate.output.join('\n')).toBe(0)
    expect(negotiate.output.join('\n')).toMatch(/FINALIZED/)
  })

  it('happy: drops a dataset the provider deleted, at the next crawl', async () => {
    expect((await management(providerB, 'DELETE', `/datasets/${encodeURIComponent(snowpack)}`)).status).toBe(204)
    const peer = await crawlNow(providerB)
    expect(peer).toMatchObject({ datasetCount: 1, lastError: null, stale: false })
    expect((await search('q=snowpack')).total).toBe(0)
    expect((await search('q=great%20lakes')).total).toBe(1)
  })

  it('error: hostile catalogs (malformed, oversized) are refused and never harm the cache', async () => {
    const added = await management(consumer, 'POST', '/peers', { dspUrl: hostile.dspUrl, name: 'Hostile' })
    expect(added.status).toBe(201)
    await until(async () => ((await peerOf(hostile))?.lastSuccessAt ? true : undefined))
    expect((await search(`peer=${encodeURIComponent(hostile.dspUrl)}`)).total).toBe(1)
    const before = await search('limit=50')
    for (const behaviour of ['malformed', 'oversized', 'not-a-catalog'] as const) {
      hostile.behaviour = behaviour
      const peer = await crawlNow(hostile)
      expect(peer.stale).toBe(true)
      expect(peer.lastError).toMatch(behaviour === 'oversized' ? /more than 1048576 bytes/ : behaviour === 'malformed' ? /not JSON/ : /not a DSP Catalog/)
      const after = await search('limit=50')
      expect(after.total).toBe(before.total)
      expect(after.hits.map((h: any) => h.datasetId).sort()).toEqual(before.hits.map((h: any) => h.datasetId).sort())
    }
    expect((await management(consumer, 'DELETE', `/peers/${encodeURIComponent((await peerOf(hostile)).id)}`)).status).toBe(204)
  })

  it('error: keeps the results of a provider that goes down, marked stale with the time and error', async () => {
    await processA.stop('SIGTERM')
    const peer = await crawlNow(providerA)
    expect(peer).toMatchObject({ stale: true, datasetCount: 4, consecutiveFailures: 1 })
    expect(peer.lastError).toMatch(/connection refused/)
    expect(Date.parse(peer.lastErrorAt)).toBeGreaterThan(Date.parse(peer.lastSuccessAt))
    const hits = (await search('q=precipitation%20quebec')).hits
    expect(hits.length).toBeGreaterThan(0)
    expect(hits.every((h: any) => h.stale)).toBe(true)
    // Provider B is unaffected.
    expect((await search('q=great%20lakes')).hits[0].stale).toBe(false)
  })
})
