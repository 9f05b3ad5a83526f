import { z } from 'zod'
import type { Clock } from '../clock.ts'
import { PasserelleError } from '../errors.ts'
import type { Logger } from '../telemetry/logger.ts'
import { didWebDocumentUrl, isLoopbackHost, parseDidWeb } from './did-web.ts'
import { limitedHttp, type LimitedHttp } from './limited-http.ts'

/** The parts of a DID document identity reads; everything else is kept but not interpreted. */
const VerificationMethod = z
  .object({
    id: z.string().min(1),
    type: z.string().min(1),
    controller: z.string().optional(),
    publicKeyJwk: z.record(z.string(), z.unknown()).optional(),
  })
  .loose()
export type VerificationMethod = z.infer<typeof VerificationMethod>

const Relationship = z.array(z.union([z.string(), VerificationMethod])).optional()

const Service = z
  .object({
    id: z.string(),
    type: z.union([z.string(), z.array(z.string())]),
    serviceEndpoint: z.union([z.string(), z.record(z.string(), z.unknown()), z.array(z.unknown())]),
  })
  .loose()

export const DidDocument = z
  .object({
    id: z.string().min(1),
    verificationMethod: z.array(VerificationMethod).optional(),
    authentication: Relationship,
    assertionMethod: Relationship,
    capabilityInvocation: Relationship,
    service: z.array(Service).optional(),
  })
  .loose()
export type DidDocument = z.infer<typeof DidDocument>

export type VerificationRelationship = 'authentication' | 'assertionMethod' | 'capabilityInvocation'

export interface ResolveOptions {
  /** Fetch again when the cached copy is older than this (e.g. when it lacks a key a token names). */
  maxAgeMs?: number
  /**
   * A token names a key the cached copy lacks (rotation): fetch again when the copy is older than the
   * resolver's `refreshAfterMs`, so that a peer sending unknown key ids cannot make us fetch at will.
   */
  refresh?: boolean
}

export interface DidResolver {
  /** The document of `did`; throws `PasserelleError('unauthorized', …)` saying why it cannot. */
  resolve(did: string, options?: ResolveOptions): Promise<DidDocument>
}

export interface DidResolverOptions {
  allowInsecureLoopback?: boolean
  clock: Clock
  /** Whether documents may be fetched from this did:web host (`host` or `host:port`); all by default. */
  allowHost?: (host: string) => boolean
  /** Where the reason a document could not be fetched goes (callers only learn that it could not). */
  logger?: Logger
  /** How long a resolved document is reused. */
  ttlMs?: number
  /** Shortest time between two fetches of one DID's document for keys it lacked (default 30 s). */
  refreshAfterMs?: number
  /** How long a host whose document could not be fetched is not asked again (default 30 s). */
  failureTtlMs?: number
  timeoutMs?: number
  maxBytes?: number
  /** Most documents kept at once (the oldest go first). */
  maxEntries?: number
  http?: LimitedHttp
}

export function createDidResolver(options: DidResolverOptions): DidResolver & { clear(): void } {
  const ttlMs = options.ttlMs ?? 5 * 60_000
  const maxEntries = options.maxEntries ?? 1000
  const http = options.http ?? limitedHttp
  const failureTtlMs = options.failureTtlMs ?? 30_000
  const refreshAfterMs = options.refreshAfterMs ?? 30_000
  const cache = new Map<string, { document: DidDocument; fetchedAt: number; expiresAt: number }>()
  // Until when a host that could not be reached, or a DID whose document was not usable, is not
  // asked again: a caller cannot make us fetch it on every request. An answer about one DID (404, a
  // bad document) does not block the other DIDs of its host, or anybody could block a member's.
  const failing = new Map<string, number>()
  const inflight = new Map<string, Promise<DidDocument>>()

  // The caller (often not authenticated yet) learns that the DID could not be resolved, never why:
  // a network error would tell it what listens where. The reason goes to the log.
  const unresolvable = (did: string, detail: string) => {
    options.logger?.info('identity: DID document not fetched', { did, detail })
    return new PasserelleError('unauthorized', `the DID ${did} could not be resolved`)
  }

  async function fetchDocument(did: string, host: string): Promise<DidDocument> {
    const url = didWebDocumentUrl(did, { allowInsecureLoopback: options.allowInsecureLoopback })
    let response: Awaited<ReturnType<LimitedHttp>>
    try {
      response = await http({
        url,
        timeoutMs: options.timeoutMs ?? 3000,
        maxBytes: options.maxBytes ?? 64 * 1024,
        allowUrl: (next) => next.protocol === 'https:' || (options.allowInsecureLoopback === true && isLoopbackHost(next.hostname)),
      })
    } catch (error) {
      throw failed(did, host, `${url}: ${(error as Error).message}`)
    }
    if (response.status !== 200) throw failed(did, did, `${url} answered status ${response.status}`)
    const parsed = DidDocument.safeParse(response.json)
    if (!parsed.success) throw failed(did, did, `${url} holds a malformed document`)
    if (parsed.data.id !== did) throw failed(did, did, `the document at ${url} is for ${parsed.data.id}`)
    return parsed.data
  }

  /** Remembers the failure for `key` (the host, or the DID itself) and says so. */
  function failed(did: string, key: string, detail: string) {
    failing.delete(key)
    failing.set(key, options.clock.now().getTime() + failureTtlMs)
    while (failing.size > maxEntries) failing.delete(failing.keys().next().value!)
    return unresolvable(did, detail)
  }

  return {
    async resolve(did, resolveOptions = {}) {
      const now = options.clock.now().getTime()
      const cached = cache.get(did)
      const maxAgeMs = resolveOptions.maxAgeMs ?? (resolveOptions.refresh ? refreshAfterMs : undefined)
      const fresh = maxAgeMs === undefined || now - (cached?.fetchedAt ?? 0) <= maxAgeMs
      if (cached && cached.expiresAt > now && fresh) return cached.document
      const pending = inflight.get(did)
      if (pending) return pending
      const { host } = parseDidWeb(did)
      if (options.allowHost && !options.allowHost(host)) throw unresolvable(did, `${host} is not in egress.didHosts`)
      if ((failing.get(host) ?? 0) > now || (failing.get(did) ?? 0) > now) {
        if (cached && cached.expiresAt > now) return cached.document
        throw unresolvable(did, `${did} or its host failed less than ${failureTtlMs} ms ago; not asked again yet`)
      }
      const started = fetchDocument(did, host)
        .then((document) => {
          cache.delete(did)
          const fetchedAt = options.clock.now().getTime()
          cache.set(did, { document, fetchedAt, expiresAt: fetchedAt + ttlMs })
          while (cache.size > maxEntries) cache.delete(cache.keys().next().value!)
          return document
        })
        .finally(() => inflight.delete(did))
      inflight.set(did, started)
      return started
    },
    clear: () => {
      cache.clear()
      failing.clear()
    },
  }
}

/**
 * How a signing key must be published. `when-listed`: a document that fills any verification
 * relationship array (authentication, assertionMethod, capabilityInvocation) must list the key under
 * the one at hand; a document that fills none (Eclipse EDC and IdentityHub publish activated keys under
 * `verificationMethod` only) vouches for every key it lists there. `strict`: the relationship always.
 */
export type KeyRelationships = 'when-listed' | 'strict'

const relationshipNames: VerificationRelationship[] = ['authentication', 'assertionMethod', 'capabilityInvocation']

/**
 * The verification method a key id names, if the document allows it for one of `relationships`
 * (see `KeyRelationships`); undefined when the document does not list it. A document that names a key
 * twice, refers to a key it does not define, or lists a key controlled by another DID is refused with
 * `unauthorized` saying which: its owner must fix it, and guessing which copy counts would let a
 * second, foreign key in.
 */
export function findVerificationMethod(
  document: DidDocument,
  keyId: string,
  relationships: VerificationRelationship[],
  mode: KeyRelationships = 'when-listed',
): VerificationMethod | undefined {
  const did = document.id
  const refuse = (why: string) => new PasserelleError('unauthorized', `the DID document of ${did} ${why}`)
  // Key ids are compared as fragments: `<did>#k`, `#k` and EDC's bare `k` name the same key.
  const fragmentOf = (id: string): string | undefined => {
    if (id.startsWith(`${did}#`)) return id.slice(did.length + 1)
    if (id.startsWith('#')) return id.slice(1)
    if (!id.includes(':') && !id.includes('#') && id !== '') return id
    return undefined
  }
  const defined = new Map<string, VerificationMethod>()
  const define = (method: VerificationMethod) => {
    const fragment = fragmentOf(method.id)
    if (fragment === undefined) throw refuse(`lists key ${method.id}, which belongs to another DID`)
    if (defined.has(fragment)) throw refuse(`lists key ${method.id} twice`)
    if (method.controller !== undefined && method.controller !== did) throw refuse(`lists key ${method.id} controlled by another DID (${method.controller})`)
    defined.set(fragment, method)
  }
  for (const method of document.verificationMethod ?? []) define(method)
  // Methods embedded in a relationship are defined there; references must name a defined key.
  const listed = new Map<VerificationRelationship, Set<string>>()
  for (const relationship of relationshipNames) {
    const names = new Set<string>()
    for (const entry of document[relationship] ?? []) {
      // One embedded method may serve several relationships: the same object again is not a second key.
      if (typeof entry !== 'string' && JSON.stringify(defined.get(fragmentOf(entry.id) ?? '')) !== JSON.stringify(entry)) define(entry)
      names.add(fragmentOf(typeof entry === 'string' ? entry : entry.id) ?? '')
    }
    listed.set(relationship, names)
  }
  for (const [relationship, names] of listed) {
    for (const name of names)
      if (!defined.has(name)) throw refuse(`lists a key under ${relationship} that it does not define (${name || 'a key of another DID'})`)
  }
  const wanted = fragmentOf(keyId)
  const method = wanted === undefined ? undefined : defined.get(wanted)
  if (!method || wanted === undefined) return undefined
  const anyListed = [...listed.values()].some((names) => names.size > 0)
  if (mode === 'when-listed' && !anyListed) return method
  return relationships.some((relationship) => listed.get(relationship)!.has(wanted)) ? method : undefined
}

/** The endpoint of the first service of `type`. */
export function serviceEndpoint(document: DidDocument, type: string): string | undefined {
  for (const service of document.service ?? []) {
    const types = Array.isArray(service.type) ? service.type : [service.type]
    if (types.includes(type) && typeof service.serviceEndpoint === 'string') return service.serviceEndpoint
  }
  return undefined
}
