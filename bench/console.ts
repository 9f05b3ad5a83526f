/**
 * Server time of the console's pages with a large store: 100,000 datasets and 10,000
 * negotiations (SQLite), every page rendered in-process through `app.request` (no network), as
 * a signed-in reader. Baseline in the same run: the lightest management call
 * (GET /management/v1/participant). Each page is a bounded read of the management API (pages of
 * 20, counts capped at 51 per state), never a scan the size of the store.
 *   node --import tsx bench/console.ts [datasets] [negotiations]
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { composeConnector } from '../connector/composition.ts'
import { createApp } from '../connector/http/app.ts'
import { negotiationRepository } from '../connector/negotiation/repository.ts'
import { openStore } from '../connector/store/store.ts'
import { silentLogger } from '../connector/telemetry/logger.ts'
import { fromRoot } from '../connector/paths.ts'
import { testConfig } from '../test/support/context.ts'
import { createTestDatabase } from '../test/support/stores.ts'
import { generatedDataset } from '../test/support/catalog-fixtures.ts'
import { fillCatalog } from './catalog-fill.ts'
import { median, percentile, printTable } from './stats.ts'

const datasets = Number(process.argv[2] ?? 100_000)
const negotiations = Number(process.argv[3] ?? 10_000)
const runs = 30
const coldRuns = 7
const states = ['REQUESTED', 'AGREED', 'FINALIZED', 'TERMINATED'] as const

const database = await createTestDatabase('sqlite')
const root = mkdtempSync(join(tmpdir(), 'bench-console-'))
try {
  const filling = performance.now()
  const store = await openStore({ url: database.url, poolSize: 1 })
  await fillCatalog(store, datasets)
  const repo = negotiationRepository(store)
  const now = Date.now()
  for (let start = 0; start < negotiations; start += 1000) {
    await store.transaction(async (tx) => {
      for (let n = start; n < Math.min(negotiations, start + 1000); n++) {
        const state = states[n % states.length]!
        const id = `urn:uuid:00000000-0000-4000-8000-${String(n).padStart(12, '0')}`
        await repo.create(
          tx,
          {
            id,
            role: n % 2 ? 'provider' : 'consumer',
            providerPid: id,
            consumerPid: `urn:uuid:10000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
            state,
            counterpartyId: `did:web:peer-${n % 50}.example`,
            counterpartyAddress: `https://peer-${n % 50}.example/dsp`,
            datasetId: `urn:uuid:dataset-${n % 1000}`,
            offerId: 'offer-1',
            offer: { '@id': 'offer-1', '@type': 'Offer', permission: [{ action: 'use' }] },
            agreementId: null,
            mode: 'auto',
            pending: null,
            reason: state === 'TERMINATED' ? 'policy research-only not met: the purpose is not research' : null,
            createdAt: now - n * 1000,
            updatedAt: now - n * 1000,
          },
          { kind: 'ContractRequestMessage', direction: 'inbound', actor: `did:web:peer-${n % 50}.example`, fromState: null, toState: state },
        )
      }
    })
  }
  await store.close()
  const filled = (performance.now() - filling) / 1000

  // The seed policies: the generated datasets all use open-with-attribution.
  cpSync(fromRoot('seeds/policies'), join(root, 'policies'), { recursive: true })
  const config = testConfig({ dataDir: join(root, 'data'), database: { url: database.url }, identity: { mode: 'static' } }, root)
  const connector = await composeConnector(config, { logger: silentLogger })
  const { app } = createApp(connector.ctx, connector.areas)
  try {
    // Sign in as a browser does: the anonymous form token, then the key for a session cookie.
    const signInPage = await app.request('/console/sign-in')
    const csrfCookie = /passerelle_console_csrf=([^;]+)/.exec(signInPage.headers.get('set-cookie') ?? '')![1]!
    const signedIn = await app.request('/console/sign-in', {
      method: 'POST',
      headers: { cookie: `passerelle_console_csrf=${csrfCookie}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf: csrfCookie, key: config.management.apiKey! }).toString(),
    })
    const session = /passerelle_console=([^;]+)/.exec(signedIn.headers.get('set-cookie') ?? '')?.[1]
    if (!session) throw new Error(`sign-in failed: ${signedIn.status}`)
    const cookie = `passerelle_console=${session}; passerelle_console_csrf=${csrfCookie}`

    const time = async (path: string, headers: Record<string, string>) => {
      const samples: number[] = []
      for (let i = 0; i < runs + 3; i++) {
        const started = performance.now()
        const response = await app.request(path, { headers })
        await response.text()
        if (response.status !== 200) throw new Error(`${path}: ${response.status}`)
        if (i >= 3) samples.push(performance.now() - started)
      }
      return samples
    }
    // The policy list's first read after a catalog change: each sample follows the removal of one dataset.
    const management = { authorization: `Bearer ${config.management.apiKey}` }
    const coldSamples: number[] = []
    for (let i = 0; i < coldRuns; i++) {
      const removed = await app.request(`/management/v1/datasets/${encodeURIComponent(generatedDataset(datasets - 1 - i).id)}`, {
        method: 'DELETE',
        headers: management,
      })
      if (removed.status !== 204) throw new Error(`removing a dataset: ${removed.status}`)
      const started = performance.now()
      const cold = await app.request('/management/v1/policies', { headers: management })
      await cold.text()
      if (cold.status !== 200) throw new Error(`/policies: ${cold.status}`)
      coldSamples.push(performance.now() - started)
    }
    const baseline = median(await time('/management/v1/participant', { authorization: `Bearer ${config.management.apiKey}` }))
    const middle = `urn:uuid:00000000-0000-4000-8000-${String(Math.floor(negotiations / 2)).padStart(12, '0')}`
    const pages = [
      '/console',
      '/console/negotiations',
      `/console/negotiations?offset=${negotiations - 20}`,
      '/console/negotiations?state=TERMINATED',
      `/console/negotiations/${encodeURIComponent(middle)}`,
      '/console/transfers',
      '/console/agreements',
      '/console/datasets',
      `/console/datasets?offset=${datasets - 20}`,
      '/console/search?q=climate',
      '/console/policies',
      '/console/policies/open-with-attribution',
      `/console/preview?participant=${encodeURIComponent('did:web:stranger.example')}`,
      `/console/preview?participant=${encodeURIComponent('did:web:stranger.example')}&offset=${datasets - 20}`,
    ]
    const rows = [['page', 'median (ms)', 'p95 (ms)', 'ratio to baseline']]
    for (const page of pages) {
      const samples = await time(page, { cookie })
      rows.push([page, median(samples).toFixed(2), percentile(samples, 95).toFixed(2), (median(samples) / baseline).toFixed(1)])
    }
    // The management calls under the list pages alone: what the console adds is the difference.
    for (const path of ['/negotiations?limit=20', '/datasets?limit=20', '/transfers?limit=20', `/negotiations?state=REQUESTED&limit=101`, '/policies']) {
      const samples = await time(`/management/v1${path}`, { authorization: `Bearer ${config.management.apiKey}` })
      rows.push([`API ${path}`, median(samples).toFixed(2), percentile(samples, 95).toFixed(2), (median(samples) / baseline).toFixed(1)])
    }
    rows.push([
      `API /policies, first read after a change (${coldRuns} samples)`,
      median(coldSamples).toFixed(2),
      percentile(coldSamples, 95).toFixed(2),
      (median(coldSamples) / baseline).toFixed(1),
    ])
    printTable(
      `console pages, SQLite, ${datasets.toLocaleString('en')} datasets and ${negotiations.toLocaleString('en')} negotiations (filled in ${filled.toFixed(1)} s); baseline GET /management/v1/participant median ${baseline.toFixed(2)} ms; ${runs} runs each`,
      rows,
    )
  } finally {
    await connector.close()
  }
} finally {
  await database.drop()
  rmSync(root, { recursive: true, force: true })
}
