import { PasserelleError } from '../errors.ts'
import { JsonLimitError, parseBoundedJson } from '../http/bounded-json.ts'
import type { PeerClient, PeerResponse } from '../http/peer-client.ts'

/**
 * The two HTTP calls identity makes to other parties (fetching a DID document, querying a credential
 * service), with the limits a hostile server must not be able to defeat: an overall deadline, a
 * response size limit and no redirect to another host.
 */
export interface LimitedRequest {
  url: URL
  method?: 'GET' | 'POST'
  headers?: Record<string, string>
  body?: string
  timeoutMs: number
  maxBytes: number
  /** Same-host redirects followed (GET only); a redirect to another host is always refused. */
  maxRedirects?: number
  /** Whether a redirect target is acceptable (e.g. its scheme); checked for same-host targets. */
  allowUrl?: (url: URL) => boolean
  /** Answer the body as text, not parsed as JSON (a status list credential is a bare JWT). */
  raw?: boolean
}

/** 304 Not Modified (an answer to a conditional request) is an answer, not a redirect. */
export interface LimitedResponse {
  status: number
  json: unknown
  /** The body as text, when the request asked for `raw`. */
  text?: string
  /** The answer's ETag, when it has one (conditional fetches). */
  etag?: string
}

export type LimitedHttp = (input: LimitedRequest) => Promise<LimitedResponse>

/** The limits applied over the connector's peer client (which follows no redirect on its own). */
export function limitedHttpOver(peers: PeerClient): LimitedHttp {
  return async (input) => {
    let url = input.url
    for (let redirects = 0; ; redirects++) {
      let response: PeerResponse
      try {
        response = await peers.request({
          url: url.toString(),
          method: input.method ?? 'GET',
          headers: input.headers,
          body: input.body,
          timeout: input.timeoutMs,
          maxBytes: input.maxBytes,
        })
      } catch (error) {
        // The egress detail is for the log of whoever catches this; they do not pass it on.
        const egress = error instanceof PasserelleError ? error.details?.egress : undefined
        throw failure(`${(error as Error).message}${typeof egress === 'string' ? ` (${egress})` : ''}`)
      }
      if (response.status >= 300 && response.status < 400 && response.status !== 304) {
        url = nextUrl(url, response.headers.location, input, redirects)
        continue
      }
      const etag = typeof response.headers.etag === 'string' ? response.headers.etag : undefined
      if (input.raw) return { status: response.status, json: undefined, text: response.text, ...(etag ? { etag } : {}) }
      return { status: response.status, json: parseAnswer(response.text, url, input.maxBytes, response.status), ...(etag ? { etag } : {}) }
    }
  }
}

function nextUrl(url: URL, location: unknown, input: LimitedRequest, redirects: number): URL {
  if (typeof location !== 'string') throw failure(`${url.host} answered a redirect without a location`)
  const next = new URL(location, url)
  if (next.host !== url.host) throw failure(`${url.host} redirected to another host (${next.host})`)
  if (input.allowUrl && !input.allowUrl(next)) throw failure(`${url.host} redirected to a refused address`)
  if ((input.method ?? 'GET') !== 'GET' || redirects >= (input.maxRedirects ?? 2)) throw failure(`${url.host} redirected too often`)
  return next
}

// undici is large: loaded on the first call, not at start-up. Bundled (esbuild, splitting), the
// CommonJS module comes back as `default` only; from sources Node also gives named exports.
let undici: Promise<typeof import('undici')> | undefined
const loadUndici = () => (undici ??= import('undici').then((module) => (module as unknown as { default?: typeof module }).default ?? module))

/** The limits applied with undici directly (tools and tests that have no peer client). */
export const limitedHttp: LimitedHttp = async (input) => {
  const { request } = await loadUndici()
  const signal = AbortSignal.timeout(input.timeoutMs)
  let url = input.url
  for (let redirects = 0; ; redirects++) {
    let response: Awaited<ReturnType<typeof request>>
    try {
      response = await request(url, {
        method: input.method ?? 'GET',
        headers: { accept: 'application/json', ...input.headers },
        body: input.body,
        signal,
        headersTimeout: input.timeoutMs,
        bodyTimeout: input.timeoutMs,
      })
    } catch (error) {
      throw failure(signal.aborted ? `${url.host} did not answer within ${input.timeoutMs} ms` : `${url.host} unreachable (${code(error)})`)
    }
    if (response.statusCode >= 300 && response.statusCode < 400 && response.statusCode !== 304) {
      await response.body.dump().catch(() => {})
      url = nextUrl(url, response.headers.location, input, redirects)
      continue
    }
    const length = Number(response.headers['content-length'])
    if (Number.isFinite(length) && length > input.maxBytes) {
      response.body.destroy()
      throw failure(`${url.host} answered more than ${input.maxBytes} bytes`)
    }
    const chunks: Buffer[] = []
    let size = 0
    try {
      for await (const chunk of response.body) {
        size += (chunk as Buffer).length
        if (size > input.maxBytes) {
          response.body.destroy()
          throw failure(`${url.host} answered more than ${input.maxBytes} bytes`)
        }
        chunks.push(chunk as Buffer)
      }
    } catch (error) {
      if (error instanceof PasserelleError) throw error
      throw failure(signal.aborted ? `${url.host} did not answer within ${input.timeoutMs} ms` : `${url.host} broke off its answer`)
    }
    const text = Buffer.concat(chunks).toString('utf8')
    const etag = typeof response.headers.etag === 'string' ? response.headers.etag : undefined
    if (input.raw) return { status: response.statusCode, json: undefined, text, ...(etag ? { etag } : {}) }
    return { status: response.statusCode, json: parseAnswer(text, url, input.maxBytes, response.statusCode), ...(etag ? { etag } : {}) }
  }
}

/** The answer's JSON (undefined when empty), within the JSON limits. */
function parseAnswer(text: string, url: URL, maxBytes: number, status: number): unknown {
  if (text === '') return undefined
  try {
    return parseBoundedJson(text, { maxBytes, what: `${url.host}'s answer` })
  } catch (error) {
    if (error instanceof JsonLimitError && error.limit !== 'syntax') throw failure(error.message)
    throw failure(`${url.host} answered something that is not JSON (status ${status})`)
  }
}

const failure = (message: string) => new PasserelleError('unauthorized', message)
const code = (error: unknown) => (error as { code?: string }).code ?? (error as Error).message
