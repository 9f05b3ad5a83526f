import { Readable } from 'node:stream'
import { checkApiRequest, upstreamUrl, type Distribution, type HttpApi } from '../../../catalog/index.ts'
import { PasserelleError } from '../../errors.ts'
import type { Logger } from '../../telemetry/logger.ts'
import type { DataSource } from '../ports.ts'
import type { SecretLookup } from './secrets.ts'

/**
 * An HTTP API behind a distribution: the consumer's path suffix and query parameters, checked
 * against what the distribution declares, are passed on to the upstream URL with the secret; the
 * upstream's failures (no answer in time, an error status, a redirect, an answer larger than
 * allowed, an address the egress policy refuses) become transfer errors a consumer can read,
 * without the upstream's address, body or secret.
 */

export type HttpSource = Extract<DataSource, { kind: 'http' }>

/** Opens an upstream answer without following redirects (the peer client: egress policy, trace context). */
export type UpstreamOpen = (input: {
  url: string
  method: 'GET' | 'HEAD'
  headers: Record<string, string>
  /** Milliseconds to wait for the answer's headers, and between chunks of its body. */
  timeout: number
}) => Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Readable }>

/** The same over a fetch function (used when no peer client is given, e.g. in unit tests). */
export const fetchUpstream =
  (doFetch: typeof fetch): UpstreamOpen =>
  async ({ url, method, headers, timeout }) => {
    const answer = await doFetch(url, { method, headers, redirect: 'manual', signal: AbortSignal.timeout(timeout) })
    const flat: Record<string, string> = {}
    answer.headers.forEach((value, name) => {
      flat[name] = value
    })
    const body = answer.body ? Readable.fromWeb(answer.body as import('node:stream/web').ReadableStream) : Readable.from([])
    return { status: answer.status, headers: flat, body }
  }

/** The data source of a url distribution: its secret resolved now (never kept beyond the request). */
export function httpSource(distribution: Distribution & { url: string }, secrets: SecretLookup): HttpSource {
  const headers: Record<string, string> = {}
  if (distribution.secret) headers[(distribution.api?.secretHeader ?? 'authorization').toLowerCase()] = secrets(distribution.secret)
  return { kind: 'http', url: distribution.url, headers, mediaType: distribution.mediaType, ...(distribution.api ? { api: distribution.api } : {}) }
}

export const defaultTimeoutSeconds = 30

/** The consumer's request, checked: a 400 naming what is not allowed. */
export function checkedRequest(api: HttpApi | undefined, rawSuffix: string, query: Array<[string, string]>) {
  const checked = checkApiRequest(api, rawSuffix, query)
  if (!checked.ok) throw new PasserelleError('bad_request', checked.message)
  return checked
}

export interface UpstreamAnswer {
  status: number
  headers: Headers
  /** Read as it is (a Node stream), without a web-stream layer: the relay is the only reader. */
  body: Readable
  /** The Content-Length the upstream declared, when it did. */
  declaredLength: number | undefined
}

/**
 * Asks the upstream. Resolves with a 200 or 206 answer; anything else is a `peer_failed` error
 * with a reason for the consumer, the detail going to the provider's log.
 */
export async function openUpstream(input: {
  open: UpstreamOpen
  source: HttpSource
  request: { segments: string[]; query: Array<[string, string]> }
  range: string | null
  method: 'GET' | 'HEAD'
  logger: Logger
  transferId: string
}): Promise<UpstreamAnswer> {
  const { source, logger, transferId } = input
  const timeoutSeconds = source.api?.timeoutSeconds ?? defaultTimeoutSeconds
  const url = upstreamUrl(source.url, input.request)
  const headers = { ...source.headers, ...(input.range ? { range: input.range } : {}) }
  let answer: Awaited<ReturnType<UpstreamOpen>>
  try {
    answer = await input.open({ url, method: input.method, headers, timeout: timeoutSeconds * 1000 })
  } catch (error) {
    const e = error as { message?: string; name?: string; details?: Record<string, unknown> }
    // The operator's log gets the detail (never the headers, which carry the secret).
    logger.warn('upstream source failed', { transferId, detail: e.details?.egress ?? e.message })
    if (typeof e.details?.egress === 'string')
      throw new PasserelleError('peer_failed', 'the upstream source is at an address the provider does not allow (its egress policy)')
    if (e.name === 'TimeoutError' || /no answer in time/.test(e.message ?? ''))
      throw new PasserelleError('peer_failed', `the upstream source did not answer within ${timeoutSeconds} s`)
    throw new PasserelleError('peer_failed', 'the upstream source could not be reached')
  }
  const fail = (message: string, detail?: string) => {
    answer.body.on('error', () => {})
    answer.body.destroy()
    logger.warn('upstream source answer refused', { transferId, status: answer.status, detail: detail ?? message })
    return new PasserelleError('peer_failed', message)
  }
  if (answer.status >= 300 && answer.status < 400) {
    const location = single(answer.headers.location)
    let elsewhere = false
    try {
      elsewhere = location !== undefined && new URL(location, url).host !== new URL(url).host
    } catch {}
    throw fail(`the upstream source answered with a redirect${elsewhere ? ' to another host' : ''} (${answer.status}); redirects are not followed`)
  }
  if (answer.status !== 200 && answer.status !== 206) throw fail(`the upstream source answered ${answer.status}`)
  const declared = single(answer.headers['content-length'])
  const declaredLength = declared !== undefined && /^\d+$/.test(declared) ? Number(declared) : undefined
  const maxBytes = source.api?.maxBytes
  if (maxBytes !== undefined && declaredLength !== undefined && declaredLength > maxBytes)
    throw fail(`the upstream answer is ${declaredLength} bytes, more than the ${maxBytes} this distribution allows`)
  const web = new Headers()
  for (const [name, value] of Object.entries(answer.headers)) if (value !== undefined) web.set(name, Array.isArray(value) ? value.join(', ') : value)
  // Destroying it (a refused access, a cut stream) must not surface as an unhandled error; readers still see errors.
  answer.body.on('error', () => {})
  return { status: answer.status, headers: web, body: answer.body, declaredLength }
}

const single = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value)

/**
 * The path suffix after `/data/transfers/<id>`, still percent-encoded as it came, and the query.
 * `rawPath` is the request target as it came on the wire, when known: URL parsing would already
 * have resolved `..` segments (spelled `%2e%2e` too), which must be refused, not resolved.
 */
export function requestParts(url: string, rawPath?: string): { suffix: string; query: Array<[string, string]> } {
  const parsed = new URL(url)
  const path = rawPath?.split('?')[0] ?? parsed.pathname
  const suffix = /^\/data\/transfers\/[^/]+(\/.*)?$/.exec(path)?.[1] ?? ''
  return { suffix, query: [...parsed.searchParams.entries()] }
}
