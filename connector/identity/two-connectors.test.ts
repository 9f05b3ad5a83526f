import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { resolveConfig } from '../config/config.ts'
import { randomIds, systemClock } from '../context.ts'
import { copyParticipant, freePort, spawnCli, startConnectorProcess, type ConnectorProcess, type ParticipantFolder } from '../../test/support/processes.ts'
import { createTestStore } from '../../test/support/stores.ts'
import type { Store } from '../store/store.ts'
import { silentLogger } from '../telemetry/logger.ts'
import { createIdentity, type Identity } from './identity.ts'
import { loadKeyRing } from './keys.ts'
import { signRaw, startParticipant } from './testing.ts'

/**
 * Two connector processes and a development authority process on 127.0.0.1 with real did:web
 * resolution: a client speaking as the consumer (with the consumer's key) asks the provider's
 * catalog; the provider verifies the token, fetches the consumer's presentation from the consumer
 * process's credential service, and verifies the membership credential against the authority.
 */
describe('two connectors and an authority, as processes', () => {
  let dir: string
  let authorityDid: string
  let authority: ReturnType<typeof spawnCli>
  let provider: ParticipantFolder
  let consumer: ParticipantFolder
  const processes: ConnectorProcess[] = []
  let store: Store
  let asConsumer: Identity

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'passerelle-two-'))
    const port = await freePort()
    authorityDid = `did:web:127.0.0.1%3A${port}`
    const init = spawnCli({ args: ['credentials', 'authority', 'init', 'authority', '--port', String(port)], cwd: dir })
    expect(await init.exited).toBe(0)
    authority = spawnCli({ args: ['credentials', 'authority', 'serve', 'authority'], cwd: dir })
    const identity = (extra: Record<string, unknown> = {}) => ({ mode: 'dcp', keyFiles: ['identity/private-key.jwk'], allowInsecureLoopback: true, trustedIssuers: [authorityDid], ...extra })
    provider = await copyParticipant({ config: { identity: identity() } })
    consumer = await copyParticipant({ config: { identity: identity({ credentialFiles: ['identity/membership.jwt'] }) } })
    // As an operator would: a checkout does not keep file modes, and key files must be private.
    for (const participant of [provider, consumer]) chmodSync(join(participant.dir, 'identity', 'private-key.jwk'), 0o600)
    const issued = spawnCli({ args: ['credentials', 'issue', '--issuer', 'authority/private-key.jwk', '--subject', consumer.did, '--type', 'MembershipCredential'], cwd: dir })
    expect(await issued.exited).toBe(0)
    writeFileSync(join(consumer.dir, 'identity', 'membership.jwt'), issued.output.join('').trim())
    processes.push(await startConnectorProcess(provider), await startConnectorProcess(consumer))
    // The client signs as the consumer: same DID, same key as the consumer process.
    store = await createTestStore('sqlite')
    const config = resolveConfig({ participant: { id: consumer.did, name: 'client' }, identity: identity() }, consumer.dir, { env: {} })
    asConsumer = await createIdentity({ config, store, clock: systemClock, ids: randomIds, logger: silentLogger }, { keys: await loadKeyRing({ root: consumer.dir, keyFiles: ['identity/private-key.jwk'] }) })
  }, 60_000)
  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop()))
    if (authority) {
      try {
        process.kill(-authority.child.pid!, 'SIGTERM')
      } catch {
        // gone
      }
      await authority.exited
    }
    await store?.close()
    provider?.remove()
    consumer?.remove()
    rmSync(dir, { recursive: true, force: true })
  })

  const catalogRequest = (authorization?: string) =>
    fetch(`${provider.url}/dsp/2025-1/catalog/request`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
      body: JSON.stringify({ '@context': ['https://w3id.org/dspace/2025/1/context.jsonld'], '@type': 'CatalogRequestMessage' }),
    })

  it('serves each DID document without a token', async () => {
    for (const participant of [provider, consumer]) {
      const response = await fetch(`${participant.url}/.well-known/did.json`)
      expect(response.status).toBe(200)
      expect(((await response.json()) as { id: string }).id).toBe(participant.did)
    }
  })

  it('answers the catalog to the consumer, whose membership the provider verified through both processes and the authority', async () => {
    const authorization = await asConsumer.tokenIssuer.authorizationFor({ participantId: provider.did, dspUrl: `${provider.url}/dsp/2025-1` }, ['MembershipCredential'])
    const response = await catalogRequest(authorization)
    expect(response.status).toBe(200)
  })

  it('shows a member more datasets than a participant without credentials', async () => {
    const strangerStore = await createTestStore('sqlite')
    const stranger = await startParticipant({ store: strangerStore, clock: systemClock, ids: randomIds })
    try {
      const datasets = async (identity: Identity) => {
        const authorization = await identity.tokenIssuer.authorizationFor({ participantId: provider.did, dspUrl: provider.url }, ['MembershipCredential'])
        const response = await catalogRequest(authorization)
        expect(response.status).toBe(200)
        const catalog = (await response.json()) as { dataset?: unknown[] }
        return (catalog.dataset ?? []).length
      }
      const member = await datasets(asConsumer)
      const outsider = await datasets(stranger.identity)
      expect(outsider).toBeLessThan(member)
    } finally {
      await stranger.close()
      await strangerStore.close()
    }
  })

  it('refuses no token, a replayed token and a forged one with 401', async () => {
    expect((await catalogRequest()).status).toBe(401)
    const authorization = await asConsumer.tokenIssuer.authorizationFor({ participantId: provider.did, dspUrl: provider.url }, ['MembershipCredential'])
    expect((await catalogRequest(authorization)).status).toBe(200)
    expect((await catalogRequest(authorization)).status).toBe(401)
    const keys = await loadKeyRing({ root: provider.dir, keyFiles: ['identity/private-key.jwk'] })
    const iat = Math.floor(Date.now() / 1000)
    const forged = await signRaw({ iss: 'did:web:127.0.0.1%3A1', sub: 'did:web:127.0.0.1%3A1', aud: provider.did, jti: 'x', iat, exp: iat + 60 }, keys.signing, { kid: 'did:web:127.0.0.1%3A1#key-1' })
    expect((await catalogRequest(`Bearer ${forged}`)).status).toBe(401)
  })
})
