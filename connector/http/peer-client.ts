import { context, propagation, SpanKind, SpanStatusCode } from '@opentelemetry/api'
import { Agent as HttpAgent, type AgentOptions } from 'node:http'
import { Agent as HttpsAgent } from 'node:https'
import { connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { PassThrough, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { Dispatcher } from 'undici'
import { PasserelleError } from '../errors.ts'
import { JsonLimitError, parseBoundedJson, peerAnswerMaxItems } from './bounded-json.ts'
import type { Logger } from '../telemetry/logger.ts'
import { tracer } from '../telemetry/telemetry.ts'
import { allowedAddress, destinationRefusedMessage, EgressRefusal, egressPolicy, type EgressPolicy, type Resolve } from './egress.ts'

/**
 * The one way the connector talks to other hosts (peers, DID documents, push destinations).
 * It propagates `traceparent`, applies a timeout and a response size limit, never follows
 * redirects, and turns transport failures into `peer_failed` errors. Every connection it opens
 * obeys the egress policy, checked on the resolved address just before connecting (see
 * `egress.ts`): a refused address fails with `destinationRefusedMessage`, the detail is in
 * `details.egress` for the operator's log.
 */
export interface PeerRequest {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'HEAD'
  url: string
  headers?: Record<string, string>
  /** Sent as JSON when it is not a string. */
  body?: unknown
  /** Milliseconds for the whole exchange (default 10 s). */
  timeout?: number
  /** Largest accepted response body in bytes (default 4 MiB). */
  maxBytes?: number
}

export interface PeerResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  /** The body as text (empty for HEAD). */
  text: string
  /** The body parsed as JSON; throws `peer_failed` when it is not JSON. */
  json<T = unknown>(): T
}

export interface PeerUpload {
  url: string
  headers: Record<string, string>
  body: Readable
  /** Milliseconds without progress before giving up (default 60 s). */
  timeout?: number
}

/** A response whose body is streamed to the caller (data downloads), not read into memory. */
export interface PeerStream {
  status: number
  headers: Record<string, string | string[] | undefined>
  /** The caller consumes or destroys it. */
  body: Readable
}

export interface PeerClient {
  /** The policy every connection of this client obeys (for checks before anything is stored). */
  egress: EgressPolicy
  request(input: PeerRequest): Promise<PeerResponse>
  /** Like `request`, with the answer's body as a stream (no size limit: the caller relays it). */
  open(input: Omit<PeerRequest, 'body' | 'maxBytes'>): Promise<PeerStream>
  /** PUTs a stream (a push transfer); resolves with the status, the answer's body is discarded. */
  upload(input: PeerUpload): Promise<number>
  close(): Promise<void>
}

export interface PeerClientOptions {
  connections?: number
  /** Which addresses may be connected to; by default only public ones. */
  egress?: EgressPolicy
  /** Where refused addresses and failed uploads are described (callers only learn that they failed). */
  logger?: Logger
  /** How host names are resolved (the system's resolver; tests give another). */
  resolve?: Resolve
}

// undici is a large module: it is loaded on the first outbound call, not at start-up.
let undici: Promise<typeof import('undici')> | undefined
const loadUndici = () => (undici ??= import('undici'))

export function createPeerClient(options: PeerClientOptions = {}): PeerClient {
  const policy = options.egress ?? egressPolicy()
  let agent: Dispatcher | undefined
  const dispatcher = async () => {
    if (agent) return agent
    const undici = await loadUndici()
    const connector = checkedConnector(undici.buildConnector({ timeout: 10_000 }), policy, options.resolve)
    return (agent ??= new undici.Agent({ connections: options.connections ?? 64, keepAliveTimeout: 10_000, connect: connector }))
  }
  return {
    egress: policy,
    async request(input) {
      const method = input.method ?? (input.body === undefined ? 'GET' : 'POST')
      const url = new URL(input.url)
      const headers: Record<string, string> = { accept: 'application/json', ...input.headers }
      let body: string | undefined
      if (input.body !== undefined) {
        body = typeof input.body === 'string' ? input.body : JSON.stringify(input.body)
        headers['content-type'] ??= 'application/json'
      }
      return tracer().startActiveSpan(
        `${method} ${url.host}`,
        { kind: SpanKind.CLIENT, attributes: { 'http.request.method': method, 'url.full': spanUrl(url) } },
        async (span) => {
          propagation.inject(context.active(), headers)
          const timeout = input.timeout ?? 10_000
          const maxBytes = input.maxBytes ?? 4 * 1024 * 1024
          try {
            const { request } = await loadUndici()
            const response = await request(url, {
              method,
              headers,
              body,
              dispatcher: await dispatcher(),
              headersTimeout: timeout,
              bodyTimeout: timeout,
              signal: AbortSignal.timeout(timeout),
            })
            span.setAttribute('http.response.status_code', response.statusCode)
            const text = await readLimited(response.body, maxBytes, url)
            return {
              status: response.statusCode,
              headers: response.headers as PeerResponse['headers'],
              text,
              json<T>() {
                try {
                  return parseBoundedJson(text, { maxBytes, maxItems: peerAnswerMaxItems, what: `${url.origin}'s answer` }) as T
                } catch (error) {
                  if (error instanceof JsonLimitError && error.limit !== 'syntax') throw new PeerFailure(error.message)
                  throw new PeerFailure(`${url.origin} answered ${response.statusCode} with a body that is not JSON`)
                }
              },
            }
          } catch (error) {
            span.setStatus({ code: SpanStatusCode.ERROR })
            throw failure(error, `${method} ${url.origin}${url.pathname}`)
          } finally {
            span.end()
          }
        },
      )
    },
    async open(input) {
      const method = input.method ?? 'GET'
      const url = new URL(input.url)
      const headers: Record<string, string> = { ...input.headers }
      return tracer().startActiveSpan(
        `${method} ${url.host}`,
        { kind: SpanKind.CLIENT, attributes: { 'http.request.method': method, 'url.full': spanUrl(url) } },
        async (span) => {
          propagation.inject(context.active(), headers)
          const timeout = input.timeout ?? 10_000
          try {
            const { request } = await loadUndici()
            // Only the wait for the answer's headers is bounded: a large body may take its time.
            const response = await request(url, { method, headers, dispatcher: await dispatcher(), headersTimeout: timeout, bodyTimeout: timeout })
            span.setAttribute('http.response.status_code', response.statusCode)
            return { status: response.statusCode, headers: response.headers as PeerStream['headers'], body: response.body }
          } catch (error) {
            span.setStatus({ code: SpanStatusCode.ERROR })
            throw failure(error, `${method} ${url.origin}${url.pathname}`)
          } finally {
            span.end()
          }
        },
      )
    },
    async upload(input) {
      // Take the stream now, in the caller's turn: a reader already listening (a digest) has set it
      // flowing, and chunks that pass before undici reads them (it first loads, resolves, connects)
      // would be lost to the upload. The pipe buffers them, with back-pressure.
      const body = new PassThrough({ highWaterMark: 1024 * 1024 })
      pipeline(input.body, body).catch(() => {})
      const url = new URL(input.url)
      return tracer().startActiveSpan(
        `PUT ${url.host}`,
        { kind: SpanKind.CLIENT, attributes: { 'http.request.method': 'PUT', 'url.full': spanUrl(url) } },
        async (span) => {
          const headers = { ...input.headers }
          propagation.inject(context.active(), headers)
          const timeout = input.timeout ?? 60_000
          try {
            if (url.protocol !== 'http:' && url.protocol !== 'https:')
              throw new PeerFailure(destinationRefusedMessage, { egress: `${url.protocol} is not HTTP` })
            const { request } = await loadUndici()
            const response = await request(url, { method: 'PUT', headers, body, dispatcher: await dispatcher(), headersTimeout: timeout, bodyTimeout: timeout })
            span.setAttribute('http.response.status_code', response.statusCode)
            await response.body.dump().catch(() => {})
            return response.statusCode
          } catch (error) {
            body.destroy()
            span.setStatus({ code: SpanStatusCode.ERROR })
            // The destination is the peer's choice: whatever went wrong stays in our log.
            const refused = failure(error, `PUT ${url.origin}${url.pathname}`)
            if (refused.message === destinationRefusedMessage) throw refused
            options.logger?.info('push destination not reached', { url: url.toString(), detail: refused.message })
            // A name that does not exist will not come back by waiting (a temporary DNS failure is EAI_AGAIN).
            throw new PeerFailure(destinationRefusedMessage, transportCode(error) === 'ENOTFOUND' ? { permanent: true } : undefined)
          } finally {
            span.end()
          }
        },
      )
    },
    close: async () => agent?.close(),
  }

  function failure(error: unknown, what: string): PasserelleError {
    const result = peerFailure(error, what)
    if (isEgressRefusal(result)) options.logger?.warn('egress: connection refused by the policy', { detail: result.details?.egress })
    return result
  }
}

/**
 * The URL as a span records it: the values of query parameters that are credentials (a presigned
 * URL's signature and key) are redacted, as OpenTelemetry's conventions ask.
 */
export function spanUrl(url: URL): string {
  if (!url.search) return url.toString()
  const copy = new URL(url)
  for (const name of [...copy.searchParams.keys()])
    if (/^(x-amz-signature|x-amz-credential|x-amz-security-token|signature|awsaccesskeyid|sig|x-goog-signature)$/i.test(name))
      copy.searchParams.set(name, 'REDACTED')
  return copy.toString()
}

class PeerFailure extends PasserelleError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('peer_failed', message, details)
  }
}

/** A refused address says only that the destination could not be reached; the detail is for logs. */
function peerFailure(error: unknown, what: string): PasserelleError {
  if (error instanceof PasserelleError) return error
  const refusal = findRefusal(error)
  if (refusal) return new PeerFailure(destinationRefusedMessage, { egress: `${what}: ${refusal.detail}` })
  return new PeerFailure(`${what} failed: ${describeTransportError(error)}`)
}

const findRefusal = (error: unknown): EgressRefusal | undefined => {
  for (let e = error as { cause?: unknown } | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth++) {
    if (e instanceof EgressRefusal) return e
  }
  return undefined
}

/** Whether a peer client error will not change by trying again (a refused address, a name that does not exist). */
export const isPermanentFailure = (error: unknown): boolean => isEgressRefusal(error) || (error instanceof PasserelleError && error.details?.permanent === true)

const transportCode = (error: unknown): string | undefined => {
  for (let e = error as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string' && !e.code.startsWith('UND_')) return e.code
  }
  return undefined
}

/** Whether a peer client error is the egress policy refusing an address. */
export const isEgressRefusal = (error: unknown): boolean => error instanceof PasserelleError && typeof error.details?.egress === 'string'

type Connector = import('undici').buildConnector.connector

/**
 * Wraps undici's connector: resolves the host name itself, checks every candidate address against
 * the policy and connects to the first allowed one by its IP, so the address checked is the address
 * connected to (no second resolution, no rebinding). TLS still verifies the certificate for the
 * name (undici passes the original host as the server name).
 */
export function checkedConnector(connect: Connector, policy: EgressPolicy, resolve?: Resolve): Connector {
  return (options, callback) => {
    const port = Number(options.port) || (options.protocol === 'https:' ? 443 : 80)
    allowedAddress(policy, options.hostname, port, resolve).then(
      (result) => ('address' in result ? connect({ ...options, hostname: result.address }, callback) : callback(new EgressRefusal(result.refused), null)),
      (error: unknown) => callback(error as Error, null),
    )
  }
}
async function readLimited(body: AsyncIterable<Buffer> & { destroy(): void }, maxBytes: number, url: URL): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body) {
    size += chunk.length
    if (size > maxBytes) {
      body.destroy()
      throw new PeerFailure(`${url.origin} answered more than ${maxBytes} bytes; refused`)
    }
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

function describeTransportError(error: unknown): string {
  const e = error as { name?: string; code?: string; message?: string; cause?: { code?: string; message?: string } }
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError' || e?.code === 'UND_ERR_HEADERS_TIMEOUT' || e?.code === 'UND_ERR_BODY_TIMEOUT')
    return 'no answer in time'
  const code = e?.cause?.code ?? e?.code
  if (code === 'ECONNREFUSED') return 'connection refused'
  return code ? `${code}${e?.message ? ` (${e.message})` : ''}` : String(e?.message ?? error)
}

/**
 * node:http(s) agents for clients that bring their own HTTP stack (the AWS SDK's object storage
 * client): each connection is checked against the egress policy like the peer client's, on the
 * resolved address, and opened to exactly that address (TLS still verifies the host name).
 */
export function egressAgents(policy: EgressPolicy, options: AgentOptions = {}, resolve?: Resolve): { httpAgent: HttpAgent; httpsAgent: HttpsAgent } {
  type Create = (options: Record<string, unknown>, callback: (error: Error | null, socket?: Socket) => void) => undefined
  const checked =
    (secure: boolean): Create =>
    (connectOptions, callback) => {
      const host = String(connectOptions.host ?? 'localhost')
      const port = Number(connectOptions.port) || (secure ? 443 : 80)
      allowedAddress(policy, host, port, resolve).then(
        (result) => {
          if (!('address' in result)) return callback(new EgressRefusal(result.refused))
          const target = { ...connectOptions, host: result.address, port }
          const socket = secure ? tlsConnect({ ...target, servername: (connectOptions.servername as string | undefined) ?? host }) : netConnect(target)
          callback(null, socket)
        },
        (error: unknown) => callback(error as Error),
      )
      return undefined
    }
  const httpAgent = new HttpAgent({ keepAlive: true, ...options })
  const httpsAgent = new HttpsAgent({ keepAlive: true, ...options })
  ;(httpAgent as unknown as { createConnection: Create }).createConnection = checked(false)
  ;(httpsAgent as unknown as { createConnection: Create }).createConnection = checked(true)
  return { httpAgent, httpsAgent }
}
