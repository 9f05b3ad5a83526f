import { metrics } from '@opentelemetry/api'
import { MeterProvider, MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fixtureDataset } from '../../catalog/federation/fixtures.ts'
import { createTestStore } from '../../test/support/stores.ts'
import { systemClock } from '../clock.ts'
import { createPeerClient, type PeerClient } from '../http/peer-client.ts'
import { fixtureEgress } from '../../test/support/context.ts'
import type { Store } from '../store/store.ts'
import { silentLogger } from '../telemetry/logger.ts'
import { crawlPeer, defaultCrawlerOptions } from './crawler.ts'
import { federationRepository } from './repository.ts'
import { startFixturePeer, type FixturePeer } from '../../test/support/fixture-peer.ts'

class TestReader extends MetricReader {
  protected async onForceFlush() {}
  protected async onShutdown() {}
}

describe('per-peer crawl metrics', () => {
  const reader = new TestReader()
  let store: Store
  let http: PeerClient
  let peer: FixturePeer
  beforeAll(async () => {
    // Installed before the crawler creates its instruments.
    metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }))
    store = await createTestStore('sqlite')
    http = createPeerClient({ egress: fixtureEgress })
    peer = await startFixturePeer({
      participantId: 'did:web:m.example',
      datasets: Array.from({ length: 6 }, (_, i) => fixtureDataset(i, { prefix: 'm' })),
      prefix: 'm',
    })
  })
  afterAll(async () => {
    await Promise.all([peer?.close(), http?.close(), store?.close(), reader.shutdown()])
    metrics.disable()
  })

  it('records crawl duration, outcomes, errors and datasets per peer', async () => {
    const repo = federationRepository(store)
    const { peer: row } = await repo.addPeer({ id: 'peer-m', dspUrl: peer.dspUrl, source: 'api' }, 0)
    const deps = { repo, http, clock: systemClock, logger: silentLogger, options: { ...defaultCrawlerOptions, timeoutMs: 5000 } }
    await crawlPeer(deps, row)
    peer.behaviour = 'down'
    await crawlPeer(deps, (await repo.getPeer('peer-m'))!)
    const { resourceMetrics } = await reader.collect()
    const points = (name: string) =>
      (resourceMetrics as ResourceMetrics).scopeMetrics
        .flatMap((s) => s.metrics)
        .filter((m) => m.descriptor.name === name)
        .flatMap((m) => m.dataPoints as Array<{ attributes: Record<string, unknown>; value: unknown }>)
    expect(points('passerelle.federation.datasets')).toEqual([expect.objectContaining({ attributes: { 'passerelle.peer': 'peer-m' }, value: 6 })])
    expect(points('passerelle.federation.crawl.errors')).toEqual([expect.objectContaining({ attributes: { 'passerelle.peer': 'peer-m' }, value: 1 })])
    const outcomes = points('passerelle.federation.crawls').map((p) => [p.attributes.outcome, p.value])
    expect(outcomes).toEqual(
      expect.arrayContaining([
        ['success', 1],
        ['failure', 1],
      ]),
    )
    const [duration] = points('passerelle.federation.crawl.duration')
    expect((duration!.value as { count: number }).count).toBe(2)
  })
})
