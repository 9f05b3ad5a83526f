import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { resolveConfig } from '../../connector/config/config.ts'
import { systemClock } from '../../connector/clock.ts'
import { randomIds } from '../../connector/ids.ts'
import {
  allowPort,
  copyParticipant,
  freePort,
  spawnCli,
  startCliServer,
  startConnectorProcess,
  type ConnectorProcess,
  type ParticipantFolder,
} from '../support/processes.ts'
import { createTestStore } from '../support/stores.ts'
import type { Store } from '../../connector/store/store.ts'
import { silentLogger } from '../../connector/telemetry/logger.ts'
import { createIdentity, type Identity } from '../../connector/identity/identity.ts'
import { loadKeyRing } from '../../connector/identity/keys.ts'
import { signRaw, startParticipant } from '../support/identity.ts'

/**
 * Two connector processes and a development authority process on 127.0.0.1 with real did:web
 * resolution: a client speaking as the consumer (with the consumer's key) asks the provider's
 * catalog; the provider verifies the token, fetches the consumer's presentation from the consumer
 * process's credential service, and verifies the membership credential against the authority.
 * Scopes go both ways with DCP's own alias (`org.eclipse.dspace.dcp.vc.type`).
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
  let strangerStore: Store
  let stranger: Awaited<ReturnType<typeof startParticipant>>

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'passerelle-two-'))
    const port = await freePort()
    authorityDid = `did:web:127.0.0.1%3A${port}`
    const init = spawnCli({ args: ['credentials', 'authority', 'init', 'authority', '--port', String(port)], cwd: dir })
    expect(await init.exited).toBe(0)
    authority = await startCliServer({
      args: ['credentials', 'authority', 'serve', 'authority'],
      cwd: dir,
      readyUrl: `http://127.0.0.1:${port}/.well-known/did.json`,
    })
    const identity = (extra: Record<string, unknown> = {}) => ({
      mode: 'dcp',
      keyFiles: ['identity/private-key.jwk'],
      allowInsecureLoopback: true,
      trustedIssuers: [authorityDid],
      ...extra,
    })
    provider = await copyParticipant({ config: { identity: identity() } })
    consumer = await copyParticipant({ config: { identity: identity({ credentialFiles: ['identity/membership.jwt'] }) } })
    // As an operator would: a checkout does not keep file modes, and key files must be private.
    for (const participant of [provider, consumer]) chmodSync(join(participant.dir, 'identity', 'private-key.jwk'), 0o600)
    const issued = spawnCli({
      args: ['credentials', 'issue', '--issuer', 'authority/private-key.jwk', '--subject', consumer.did, '--type', 'MembershipCredential'],
      cwd: dir,
    })
    expect(await issued.exited).toBe(0)
    writeFileSync(join(consumer.dir, 'identity', 'membership.jwt'), issued.output.join('').trim())
    // A participant without credentials, on an address of the data space (the provider may resolve its DID).
    strangerStore = await createTestStore('sqlite')
    stranger = await startParticipant({ store: strangerStore, clock: systemClock, ids: randomIds })
    allowPort(Number(new URL(stranger.url).port))
    processes.push(await startConnectorProcess(provider), await startConnectorProcess(consumer))
    // The client signs as the consumer: same DID, same key as the consumer process.
    store = await createTestStore('sqlite')
    const config = resolveConfig({ participant: { id: consumer.did, name: 'client' }, identity: identity() }, consumer.dir, { env: {} })
    asConsumer = await createIdentity(
      { config, store, clock: systemClock, ids: randomIds, logger: silentLogger },
      { keys: await loadKeyRing({ root: consumer.dir, keyFiles: ['identity/private-key.jwk'] }) },
    )
  }, 180_000)
  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop()))
    await stranger?.close()
    await strangerStore?.close()
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

  const datasetsSeenBy = async (identity: Identity, granted: string[]) => {
    const authorization = await identity.tokenIssuer.authorizationFor({ participantId: provider.did, dspUrl: provider.url }, granted)
    const response = await catalogRequest(authorization)
    expect(response.status).toBe(200)
    const catalog = (await response.json()) as { dataset?: unknown[] }
    return (catalog.dataset ?? []).length
  }

  it('treats a membership held but not granted as absent: the credential service answers fewer presentations, the provider the outsider view', async () => {
    const notGranted = await datasetsSeenBy(asConsumer, ['ResearchCredential'])
    const outsider = await datasetsSeenBy(stranger.identity, ['MembershipCredential'])
    expect(notGranted).toBe(outsider)
    const member = await datasetsSeenBy(asConsumer, ['MembershipCredential'])
    expect(member).toBeGreaterThan(notGranted)
  })

  it('answers the catalog to the consumer, whose membership the provider verified through both processes and the authority', async () => {
    const authorization = await asConsumer.tokenIssuer.authorizationFor({ participantId: provider.did, dspUrl: `${provider.url}/dsp/2025-1` }, [
      'MembershipCredential',
    ])
    const response = await catalogRequest(authorization)
    expect(response.status).toBe(200)
  })

  it('shows a member more datasets than a participant without credentials', async () => {
    const member = await datasetsSeenBy(asConsumer, ['MembershipCredential'])
    const outsider = await datasetsSeenBy(stranger.identity, ['MembershipCredential'])
    expect(outsider).toBeLessThan(member)
  })

  it('refuses no token, a replayed token and a forged one with 401', async () => {
    expect((await catalogRequest()).status).toBe(401)
    const authorization = await asConsumer.tokenIssuer.authorizationFor({ participantId: provider.did, dspUrl: provider.url }, ['MembershipCredential'])
    expect((await catalogRequest(authorization)).status).toBe(200)
    expect((await catalogRequest(authorization)).status).toBe(401)
    const keys = await loadKeyRing({ root: provider.dir, keyFiles: ['identity/private-key.jwk'] })
    const iat = Math.floor(Date.now() / 1000)
    const forged = await signRaw(
      { iss: 'did:web:127.0.0.1%3A1', sub: 'did:web:127.0.0.1%3A1', aud: provider.did, jti: 'x', iat, exp: iat + 60 },
      keys.signing,
      { kid: 'did:web:127.0.0.1%3A1#key-1' },
    )
    expect((await catalogRequest(`Bearer ${forged}`)).status).toBe(401)
  })
})
