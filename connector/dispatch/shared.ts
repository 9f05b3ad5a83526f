import type { Ctx } from '../context.ts'
import type { PeerClient } from '../http/peer-client.ts'
import type { TokenIssuer } from '../identity/types.ts'
import { createDispatcher, type Dispatcher, type Send } from './dispatcher.ts'

/**
 * One outbox per running connector, shared by every protocol area (negotiation, transfer): they
 * get it with `dispatcherFor(ctx)`, register their topic with `handle`, and start it with `start()`
 * (idempotent) once the server listens.
 */
const dispatchers = new WeakMap<Ctx, Dispatcher>()

export interface SharedDispatcherOptions {
  tokenIssuer?: TokenIssuer
}

/** Retry settings from the environment until the configuration file has a `dispatch` section. */
export function dispatchSettings(env: Record<string, string | undefined> = process.env) {
  const number = (name: string) => {
    const value = env[name]
    if (value === undefined || value === '') return undefined
    const parsed = Number(value)
    if (!Number.isInteger(parsed) || parsed < 0) throw new Error(`${name} must be a whole number, got '${value}'`)
    return parsed
  }
  return {
    maxAttempts: number('PASSERELLE_DISPATCH_MAX_ATTEMPTS'),
    baseDelayMs: number('PASSERELLE_DISPATCH_BASE_DELAY_MS'),
  }
}

/** Puts a dispatcher of the caller's making in place (tests). */
export function provideDispatcher(ctx: Ctx, dispatcher: Dispatcher) {
  dispatchers.set(ctx, dispatcher)
}

export function dispatcherFor(ctx: Ctx, options: SharedDispatcherOptions = {}): Dispatcher {
  let dispatcher = dispatchers.get(ctx)
  if (!dispatcher) {
    const settings = dispatchSettings()
    dispatcher = createDispatcher({
      store: ctx.store,
      clock: ctx.clock,
      logger: ctx.logger.child({ area: 'dispatch' }),
      send: peerSend(ctx.peers),
      ...(options.tokenIssuer ? { tokenIssuer: options.tokenIssuer } : {}),
      ...(settings.maxAttempts ? { maxAttempts: settings.maxAttempts } : {}),
      ...(settings.baseDelayMs !== undefined ? { baseDelayMs: settings.baseDelayMs } : {}),
    })
    dispatchers.set(ctx, dispatcher)
  }
  return dispatcher
}

/** Sends through the connector's peer client (trace context, timeouts, size limit). */
export const peerSend =
  (peers: PeerClient): Send =>
  async ({ url, body, authorization, timeoutMs }) => {
    const response = await peers.request({
      method: 'POST',
      url,
      body,
      timeout: timeoutMs,
      maxBytes: 256 * 1024,
      headers: authorization ? { authorization } : {},
    })
    let parsed: unknown = undefined
    if (response.text) {
      try {
        parsed = JSON.parse(response.text)
      } catch {
        parsed = response.text.slice(0, 500)
      }
    }
    return { status: response.status, body: parsed }
  }
