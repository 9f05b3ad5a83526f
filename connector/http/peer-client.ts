import { context, propagation, SpanKind, SpanStatusCode } from '@opentelemetry/api'
import type { Dispatcher } from 'undici'
import { PasserelleError } from '../errors.ts'
import { tracer } from '../telemetry/telemetry.ts'

/**
 * The one way the connector talks to other hosts (peers, DID documents, upstream data sources).
 * It propagates `traceparent`, applies a timeout and a response size limit, never follows
 * redirects on its own, and turns transport failures into `peer_failed` errors.
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

export interface PeerClient {
  request(input: PeerRequest): Promise<PeerResponse>
  close(): Promise<void>
}

// undici is a large module: it is loaded on the first outbound call, not at start-up.
let undici: Promise<typeof import('undici')> | undefined
const loadUndici = () => (undici ??= import('undici'))

export function createPeerClient(options: { connections?: number } = {}): PeerClient {
  let agent: Dispatcher | undefined
  const dispatcher = async () => (agent ??= new (await loadUndici()).Agent({ connections: options.connections ?? 64, keepAliveTimeout: 10_000 }))
  return {
    async request(input) {
      const method = input.method ?? (input.body === undefined ? 'GET' : 'POST')
      const url = new URL(input.url)
      const headers: Record<string, string> = { accept: 'application/json', ...input.headers }
      let body: string | undefined
      if (input.body !== undefined) {
        body = typeof input.body === 'string' ? input.body : JSON.stringify(input.body)
        headers['content-type'] ??= 'application/json'
      }
      return tracer().startActiveSpan(`${method} ${url.host}`, { kind: SpanKind.CLIENT, attributes: { 'http.request.method': method, 'url.full': url.toString() } }, async (span) => {
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
                return JSON.parse(text) as T
              } catch {
                throw new PeerFailure(`${url.origin} answered ${response.statusCode} with a body that is not JSON`)
              }
            },
          }
        } catch (error) {
          span.setStatus({ code: SpanStatusCode.ERROR })
          if (error instanceof PasserelleError) throw error
          throw new PeerFailure(`${method} ${url.origin}${url.pathname} failed: ${describeTransportError(error)}`)
        } finally {
          span.end()
        }
      })
    },
    close: async () => agent?.close(),
  }
}

class PeerFailure extends PasserelleError {
  constructor(message: string) {
    super('peer_failed', message)
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
