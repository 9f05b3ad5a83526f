import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { resolveConfig } from '../../connector/config/config.ts'
import { systemClock } from '../../connector/clock.ts'
import { randomIds } from '../../connector/ids.ts'
import { createIdentity, type Identity } from '../../connector/identity/identity.ts'
import { loadKeyRing } from '../../connector/identity/keys.ts'
import type { Store } from '../../connector/store/store.ts'
import { silentLogger } from '../../connector/telemetry/logger.ts'
import { startDcpPair, type DcpPair } from '../support/dcp-participants.ts'
import { freePort, management, spawnCli, startCliServer, until } from '../support/processes.ts'
import { createTestStore } from '../support/stores.ts'

/**
 * Revoking a member, end to end with real processes: a development authority (the built CLI) issues a
 * membership credential with a status; the consumer negotiates a members-only dataset and pulls it;
 * the authority revokes the membership with `passerelle authority revoke`; the provider refuses the
 * consumer's next negotiation and its policy monitor terminates the running transfer, saying why.
 */
describe('revoking a membership, as processes', () => {
  let dir: string
  let authority: ReturnType<typeof spawnCli>
  let authorityDid: string
  let pair: DcpPair
  let store: Store
  /** A client signing as the consumer (its DID and key), for DSP catalog requests. */
  let asConsumer: Identity

  const run = async (args: string[]) => {
    const { output, exited } = spawnCli({ args, cwd: dir })
    return { code: await exited, output: output.join('') }
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'passerelle-revocation-'))
    const port = await freePort()
    authorityDid = `did:web:127.0.0.1%3A${port}`
    expect((await run(['credentials', 'authority', 'init', 'authority', '--port', String(port)])).code).toBe(0)
    authority = await startCliServer({ args: ['authority', 'serve', 'authority'], cwd: dir, readyUrl: `http://127.0.0.1:${port}/status/revocation` })
    pair = await startDcpPair({
      policy: {
        id: 'members-only-revocable',
        yaml: 'id: members-only-revocable\npermissions:\n  - action: use\n    constraints:\n      - leftOperand: membership\n        operator: eq\n        rightOperand: active\n',
      },
      // Status lists asked again at every check (a 304 while unchanged), so that the test need not wait for a ttl.
      identity: { trustedIssuers: [authorityDid], statusList: { maxAgeMs: 0 } },
      env: { PASSERELLE_MONITOR_INTERVAL_MS: '200' },
    })
    const issued = await run([
      'credentials',
      'issue',
      '--issuer',
      'authority/private-key.jwk',
      '--subject',
      pair.consumer.did,
      '--type',
      'MembershipCredential',
    ])
    expect(issued.code).toBe(0)
    expect((await management(pair.consumer, 'POST', '/credentials', { credential: issued.output.trim() })).status).toBe(201)
    store = await createTestStore('sqlite')
    const config = resolveConfig({ participant: { id: pair.consumer.did, name: 'client' }, identity: { allowInsecureLoopback: true } }, pair.consumer.dir, {
      env: {},
    })
    asConsumer = await createIdentity(
      { config, store, clock: systemClock, ids: randomIds, logger: silentLogger },
      { keys: await loadKeyRing({ root: pair.consumer.dir, keyFiles: ['identity/private-key.jwk'] }) },
    )
  }, 180_000)
  afterAll(async () => {
    await store?.close()
    await pair?.stop()
    if (authority) {
      try {
        process.kill(-authority.child.pid!, 'SIGTERM')
      } catch {
        // already gone
      }
      await authority.exited
    }
    rmSync(dir, { recursive: true, force: true })
  })

  const catalogStatus = async () => {
    const authorization = await asConsumer.tokenIssuer.authorizationFor({ participantId: pair.provider.did, dspUrl: `${pair.provider.url}/dsp/2025-1` }, [
      'MembershipCredential',
    ])
    const response = await fetch(`${pair.provider.url}/dsp/2025-1/catalog/request`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization },
      body: JSON.stringify({ '@context': ['https://w3id.org/dspace/2025/1/context.jsonld'], '@type': 'CatalogRequestMessage' }),
    })
    return response.status
  }

  it('refuses the revoked member its next catalog request and negotiation, and terminates its running transfer with the reason', async () => {
    expect(await catalogStatus()).toBe(200)
    const agreementId = await pair.negotiate()
    const transfer = await pair.requestPull(agreementId)
    expect(transfer.state).toBe('STARTED')
    const provided = await until(async () => {
      const { body } = await management(pair.provider, 'GET', '/transfers?role=provider')
      return (body.items as Array<{ id: string; state: string; agreementId: string }>).find((t) => t.agreementId === agreementId && t.state === 'STARTED')
    }, 20_000)

    const revoked = await run(['authority', 'revoke', 'authority', '--subject', pair.consumer.did])
    expect(revoked.code).toBe(0)
    expect(revoked.output).toMatch(/^revoked urn:uuid:\S+ \(MembershipCredential of /)

    // The monitor ends the running transfer, with the revocation in its timeline.
    const ended = await until(async () => {
      const { body } = await management(pair.provider, 'GET', `/transfers/${provided.id}`)
      return body.state === 'TERMINATED' ? body : undefined
    }, 30_000).catch((error) => {
      throw new Error(`transfer not terminated\n${pair.output()}`, { cause: error })
    })
    const reasons = (ended.timeline as Array<{ reason?: string | null; actor?: string }>).map((event) => event.reason ?? '').join('\n')
    expect(reasons).toMatch(
      new RegExp(
        `a credential of ${pair.consumer.did.replace(/[.%]/g, '\\$&')} no longer holds: credential urn:uuid:\\S+ is revoked \\(status list http://127\\.0\\.0\\.1:\\d+/status/revocation, index \\d+\\)`,
      ),
    )

    // Its next catalog request is refused: the provider no longer accepts its credentials.
    expect(await catalogStatus()).toBe(401)

    // And so is its next negotiation: the provider no longer accepts the consumer's credentials.
    const started = await management(pair.consumer, 'POST', '/negotiations', {
      peerUrl: `${pair.provider.url}/dsp/2025-1`,
      peerId: pair.provider.did,
      datasetId: 'urn:uuid:0f3cee7e-e077-4be0-9365-3a791567f70e',
    })
    const outcome =
      started.status === 201
        ? await until(async () => {
            const { body } = await management(pair.consumer, 'GET', `/negotiations/${started.body.id}`)
            return body.state === 'TERMINATED' || body.state === 'FINALIZED' ? body.state : undefined
          }, 30_000)
        : 'refused'
    expect(outcome).not.toBe('FINALIZED')
    expect(pair.output()).toMatch(/is revoked \(status list/)
  })
})
