import { randomUUID } from 'node:crypto'
import { chmodSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, expect } from 'vitest'
import { systemClock } from '../../connector/clock.ts'
import { randomIds } from '../../connector/ids.ts'
import { createIdentity, type Identity } from '../../connector/identity/identity.ts'
import { loadKeyRing } from '../../connector/identity/keys.ts'
import { resolveConfig } from '../../connector/config/config.ts'
import { silentLogger } from '../../connector/telemetry/logger.ts'
import type { Store } from '../../connector/store/store.ts'
import { copyParticipant, freePort, management, startConnectorProcess, type ConnectorProcess, type ParticipantFolder } from './processes.ts'
import { createTestStore } from './stores.ts'

/**
 * Shared by the attack tests on rewritten offers and agreements: a provider process publishing a
 * "three downloads" and a "no redistribution" offer, a consumer process, both with DCP identity,
 * and an attacker signing as the consumer with its key.
 */
export const context = ['https://w3id.org/dspace/2025/1/context.jsonld']
export const odrl = 'http://www.w3.org/ns/odrl/2/'
export const limited = 'urn:uuid:0f3cee7e-e077-4be0-9365-3a791567f70e' // the seed's arctic dataset, here under three-downloads
export const guarded = 'urn:uuid:5b0c3c1e-8f0e-4f55-9d55-6a4c2a1f0b7e' // the same data, under no-redistribution
export const env = { PASSERELLE_DISPATCH_BASE_DELAY_MS: '100' }

export let provider: ParticipantFolder
export let consumer: ParticipantFolder
export const processes: ConnectorProcess[] = []
export let store: Store
export let asConsumer: Identity
/** The offers as the provider's catalog publishes them, by dataset. */
export const published = new Map<string, Record<string, any>>()

export const policyFiles = {
  'three-downloads.yaml': `id: three-downloads
title: Three downloads
description: Anyone may use the data, for three downloads at most.
permissions:
  - action: use
    constraints:
      - leftOperand: count
        operator: lteq
        rightOperand: 3
`,
  'no-redistribution.yaml': `id: no-redistribution
title: Use without redistribution
description: Anyone may use the data; nobody may distribute it.
permissions:
  - action: use
prohibitions:
  - action: distribute
`,
}

export let hostilePort: number

/**
 * Registers the hooks that start the provider (with the three-downloads and no-redistribution policies)
 * and consumer processes, the attacker signing as the consumer, and read the published offers.
 * The port of a hostile provider the test runs in its own process is reserved first, so the
 * consumer process may reach it (`hostilePort`).
 */
export function useRewrittenOfferParticipants() {
  beforeAll(async () => {
    hostilePort = await freePort()
    const identity = { mode: 'dcp', keyFiles: ['identity/private-key.jwk'], allowInsecureLoopback: true, trustedIssuers: [] }
    provider = await copyParticipant({ config: { identity } })
    consumer = await copyParticipant({ config: { identity } })
    for (const participant of [provider, consumer]) chmodSync(join(participant.dir, 'identity', 'private-key.jwk'), 0o600)
    for (const [name, text] of Object.entries(policyFiles)) writeFileSync(join(provider.dir, 'policies', name), text)
    const arctic = join(provider.dir, 'datasets', 'arctic-sea-ice-extent.yaml')
    const original = readFileSync(arctic, 'utf8')
    writeFileSync(arctic, original.replace('policies: [open-with-attribution]', 'policies: [three-downloads]'))
    writeFileSync(
      join(provider.dir, 'datasets', 'arctic-sea-ice-extent-guarded.yaml'),
      original.replace(`id: ${limited}`, `id: ${guarded}`).replace('policies: [open-with-attribution]', 'policies: [no-redistribution]'),
    )
    processes.push(await startConnectorProcess(provider, { env }), await startConnectorProcess(consumer, { env }))
    // The attacker signs as the consumer: same DID and key as the consumer process.
    store = await createTestStore('sqlite')
    const config = resolveConfig({ participant: { id: consumer.did, name: 'attacker' }, identity }, consumer.dir, { env: {} })
    asConsumer = await createIdentity(
      { config, store, clock: systemClock, ids: randomIds, logger: silentLogger },
      { keys: await loadKeyRing({ root: consumer.dir, keyFiles: ['identity/private-key.jwk'] }) },
    )
    for (const dataset of [limited, guarded]) {
      const response = await fetch(`${provider.url}/dsp/2025-1/catalog/datasets/${encodeURIComponent(dataset)}`, { headers: { authorization: await token() } })
      expect(response.status).toBe(200)
      const body = (await response.json()) as { hasPolicy: Array<Record<string, any>> }
      published.set(dataset, body.hasPolicy[0]!)
    }
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

export async function request(offer: Record<string, unknown> | { json: string }) {
  const pid = `urn:uuid:${randomUUID()}`
  const head = JSON.stringify({ '@context': context, '@type': 'ContractRequestMessage', consumerPid: pid, callbackAddress: `${consumer.url}/dsp/2025-1` })
  const body = 'json' in offer ? `${head.slice(0, -1)},"offer":${offer.json}}` : JSON.stringify({ ...JSON.parse(head), offer })
  const response = await fetch(`${provider.url}/dsp/2025-1/negotiations/request`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: await token() },
    body,
  })
  return { status: response.status, body: (await response.json()) as Record<string, any> }
}

/** What the provider holds: its negotiations and agreements. */
export async function providerState() {
  const [negotiations, agreements] = await Promise.all([
    management(provider, 'GET', '/negotiations?role=provider&limit=500'),
    management(provider, 'GET', '/agreements?limit=500'),
  ])
  return { negotiations: negotiations.body.items.length as number, agreements: agreements.body.items.length as number }
}

export const offerOf = (dataset: string) => ({ ...structuredClone(published.get(dataset)!), target: dataset })
