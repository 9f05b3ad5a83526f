import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { getRequestListener } from '@hono/node-server'
import { loadConfig, resolveConfig } from '../config/config.ts'
import { randomIds, systemClock, type Ctx } from '../context.ts'
import { createDispatcher, type Send } from '../dispatch/dispatcher.ts'
import { peerSend, provideDispatcher } from '../dispatch/shared.ts'
import { createApp } from '../http/app.ts'
import { createPeerClient } from '../http/peer-client.ts'
import type { Store } from '../store/store.ts'
import { silentLogger } from '../telemetry/logger.ts'
import { createTestStore, type Dialect } from '../../test/support/stores.ts'
import { negotiationArea, type NegotiationAreaOptions } from './area.ts'
import { staticTokenIdentity } from './identity.ts'

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
        },
        dataDir,
        { env: {} },
      )
  const peers = createPeerClient()
  const ctx: Ctx = { config, store, clock: systemClock, ids: randomIds, logger: silentLogger, peers }
  const identity = staticTokenIdentity(config.identity.staticTokens, config.participant.id)
  const dispatcher = createDispatcher({
    store,
    clock: ctx.clock,
    logger: silentLogger,
    tokenIssuer: identity.tokenIssuer,
    send: observe(options.send ?? peerSend(peers), options.onSend),
    maxAttempts: options.maxAttempts ?? 4,
    baseDelayMs: options.baseDelayMs ?? 5,
  })
  provideDispatcher(ctx, dispatcher)
  const area = negotiationArea({ identity: () => identity, ...options })
  const { app } = createApp(ctx, [area])
  if (server) server.on('request', getRequestListener(app.fetch))
  const service = await area.start!(ctx)
  const url = `http://127.0.0.1:${port}`
  return {
    ctx,
    store,
    app,
    area,
    url,
    dspUrl: config.dspUrl,
    async stop() {
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

/** Polls until `check` returns a value (negotiations run in the background). */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 10))
  }
}

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
