import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { createParticipantKey } from '../../connector/identity/participant-key.ts'
import { readHttpDataAddress } from '../../connector/transfer/messages.ts'
import { eventually } from './wait.ts'
import { copyParticipant, freePort, management, startConnectorProcess, until, type ConnectorProcess, type ParticipantFolder } from './processes.ts'

/**
 * A provider and a consumer as real connector processes with DCP identity: each has an Ed25519 key
 * of its own and a did:web DID on 127.0.0.1, and every DSP request between them carries a signed,
 * self-issued ID token checked against the sender's DID document. The provider publishes the
 * Arctic sea-ice dataset under the policy file given.
 */
export const arcticDataset = 'urn:uuid:0f3cee7e-e077-4be0-9365-3a791567f70e'

export interface DcpPair {
  provider: ParticipantFolder
  consumer: ParticipantFolder
  processes: ConnectorProcess[]
  /** Negotiates the Arctic dataset (offer read from the provider's catalog); resolves with the agreement id. */
  negotiate(): Promise<string>
  /** Requests a pull transfer as consumer; resolves with the consumer's transfer once it is STARTED or TERMINATED. */
  requestPull(agreementId: string): Promise<{ id: string; state: string; reason: string | null }>
  /**
   * The pull address the provider sent, as the consumer keeps it (what a hostile consumer would use),
   * read from the consumer's database once committed: its API can show STARTED a moment before.
   */
  pullAddress(transferId: string): Promise<{ endpoint: string; token: string }>
  output(): string
  stop(): Promise<void>
}

export async function startDcpPair(options: {
  policy: { id: string; yaml: string }
  provider?: { config?: Record<string, unknown> }
  consumer?: { config?: Record<string, unknown> }
  env?: Record<string, string>
  /** More `identity` settings for both (e.g. trusted issuers, status list limits). */
  identity?: Record<string, unknown>
  /** Rewrites the provider's Arctic dataset file (YAML text) before the processes start. */
  dataset?: (yaml: string) => string
}): Promise<DcpPair> {
  const [providerPort, consumerPort] = [await freePort(), await freePort()]
  const identity = {
    mode: 'dcp',
    keyFiles: ['identity/private-key.jwk'],
    allowInsecureLoopback: true,
    trustedIssuers: [],
    credentialFiles: [],
    ...options.identity,
  }
  const provider = await copyParticipant({ port: providerPort, config: { identity, ...options.provider?.config } })
  const consumer = await copyParticipant({ port: consumerPort, config: { identity, ...options.consumer?.config } })
  for (const folder of [provider, consumer]) {
    // A key of its own (the seed's key is public).
    rmSync(join(folder.dir, 'identity', 'private-key.jwk'))
    chmodSync(join(folder.dir, 'identity'), 0o700)
    await createParticipantKey(join(folder.dir, 'identity'))
  }
  writeFileSync(join(provider.dir, 'policies', `${options.policy.id}.yaml`), options.policy.yaml)
  const datasetFile = join(provider.dir, 'datasets', 'arctic-sea-ice-extent.yaml')
  const datasetYaml = readFileSync(datasetFile, 'utf8').replace(/^policies: .*$/m, `policies: [${options.policy.id}]`)
  writeFileSync(datasetFile, options.dataset ? options.dataset(datasetYaml) : datasetYaml)
  const env = { PASSERELLE_DISPATCH_BASE_DELAY_MS: '100', PASSERELLE_LOG_LEVEL: 'info', ...options.env }
  const processes: ConnectorProcess[] = []
  const stop = async () => {
    for (const p of processes) await p.stop('SIGKILL')
    provider.remove()
    consumer.remove()
  }
  try {
    processes.push(await startConnectorProcess(provider, { env }), await startConnectorProcess(consumer, { env }))
  } catch (error) {
    await stop()
    throw error
  }
  const output = () => processes.map((p) => p.output.join('\n')).join('\n---\n')
  return {
    provider,
    consumer,
    processes,
    output,
    stop,
    async negotiate() {
      const started = await management(consumer, 'POST', '/negotiations', {
        peerUrl: `${provider.url}/dsp/2025-1`,
        peerId: provider.did,
        datasetId: arcticDataset,
      })
      if (started.status !== 201) throw new Error(`negotiation not started: ${JSON.stringify(started.body)}`)
      let last: unknown
      const done = await until(async () => {
        const { body } = await management(consumer, 'GET', `/negotiations/${started.body.id}`)
        last = body
        return body.state === 'FINALIZED' ? body : undefined
      }, 30_000).catch((error) => {
        throw new Error(`negotiation did not finalize: ${JSON.stringify(last)}\n${output()}`, { cause: error })
      })
      return done.agreementId as string
    },
    pullAddress(transferId) {
      return eventually(() => {
        const db = new Database(join(consumer.dir, 'data', 'passerelle.db'), { readonly: true })
        try {
          const row = db.prepare('select data_address from transfers where id = ?').get(transferId) as { data_address: string | null } | undefined
          return row?.data_address ? readHttpDataAddress(JSON.parse(row.data_address)) : undefined
        } finally {
          db.close()
        }
      }, 10_000)
    },
    async requestPull(agreementId) {
      const created = await management(consumer, 'POST', '/transfers', { agreementId, format: 'pull' })
      if (created.status !== 201) throw new Error(`transfer not requested: ${JSON.stringify(created.body)}`)
      return until(async () => {
        const { body } = await management(consumer, 'GET', `/transfers/${created.body.id}`)
        return body.state === 'STARTED' || body.state === 'TERMINATED' ? body : undefined
      }, 30_000)
    },
  }
}
