import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { dspSchemaErrors } from '../support/dsp-schemas.ts'
import { copyParticipant, startConnectorProcess, type ConnectorProcess, type ParticipantFolder } from '../support/processes.ts'

/** How DSP endpoints answer requests that fail authentication, on a real connector with DCP identity. */
describe('DSP endpoints without valid authentication', () => {
  let folder: ParticipantFolder
  let connector: ConnectorProcess
  beforeAll(async () => {
    folder = await copyParticipant()
    connector = await startConnectorProcess(folder)
  })
  afterAll(async () => {
    await connector?.stop()
    folder?.remove()
  })

  const dsp = (path: string) => `${folder.url}/dsp/2025-1${path}`
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(dsp(path), { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })

  it('answers 404 on a process endpoint, exactly as for an unknown process, so process ids cannot be probed', async () => {
    for (const headers of [{}, { authorization: 'Bearer not-a-token' }] as Record<string, string>[]) {
      for (const [path, type, schema] of [
        ['/negotiations/urn:uuid:11111111-1111-4111-8111-111111111111', 'ContractNegotiationError', 'negotiation/contract-negotiation-error-schema.json'],
        ['/transfers/urn:uuid:11111111-1111-4111-8111-111111111111', 'TransferError', 'transfer/transfer-error-schema.json'],
      ] as const) {
        const response = await fetch(dsp(path), { headers })
        expect(response.status, path).toBe(404)
        const body = (await response.json()) as any
        expect(body['@type']).toBe(type)
        expect(dspSchemaErrors(schema, body)).toEqual([])
        expect(JSON.stringify(body)).not.toMatch(/token|Authorization/i)
      }
    }
    // The log says which check failed.
    expect(connector.output.join('\n')).toMatch(/"status":404,"reason":"no token/)
  })

  it('answers 404 to a message for a process, too', async () => {
    const response = await post('/negotiations/urn:uuid:11111111-1111-4111-8111-111111111111/termination', {}, { authorization: 'Bearer forged' })
    expect(response.status).toBe(404)
  })

  it('answers 401 when creating a process or reading the catalog', async () => {
    expect((await post('/negotiations/request', {})).status).toBe(401)
    expect((await post('/transfers/request', {})).status).toBe(401)
    const catalog = await post('/catalog/request', { '@context': ['https://w3id.org/dspace/2025/1/context.jsonld'], '@type': 'CatalogRequestMessage' })
    expect(catalog.status).toBe(401)
    expect(((await catalog.json()) as any)['@type']).toBe('CatalogError')
  })
})
