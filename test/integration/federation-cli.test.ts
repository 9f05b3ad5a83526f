import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { getRequestListener } from '@hono/node-server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fixtureDataset } from '../../catalog/federation/fixtures.ts'
import { systemClock } from '../../connector/clock.ts'
import type { CliIo } from '../../connector/cli/io.ts'
import { runCli } from '../../connector/cli/main.ts'
import type { Ctx } from '../../connector/context.ts'
import { federationArea } from '../../connector/federation/area.ts'
import { createApp } from '../../connector/http/app.ts'
import type { Store } from '../../connector/store/store.ts'
import { startFixturePeer, type FixturePeer } from '../support/fixture-peer.ts'
import { testConfig, testContext } from '../support/context.ts'
import { createTestStore, dialects } from '../support/stores.ts'

/**
 * `passerelle federation peers|crawl` and the freshness `passerelle search` prints, against a
 * connector whose crawler runs (interval one hour: only a crawl asked for happens) and two peers
 * served on 127.0.0.1, one of which fails.
 */
const key = 'test-management-key-0123456789'

function io() {
  const out: string[] = []
  const err: string[] = []
  const value: CliIo & { out: string[]; err: string[] } = {
    stdout: (t) => void out.push(t),
    stderr: (t) => void err.push(t),
    cwd: '/',
    env: { COLUMNS: '200' },
    out,
    err,
  }
  return value
}

describe.each(dialects)('federation peers and crawl through the CLI on %s', (dialect) => {
  let store: Store
  let ctx: Ctx
  let server: Server
  let stopArea: () => Promise<void>
  let good: FixturePeer
  let bad: FixturePeer
  let connection: string[]

  beforeAll(async () => {
    good = await startFixturePeer({ participantId: 'did:web:good.example', datasets: [fixtureDataset(0, { prefix: 'g' })], prefix: 'g' })
    bad = await startFixturePeer({ participantId: 'did:web:bad.example', datasets: [fixtureDataset(0, { prefix: 'b' })], prefix: 'b' })
    bad.behaviour = 'down'
    store = await createTestStore(dialect)
    const config = testConfig({
      federation: {
        interval: 3_600_000,
        peers: [
          { dspUrl: good.dspUrl, name: 'Good Observatory' },
          { dspUrl: bad.dspUrl, name: 'Broken Institute' },
        ],
      },
    })
    ctx = testContext(store, { config, clock: systemClock })
    const { app } = createApp(ctx, [federationArea])
    stopArea = (await federationArea.start!(ctx)).stop
    server = createServer(getRequestListener(app.fetch))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    connection = ['--url', `http://127.0.0.1:${(server.address() as AddressInfo).port}`, '--key', key]
  })
  afterAll(async () => {
    await stopArea?.()
    server?.closeAllConnections()
    await new Promise((resolve) => server?.close(resolve))
    await ctx?.peers.close()
    await store?.close()
    await good?.close()
    await bad?.close()
  })

  it('happy: crawl --wait crawls every peer now and reports each; peers lists their freshness; search says how stale each peer is', async () => {
    const crawl = io()
    // The failing peer makes the command exit 1, after printing both outcomes.
    expect(await runCli(['federation', 'crawl', '--wait', '--timeout', '30', ...connection], crawl)).toBe(1)
    const printed = crawl.out.join('\n')
    expect(printed).toMatch(/^peer +status +datasets +dsp url +freshness/)
    expect(printed).toMatch(/Good Observatory +active +1 +\S+ +crawled (just now|\d+ s ago)/)
    expect(printed).toMatch(/Broken Institute +active +0 +\S+ +failing since (just now|\d+ s ago)(, \d+ attempts)?: .*503.*; nothing from it is searchable yet/)

    const peers = io()
    expect(await runCli(['federation', 'peers', '--json', ...connection], peers)).toBe(0)
    const listed = JSON.parse(peers.out.join('')).peers as any[]
    expect(listed.map((p) => [p.name, p.freshness.state])).toEqual(
      expect.arrayContaining([
        ['Good Observatory', 'fresh'],
        ['Broken Institute', 'failing'],
      ]),
    )
    expect(listed.find((p) => p.name === 'Broken Institute').freshness.lastError).toMatch(/503/)

    const search = io()
    expect(await runCli(['search', ...connection], search)).toBe(0)
    const text = search.out.join('\n')
    expect(text).toContain('g:dataset:0')
    expect(text).toMatch(/\nGood Observatory: crawled (just now|\d+ s ago)/)
    // The failing peer is named, with its error, though none of its datasets is on the page.
    expect(text).toMatch(/\nBroken Institute: failing since .*503/)

    const json = io()
    expect(await runCli(['search', '--json', ...connection], json)).toBe(0)
    const page = JSON.parse(json.out.join(''))
    expect(page.hits).toHaveLength(1)
    expect(page.peers.map((p: any) => [p.name, p.state]).sort()).toEqual([
      ['Broken Institute', 'failing'],
      ['Good Observatory', 'fresh'],
    ])
  })

  it('happy: crawl PEER crawls that one peer again, by its DSP URL', async () => {
    const before = io()
    await runCli(['federation', 'peers', '--json', ...connection], before)
    const last = (JSON.parse(before.out.join('')).peers as any[]).find((p) => p.dspUrl === good.dspUrl).lastAttemptAt
    good.datasets.push(fixtureDataset(1, { prefix: 'g' }))
    const crawl = io()
    expect(await runCli(['federation', 'crawl', good.dspUrl, '--wait', '--json', ...connection], crawl)).toBe(0)
    const [peer] = JSON.parse(crawl.out.join('')).peers
    expect(peer).toMatchObject({ dspUrl: good.dspUrl, datasetCount: 2, freshness: { state: 'fresh' } })
    expect(peer.lastAttemptAt).not.toBe(last)
  })

  it('error: an unknown peer is a one-line 404, a wrong sub-command a usage error; nothing is crawled', async () => {
    const unknown = io()
    expect(await runCli(['federation', 'crawl', 'https://nobody.example/dsp', ...connection], unknown)).toBe(1)
    expect(unknown.err.join('')).toMatch(/404.*no peer https:\/\/nobody\.example\/dsp/)
    const wrong = io()
    expect(await runCli(['federation', 'forget', ...connection], wrong)).toBe(2)
    expect(wrong.err.join('')).toMatch(/expected peers, or crawl \[PEER\]/)
    const timeout = io()
    expect(await runCli(['federation', 'crawl', '--wait', '--timeout', 'soon', ...connection], timeout)).toBe(2)
  })

  it('POST /peers/crawl makes every active peer due now and leaves paused ones alone', async () => {
    const call = (method: string, path: string) =>
      fetch(`${connection[1]}/management/v1${path}`, { method, headers: { authorization: `Bearer ${key}` } }).then(async (r) => ({
        status: r.status,
        body: (await r.json()) as any,
      }))
    const peers = (await call('GET', '/peers')).body.peers as any[]
    const broken = peers.find((p) => p.dspUrl === bad.dspUrl)
    expect((await call('POST', `/peers/${encodeURIComponent(broken.id)}/pause`)).status).toBe(200)
    const asked = Date.now()
    const due = await call('POST', '/peers/crawl')
    expect(due.status).toBe(200)
    expect(due.body.peers.map((p: any) => p.dspUrl)).toEqual([good.dspUrl])
    expect(Date.parse(due.body.peers[0].nextCrawlAt)).toBeLessThanOrEqual(Date.now())
    expect(Date.parse(due.body.peers[0].nextCrawlAt)).toBeGreaterThanOrEqual(asked - 1000)
    expect((await call('GET', `/peers/${encodeURIComponent(broken.id)}`)).body).toMatchObject({ status: 'paused', nextCrawlAt: null })
    const unauthenticated = await fetch(`${connection[1]}/management/v1/peers/crawl`, { method: 'POST' })
    expect(unauthenticated.status).toBe(401)
  })
})
