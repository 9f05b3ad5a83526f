/**
 * The TCK profile (seeds/tck/passerelle.yaml) as the official TCK meets it for transfers: Passerelle
 * on 127.0.0.1 with the profile's agreements and scripts, and a stand-in for the TCK speaking plain
 * HTTP. Every message either side sends is checked against the published DSP schemas. (Every TP and
 * TP_C case is also replayed, in-process, in connector/transfer/dsp-routes.test.ts.)
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { getRequestListener } from '@hono/node-server'
import { Hono } from 'hono'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../connector/config/config.ts'
import { systemClock } from '../../connector/clock.ts'
import { randomIds } from '../../connector/ids.ts'
import type { Ctx } from '../../connector/context.ts'
import { createCatalog } from '../../connector/catalog/routes.ts'
import { createApp } from '../../connector/http/app.ts'
import { createPeerClient } from '../../connector/http/peer-client.ts'
import { fixtureEgress } from '../support/context.ts'
import { fromRoot } from '../../connector/paths.ts'
import type { Store } from '../../connector/store/store.ts'
import { silentLogger } from '../../connector/telemetry/logger.ts'
import { transferArea } from '../../connector/transfer/area.ts'
import { expectDspValid } from '../support/dsp-schemas.ts'
import { freePort } from '../support/processes.ts'
import { sharedDispatcher } from '../support/areas.ts'
import { eventually as poll } from '../support/wait.ts'
import { createTestStore } from '../support/stores.ts'

const context = ['https://w3id.org/dspace/2025/1/context.jsonld']
const tckToken = 'tck-consumer-token'
const schemaOf: Record<string, string> = {
  TransferProcess: 'transfer/transfer-process-schema.json',
  TransferError: 'transfer/transfer-error-schema.json',
  TransferRequestMessage: 'transfer/transfer-request-message-schema.json',
  TransferStartMessage: 'transfer/transfer-start-message-schema.json',
  TransferCompletionMessage: 'transfer/transfer-completion-message-schema.json',
  TransferSuspensionMessage: 'transfer/transfer-suspension-message-schema.json',
  TransferTerminationMessage: 'transfer/transfer-termination-message-schema.json',
}

/** The TCK's side: records what Passerelle sends and answers like the TCK's mock connector. */
class FakeTck {
  received: Array<{ path: string; body: any }> = []
  server!: Server
  url = ''
  private counter = 0
  async start() {
    const app = new Hono()
    app.post('*', async (c) => {
      const body = await c.req.json()
      expectDspValid(schemaOf[body['@type']]!, body)
      this.received.push({ path: c.req.path, body })
      if (c.req.path.endsWith('/transfers/request')) {
        return c.json(
          {
            '@context': context,
            '@type': 'TransferProcess',
            providerPid: `urn:tck:provider-${++this.counter}`,
            consumerPid: body.consumerPid,
            state: 'REQUESTED',
          },
          201,
        )
      }
      return c.body(null, 200)
    })
    this.server = createServer(getRequestListener(app.fetch))
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`
  }
  async stop() {
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
  types(pid: string) {
    return this.received.filter((m) => m.body.consumerPid === pid || m.body.providerPid === pid).map((m) => m.body['@type'] as string)
  }
}

const eventually = <T>(check: () => Promise<T | undefined> | T | undefined) => poll(check, 10_000, 20)

let tck: FakeTck
let store: Store
let server: Server
let dataDir: string
let dspUrl: string
let base: string
let stopArea: () => Promise<void>

beforeAll(async () => {
  tck = new FakeTck()
  await tck.start()
  const port = await freePort()
  dataDir = mkdtempSync(join(tmpdir(), 'passerelle-tck-transfer-'))
  const config = loadConfig(fromRoot('seeds/tck/passerelle.yaml'), { env: {}, overrides: { 'server.port': port, 'server.host': '127.0.0.1', dataDir } })
  store = await createTestStore('sqlite')
  const ctx: Ctx = { config, store, clock: systemClock, ids: randomIds, logger: silentLogger, peers: createPeerClient({ egress: fixtureEgress }) }
  const catalog = await createCatalog(ctx)
  const area = transferArea({ ctx, dispatcher: sharedDispatcher(ctx), catalog: catalog.service })
  const { app } = createApp(ctx, [area])
  server = createServer(getRequestListener(app.fetch))
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  stopArea = (await area.start!(ctx)).stop
  base = `http://127.0.0.1:${port}`
  dspUrl = `${base}/dsp/2025-1`
})
afterAll(async () => {
  await stopArea?.()
  server?.closeAllConnections()
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()))
  await store?.close()
  await tck?.stop()
  rmSync(dataDir, { recursive: true, force: true })
})

async function send(path: string, body: unknown) {
  const response = await fetch(`${dspUrl}/transfers${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: tckToken },
    body: JSON.stringify(body),
  })
  const json = (await response.json()) as any
  expectDspValid(schemaOf[json['@type']]!, json)
  return { status: response.status, body: json }
}
async function stateOf(pid: string) {
  const response = await fetch(`${dspUrl}/transfers/${pid}`, { headers: { authorization: tckToken } })
  const body = (await response.json()) as any
  expectDspValid(schemaOf[body['@type']]!, body)
  return body.state as string
}
const reaches = (pid: string, state: string) => eventually(async () => ((await stateOf(pid)) === state ? true : undefined))
const message = (type: string, providerPid: string, consumerPid: string) => ({
  '@context': context,
  '@type': type,
  providerPid,
  consumerPid,
  ...(type === 'TransferTerminationMessage' || type === 'TransferSuspensionMessage' ? { code: '1', reason: ['TCK'] } : {}),
})

describe('TCK provider cases against the profile (Passerelle as provider)', () => {
  let seq = 0
  async function request(agreementId: string) {
    const consumerPid = `urn:tck:consumer-${agreementId}-${++seq}`
    const response = await send('/request', {
      '@context': context,
      '@type': 'TransferRequestMessage',
      consumerPid,
      agreementId,
      format: 'HttpData-PULL',
      callbackAddress: tck.url,
    })
    expect(response.status).toBe(201)
    expect(response.body.state).toBe('REQUESTED')
    return { consumerPid, providerPid: response.body.providerPid as string }
  }

  it('TP:01-04 provider starts, suspends, starts again and completes', async () => {
    const p = await request('ATP0104')
    await eventually(() => (tck.types(p.consumerPid).length === 4 ? true : undefined))
    expect(tck.types(p.consumerPid)).toEqual(['TransferStartMessage', 'TransferSuspensionMessage', 'TransferStartMessage', 'TransferCompletionMessage'])
    const start = tck.received.find((m) => m.body.consumerPid === p.consumerPid && m.body['@type'] === 'TransferStartMessage')!
    expect(start.path).toBe(`/transfers/${p.consumerPid}/start`)
    expect(start.body.dataAddress.endpointType).toBe('https://w3id.org/idsa/v4.1/HTTP')
    await reaches(p.providerPid, 'COMPLETED')
  })

  it('TP:02-03 provider starts, consumer suspends then terminates', async () => {
    const p = await request('ATP0203')
    await reaches(p.providerPid, 'STARTED')
    expect((await send(`/${p.providerPid}/suspension`, message('TransferSuspensionMessage', p.providerPid, p.consumerPid))).status).toBe(200)
    expect(await stateOf(p.providerPid)).toBe('SUSPENDED')
    expect((await send(`/${p.providerPid}/termination`, message('TransferTerminationMessage', p.providerPid, p.consumerPid))).status).toBe(200)
    expect(await stateOf(p.providerPid)).toBe('TERMINATED')
  })

  it('TP:03-03 a completion while suspended is refused with a TransferError, state unchanged', async () => {
    const p = await request('ATP0303')
    await reaches(p.providerPid, 'STARTED')
    await send(`/${p.providerPid}/suspension`, message('TransferSuspensionMessage', p.providerPid, p.consumerPid))
    const refused = await send(`/${p.providerPid}/completion`, message('TransferCompletionMessage', p.providerPid, p.consumerPid))
    expect(refused.status).toBe(400)
    expect(refused.body).toMatchObject({ '@type': 'TransferError', providerPid: p.providerPid, consumerPid: p.consumerPid })
    expect(await stateOf(p.providerPid)).toBe('SUSPENDED')
  })
})

describe('TCK consumer cases against the profile (Passerelle as consumer)', () => {
  async function trigger(agreementId: string) {
    const response = await fetch(`${base}/tck/transfers`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ providerId: 'TCK_PARTICIPANT', agreementId, format: 'HttpData-PULL', connectorAddress: tck.url }),
    })
    expect(response.status).toBe(200)
    const request = await eventually(() => tck.received.find((m) => m.body['@type'] === 'TransferRequestMessage' && m.body.agreementId === agreementId))
    expect(request.body.callbackAddress).toBe(dspUrl)
    const consumerPid = request.body.consumerPid as string
    const providerPid = await eventually(async () => {
      const r = await fetch(`${dspUrl}/transfers/${consumerPid}`, { headers: { authorization: tckToken } })
      const body = (await r.json()) as { providerPid: string }
      return body.providerPid ? body.providerPid : undefined
    })
    return { consumerPid, providerPid }
  }
  const dataAddress = {
    '@type': 'DataAddress',
    endpointType: 'https://w3id.org/idsa/v4.1/HTTP',
    endpoint: 'http://127.0.0.1:9/data',
    endpointProperties: [{ '@type': 'EndpointProperty', name: 'authorization', value: 'tck' }],
  }

  it('TP_C:01-03 provider starts, suspends, terminates', async () => {
    const p = await trigger('ATPC0103')
    expect((await send(`/${p.consumerPid}/start`, { ...message('TransferStartMessage', p.providerPid, p.consumerPid), dataAddress })).status).toBe(200)
    expect((await send(`/${p.consumerPid}/suspension`, message('TransferSuspensionMessage', p.providerPid, p.consumerPid))).status).toBe(200)
    expect((await send(`/${p.consumerPid}/termination`, message('TransferTerminationMessage', p.providerPid, p.consumerPid))).status).toBe(200)
    expect(await stateOf(p.consumerPid)).toBe('TERMINATED')
  })

  it('TP_C:02-03 after the provider starts, the consumer suspends then terminates (scripted)', async () => {
    const p = await trigger('ATPC0203')
    expect((await send(`/${p.consumerPid}/start`, { ...message('TransferStartMessage', p.providerPid, p.consumerPid), dataAddress })).status).toBe(200)
    await eventually(() => (tck.types(p.consumerPid).includes('TransferTerminationMessage') ? true : undefined))
    expect(tck.types(p.consumerPid)).toEqual(['TransferRequestMessage', 'TransferSuspensionMessage', 'TransferTerminationMessage'])
    expect(await stateOf(p.consumerPid)).toBe('TERMINATED')
  })

  it('TP_C:03-04 a start after termination is refused, state unchanged', async () => {
    const p = await trigger('ATPC0304')
    await send(`/${p.consumerPid}/start`, { ...message('TransferStartMessage', p.providerPid, p.consumerPid), dataAddress })
    await send(`/${p.consumerPid}/termination`, message('TransferTerminationMessage', p.providerPid, p.consumerPid))
    const refused = await send(`/${p.consumerPid}/start`, message('TransferStartMessage', p.providerPid, p.consumerPid))
    expect(refused.status).toBe(400)
    expect(await stateOf(p.consumerPid)).toBe('TERMINATED')
  })
})
