import type { PeerClient, PeerRequest, PeerResponse } from '../../connector/http/peer-client.ts'
import { fixtureEgress } from '../../test/support/context.ts'

/**
 * The simulation's network: an in-process PeerClient that hands each request to the handler of the
 * host it names (one per participant, and the registry), and counts the bytes a real exchange
 * would move. For the simulation only: a connector never uses it. What it leaves out is TCP/TLS
 * (handshakes, framing) and HTTP/1.1 status lines; headers are counted as `name: value\r\n`.
 */
export interface SimResponse {
  status: number
  headers: Record<string, string>
  text: string
}
export type SimHandler = (request: { method: string; url: URL; headers: Record<string, string>; body: unknown }) => Promise<SimResponse>

export interface Traffic {
  requests: number
  bytes: number
  notModified: number
}

export function inProcessTransport(route: (host: string) => SimHandler | undefined) {
  const traffic: Traffic = { requests: 0, bytes: 0, notModified: 0 }
  const encoder = new TextEncoder()
  const headerBytes = (headers: Record<string, string | undefined>) =>
    Object.entries(headers).reduce((n, [k, v]) => n + (v === undefined ? 0 : k.length + v.length + 4), 0)
  const client: PeerClient = {
    egress: fixtureEgress,
    async request(input: PeerRequest): Promise<PeerResponse> {
      const url = new URL(input.url)
      const handler = route(url.host)
      const method = input.method ?? (input.body === undefined ? 'GET' : 'POST')
      const bodyText = input.body === undefined ? '' : typeof input.body === 'string' ? input.body : JSON.stringify(input.body)
      const headers: Record<string, string> = {
        accept: 'application/json',
        host: url.host,
        ...(bodyText ? { 'content-type': 'application/json', 'content-length': String(bodyText.length) } : {}),
        ...input.headers,
      }
      traffic.requests++
      traffic.bytes += `${method} ${url.pathname}${url.search} HTTP/1.1\r\n`.length + headerBytes(headers) + encoder.encode(bodyText).length
      // Each handler works on its own parsed copy, as if the bytes had crossed the wire.
      const answer = handler
        ? await handler({ method, url, headers, body: bodyText ? JSON.parse(bodyText) : undefined })
        : { status: 502, headers: {}, text: '' }
      const size = encoder.encode(answer.text).length
      traffic.bytes += headerBytes({ ...answer.headers, 'content-length': String(size) }) + size
      if (answer.status === 304) traffic.notModified++
      if (input.maxBytes !== undefined && size > input.maxBytes) throw new Error(`answer larger than ${input.maxBytes} bytes`)
      return {
        status: answer.status,
        headers: answer.headers,
        text: answer.text,
        json<T>() {
          return JSON.parse(answer.text) as T
        },
      }
    },
    async open() {
      throw new Error('not simulated')
    },
    async upload() {
      throw new Error('not simulated')
    },
    async close() {},
  }
  return { client, traffic }
}
