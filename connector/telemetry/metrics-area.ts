import { createHash, timingSafeEqual } from 'node:crypto'
import type { Area } from '../area.ts'
import { PasserelleError } from '../errors.ts'
import { metricsRepository } from './metrics-repository.ts'
import { meter, scrapeMetrics } from './telemetry.ts'

const digest = (value: string) => createHash('sha256').update(value).digest()

/**
 * `GET /metrics`: the Prometheus text format, for the management key or the metrics token (a
 * scraper need not hold the key that changes things). While the connector runs, the domain gauges
 * read the database at each collection: processes by state, the outbox's backlog and age, how
 * fresh the federated catalog is, and when the first held credential expires.
 */
export const metricsArea: Area = {
  name: 'metrics',
  routes({ root }, ctx) {
    const accepted = [ctx.config.management.apiKey, ctx.config.metrics.token].filter((key): key is string => !!key).map(digest)
    root.get('/metrics', async (c) => {
      if (accepted.length === 0) throw new PasserelleError('unauthorized', 'metrics are disabled: set metrics.token or management.apiKey')
      const match = /^Bearer\s+(.+)$/i.exec(c.req.header('authorization') ?? '')
      if (!match) throw new PasserelleError('unauthorized', 'missing metrics token: send Authorization: Bearer <token>')
      const given = digest(match[1]!.trim())
      if (!accepted.some((key) => timingSafeEqual(key, given))) throw new PasserelleError('unauthorized', 'wrong metrics token')
      return c.text(await scrapeMetrics(), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' })
    })
  },
  start(ctx) {
    const repo = metricsRepository(ctx.store)
    const m = meter()
    const negotiations = m.createObservableGauge('passerelle.negotiations', { description: 'Contract negotiations by role and state' })
    const transfers = m.createObservableGauge('passerelle.transfers', { description: 'Transfer processes by role and state' })
    const backlog = m.createObservableGauge('passerelle.outbox.backlog', { description: 'Outbound messages and steps waiting to be delivered' })
    const age = m.createObservableGauge('passerelle.outbox.oldest.age', { unit: 's', description: 'Age of the oldest waiting outbound message' })
    const crawl = m.createObservableGauge('passerelle.federation.oldest.crawl.age', {
      unit: 's',
      description: 'Time since the least recently crawled peer was last crawled successfully (-1: never)',
    })
    const credentials = m.createObservableGauge('passerelle.credentials.expiry.horizon', {
      unit: 's',
      description: 'Seconds until the first held credential expires',
    })
    const observe: Parameters<typeof m.addBatchObservableCallback>[0] = async (result) => {
      const now = ctx.clock.now().getTime()
      const [n, t, outbox, peers, expiry] = await Promise.all([
        repo.negotiationsByState(),
        repo.transfersByState(),
        repo.outbox(),
        repo.oldestCrawl(),
        repo.firstCredentialExpiry(),
      ])
      for (const row of n) result.observe(negotiations, Number(row.n), { role: row.role, state: row.state })
      for (const row of t) result.observe(transfers, Number(row.n), { role: row.role, state: row.state })
      result.observe(backlog, outbox.pending)
      result.observe(age, outbox.oldest === undefined ? 0 : Math.max(0, (now - outbox.oldest) / 1000))
      if (peers.peers > 0) result.observe(crawl, peers.oldest === undefined ? -1 : Math.max(0, (now - peers.oldest) / 1000))
      if (expiry !== undefined) result.observe(credentials, (expiry - now) / 1000)
    }
    const observables = [negotiations, transfers, backlog, age, crawl, credentials]
    m.addBatchObservableCallback(observe, observables)
    return {
      async stop() {
        m.removeBatchObservableCallback(observe, observables)
      },
    }
  },
}
