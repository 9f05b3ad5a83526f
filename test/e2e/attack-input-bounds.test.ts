import { randomUUID } from 'node:crypto'
import { request } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fromRoot } from '../../connector/paths.ts'
import { loadPolicies } from '../../policies/index.ts'
import { copyParticipant, freePort, management, startConnectorProcess, type ConnectorProcess, type ParticipantFolder } from '../support/processes.ts'

/**
 * Hostile bodies against a real connector process: nesting far past the depth limit (once a stack
 * overflow and a 500 while storing an offer), bodies over the size limit, declared or chunked, very
 * long ids, huge arrays, out-of-range numbers and keys spelled twice. Each one is a 4xx with a DSP or
 * management error saying what is wrong; nothing is stored and the connector keeps serving.
 */
const context = ['https://w3id.org/dspace/2025/1/context.jsonld']
const arctic = 'urn:uuid:0f3cee7e-e077-4be0-9365-3a791567f70e'

let folder: ParticipantFolder
let connector: ConnectorProcess
let offer: Record<string, unknown>
const peerToken = 'hostile-peer-token'
let callbackPort: number

beforeAll(async () => {
  offer = { ...((await loadPolicies(fromRoot('seeds/policies'))).policies.get('open-with-attribution')!.odrl as Record<string, unknown>), target: arctic }
  // A callback address the connector may reach (nothing listens there: its answer is never awaited here).
  callbackPort = await freePort()
  const port = await freePort()
  folder = await copyParticipant({ port, config: { identity: { mode: 'static', staticTokens: { [peerToken]: 'did:web:hostile.example' } } } })
  connector = await startConnectorProcess(folder, { env: { PASSERELLE_DISPATCH_MAX_ATTEMPTS: '1' } })
}, 60_000)
afterAll(async () => {
  await connector?.stop()
  folder?.remove()
})

const dsp = (path: string) => `${folder.url}/dsp/2025-1${path}`
const send = (url: string, text: string, headers: Record<string, string>) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: text })
const toDsp = (path: string, text: string) => send(dsp(path), text, { authorization: `Bearer ${peerToken}` })
const toManagement = (path: string, text: string) => send(`${folder.url}/management/v1${path}`, text, { authorization: `Bearer ${folder.managementKey}` })

/**
 * POSTs `bytes` of a JSON text in 64 KiB chunks without a declared length, and resolves with the
 * answer as soon as it comes (the server answers and stops reading once the limit is passed).
 */
function chunkedUpload(url: string, headers: Record<string, string>, bytes: number): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked', ...headers } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }))
      res.on('error', reject)
    })
    req.on('error', () => {}) // the server may close the upload once it has answered
    req.write('{"padding":"')
    const chunk = ' '.repeat(64 * 1024)
    let sent = 0
    const more = () => {
      while (sent < bytes) {
        sent += chunk.length
        if (!req.write(chunk)) return void req.once('drain', more)
      }
      req.end('"}')
    }
    more()
  })
}

/** A request message whose text has `"__HOLE__"` replaced by `inner` (raw JSON, built as text so no serialiser recurses). */
function requestText(inner: string, change: (message: Record<string, any>) => void = () => {}) {
  const message: Record<string, any> = {
    '@context': context,
    '@type': 'ContractRequestMessage',
    consumerPid: `urn:uuid:${randomUUID()}`,
    callbackAddress: 'http://127.0.0.1:9/callback',
    offer: structuredClone(offer),
  }
  message.offer.permission[0].constraint = [{ leftOperand: 'purpose', operator: 'eq', rightOperand: '__HOLE__' }]
  change(message)
  return JSON.stringify(message).replace('"__HOLE__"', inner)
}
const deepObjects = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`
const deepArrays = (depth: number) => '['.repeat(depth) + ']'.repeat(depth)

async function refusal(response: Response, status: number, type: string | undefined, reason: RegExp) {
  const body = (await response.json()) as any
  expect(response.status, JSON.stringify(body).slice(0, 300)).toBe(status)
  if (type) {
    expect(body['@type']).toBe(type)
    expect(body.reason?.[0]).toMatch(reason)
  } else expect(body.error.message).toMatch(reason)
  return body
}

const counts = async () => ({
  negotiations: (await management(folder, 'GET', '/negotiations?limit=500')).body.items.length as number,
  transfers: (await management(folder, 'GET', '/transfers')).body.items.length as number,
  datasets: (await management(folder, 'GET', '/datasets?limit=500')).body.total as number,
})

describe('bounded input on DSP routes', () => {
  it('accepts a well-formed request for the published offer (the route works)', async () => {
    const before = await counts()
    const message = {
      '@context': context,
      '@type': 'ContractRequestMessage',
      consumerPid: `urn:uuid:${randomUUID()}`,
      callbackAddress: `http://127.0.0.1:${callbackPort}/callback`,
      offer,
    }
    const response = await toDsp('/negotiations/request', JSON.stringify(message))
    expect(response.status).toBe(201)
    expect((await counts()).negotiations).toBe(before.negotiations + 1)
  })

  it('refuses an offer nested 100 and 100,000 levels deep with 400 ContractNegotiationError, and stores nothing', async () => {
    const before = await counts()
    for (const inner of [deepObjects(100), deepObjects(100_000), deepArrays(100_000)]) {
      await refusal(
        await toDsp('/negotiations/request', requestText(inner)),
        400,
        'ContractNegotiationError',
        /^the request body at offer\.permission\.0\.constraint\.0\.rightOperand(\.a|\.0)*: nested deeper than 32 levels$/,
      )
    }
    expect(await counts()).toEqual(before)
  })

  it('refuses deep bodies on the transfer and catalog routes too, with their own DSP errors', async () => {
    const before = await counts()
    const transfer = `{"@context":${JSON.stringify(context)},"@type":"TransferRequestMessage","consumerPid":"urn:uuid:${randomUUID()}","agreementId":${deepArrays(50_000)}}`
    await refusal(await toDsp('/transfers/request', transfer), 400, 'TransferError', /nested deeper than 32 levels/)
    const catalog = `{"@context":${JSON.stringify(context)},"@type":"CatalogRequestMessage","filter":${deepArrays(50_000)}}`
    await refusal(await toDsp('/catalog/request', catalog), 400, 'CatalogError', /nested deeper than 32 levels/)
    expect(await counts()).toEqual(before)
  })

  it('refuses a body over the size limit with 413, whether its length is declared or it comes in chunks', async () => {
    const before = await counts()
    const huge = requestText(JSON.stringify('x'.repeat(2 * 1024 * 1024)))
    await refusal(await toDsp('/negotiations/request', huge), 413, 'ContractNegotiationError', /larger than the limit of 1048576 bytes/)
    const chunked = await chunkedUpload(dsp('/negotiations/request'), { authorization: `Bearer ${peerToken}` }, 2 * 1024 * 1024)
    expect(chunked.status).toBe(413)
    expect(chunked.body['@type']).toBe('ContractNegotiationError')
    expect(chunked.body.reason[0]).toMatch(/larger than the limit of 1048576 bytes/)
    expect(await counts()).toEqual(before)
  })

  it('refuses a 10,000-character consumerPid and offer @id, a 20,000-element array, 1e999 and a key spelled twice', async () => {
    const before = await counts()
    const long = `urn:uuid:${'a'.repeat(10_000)}`
    const attacks: Array<[string, RegExp]> = [
      [requestText('"x"', (m) => (m.consumerPid = long)), /at consumerPid: an identifier is longer than 2048 characters/],
      [requestText('"x"', (m) => (m.offer['@id'] = long)), /at offer\.@id: an identifier is longer than 2048 characters/],
      [
        requestText(`[${Array.from({ length: 20_000 }, () => '0').join(',')}]`),
        /at offer\.permission\.0\.constraint\.0\.rightOperand: an array has more than 10000 elements$/,
      ],
      [requestText('1e999'), /rightOperand: the number 1e999 is out of range/],
      [requestText('"x"').replace('"consumerPid":', '"consumerPid":"urn:uuid:first","consumerPid":'), /the key "consumerPid" appears twice in one object/],
    ]
    for (const [text, reason] of attacks) await refusal(await toDsp('/negotiations/request', text), 400, 'ContractNegotiationError', reason)
    expect(await counts()).toEqual(before)
  })
})

describe('bounded input on the management API', () => {
  it('refuses a deep or oversized negotiation or dataset with 400 or 413 and a plain error; nothing is stored', async () => {
    const before = await counts()
    const start = JSON.stringify({ peerUrl: 'http://127.0.0.1:9/dsp/2025-1', peerId: 'did:web:peer.example', datasetId: arctic, offer: '__HOLE__' }).replace(
      '"__HOLE__"',
      deepObjects(10_000),
    )
    await refusal(await toManagement('/negotiations', start), 400, undefined, /^the request body at offer(\.a)+: nested deeper than 32 levels$/)
    const dataset = JSON.stringify({ id: 'urn:uuid:deep', title: '__HOLE__' }).replace('"__HOLE__"', deepArrays(100_000))
    await refusal(await toManagement('/datasets', dataset), 400, undefined, /nested deeper than 32 levels/)
    await refusal(
      await toManagement('/datasets', JSON.stringify({ id: 'urn:uuid:huge', title: 'x'.repeat(2 * 1024 * 1024) })),
      413,
      undefined,
      /larger than the limit/,
    )
    await refusal(await toManagement('/datasets', '{"id":"urn:uuid:twice","id":"urn:uuid:other"}'), 400, undefined, /the key "id" appears twice/)
    expect(await counts()).toEqual(before)
  })

  it('answered every attack without a 5xx and is still healthy', async () => {
    expect((await fetch(`${folder.url}/health`)).status).toBe(200)
    // The app logs every 5xx answer as "request failed".
    const failures = connector.output.filter((line) => line.includes('"msg":"request failed"') || line.includes('Maximum call stack'))
    expect(failures).toEqual([])
  })
})
