import { gunzipSync, gzipSync } from 'node:zlib'
import { z } from 'zod'
import type { Clock } from '../clock.ts'
import { PasserelleError } from '../errors.ts'
import type { Logger } from '../telemetry/logger.ts'
import type { DidResolver, KeyRelationships } from './did-resolver.ts'
import { isLoopbackHost } from './did-web.ts'
import { clockLeewaySeconds, signJwt, verifyDidJwt } from './jwt.ts'
import { credentialsContext, credentialsV2Context, isVc20, type CredentialProfile } from './credential-profiles.ts'
import type { SigningKey } from './keys.ts'
import type { LimitedHttp } from './limited-http.ts'

/**
 * W3C Bitstring Status List v1.0, as DCP and Eclipse EDC use it: a credential's `credentialStatus`
 * holds `BitstringStatusListEntry` objects (a purpose, an index, the URL of a status list credential);
 * the issuer publishes at that URL a signed `BitstringStatusListCredential` whose `encodedList` is the
 * bitstring, GZIP-compressed and base64url-encoded with the multibase prefix `u`. Bit 0 is the
 * left-most bit of the first byte; a set bit means the purpose applies (revoked, suspended).
 */

/** The spec's minimum list: 16 KB of bits, so that one credential's index tells little about its holder. */
export const minimumListBits = 131_072
/** Purposes that decide validity; `refresh` and `message` carry information, never a refusal. */
export const validityPurposes = ['revocation', 'suspension'] as const
export type ValidityPurpose = (typeof validityPurposes)[number]
const informativePurposes = new Set(['refresh', 'message'])

export const BitstringStatusListEntry = z
  .object({
    id: z.string().optional(),
    type: z.literal('BitstringStatusListEntry'),
    statusPurpose: z.string().min(1),
    // The spec writes the index as a base-10 string; some issuers write a number.
    statusListIndex: z.union([z.string().regex(/^\d{1,10}$/), z.number().int().nonnegative()]).transform(Number),
    statusListCredential: z.string().url().max(2048),
    statusSize: z.number().int().optional(),
  })
  .loose()
export type BitstringStatusListEntry = z.infer<typeof BitstringStatusListEntry>

/** A status entry reduced to what a check needs. */
export interface StatusReference {
  purpose: ValidityPurpose
  index: number
  url: string
}

/**
 * The status entries of a VC claim that decide its validity. A status of a type we do not know, or a
 * malformed entry, refuses the credential: a status we cannot check is not a good status.
 */
export function statusReferencesOf(vc: Record<string, unknown>, credential: string): StatusReference[] {
  const listed = vc.credentialStatus
  if (listed === undefined) return []
  const entries = Array.isArray(listed) ? listed : [listed]
  if (entries.length > 8) throw unauthorized(`credential ${credential} lists ${entries.length} status entries (at most 8)`)
  const references: StatusReference[] = []
  for (const entry of entries) {
    const type = (entry as { type?: unknown } | null)?.type
    // StatusList2021 (its predecessor, still issued by Eclipse IdentityHub) has the same fields and bit order.
    if (type !== 'BitstringStatusListEntry' && type !== 'StatusList2021Entry') {
      throw unauthorized(
        `credential ${credential} has a status of type ${JSON.stringify(type)}, which is not supported (BitstringStatusListEntry and StatusList2021Entry are)`,
      )
    }
    const parsed = BitstringStatusListEntry.safeParse({ ...(entry as object), type: 'BitstringStatusListEntry' })
    if (!parsed.success)
      throw unauthorized(
        `credential ${credential} has a malformed BitstringStatusListEntry (${parsed.error.issues[0]?.path.join('.') || 'entry'}: ${parsed.error.issues[0]?.message})`,
      )
    if (parsed.data.statusSize !== undefined && parsed.data.statusSize !== 1)
      throw unauthorized(`credential ${credential} has a status of size ${parsed.data.statusSize}; only 1 is supported`)
    const purpose = parsed.data.statusPurpose
    if (informativePurposes.has(purpose)) continue
    if (!(validityPurposes as readonly string[]).includes(purpose)) throw unauthorized(`credential ${credential} has a status of unknown purpose ${purpose}`)
    references.push({ purpose: purpose as ValidityPurpose, index: parsed.data.statusListIndex, url: parsed.data.statusListCredential })
  }
  return references
}

/** The bitstring as `encodedList`: multibase base64url (`u`) of its GZIP compression. */
export function encodeBitstring(bits: Uint8Array): string {
  return `u${gzipSync(bits).toString('base64url')}`
}

/**
 * Decodes an `encodedList`; throws an `Error` saying what is wrong. `maxBytes` bounds the decompressed
 * size, so that a small compressed bomb cannot take the memory.
 */
export function decodeBitstring(encoded: string, maxBytes: number): Uint8Array {
  // The multibase prefix is optional on input: StatusList2021 issuers wrote bare base64url.
  const text = encoded.startsWith('u') ? encoded.slice(1) : encoded
  if (text === '' || !/^[A-Za-z0-9_-]+$/.test(text)) throw new Error('encodedList is not base64url')
  const compressed = Buffer.from(text, 'base64url')
  if (compressed.length < 18 || compressed[0] !== 0x1f || compressed[1] !== 0x8b) throw new Error('encodedList is not GZIP-compressed')
  let bits: Buffer
  try {
    bits = gunzipSync(compressed, { maxOutputLength: maxBytes })
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE' || error instanceof RangeError)
      throw new Error(`encodedList decompresses to more than ${maxBytes} bytes`)
    throw new Error('encodedList is not valid GZIP data')
  }
  if (bits.length * 8 < minimumListBits)
    throw new Error(`the list has ${bits.length * 8} entries, fewer than the ${minimumListBits} the specification requires`)
  return new Uint8Array(bits.buffer, bits.byteOffset, bits.length)
}

export function bitAt(bits: Uint8Array, index: number): boolean {
  return ((bits[index >> 3]! >> (7 - (index & 7))) & 1) === 1
}

export function setBit(bits: Uint8Array, index: number, value: boolean): void {
  const mask = 1 << (7 - (index & 7))
  bits[index >> 3] = value ? bits[index >> 3]! | mask : bits[index >> 3]! & ~mask
}

export interface StatusListCredentialInput {
  issuerDid: string
  key: SigningKey
  /** Where it is published: its id. */
  url: string
  purpose: ValidityPurpose
  bits: Uint8Array
  issuedAt: Date
  /** How long verifiers may use it before fetching it again (the spec's `ttl`, milliseconds). */
  ttlMs: number
  /** Default `vc11-sl2021/jwt`. */
  profile?: CredentialProfile
}

/** Signs a status list credential: VC data model 1.1 JWT (default) or 2.0 secured with JOSE (`vc20-bssl/jwt`). */
export function signStatusListCredential(input: StatusListCredentialInput): Promise<string> {
  const iat = Math.floor(input.issuedAt.getTime() / 1000)
  if (input.profile === 'vc20-bssl/jwt') {
    // The payload is the credential; `ttl` is left out (the profile ignores it): verifiers ask again
    // within their own maximum age, or at `validUntil` when the issuer sets one.
    return signJwt(
      {
        '@context': [credentialsV2Context],
        id: input.url,
        type: ['VerifiableCredential', 'BitstringStatusListCredential'],
        issuer: input.issuerDid,
        validFrom: input.issuedAt.toISOString(),
        credentialSubject: { id: `${input.url}#list`, type: 'BitstringStatusList', statusPurpose: input.purpose, encodedList: encodeBitstring(input.bits) },
        iss: input.issuerDid,
        iat,
      },
      input.key,
      input.issuerDid,
      'vc+jwt',
    )
  }
  return signJwt(
    {
      iss: input.issuerDid,
      sub: `${input.url}#list`,
      jti: input.url,
      iat,
      nbf: iat,
      vc: {
        // The VC 1.1 context (as credentials.ts writes it) and the status list terms.
        '@context': [credentialsContext, 'https://www.w3.org/ns/credentials/status/v1'],
        id: input.url,
        type: ['VerifiableCredential', 'BitstringStatusListCredential'],
        issuer: input.issuerDid,
        issuanceDate: input.issuedAt.toISOString(),
        credentialSubject: {
          id: `${input.url}#list`,
          type: 'BitstringStatusList',
          statusPurpose: input.purpose,
          encodedList: encodeBitstring(input.bits),
          ttl: input.ttlMs,
        },
      },
    },
    input.key,
    input.issuerDid,
  )
}

const StatusListClaim = z
  .object({
    type: z.union([z.string(), z.array(z.string())]).transform((t) => (Array.isArray(t) ? t : [t])),
    // A JSON-LD serialiser may write a single subject as an array of one.
    credentialSubject: z.preprocess(
      (subject) => (Array.isArray(subject) && subject.length === 1 ? subject[0] : subject),
      z
        .object({
          type: z.enum(['BitstringStatusList', 'StatusList2021']),
          statusPurpose: z.string(),
          encodedList: z.string(),
          ttl: z.number().nonnegative().optional(),
        })
        .loose(),
    ),
    validUntil: z.string().optional(),
    validFrom: z.string().optional(),
    expirationDate: z.string().optional(),
  })
  .loose()

export interface StatusListOptions {
  http: LimitedHttp
  resolver: DidResolver
  clock: Clock
  logger: Logger
  /** How long a list that cannot be fetched again is still used, after it should have been (ms). */
  graceMs: number
  /** The longest a fetched list is used without asking again, whatever its `ttl` says (ms). */
  maxAgeMs: number
  /** Largest status list credential accepted, and largest decompressed bitstring (bytes). */
  maxBytes: number
  /** How many lists are kept. */
  maxLists: number
  timeoutMs?: number
  allowInsecureLoopback?: boolean
  keyRelationships?: KeyRelationships
}

interface CachedList {
  url: string
  issuer: string
  purpose: string
  bits: Uint8Array
  etag: string | undefined
  /** Until when it is used without asking (epoch ms). */
  freshUntil: number
  /** How long it stays fresh after a confirmation (ms). */
  lifetimeMs: number
  /** When the list itself stops being valid (its `exp`, `validUntil` or `expirationDate`; epoch ms). */
  validUntil: number
}

export interface CredentialStatusSubject {
  /** For messages: the credential's id, or its type and subject. */
  credential: string
  issuer: string
  references: StatusReference[]
}

export type StatusListChecker = ReturnType<typeof createStatusListChecker>

/** How long a list that could not be fetched is not asked for again (ms). */
const retryAfterMs = 5000

/**
 * Checks credentials against their issuers' status lists, fetched through the given HTTP (the
 * connector's peer client, so that the egress policy applies), cached by URL (bounded; ETag; fresh for
 * the list's `ttl` or until it expires, at most `maxAgeMs`). A list that cannot be fetched again is
 * used `graceMs` longer, then the check fails closed.
 */
export function createStatusListChecker(options: StatusListOptions) {
  const cache = new Map<string, CachedList>()
  const inflight = new Map<string, Promise<CachedList>>()
  /** Lists that could not be fetched, and when: not asked again for `retryAfterMs` (a dead host is not hammered by every request). */
  const failed = new Map<string, { at: number; why: string }>()

  /** Refuses the credential (`unauthorized`, with the reason) when one of its statuses is set. */
  async function check(subject: CredentialStatusSubject): Promise<void> {
    for (const reference of subject.references) {
      const list = await listFor(reference.url, subject)
      if (list.issuer !== subject.issuer)
        throw unauthorized(
          `status list ${reference.url} of credential ${subject.credential} is issued by ${list.issuer}, not by the credential's issuer ${subject.issuer}`,
        )
      if (list.purpose !== reference.purpose)
        throw unauthorized(`status list ${reference.url} is for ${list.purpose}, but credential ${subject.credential} names it for ${reference.purpose}`)
      if (reference.index >= list.bits.length * 8)
        throw unauthorized(
          `credential ${subject.credential} has status index ${reference.index}, beyond status list ${reference.url} (${list.bits.length * 8} entries)`,
        )
      if (bitAt(list.bits, reference.index)) {
        throw unauthorized(
          `credential ${subject.credential} is ${reference.purpose === 'revocation' ? 'revoked' : 'suspended'} (status list ${reference.url}, index ${reference.index})`,
        )
      }
    }
  }

  async function listFor(url: string, subject: CredentialStatusSubject): Promise<CachedList> {
    const now = options.clock.now().getTime()
    const cached = cache.get(url)
    if (cached && cached.freshUntil > now) return cached
    let pending = inflight.get(url)
    if (!pending) {
      pending = refresh(url, cached, subject).finally(() => inflight.delete(url))
      inflight.set(url, pending)
    }
    return pending
  }

  async function refresh(url: string, cached: CachedList | undefined, subject: CredentialStatusSubject): Promise<CachedList> {
    const failure = failed.get(url)
    if (failure && options.clock.now().getTime() - failure.at < retryAfterMs) return unreachable(url, cached, subject, failure.why, false)
    let target: URL
    try {
      target = new URL(url)
    } catch {
      throw unauthorized(`status list address ${url} of credential ${subject.credential} is malformed`)
    }
    const insecureAllowed = options.allowInsecureLoopback === true && isLoopbackHost(target.hostname)
    if (target.protocol !== 'https:' && !insecureAllowed) throw unauthorized(`status list ${url} of credential ${subject.credential} is not HTTPS`)
    let response: Awaited<ReturnType<LimitedHttp>>
    try {
      response = await options.http({
        url: target,
        method: 'GET',
        headers: { accept: 'application/vc+jwt, application/jwt, application/vc, application/json', ...(cached?.etag ? { 'if-none-match': cached.etag } : {}) },
        timeoutMs: options.timeoutMs ?? 5000,
        maxBytes: options.maxBytes,
        raw: true,
      })
      if (response.status !== 200 && response.status !== 304) throw new Error(`answered status ${response.status}`)
      if (response.status === 304 && !cached) throw new Error('answered 304 to an unconditional request')
    } catch (error) {
      const why = (error as Error).message
      failed.set(url, { at: options.clock.now().getTime(), why })
      if (failed.size > options.maxLists) failed.delete(failed.keys().next().value!)
      return unreachable(url, cached, subject, why, true)
    }
    failed.delete(url)
    const now = options.clock.now().getTime()
    if (response.status === 304) {
      if (cached!.validUntil <= now) {
        cache.delete(url)
        throw unauthorized(`status list ${url} has expired; credential ${subject.credential} refused`)
      }
      const confirmed = { ...cached!, freshUntil: Math.min(now + cached!.lifetimeMs, cached!.validUntil) }
      remember(confirmed)
      return confirmed
    }
    try {
      const list = await readList(url, (response.text ?? '').trim(), response.etag, now)
      remember(list)
      return list
    } catch (error) {
      // A list that does not verify is never used, nor is an older copy kept in its place.
      cache.delete(url)
      if (error instanceof PasserelleError) throw unauthorized(`${error.message}; credential ${subject.credential} refused`)
      throw error
    }
  }

  function unreachable(url: string, cached: CachedList | undefined, subject: CredentialStatusSubject, why: string, log: boolean): CachedList {
    const now = options.clock.now().getTime()
    if (log) options.logger.warn('identity: status list not fetched', { url, detail: why })
    // Grace is for a list that went stale, never for one that expired.
    if (cached && now - cached.freshUntil <= options.graceMs && cached.validUntil > now) return cached
    const since = cached ? ` and the last copy is older than the grace period (identity.statusList.graceMs, ${options.graceMs} ms)` : ''
    throw unauthorized(`status list ${url} of credential ${subject.credential} could not be fetched${since}; failing closed`)
  }

  async function readList(url: string, jwt: string, etag: string | undefined, now: number): Promise<CachedList> {
    const what = `status list ${url}`
    const { payload, did: issuer } = await verifyDidJwt(jwt, {
      resolver: options.resolver,
      clock: options.clock,
      relationships: ['assertionMethod'],
      keyRelationships: options.keyRelationships,
      what,
    })
    // VC data model 2.0 (vc20-bssl/jwt): the payload is the list credential, its `ttl` is ignored and
    // `validUntil` decides, as the DCP profile says; 1.1: the `vc` claim.
    const v20 = payload.vc === undefined && isVc20(payload)
    const credential = (v20 ? payload : payload.vc) as Record<string, unknown> | undefined
    const claim = StatusListClaim.safeParse(credential)
    if (!claim.success) throw unauthorized(`${what} is not a BitstringStatusListCredential (no BitstringStatusList subject with statusPurpose and encodedList)`)
    if (!claim.data.type.includes('BitstringStatusListCredential') && !claim.data.type.includes('StatusList2021Credential'))
      throw unauthorized(`${what} is not of type BitstringStatusListCredential`)
    const id = credential!.id
    const validFrom = v20 && claim.data.validFrom ? Date.parse(claim.data.validFrom) : undefined
    if (validFrom !== undefined && (Number.isNaN(validFrom) || validFrom > now + clockLeewaySeconds * 1000))
      throw unauthorized(`${what} is not valid yet (validFrom ${claim.data.validFrom})`)
    if (id !== undefined && id !== url) throw unauthorized(`${what} names itself ${String(id)}`)
    let bits: Uint8Array
    try {
      bits = decodeBitstring(claim.data.credentialSubject.encodedList, options.maxBytes)
    } catch (error) {
      throw unauthorized(`${what}: ${(error as Error).message}`)
    }
    const until = [
      typeof payload.exp === 'number' ? payload.exp * 1000 : undefined,
      claim.data.validUntil ? Date.parse(claim.data.validUntil) : undefined,
      claim.data.expirationDate ? Date.parse(claim.data.expirationDate) : undefined,
    ].filter((t): t is number => t !== undefined && !Number.isNaN(t))
    if (until.some((t) => t <= now)) throw unauthorized(`${what} has expired`)
    const ttl = v20 ? undefined : claim.data.credentialSubject.ttl
    const lifetimeMs = Math.max(0, Math.min(options.maxAgeMs, ttl ?? options.maxAgeMs, ...until.map((t) => t - now)))
    const validUntil = Math.min(Number.POSITIVE_INFINITY, ...until)
    return {
      url,
      issuer,
      purpose: claim.data.credentialSubject.statusPurpose,
      bits,
      etag,
      freshUntil: now + lifetimeMs,
      lifetimeMs,
      validUntil,
    }
  }

  function remember(list: CachedList) {
    cache.delete(list.url)
    cache.set(list.url, list)
    // Oldest fetch first: the map keeps insertion order, and a refreshed list is inserted again.
    while (cache.size > options.maxLists) cache.delete(cache.keys().next().value!)
  }

  return {
    check,
    /** Forgets every list (tests, benchmarks). */
    clear() {
      cache.clear()
      failed.clear()
    },
    /** How many lists are held. */
    get size() {
      return cache.size
    },
  }
}

const unauthorized = (message: string) => new PasserelleError('unauthorized', message)
