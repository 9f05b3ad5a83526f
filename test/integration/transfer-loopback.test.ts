/**
 * Two connectors in one process, each with its own HTTP server on 127.0.0.1, its own database and
 * data folder (provider on PostgreSQL, consumer on SQLite), talking DSP and data-plane HTTP to each other: pull and push with identical bytes and
 * sha256, suspend/resume/terminate from either side, usage limits and an agreement that lapses.
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { getRequestListener } from '@hono/node-server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { systemClock } from '../../connector/clock.ts'
import { randomIds } from '../../connector/ids.ts'
import { createApp } from '../../connector/http/app.ts'
import { startPolicyMonitor } from '../../connector/transfer/monitor/monitor.ts'
import type { Store } from '../../connector/store/store.ts'
import { transferArea, type TransferRuntime } from '../../connector/transfer/area.ts'
import type { Agreement, UsagePolicy } from '../../connector/transfer/ports.ts'
import { repo } from '../../connector/transfer/service.ts'
import { runCli } from '../../connector/cli/main.ts'
import { testConfig, testContext } from '../support/context.ts'
import { freePort } from '../support/processes.ts'
import { sharedDispatcher } from '../support/areas.ts'
import { createTestStore } from '../support/stores.ts'

const managementKey = 'test-management-key-0123456789'
const content = randomBytes(3 * 1024 * 1024 + 17)
const contentSha = createHash('sha256').update(content).digest('hex')

interface Side {
  id: string
  url: string
  dsp: string
  store: Store
  rt: TransferRuntime
  server: Server
  stop(keepStore?: boolean): Promise<void>
  api(path: string, init?: RequestInit): Promise<Response>
}

let root: string
let ids: { provider: string; consumer: string; providerDsp: string }
let provider: Side
let consumer: Side
const agreements = new Map<string, Agreement>()
/** Switches the test flips to make the provider's policy refuse. */
const policy = { ended: false, maxAccesses: Infinity }
const usage: UsagePolicy = {
  check: ({ scope, accessCount, counts }) => {
    if (policy.ended) return { allowed: false, reason: 'the agreement ended on 2026-11-28' }
    // As the engine: a new access at transfer scope is decided on count + 1, a continuation on count.
    const used = scope === 'transfer' && counts !== false ? accessCount + 1 : accessCount
    return used <= policy.maxAccesses ? { allowed: true, reason: 'allowed' } : { allowed: false, reason: `at most ${policy.maxAccesses} accesses` }
  },
}

async function startSide(
  name: 'provider' | 'consumer',
  port: number,
  ids: { provider: string; consumer: string; providerDsp: string },
  existing?: Store,
): Promise<Side> {
  const folder = join(root, name)
  mkdirSync(join(folder, 'files'), { recursive: true })
  if (name === 'provider') writeFileSync(join(folder, 'files', 'observations.bin'), content)
  // The provider keeps its state in PostgreSQL, the consumer in SQLite.
  const store = existing ?? (await createTestStore(name === 'provider' ? 'postgres' : 'sqlite'))
  const id = ids[name]
  const tokens = { 'token-of-provider': ids.provider, 'token-of-consumer': ids.consumer }
  const config = testConfig(
    { participant: { id, name }, server: { host: '127.0.0.1', port }, identity: { mode: 'static', staticTokens: tokens }, dataDir: join(folder, 'data') },
    folder,
  )
  const ctx = testContext(store, { config, clock: systemClock, ids: randomIds })
  const area = transferArea(
    { ctx, dispatcher: sharedDispatcher(ctx) },
    {
      agreements: () => ({
        find: async (agreementId) => agreements.get(agreementId),
        providerOf: async (agreementId) => {
          const a = agreements.get(agreementId)
          return a && a.assignee === id ? { providerId: a.assigner, providerAddress: ids.providerDsp, datasetId: a.target } : undefined
        },
      }),
      usage,
      sources: () => ({
        resolve: async (datasetId) =>
          datasetId === 'urn:dataset:observations'
            ? { kind: 'file', root: folder, path: 'files/observations.bin', mediaType: 'application/octet-stream' }
            : undefined,
      }),
      monitorIntervalMs: 3_600_000,
    },
  )
  const { app } = createApp(ctx, [area])
  const server = createServer(getRequestListener(app.fetch))
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  const service = await area.start!(ctx)
  const url = `http://127.0.0.1:${port}`
  return {
    id,
    url,
    dsp: `${url}/dsp/2025-1`,
    store,
    rt: area.runtime,
    server,
    async stop(keepStore = false) {
      await service.stop()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      if (!keepStore) await store.close()
    },
    api: (path, init = {}) =>
      fetch(`${url}/management/v1${path}`, {
        ...init,
        headers: { authorization: `Bearer ${managementKey}`, 'content-type': 'application/json', ...(init.headers as Record<string, string>) },
      }),
  }
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'passerelle-e2e-transfer-'))
  const [pp, cp] = [await freePort(), await freePort()]
  ids = { provider: `did:web:127.0.0.1%3A${pp}`, consumer: `did:web:127.0.0.1%3A${cp}`, providerDsp: `http://127.0.0.1:${pp}/dsp/2025-1` }
  provider = await startSide('provider', pp, ids)
  consumer = await startSide('consumer', cp, ids)
})
afterAll(async () => {
  await consumer?.stop()
  await provider?.stop()
  rmSync(root, { recursive: true, force: true })
})

let counter = 0
function newAgreement(policy: Record<string, unknown> = {}): string {
  const id = `urn:agreement:e2e-${++counter}`
  agreements.set(id, {
    id,
    state: 'FINALIZED',
    assigner: provider.id,
    assignee: consumer.id,
    target: 'urn:dataset:observations',
    signedAt: new Date('2026-11-01T00:00:00Z'),
    policy,
  })
  return id
}

async function waitFor<T>(read: () => Promise<T>, ok: (value: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 15_000
  for (;;) {
    const value = await read()
    if (ok(value)) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: last ${JSON.stringify(value)}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

type View = {
  id: string
  state: string
  providerPid: string | null
  reason: string | null
  outputPath: string | null
  sha256: string | null
  size: number | null
  accessCount: number
}
const readTransfer = async (side: Side, id: string) => (await (await side.api(`/transfers/${id}`)).json()) as View
const stateOf = (side: Side, id: string, state: string) =>
  waitFor(
    () => readTransfer(side, id),
    (t) => t.state === state,
    `${side === provider ? 'provider' : 'consumer'} ${id} ${state}`,
  )

async function startTransfer(format: 'pull' | 'push') {
  const res = await consumer.api('/transfers', { method: 'POST', body: JSON.stringify({ agreementId: newAgreement(), format }) })
  expect(res.status).toBe(201)
  const created = (await res.json()) as View
  const started = await waitFor(
    () => readTransfer(consumer, created.id),
    (t) => t.providerPid !== null && t.state !== 'REQUESTED',
    'provider answer and start',
  )
  return { consumerId: created.id, providerId: started.providerPid! }
}

describe('transfer between two connectors over 127.0.0.1', () => {
  beforeAll(() => {
    policy.ended = false
    policy.maxAccesses = Infinity
  })

  it('pulls the dataset with identical bytes and sha256, then completes on both sides', async () => {
    const { consumerId, providerId } = await startTransfer('pull')
    await stateOf(consumer, consumerId, 'STARTED')
    const download = await consumer.api(`/transfers/${consumerId}/data`)
    expect(download.status).toBe(200)
    const bytes = Buffer.from(await download.arrayBuffer())
    expect(bytes.length).toBe(content.length)
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(contentSha)
    expect(download.headers.get('x-content-sha256')).toBe(contentSha)
    const part = await consumer.api(`/transfers/${consumerId}/data`, { headers: { range: 'bytes=100-199' } })
    expect(part.status).toBe(206)
    expect(Buffer.from(await part.arrayBuffer())).toEqual(content.subarray(100, 200))
    expect((await consumer.api(`/transfers/${consumerId}/complete`, { method: 'POST' })).status).toBe(200)
    await stateOf(provider, providerId, 'COMPLETED')
    const onProvider = (await readTransfer(provider, providerId)) as View & { accesses: Array<{ status: number }>; timeline: Array<{ toState: string }> }
    expect(onProvider.accesses.map((a) => a.status)).toEqual([200, 206])
    expect(onProvider.timeline.map((e) => e.toState)).toEqual(['REQUESTED', 'STARTED', 'COMPLETED'])
  })

  it('pushes the dataset into the consumer data folder with identical bytes and sha256, and completes', async () => {
    const { consumerId, providerId } = await startTransfer('push')
    const done = await stateOf(consumer, consumerId, 'COMPLETED')
    await stateOf(provider, providerId, 'COMPLETED')
    expect(done.sha256).toBe(contentSha)
    expect(done.size).toBe(content.length)
    expect(readFileSync(done.outputPath!).equals(content)).toBe(true)
  })

  it('suspends from the provider, resumes from the consumer, terminates from the consumer; the token follows the state', async () => {
    const { consumerId, providerId } = await startTransfer('pull')
    await stateOf(consumer, consumerId, 'STARTED')
    const address = (await repo(consumer.rt.ctx).get(consumer.store.db, consumerId))!.dataAddress as {
      endpoint: string
      endpointProperties: Array<{ name: string; value: string }>
    }
    const token = address.endpointProperties.find((p) => p.name === 'authorization')!.value
    const direct = () => fetch(address.endpoint, { headers: { authorization: `Bearer ${token}` } })
    expect((await provider.api(`/transfers/${providerId}/suspend`, { method: 'POST', body: JSON.stringify({ reason: 'maintenance' }) })).status).toBe(200)
    await stateOf(consumer, consumerId, 'SUSPENDED')
    expect((await direct()).status).toBe(403)
    expect((await consumer.api(`/transfers/${consumerId}/data`)).status).toBe(400)
    expect((await consumer.api(`/transfers/${consumerId}/resume`, { method: 'POST' })).status).toBe(200)
    await stateOf(provider, providerId, 'STARTED')
    const again = await direct()
    expect(again.status).toBe(200)
    await again.arrayBuffer()
    expect((await consumer.api(`/transfers/${consumerId}/terminate`, { method: 'POST', body: JSON.stringify({ reason: 'done with it' }) })).status).toBe(200)
    const ended = await stateOf(provider, providerId, 'TERMINATED')
    expect(ended.reason).toContain('done with it')
    const after = await direct()
    expect(after.status).toBe(403)
  })

  it('refuses a token stolen from another transfer', async () => {
    const first = await startTransfer('pull')
    const second = await startTransfer('pull')
    await stateOf(consumer, first.consumerId, 'STARTED')
    await stateOf(consumer, second.consumerId, 'STARTED')
    const addressOf = async (id: string) =>
      (await repo(consumer.rt.ctx).get(consumer.store.db, id))!.dataAddress as { endpoint: string; endpointProperties: Array<{ name: string; value: string }> }
    const a = await addressOf(first.consumerId)
    const b = await addressOf(second.consumerId)
    const stolen = b.endpointProperties.find((p) => p.name === 'authorization')!.value
    const res = await fetch(a.endpoint, { headers: { authorization: `Bearer ${stolen}` } })
    expect(res.status).toBe(403)
  })

  it('refuses the N+1th access of a count-limited agreement', async () => {
    policy.maxAccesses = 2
    try {
      const { consumerId } = await startTransfer('pull')
      await stateOf(consumer, consumerId, 'STARTED')
      // Two downloads: the first in two ranges (one download), the second whole.
      for (const range of ['bytes=0-9', 'bytes=10-', undefined]) {
        const ok = await consumer.api(`/transfers/${consumerId}/data`, range ? { headers: { range } } : {})
        expect(ok.status).toBe(range ? 206 : 200)
        await ok.arrayBuffer()
      }
      const refused = await consumer.api(`/transfers/${consumerId}/data`)
      expect(refused.status).toBe(403)
      expect(await refused.text()).toContain('at most 2 accesses')
    } finally {
      policy.maxAccesses = Infinity
    }
  })

  it('terminates a running transfer when its agreement lapses, with the reason on both sides', async () => {
    const { consumerId, providerId } = await startTransfer('pull')
    await stateOf(consumer, consumerId, 'STARTED')
    policy.ended = true
    try {
      const ended = await startPolicyMonitor({ ctx: provider.rt.ctx, autoStart: false }).runOnce()
      expect(ended.map((e) => e.id)).toContain(providerId)
      const onConsumer = await stateOf(consumer, consumerId, 'TERMINATED')
      expect(onConsumer.reason).toContain('the agreement ended on 2026-11-28')
      expect((await readTransfer(provider, providerId)).reason).toBe('the agreement ended on 2026-11-28')
    } finally {
      policy.ended = false
    }
  })

  it('resumes a push that was under way when the provider stopped, once it starts again', async () => {
    const agreementId = newAgreement()
    const consumerPid = `urn:uuid:resume-c-${Date.now()}`
    const providerPid = `urn:uuid:resume-p-${Date.now()}`
    const receiving = await consumer.store.transaction((tx) =>
      repo(consumer.rt.ctx).insert(
        tx,
        {
          id: consumerPid,
          role: 'consumer',
          providerPid,
          consumerPid,
          agreementId,
          counterpartyId: provider.id,
          counterpartyAddress: provider.dsp,
          format: 'HttpData-PUSH',
          state: 'STARTED',
        },
        { cause: 'test', actor: 'local' },
      ),
    )
    const address = await consumer.rt.dataPlane.control.receiveAddress(receiving)
    // The provider stops with the push started but not sent; it finds it in its store when it starts again.
    const port = Number(new URL(provider.url).port)
    await provider.stop(true)
    await provider.store.transaction((tx) =>
      repo(provider.rt.ctx).insert(
        tx,
        {
          id: providerPid,
          role: 'provider',
          providerPid,
          consumerPid,
          agreementId,
          datasetId: 'urn:dataset:observations',
          counterpartyId: consumer.id,
          counterpartyAddress: consumer.dsp,
          format: 'HttpData-PUSH',
          state: 'STARTED',
          dataAddress: address,
        },
        { cause: 'test', actor: 'local' },
      ),
    )
    provider = await startSide('provider', port, ids, provider.store)
    const done = await stateOf(consumer, consumerPid, 'COMPLETED')
    expect(done.sha256).toBe(contentSha)
    expect(readFileSync(done.outputPath!).equals(content)).toBe(true)
    await stateOf(provider, providerPid, 'COMPLETED')
  })

  describe('passerelle transfer', () => {
    const run = async (args: string[]) => {
      const out: string[] = []
      const err: string[] = []
      const code = await runCli(['transfer', ...args, '--url', consumer.url, '--key', managementKey, '--timeout', '20'], {
        stdout: (t) => void out.push(t),
        stderr: (t) => void err.push(t),
        cwd: root,
        env: { PASSERELLE_PROGRESS: 'lines' },
      })
      return { code, out: out.join('\n'), err: err.join('\n') }
    }

    it('pulls into --out, shows progress and verifies the sha256 (exit 0)', async () => {
      const file = join(root, 'pulled.bin')
      const result = await run([newAgreement(), '--out', file])
      expect(result.code).toBe(0)
      expect(result.out).toContain(`sha256 ${contentSha} verified`)
      expect(result.err).toMatch(/100%/)
      expect(readFileSync(file).equals(content)).toBe(true)
    })

    it("ends with the agreement's duties and how to fulfil them; --json carries them, progress on standard error", async () => {
      const policy = {
        '@id': 'urn:uuid:7b1c8e7e-0000-4000-8000-00000000a11b',
        '@type': 'Set',
        permission: [{ action: 'use', duty: [{ action: 'odrl:attribute' }] }],
      }
      const withDuty = () => {
        const id = newAgreement(policy)
        Object.assign(agreements.get(id)!, { policyId: 'open-with-attribution', policyTitle: 'Open data, with attribution' })
        return id
      }
      const plain = await run([withDuty(), '--out', join(root, 'attributed.bin')])
      expect(plain.code, plain.err).toBe(0)
      expect(plain.out).toMatch(
        /obligations under policy `open-with-attribution` \(“Open data, with attribution”\): you must\n {2}- credit the provider \(attribution\) \[permission-1-duty-1, \w+\]\n {4}how: name the provider and the dataset/,
      )
      const json = await run([withDuty(), '--out', join(root, 'attributed-json.bin'), '--json'])
      expect(json.code, json.err).toBe(0)
      const answer = JSON.parse(json.out)
      expect(answer.obligations.items).toEqual([
        expect.objectContaining({ id: 'permission-1-duty-1', action: 'attribute', howTo: expect.stringMatching(/^name the provider/) }),
      ])
      expect(answer.out).toBe(join(root, 'attributed-json.bin'))
      expect(json.err).toMatch(/sha256 \S+ verified/)
    })

    it('with --push, waits for the provider to push and verifies the copy (exit 0)', async () => {
      const file = join(root, 'pushed.bin')
      const result = await run([newAgreement(), '--push', '--out', file])
      expect(result.code).toBe(0)
      expect(readFileSync(file).equals(content)).toBe(true)
    })

    it('exits 1 with the reason when the provider refuses (the agreement does not hold)', async () => {
      policy.ended = true
      try {
        const result = await run([newAgreement(), '--out', join(root, 'never.bin')])
        expect(result.code).toBe(1)
        expect(result.err).toContain('the agreement ended on 2026-11-28')
      } finally {
        policy.ended = false
      }
    })

    it('exits 1 with the reason for an agreement this participant does not hold', async () => {
      const result = await run(['urn:agreement:unknown'])
      expect(result.code).toBe(1)
      expect(result.err).toContain('no finalized agreement urn:agreement:unknown')
    })
  })
})
