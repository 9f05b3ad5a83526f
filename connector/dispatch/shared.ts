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

/** Puts a dispatcher of the caller's making in place (tests). */
export function provideDispatcher(ctx: Ctx, dispatcher: Dispatcher) {
  dispatchers.set(ctx, dispatcher)
}

export function dispatcherFor(ctx: Ctx, options: SharedDispatcherOptions = {}): Dispatcher {
  let dispatcher = dispatchers.get(ctx)
  if (!dispatcher) {
    const settings = ctx.config.dispatch
    dispatcher = createDispatcher({
      store: ctx.store,
      clock: ctx.clock,
      logger: ctx.logger.child({ area: 'dispatch' }),
      send: peerSend(ctx.peers),
      ...(options.tokenIssuer ? { tokenIssuer: options.tokenIssuer } : {}),
      maxAttempts: settings.maxAttempts,
      baseDelayMs: settings.baseDelayMs,
    })
    dispatchers.set(ctx, dispatcher)
  }
  return dispatcher
}

/** Sends through a peer client (timeouts, size limit, trace context). */
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
