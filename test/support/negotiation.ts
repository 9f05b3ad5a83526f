import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { getRequestListener } from '@hono/node-server'
import { loadConfig, resolveConfig } from '../../connector/config/config.ts'
import { systemClock } from '../../connector/clock.ts'
import { randomIds } from '../../connector/ids.ts'
import type { Ctx } from '../../connector/context.ts'
import { createDispatcher, type Send } from '../../connector/dispatch/dispatcher.ts'
import { peerSend } from '../../connector/dispatch/shared.ts'
import { createCatalog } from '../../connector/catalog/routes.ts'
import { createApp } from '../../connector/http/app.ts'
import { createPeerClient } from '../../connector/http/peer-client.ts'
import type { EgressPolicy } from '../../connector/http/egress.ts'
import { fixtureEgress } from './context.ts'
import type { Store } from '../../connector/store/store.ts'
import { silentLogger } from '../../connector/telemetry/logger.ts'
import { createTestStore, type Dialect } from './stores.ts'
import { negotiationArea, type NegotiationAreaOptions } from '../../connector/negotiation/area.ts'
import { staticTokenIdentity } from '../../connector/negotiation/identity.ts'
import { transferArea } from '../../connector/transfer/area.ts'

/**
 * In-process connectors for negotiation tests: a real store per dialect, the real app with the
 * negotiation area, static tokens, and (when `serve`) a real HTTP server on 127.0.0.1, port 0.
 */
export const managementKey = 'test-management-key-0123456789'

export interface TestConnectorOptions extends NegotiationAreaOptions {
  dialect: Dialect
  participantId?: string
  /** token → participant id, shared by every connector of a test. */
  tokens?: Record<string, string>
  /** A participant configuration to run instead (its tokens, id and folder); port and dataDir are replaced. */
  configFile?: string
  serve?: boolean
  /** Replaces the wire (captures outbound messages). */
  send?: Send
  maxAttempts?: number
  baseDelayMs?: number
  /** Where this connector may connect to (default: 127.0.0.1, the test fixtures). */
  egress?: EgressPolicy
  /** Also runs the transfer area (agreements from the store, the policy engine), serving this file for every dataset. */
  transfers?: { file: string }
  /** The DSP versions it speaks (`dsp.versions`; default: all). */
  dspVersions?: string[]
  /** `negotiation.maxOpenPerPeer` (default: the configuration's). */
  maxOpenPerPeer?: number
  /** Sees every outbound message and the answer (or the error). */
  onSend?: (message: { url: string; body: unknown }, answer: { status: number; body: unknown } | Error) => void
}

export interface TestConnector {
  ctx: Ctx
  store: Store
  app: ReturnType<typeof createApp>['app']
  area: ReturnType<typeof negotiationArea>
  url: string
  dspUrl: string
  stop(): Promise<void>
  management(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>
}

export async function startTestConnector(options: TestConnectorOptions): Promise<TestConnector> {
  const store = await createTestStore(options.dialect)
  const server = options.serve ? createServer() : undefined
  let port = 9
  if (server) {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    port = (server.address() as AddressInfo).port
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'passerelle-negotiation-'))
  const config = options.configFile
    ? loadConfig(options.configFile, { env: {}, overrides: { 'server.port': port, 'server.host': '127.0.0.1', dataDir, 'management.apiKey': managementKey } })
    : resolveConfig(
        {
          participant: { id: options.participantId, name: options.participantId },
          server: { host: '127.0.0.1', port },
          management: { apiKey: managementKey },
          identity: { mode: 'static', staticTokens: options.tokens },
          ...(options.dspVersions ? { dsp: { versions: options.dspVersions } } : {}),
          ...(options.maxOpenPerPeer ? { negotiation: { maxOpenPerPeer: options.maxOpenPerPeer } } : {}),
        },
        dataDir,
        { env: {} },
      )
  const peers = createPeerClient({ egress: options.egress ?? fixtureEgress })
  const ctx: Ctx = { config, store, clock: systemClock, ids: randomIds, logger: silentLogger, peers }
  const identity = staticTokenIdentity(config.identity.staticTokens, config.participant.id)
  const dispatcher = createDispatcher({
    store,
    clock: ctx.clock,
    logger: silentLogger,
    tokenIssuer: identity.tokenIssuer,
    send: observe(options.send ?? peerSend(peers, config), options.onSend),
    maxAttempts: options.maxAttempts ?? 4,
    baseDelayMs: options.baseDelayMs ?? 5,
  })
  // The participant's own catalog: its operand registry reads peers' offers and agreements.
  const catalog = (await createCatalog(ctx)).service
  const area = negotiationArea({ ctx, dispatcher, catalog }, { identity: () => identity, ...options })
  const transfers = options.transfers
    ? transferArea(
        { ctx, dispatcher, catalog },
        {
          sources: () => ({
            resolve: async () => ({
              kind: 'file',
              root: dirname(options.transfers!.file),
              path: basename(options.transfers!.file),
              mediaType: 'application/octet-stream',
            }),
          }),
          monitorIntervalMs: 3_600_000,
        },
      )
    : undefined
  const { app } = createApp(ctx, transfers ? [area, transfers] : [area])
  if (server) server.on('request', getRequestListener(app.fetch))
  const service = await area.start!(ctx)
  const transferService = transfers ? await transfers.start!(ctx) : undefined
  const url = `http://127.0.0.1:${port}`
  return {
    ctx,
    store,
    app,
    area,
    url,
    dspUrl: config.dspUrl,
    async stop() {
      await transferService?.stop()
      await service.stop()
      if (server) {
        server.closeAllConnections()
        await new Promise<void>((resolve) => server.close(() => resolve()))
      }
      await peers.close()
      await store.close()
    },
    async management(method, path, body) {
      const response = await app.request(`/management/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${managementKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      })
      return { status: response.status, body: await response.json() }
    },
  }
}

/** Negotiations run in the background: tests poll for their outcome. */
export { eventually } from './wait.ts'

/** An open offer in the catalog's form (no target). */
export const openOffer = (id: string) => ({ '@id': id, '@type': 'Offer', permission: [{ action: 'use' }] })

function observe(send: Send, onSend: TestConnectorOptions['onSend']): Send {
  if (!onSend) return send
  return async (input) => {
    try {
      const answer = await send(input)
      onSend({ url: input.url, body: input.body }, answer)
      return answer
    } catch (error) {
      onSend({ url: input.url, body: input.body }, error as Error)
      throw error
    }
  }
}

/** The published schema each DSP message type is checked against. */
export const schemaOf: Record<string, string> = {
  ContractRequestMessage: 'negotiation/contract-request-message-schema.json',
  ContractOfferMessage: 'negotiation/contract-offer-message-schema.json',
  ContractAgreementMessage: 'negotiation/contract-agreement-message-schema.json',
  ContractAgreementVerificationMessage: 'negotiation/contract-agreement-verification-message-schema.json',
  ContractNegotiationEventMessage: 'negotiation/contract-negotiation-event-message-schema.json',
  ContractNegotiationTerminationMessage: 'negotiation/contract-negotiation-termination-message-schema.json',
  ContractNegotiation: 'negotiation/contract-negotiation-schema.json',
  ContractNegotiationError: 'negotiation/contract-negotiation-error-schema.json',
}
