import { context, propagation } from '@opentelemetry/api'
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
      send: undiciSend,
      ...(options.tokenIssuer ? { tokenIssuer: options.tokenIssuer } : {}),
      maxAttempts: settings.maxAttempts,
      baseDelayMs: settings.baseDelayMs,
    })
    dispatchers.set(ctx, dispatcher)
  }
  return dispatcher
}

type Undici = typeof import('undici')
let undici: Promise<{ request: Undici['request']; agent: InstanceType<Undici['Agent']> }> | undefined
// Loaded on the first message, not at start-up. A bundle gives CommonJS modules as `default` only.
const loadUndici = () =>
  (undici ??= import('undici').then((loaded) => {
    const mod = ((loaded as unknown as { default?: Undici }).default ?? loaded) as Undici
    return { request: mod.request, agent: new mod.Agent({ connections: 128, keepAliveTimeout: 10_000 }) }
  }))

/**
 * Sends with undici on a keep-alive pool, propagating the trace context; the answer is read up to
 * 256 KiB (a DSP answer is a few hundred bytes). No redirects are followed.
 */
export const undiciSend: Send = async ({ url, body, authorization, timeoutMs }) => {
  const { request, agent } = await loadUndici()
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' }
  if (authorization) headers.authorization = authorization
  propagation.inject(context.active(), headers)
  const response = await request(url, {
    method: 'POST',
    headers,
    body: JSON.stringify(body),
    dispatcher: agent,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    signal: AbortSignal.timeout(timeoutMs),
  })
  let size = 0
  const chunks: Buffer[] = []
  for await (const chunk of response.body) {
    size += (chunk as Buffer).length
    if (size > 256 * 1024) {
      response.body.destroy()
      break
    }
    chunks.push(chunk as Buffer)
  }
  const text = Buffer.concat(chunks).toString('utf8')
  let parsed: unknown = undefined
  if (text) {
    try {
      parsed = JSON.parse(text)
    } catch {
      parsed = text.slice(0, 500)
    }
  }
  return { status: response.statusCode, body: parsed }
}

/**
 * Sends with the runtime's fetch, propagating the trace context; the answer is read up to 256 KiB
 * (a DSP answer is a few hundred bytes).
 */
export const traceSend: Send = async ({ url, body, authorization, timeoutMs }) => {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' }
  if (authorization) headers.authorization = authorization
  propagation.inject(context.active(), headers)
  const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' })
  const text = await response.text()
  let parsed: unknown = undefined
  if (text.length > 256 * 1024) parsed = text.slice(0, 500)
  else if (text) {
    try {
      parsed = JSON.parse(text)
    } catch {
      parsed = text.slice(0, 500)
    }
  }
  return { status: response.status, body: parsed }
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
