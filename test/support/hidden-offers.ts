import { randomUUID } from 'node:crypto'
import { appendFileSync, chmodSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll } from 'vitest'
import { resolveConfig } from '../../connector/config/config.ts'
import { systemClock } from '../../connector/clock.ts'
import { randomIds } from '../../connector/ids.ts'
import { createIdentity, type Identity } from '../../connector/identity/identity.ts'
import { loadKeyRing } from '../../connector/identity/keys.ts'
import { fromRoot } from '../../connector/paths.ts'
import type { Store } from '../../connector/store/store.ts'
import { silentLogger } from '../../connector/telemetry/logger.ts'
import { loadPolicies } from '../../policies/index.ts'
import { copyParticipant, management, startConnectorProcess, type ConnectorProcess, type ParticipantFolder } from './processes.ts'
import { createTestStore } from './stores.ts'

export const context = ['https://w3id.org/dspace/2025/1/context.jsonld']
export const arctic = 'urn:uuid:0f3cee7e-e077-4be0-9365-3a791567f70e' // open-with-attribution, shown to everyone
export const estuary = 'urn:uuid:f431f209-fe28-41b5-aa8f-c4fd8cf65bf0' // eu-or-canada-processing, and open-with-attribution for members only (here)
export const wildfire = 'urn:uuid:d9c7c33d-9423-4f98-9122-8c84794feb94' // the whole dataset for members only
export const env = { PASSERELLE_DISPATCH_BASE_DELAY_MS: '100' }

export let provider: ParticipantFolder
export let consumer: ParticipantFolder
export const processes: ConnectorProcess[] = []
export let store: Store
export let asConsumer: Identity
/** The seed's offers by policy id (the provider publishes the same). */
export let offers: Map<string, Record<string, unknown> & { '@id': string }>

/** Registers the hooks that start a provider process whose catalog hides an offer and a dataset from non-members, and a consumer process, both with DCP identity. */
export function useHiddenOfferParticipants() {
  beforeAll(async () => {
    const loaded = await loadPolicies(fromRoot('seeds/policies'))
    offers = new Map([...loaded.policies].map(([id, policy]) => [id, policy.odrl as Record<string, unknown> & { '@id': string }]))
    const identity = { mode: 'dcp', keyFiles: ['identity/private-key.jwk'], allowInsecureLoopback: true, trustedIssuers: [] }
    provider = await copyParticipant({ config: { identity } })
    consumer = await copyParticipant({ config: { identity } })
    for (const participant of [provider, consumer]) chmodSync(join(participant.dir, 'identity', 'private-key.jwk'), 0o600)
    appendFileSync(join(provider.dir, 'datasets', 'st-lawrence-water-temperature.yaml'), 'offerVisibility:\n  open-with-attribution: members-only\n')
    processes.push(await startConnectorProcess(provider, { env }), await startConnectorProcess(consumer, { env }))
    store = await createTestStore('sqlite')
    const config = resolveConfig({ participant: { id: consumer.did, name: 'client' }, identity }, consumer.dir, { env: {} })
    asConsumer = await createIdentity(
      { config, store, clock: systemClock, ids: randomIds, logger: silentLogger },
      { keys: await loadKeyRing({ root: consumer.dir, keyFiles: ['identity/private-key.jwk'] }) },
    )
  }, 60_000)
  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop('SIGKILL')))
    await store?.close()
    provider?.remove()
    consumer?.remove()
  })
}

export const token = () =>
  asConsumer.tokenIssuer.authorizationFor({ participantId: provider.did, dspUrl: `${provider.url}/dsp/2025-1` }, ['MembershipCredential'])

export async function request(offer: Record<string, unknown>) {
  const response = await fetch(`${provider.url}/dsp/2025-1/negotiations/request`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: await token() },
    body: JSON.stringify({
      '@context': context,
      '@type': 'ContractRequestMessage',
      consumerPid: `urn:uuid:${randomUUID()}`,
      offer,
      callbackAddress: `${consumer.url}/dsp/2025-1`,
    }),
  })
  return { status: response.status, body: (await response.json()) as Record<string, any> }
}

export const providerNegotiations = async () =>
  (await management(provider, 'GET', '/negotiations?role=provider&limit=500')).body.items as Array<Record<string, any>>
