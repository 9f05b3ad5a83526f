import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, expect } from 'vitest'
import { fromRoot } from '../../connector/paths.ts'
import { signJwt } from '../../connector/identity/jwt.ts'
import { loadKeyFile, type SigningKey } from '../../connector/identity/keys.ts'
import { loadPolicies } from '../../policies/index.ts'
import { allowPort, copyParticipant, management, startConnectorProcess, until, type ConnectorProcess, type ParticipantFolder } from './processes.ts'

export const arctic = 'urn:uuid:0f3cee7e-e077-4be0-9365-3a791567f70e' // open-with-attribution
export const dspContext = ['https://w3id.org/dspace/2025/1/context.jsonld']
export const env = { PASSERELLE_DISPATCH_BASE_DELAY_MS: '50', PASSERELLE_LOG_LEVEL: 'info' }

/** A server that records every request (method, path, authorization) and answers `respond`. */
export async function recorder(respond: (res: import('node:http').ServerResponse) => void = (res) => res.end('{}')) {
  const hits: string[] = []
  const server = createServer((req, res) => {
    hits.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`)
    req.resume()
    respond(res)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { server, port: (server.address() as AddressInfo).port, hits }
}

export let provider: ParticipantFolder
export let consumer: ParticipantFolder
export let processes: ConnectorProcess[] = []
export let consumerKey: SigningKey
export let offer: Record<string, unknown>
export let agreementId: string
/** An internal service of the provider's network: not in its allow-list. */
export let internal: Awaited<ReturnType<typeof recorder>>
/** A server the provider may reach that redirects every request to the internal one. */
export let redirector: Awaited<ReturnType<typeof recorder>>
/** What answers at the consumer's address once the negotiation is done. */
export let attacker: Server
/** A separate data plane of the consumer's, in the provider's allow-list. */
export let dataPlane: Awaited<ReturnType<typeof recorder>>

/** Registers the hooks that start a provider and a consumer process with a finalized agreement, and the internal listeners (recorders, a redirector, an attacker's server) that prove nothing reaches them. */
export function useEgressAttackParticipants() {
  beforeAll(async () => {
    offer = (await loadPolicies(fromRoot('seeds/policies'))).policies.get('open-with-attribution')!.odrl as Record<string, unknown>
    internal = await recorder()
    redirector = await recorder((res) => res.writeHead(307, { location: `http://127.0.0.1:${internal.port}/stolen` }).end())
    dataPlane = await recorder((res) => res.writeHead(204).end())
    allowPort(redirector.port)
    allowPort(dataPlane.port)
    const identity = { mode: 'dcp', keyFiles: ['identity/private-key.jwk'], allowInsecureLoopback: true, trustedIssuers: [] }
    provider = await copyParticipant({ config: { identity } })
    consumer = await copyParticipant({ config: { identity } })
    processes = [await startConnectorProcess(provider, { env }), await startConnectorProcess(consumer, { env })]
    consumerKey = await loadKeyFile(`${consumer.dir}/identity/private-key.jwk`)
    const started = await management(consumer, 'POST', '/negotiations', {
      peerUrl: `${provider.url}/dsp/2025-1`,
      peerId: provider.did,
      datasetId: arctic,
      offer,
    })
    expect(started.status).toBe(201)
    const done = await until(async () => {
      const { body } = await management(consumer, 'GET', `/negotiations/${started.body.id}`)
      return body.state === 'FINALIZED' || body.state === 'TERMINATED' ? body : undefined
    })
    expect(done.state, JSON.stringify(done)).toBe('FINALIZED')
    agreementId = done.agreementId
    // From here the consumer is the attacker: its own address runs what it likes. It keeps serving
    // its DID document (so its tokens still verify) and acknowledges every DSP message, so that the
    // provider goes on to push wherever the attack asked.
    const didDocument = await (await fetch(`${consumer.url}/.well-known/did.json`)).text()
    await processes.pop()!.stop()
    attacker = createServer((req, res) => {
      req.resume()
      if (req.url === '/.well-known/did.json') return void res.writeHead(200, { 'content-type': 'application/json' }).end(didDocument)
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
    await new Promise<void>((resolve) => attacker.listen(consumer.port, '127.0.0.1', resolve))
  }, 90_000)
  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop('SIGKILL')))
    await new Promise((resolve) => (attacker ? attacker.close(resolve) : resolve(undefined)))
    provider?.remove()
    consumer?.remove()
    for (const r of [internal, redirector, dataPlane]) await new Promise((resolve) => r?.server.close(resolve))
  })
}

/** A DSP POST to the provider as the consumer: an ID token signed with the consumer's key. */
export async function asConsumer(path: string, body: unknown) {
  const iat = Math.floor(Date.now() / 1000)
  const token = await signJwt(
    { iss: consumer.did, sub: consumer.did, aud: provider.did, jti: crypto.randomUUID(), iat, nbf: iat, exp: iat + 300 },
    consumerKey,
    consumer.did,
  )
  const response = await fetch(`${provider.url}/dsp/2025-1${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  })
  return { status: response.status, body: (await response.json()) as any }
}

export const pushRequest = (endpoint: string, overrides: Record<string, unknown> = {}) => ({
  '@context': dspContext,
  '@type': 'TransferRequestMessage',
  consumerPid: `urn:uuid:${crypto.randomUUID()}`,
  agreementId,
  format: 'HttpData-PUSH',
  callbackAddress: `${consumer.url}/dsp/2025-1`,
  dataAddress: {
    '@type': 'DataAddress',
    endpointType: 'https://w3id.org/idsa/v4.1/HTTP',
    endpoint,
    endpointProperties: [{ '@type': 'EndpointProperty', name: 'authorization', value: 'chosen-by-the-consumer' }],
  },
  ...overrides,
})

export const providerTransfers = async () => (await management(provider, 'GET', '/transfers?role=provider&limit=100')).body.items as any[]
export const providerNegotiations = async () => (await management(provider, 'GET', '/negotiations?limit=100')).body.items as any[]
export const providerLog = () => processes[0]!.output.join('\n')
