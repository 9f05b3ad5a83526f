import { type Config, dsp2024Path } from '../config/config.ts'
import type { Ctx } from '../context.ts'
import { from2024, to2024 } from '../dsp/dsp-2024-1.ts'
import { peerVersions } from '../dsp/peer-versions.ts'
import { parseBoundedJson, peerAnswerMaxItems } from '../http/bounded-json.ts'
import type { PeerClient } from '../http/peer-client.ts'
import type { TokenIssuer } from '../identity/types.ts'
import { createDispatcher, type Dispatcher, type Send } from './dispatcher.ts'

/**
 * One outbox per running connector, shared by every protocol area (negotiation, transfer): the
 * composition root builds it once and hands it to them; they register their topic with `handle`,
 * and start it with `start()` (idempotent) once the server listens.
 */
export interface SharedDispatcherOptions {
  tokenIssuer?: TokenIssuer
}

export function createSharedDispatcher(ctx: Ctx, options: SharedDispatcherOptions = {}): Dispatcher {
  const settings = ctx.config.dispatch
  return createDispatcher({
    store: ctx.store,
    clock: ctx.clock,
    logger: ctx.logger.child({ area: 'dispatch' }),
    send: peerSend(ctx.peers, ctx.config),
    ...(options.tokenIssuer ? { tokenIssuer: options.tokenIssuer } : {}),
    ...(settings.maxAttempts !== undefined ? { maxAttempts: settings.maxAttempts } : {}),
    retryWindowMs: settings.retryWindowMs,
    baseDelayMs: settings.baseDelayMs,
    maxDelayMs: settings.maxDelayMs,
    timeoutMs: settings.timeoutMs,
    concurrency: settings.concurrency,
    perPeerConcurrency: settings.perPeerConcurrency,
    breakerThreshold: settings.breakerThreshold,
    breakerOpenMs: settings.breakerOpenMs,
    leaseMs: settings.leaseMs,
  })
}

/**
 * Sends through a peer client (timeouts, size limit, trace context). Given the configuration, each
 * message goes out in the DSP version the peer and we share (`dsp/peer-versions.ts`): a 2024-1
 * peer gets the message through the 2024-1 codec, with our callback at our 2024-1 base, and its
 * answer is read back into our canonical form.
 */
export const peerSend = (peers: PeerClient, config?: Pick<Config, 'dsp' | 'dspUrl' | 'server'>): Send => {
  const versions = config ? peerVersions(peers, config.dsp.versions) : undefined
  const rebase = config ? { from: config.dspUrl, to: config.server.publicUrl + dsp2024Path } : undefined
  return async ({ url: address, body: message, authorization, timeoutMs }) => {
    const choice = versions ? await versions.resolve(address) : { version: '2025-1' as const, url: address }
    const in2024 = choice.version === '2024-1'
    const url = choice.url
    const body = in2024 ? to2024(message, rebase ? { rebase } : {}) : message
    const response = await peers.request({
      method: 'POST',
      url,
      body,
      timeout: timeoutMs,
      maxBytes: 256 * 1024,
      headers: authorization ? { authorization } : {},
    })
    let parsed: unknown
    if (response.text) {
      try {
        parsed = parseBoundedJson(response.text, { maxBytes: 256 * 1024, maxItems: peerAnswerMaxItems })
      } catch {
        parsed = response.text.slice(0, 500)
      }
    }
    if (in2024) {
      try {
        parsed = from2024(parsed)
      } catch {
        // An answer the codec cannot read is kept as it came, for the log.
      }
    }
    return { status: response.status, body: parsed }
  }
}
