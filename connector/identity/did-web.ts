import { PasserelleError } from '../errors.ts'

/**
 * did:web identifiers and the HTTPS addresses of their documents (W3C did:web method):
 * `did:web:example.org` → `https://example.org/.well-known/did.json`,
 * `did:web:example.org%3A8443:users:alice` → `https://example.org:8443/users/alice/did.json`.
 */

const hostPattern = /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::\d{1,5})?$/i
const segmentPattern = /^[A-Za-z0-9._~!$&'()*+,;=@-]+$/

export interface DidWebParts {
  /** host, with `:port` when the DID names one */
  host: string
  hostname: string
  path: string[]
}

export function parseDidWeb(did: string): DidWebParts {
  if (!did.startsWith('did:web:')) throw new PasserelleError('unauthorized', `not a did:web identifier: ${short(did)}`)
  const [encodedHost, ...encodedPath] = did.slice('did:web:'.length).split(':')
  let host: string
  let path: string[]
  try {
    host = decodeURIComponent(encodedHost ?? '')
    path = encodedPath.map((segment) => decodeURIComponent(segment))
  } catch {
    throw new PasserelleError('unauthorized', `malformed did:web identifier: ${short(did)}`)
  }
  // Decoding must not smuggle in a path, credentials or a different host.
  if (!hostPattern.test(host)) throw new PasserelleError('unauthorized', `malformed did:web host: ${short(did)}`)
  if (path.some((segment) => !segmentPattern.test(segment) || segment === '.' || segment === '..')) {
    throw new PasserelleError('unauthorized', `malformed did:web path: ${short(did)}`)
  }
  const port = host.match(/:(\d+)$/)?.[1]
  if (port && Number(port) > 65535) throw new PasserelleError('unauthorized', `malformed did:web port: ${short(did)}`)
  return { host, hostname: host.replace(/:\d+$/, ''), path }
}

export const isLoopbackHost = (hostname: string) =>
  hostname === 'localhost' || hostname === '::1' || hostname === '[::1]' || /^127(?:\.\d{1,3}){3}$/.test(hostname)

/** The address of a did:web document; plain HTTP only for loopback hosts and only when allowed. */
export function didWebDocumentUrl(did: string, options: { allowInsecureLoopback?: boolean } = {}): URL {
  const parts = parseDidWeb(did)
  const insecure = options.allowInsecureLoopback === true && isLoopbackHost(parts.hostname)
  const path = parts.path.length === 0 ? '/.well-known/did.json' : `/${parts.path.map(encodeURIComponent).join('/')}/did.json`
  return new URL(`${insecure ? 'http' : 'https'}://${parts.host}${path}`)
}

/** The path (on its own host) where the document of a did:web identifier is served. */
export const didWebDocumentPath = (did: string) => {
  const { path } = parseDidWeb(did)
  return path.length === 0 ? '/.well-known/did.json' : `/${path.map(encodeURIComponent).join('/')}/did.json`
}

/** The did:web identifier for a base URL (`http://127.0.0.1:8181` → `did:web:127.0.0.1%3A8181`). */
export function didWebForUrl(baseUrl: string): string {
  const url = new URL(baseUrl)
  const host = url.port ? `${url.hostname}%3A${url.port}` : url.hostname
  const path = url.pathname.split('/').filter((segment) => segment !== '')
  return ['did:web', host, ...path].join(':')
}

const short = (value: string) => (value.length > 120 ? `${value.slice(0, 120)}…` : value)
