import { z } from 'zod'
import type { Clock } from '../context.ts'
import { PasserelleError } from '../errors.ts'
import { didWebDocumentUrl, isLoopbackHost } from './did-web.ts'
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
}

export interface DidResolver {
  /** The document of `did`; throws `PasserelleError('unauthorized', …)` saying why it cannot. */
  resolve(did: string, options?: ResolveOptions): Promise<DidDocument>
}

export interface DidResolverOptions {
  allowInsecureLoopback?: boolean
  clock: Clock
  /** How long a resolved document is reused. */
  ttlMs?: number
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
  const cache = new Map<string, { document: DidDocument; fetchedAt: number; expiresAt: number }>()
  const inflight = new Map<string, Promise<DidDocument>>()

  async function fetchDocument(did: string): Promise<DidDocument> {
    const url = didWebDocumentUrl(did, { allowInsecureLoopback: options.allowInsecureLoopback })
    const response = await http({
      url,
      timeoutMs: options.timeoutMs ?? 3000,
      maxBytes: options.maxBytes ?? 64 * 1024,
      allowUrl: (next) => next.protocol === 'https:' || (options.allowInsecureLoopback === true && isLoopbackHost(next.hostname)),
    })
    if (response.status === 404) throw new PasserelleError('unauthorized', `unknown DID ${did} (no document at ${url})`)
    if (response.status !== 200) throw new PasserelleError('unauthorized', `DID ${did} could not be resolved (status ${response.status})`)
    const parsed = DidDocument.safeParse(response.json)
    if (!parsed.success) throw new PasserelleError('unauthorized', `DID ${did} has a malformed document`)
    if (parsed.data.id !== did) throw new PasserelleError('unauthorized', `the document at ${url} is for ${parsed.data.id}, not ${did}`)
    return parsed.data
  }

  return {
    async resolve(did, resolveOptions = {}) {
      const now = options.clock.now().getTime()
      const cached = cache.get(did)
      const fresh = resolveOptions.maxAgeMs === undefined || now - (cached?.fetchedAt ?? 0) <= resolveOptions.maxAgeMs
      if (cached && cached.expiresAt > now && fresh) return cached.document
      const pending = inflight.get(did)
      if (pending) return pending
      const started = fetchDocument(did)
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
    clear: () => cache.clear(),
  }
}

/** The verification method a key id names, if the document lists it under `relationship`. */
export function findVerificationMethod(
  document: DidDocument,
  keyId: string,
  relationships: VerificationRelationship[],
): VerificationMethod | undefined {
  const fragment = keyId.slice(keyId.indexOf('#'))
  const matches = (id: string) => id === keyId || (id.startsWith('#') && id === fragment)
  const method = document.verificationMethod?.find((m) => matches(m.id))
  for (const relationship of relationships) {
    for (const entry of document[relationship] ?? []) {
      if (typeof entry === 'string') {
        if (matches(entry) && method) return method
      } else if (matches(entry.id)) return entry
    }
  }
  return undefined
}

/** The endpoint of the first service of `type`. */
export function serviceEndpoint(document: DidDocument, type: string): string | undefined {
  for (const service of document.service ?? []) {
    const types = Array.isArray(service.type) ? service.type : [service.type]
    if (types.includes(type) && typeof service.serviceEndpoint === 'string') return service.serviceEndpoint
  }
  return undefined
}
