import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fromRoot } from '../../connector/paths.ts'
import { loadPolicies } from '../../policies/index.ts'
import {
  until,
  management,
  copyParticipant,
  freePort,
  spawnCli,
  startConnectorProcess,
  type ConnectorProcess,
  type ParticipantFolder,
} from '../support/processes.ts'

/**
 * Two connector processes negotiate and transfer; the provider's audit trail holds the agreement
 * with its signed digest, the transfer and its data access; `passerelle audit verify` proves the
 * chain, then names the first broken record once a row of the real database is edited, reordered
 * or deleted by hand, and refuses an export with a forged record.
 */
const arctic = 'urn:uuid:0f3cee7e-e077-4be0-9365-3a791567f70e'
const env = { PASSERELLE_DISPATCH_BASE_DELAY_MS: '100', PASSERELLE_LOG_LEVEL: 'warn' }

const metricsToken = 'metrics-scrape-token-0123456789'
const cleanups: Array<() => unknown> = []
let provider: ParticipantFolder
let consumer: ParticipantFolder
let processes: ConnectorProcess[] = []
let offer: Record<string, unknown>

beforeAll(async () => {
  const loaded = await loadPolicies(fromRoot('seeds/policies'))
  offer = loaded.policies.get('open-with-attribution')!.odrl as Record<string, unknown>
  const [providerPort, consumerPort] = [await freePort(), await freePort()]
  const did = (port: number) => `did:web:127.0.0.1%3A${port}`
  const identity = { mode: 'static', staticTokens: { 'provider-token': did(providerPort), 'consumer-token': did(consumerPort) } }
  provider = await copyParticipant({ port: providerPort, config: { identity, metrics: { token: metricsToken }, audit: { unverifiedPerMinute: 5 } } })
  consumer = await copyParticipant({ port: consumerPort, config: { identity } })
  cleanups.push(provider.remove, consumer.remove)
  processes = [await startConnectorProcess(provider, { env }), await startConnectorProcess(consumer, { env })]
  cleanups.push(...processes.map((p) => () => p.stop('SIGKILL')))
}, 60_000)
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

async function audit(args: string[], folder = provider) {
  const run = spawnCli({ args: ['audit', ...args, '--config', folder.configFile] })
  const code = await run.exited
  return { code, output: run.output.join('\n') }
}

describe('the audit trail of two connector processes', () => {
  it('records the agreement, the transfer and its data access, and verify proves the chain until a row is changed by hand', async () => {
    const started = await management(consumer, 'POST', '/negotiations', {
      peerUrl: `${provider.url}/dsp/2025-1`,
      peerId: provider.did,
      datasetId: arctic,
      offer,
    })
    expect(started.status).toBe(201)
    const done = await until(async () => {
      const { body } = await management(consumer, 'GET', `/negotiations/${started.body.id}`)
      return body.state === 'FINALIZED' ? body : undefined
    })
    const agreementId = done.agreementId as string
    const transfer = spawnCli({
      args: ['transfer', agreementId, '--out', join(consumer.dir, 'pulled.csv'), '--url', consumer.url, '--key', consumer.managementKey, '--timeout', '30'],
    })
    expect(await transfer.exited).toBe(0)

    const history = await until(async () => {
      const { status, body } = await management(provider, 'GET', `/agreements/${encodeURIComponent(agreementId)}/audit`)
      return status === 200 && body.items.some((r: { kind: string }) => r.kind === 'data.sent') ? body.items : undefined
    })
    const kinds = history.map((r: { kind: string }) => r.kind)
    expect(kinds).toEqual(
      expect.arrayContaining(['agreement', 'negotiation.agreement', 'transfer.request', 'transfer.start', 'data.access', 'data.sent', 'transfer.completion']),
    )
    const agreement = history.find((r: { kind: string }) => r.kind === 'agreement')
    expect(agreement.payload).toMatchObject({ role: 'provider', sha256: expect.stringMatching(/^[0-9a-f]{64}$/), signature: expect.stringMatching(/^ey/) })
    // Static tokens have no keys: the consumer's signature is kept, marked as not checked, with why.
    expect(history.find((r: { kind: string }) => r.kind === 'agreement.countersigned')?.payload).toMatchObject({
      verified: false,
      reason: expect.stringMatching(/static tokens/),
      signature: expect.stringMatching(/^ey/),
    })
    const access = history.find((r: { kind: string }) => r.kind === 'data.access')
    expect(access).toMatchObject({ actor: consumer.did, payload: { status: 200 } })
    // The management call on the consumer names the key by its id, never the key.
    const consumerRecords = await management(consumer, 'GET', `/agreements/${encodeURIComponent(agreementId)}/audit`)
    expect(consumerRecords.status).toBe(200)
    expect(JSON.stringify(consumerRecords.body)).not.toContain(consumer.managementKey)
    expect((await management(provider, 'GET', '/agreements/urn:uuid:nothing/audit')).status).toBe(404)
    // ?limit= keeps the oldest records; a limit out of range is refused with 400.
    const oldest = await management(provider, 'GET', `/agreements/${encodeURIComponent(agreementId)}/audit?limit=2`)
    expect(oldest.body.items.map((r: { seq: number }) => r.seq)).toEqual(history.slice(0, 2).map((r: { seq: number }) => r.seq))
    expect((await management(provider, 'GET', `/agreements/${encodeURIComponent(agreementId)}/audit?limit=0`)).status).toBe(400)

    // The operator's view of the same run: the Prometheus scrape, for the metrics token or the management key only.
    const scrape = (token?: string) => fetch(`${provider.url}/metrics`, token ? { headers: { authorization: `Bearer ${token}` } } : {})
    expect((await scrape()).status).toBe(401)
    expect((await scrape('not-the-metrics-token-at-all')).status).toBe(401)
    expect((await scrape(provider.managementKey)).status).toBe(200)
    const scraped = await scrape(metricsToken)
    expect(scraped.headers.get('content-type')).toContain('text/plain; version=0.0.4')
    const text = await scraped.text()
    expect(text).toContain('passerelle_negotiations{role="provider",state="FINALIZED"} 1')
    expect(text).toMatch(/passerelle_transfers\{role="provider",state="(COMPLETED|STARTED)"\} 1/)
    expect(text).toMatch(/passerelle_transfer_bytes_total\{role="data-plane"\} [1-9]\d*/)
    expect(text).toMatch(/passerelle_decision_duration_seconds_bucket\{door="negotiation",outcome="agree",le="\+Inf"\} 1/)
    expect(text).toContain('passerelle_outbox_backlog ')
    expect(text).toContain('passerelle_outbox_oldest_age_seconds ')
    expect(text).toContain('# TYPE passerelle_negotiation_transitions_total counter')

    // A flood of requests with tokens that do not verify: each is refused, but only five a minute are
    // recorded one by one; the rest are one count, written at the latest when the provider stops.
    const flood = 40
    const refusals = await Promise.all(
      Array.from({ length: flood }, (_, n) =>
        fetch(`${provider.url}/dsp/2025-1/catalog/request`, {
          method: 'POST',
          headers: { authorization: `forged-token-${n}`, 'content-type': 'application/json' },
          body: JSON.stringify({ '@context': ['https://w3id.org/dspace/2025/1/context.jsonld'], '@type': 'CatalogRequestMessage' }),
        }),
      ),
    )
    expect(refusals.map((r) => r.status)).toEqual(Array(flood).fill(401))

    // Stopped, the provider signs a last checkpoint; the CLI reads its database.
    expect(await processes[0]!.stop('SIGTERM')).toBe(0)
    const holds = await audit(['verify'])
    expect(holds.output).toMatch(/the audit chain holds: records 1 to \d+ \(\d+ records\), 1 checkpoints/)
    expect(holds.code).toBe(0)

    const exported = join(provider.dir, 'audit.jsonl')
    expect((await audit(['export', '--since', '2000-01-01', '--out', exported])).code).toBe(0)
    expect((await audit(['verify', '--file', exported])).code).toBe(0)
    const lines = readFileSync(exported, 'utf8').trim().split('\n')
    const records = lines.map((line) => JSON.parse(line))
    const oneByOne = records.filter((r) => r.kind === 'identity.refused')
    const counted = records.filter((r) => r.kind === 'identity.refused.summary').reduce((sum, r) => sum + r.payload.suppressed, 0)
    expect(oneByOne.length).toBeGreaterThanOrEqual(5)
    expect(oneByOne.length).toBeLessThan(flood / 2)
    expect(oneByOne.length + counted).toBe(flood)
    expect(oneByOne[0]).toMatchObject({ actor: 'unverified', payload: { method: 'POST', reason: expect.any(String) } })
    const forgedAt = lines.findIndex((line) => line.includes('"kind":"data.access"'))
    const forged = JSON.parse(lines[forgedAt]!)
    forged.payload.status = 403
    writeFileSync(exported, `${[...lines.slice(0, forgedAt), JSON.stringify(forged), ...lines.slice(forgedAt + 1)].join('\n')}\n`)
    const refused = await audit(['verify', '--file', exported])
    expect(refused.code).toBe(1)
    expect(refused.output).toContain(`BROKEN at record ${forged.seq}: record ${forged.seq} was changed: its payload does not match its digest`)

    const db = new Database(join(provider.dir, 'data', 'passerelle.db'))
    try {
      const edit = (text: string) => db.prepare(text).run()
      const restore = db.prepare('select * from audit_records where seq = 3').get() as Record<string, unknown>
      edit(`update audit_records set actor = 'did:web:someone-else' where seq = 3`)
      const changed = await audit(['verify'])
      expect(changed.code).toBe(1)
      expect(changed.output).toContain('BROKEN at record 3: record 3 was changed')
      db.prepare('update audit_records set actor = ? where seq = 3').run(restore.actor)
      expect((await audit(['verify'])).code).toBe(0)

      edit('delete from audit_records where seq = 3')
      expect((await audit(['verify'])).output).toContain('BROKEN at record 3: record 3 is missing')
      db.prepare(
        `insert into audit_records (${Object.keys(restore).join(', ')}) values (${Object.keys(restore)
          .map(() => '?')
          .join(', ')})`,
      ).run(...Object.values(restore))

      edit('update audit_records set seq = -1 where seq = 4')
      edit('update audit_records set seq = 4 where seq = 5')
      edit('update audit_records set seq = 5 where seq = -1')
      expect((await audit(['verify'])).output).toContain('BROKEN at record 4')
    } finally {
      db.close()
    }
  }, 120_000)
})
