import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fromRoot } from '../../connector/paths.ts'
import { expectDspValid } from '../support/dsp-schemas.ts'
import { allowPort, copyParticipant, startConnectorProcess, type ConnectorProcess, type ParticipantFolder } from '../support/processes.ts'
import { eventually } from '../support/wait.ts'

/**
 * The TCK profile as the official TCK meets it: `passerelle start` on seeds/tck (a copy, on a free
 * port), the TCK's static token, a provider case and the consumer trigger over real HTTP.
 */
const context = ['https://w3id.org/dspace/2025/1/context.jsonld']
let folder: ParticipantFolder
let connector: ConnectorProcess
let tck: Server
let tckUrl = ''
const received: any[] = []

beforeAll(async () => {
  tck = createServer((req, res) => {
    let text = ''
    req.on('data', (chunk) => (text += chunk))
    req.on('end', () => {
      // Like the TCK, the stand-in has no version document: the connector then uses the callback as given.
      if (req.method !== 'POST') {
        res.writeHead(404)
        res.end()
        return
      }
      const body = JSON.parse(text)
      received.push(body)
      if (req.url?.endsWith('/negotiations/request')) {
        res.writeHead(201, { 'content-type': 'application/json' })
        res.end(
          JSON.stringify({
            '@context': context,
            '@type': 'ContractNegotiation',
            providerPid: 'urn:tck:p-1',
            consumerPid: body.consumerPid,
            state: 'REQUESTED',
          }),
        )
      } else {
        res.writeHead(200)
        res.end()
      }
    })
  })
  await new Promise<void>((resolve) => tck.listen(0, '127.0.0.1', resolve))
  tckUrl = `http://127.0.0.1:${(tck.address() as AddressInfo).port}`
  // The stand-in TCK is one of the test's own addresses: the connector may call it back.
  allowPort((tck.address() as AddressInfo).port)
  // The copy keeps the profile's own participant id (its tokens name it), on a free port.
  folder = await copyParticipant({
    from: fromRoot('seeds/tck'),
    config: { participant: { id: 'urn:connector:passerelle-tck', name: 'Passerelle (TCK profile)' } },
  })
  connector = await startConnectorProcess(folder, { env: { PASSERELLE_LOG_LEVEL: 'warn' } })
})
afterAll(async () => {
  await connector?.stop('SIGKILL')
  folder?.remove()
  tck?.closeAllConnections()
  await new Promise<void>((resolve) => (tck ? tck.close(() => resolve()) : resolve()))
})

const until = <T>(check: () => T | undefined) => eventually(check, 5_000, 25)

describe('TCK profile (real process)', () => {
  it('CN:01-04 over the wire: request with the TCK token, agreement to the TCK, verification, FINALIZED', async () => {
    const dsp = `${folder.url}/dsp/2025-1`
    const request = {
      '@context': context,
      '@type': 'ContractRequestMessage',
      consumerPid: 'urn:tck:c-1',
      offer: { '@id': 'CD123:ACN0104:456', '@type': 'Offer', target: 'ACN0104', permission: [{ action: 'use', constraint: [] }] },
      callbackAddress: tckUrl,
    }
    const answer = await fetch(`${dsp}/negotiations/request`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'tck-consumer-token' },
      body: JSON.stringify(request),
    })
    expect(answer.status).toBe(201)
    const negotiation = (await answer.json()) as { providerPid: string }
    const agreement = await until(() => received.find((m) => m['@type'] === 'ContractAgreementMessage' && m.consumerPid === 'urn:tck:c-1'))
    expectDspValid('negotiation/contract-agreement-message-schema.json', agreement)
    const verification = {
      '@context': context,
      '@type': 'ContractAgreementVerificationMessage',
      providerPid: negotiation.providerPid,
      consumerPid: 'urn:tck:c-1',
    }
    const verified = await fetch(`${dsp}/negotiations/${negotiation.providerPid}/agreement/verification`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'tck-consumer-token' },
      body: JSON.stringify(verification),
    })
    expect(verified.status).toBe(200)
    await until(() => received.find((m) => m['@type'] === 'ContractNegotiationEventMessage' && m.eventType === 'FINALIZED'))
    const state = (await (await fetch(`${dsp}/negotiations/${negotiation.providerPid}`, { headers: { authorization: 'tck-consumer-token' } })).json()) as {
      state: string
    }
    expect(state.state).toBe('FINALIZED')
  })

  it('the consumer trigger makes the profile request the TCK offer', async () => {
    const response = await fetch(`${folder.url}/tck/negotiations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ providerId: 'urn:connector:tck', offerId: 'offerACNC0101', datasetId: 'ACNC0101', connectorAddress: tckUrl }),
    })
    expect(response.status).toBe(201)
    const request = await until(() => received.find((m) => m['@type'] === 'ContractRequestMessage'))
    expectDspValid('negotiation/contract-request-message-schema.json', request)
    expect(request.offer).toMatchObject({ '@id': 'offerACNC0101', target: 'ACNC0101' })
  })

  it('security: a request without the TCK token is refused with 401', async () => {
    const response = await fetch(`${folder.url}/dsp/2025-1/negotiations/request`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    })
    expect(response.status).toBe(401)
  })
})
