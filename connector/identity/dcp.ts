import { decodeJwt, decodeProtectedHeader, importJWK, jwtVerify, type CryptoKey, type JWTPayload } from 'jose'
import { z } from 'zod'
import type { Clock } from '../clock.ts'
import type { IdSource } from '../ids.ts'
import { PasserelleError } from '../errors.ts'
import type { Logger } from '../telemetry/logger.ts'
import { readCredentialJwt, verifyPresentation, credentialsContext } from './credentials.ts'
import { dataSpaceIssuers, type DataSpace } from './data-spaces.ts'
import { serviceEndpoint, type DidResolver, type KeyRelationships } from './did-resolver.ts'
import { didWebForUrl, isLoopbackHost } from './did-web.ts'
import type { HeldCredentialRow, IdentityRepository } from './identity-repository.ts'
import { clockLeewaySeconds, signJwt, verifyDidJwt } from './jwt.ts'
import type { KeyRing, SigningKey } from './keys.ts'
import { limitedHttp, type LimitedHttp } from './limited-http.ts'
import type { CredentialStatusSubject, StatusListChecker } from './status-list.ts'
import { defaultScopeAlias, parseScope, scopeFor, type Scope } from './scopes.ts'
import type { AuthenticateInput, Authenticator, PeerAudience, Requester, TokenIssuer, VerifiedCredential } from './types.ts'

/**
 * The Decentralized Claims Protocol (DCP 1.0) on both sides of a DSP call.
 *
 * Sender: every request carries a self-issued ID token (`iss` = `sub` = our DID, `aud` = the peer's
 * DID) whose `token` claim is an access token the peer may present to our credential service, scoped
 * to the credential types it may read. Receiver: the ID token is verified against the sender's DID
 * document; when the decision needs credentials, the sender's credential service is asked for a
 * presentation of those types, and the presentation and its credentials are verified.
 */

export const dcpContext = 'https://w3id.org/dspace-dcp/v1.0/dcp.jsonld'
export const credentialServiceType = 'CredentialService'

/** Seconds our ID tokens, access tokens and presentations are valid. */
export const tokenLifetimeSeconds = 300
/** Tokens that claim to live longer than this are refused (they would bloat the replay store). */
const maxAcceptedLifetimeSeconds = 3600
/** How long verified claims are reused for one holder and set of types. */
const claimsCacheMs = 60_000

export interface DcpOptions {
  did: string
  keys: KeyRing
  resolver: DidResolver
  repository: IdentityRepository
  clock: Clock
  ids: IdSource
  logger: Logger
  trustedIssuers: string[]
  /** Data spaces with their authorities; their issuers are trusted for the types they may issue. */
  dataSpaces?: DataSpace[]
  scopeAlias?: string
  /** How peers' signing keys must be published in their DID documents (default `when-listed`). */
  keyRelationships?: KeyRelationships
  allowInsecureLoopback?: boolean
  http?: LimitedHttp
  /** Credentials held from files (configuration `identity.credentialFiles`), besides the store's. */
  fileCredentials?: HeldCredentialRow[]
  /** Limits on calls to peers' credential services. */
  timeoutMs?: number
  maxResponseBytes?: number
  /** Checks peers' credentials against their issuers' status lists (W3C Bitstring Status List). */
  status?: StatusListChecker
}

/** A verified credential with a status, kept to be checked again (on reuse of cached claims). */
interface StatusHeld {
  subject: CredentialStatusSubject
  types: string[]
}

const nothingToKeep = async () => {}

export const PresentationQueryMessage = z
  .object({
    '@context': z.unknown().optional(),
    // DCP writes `type`; a JSON-LD processor that did not compact the keyword writes `@type`.
    type: z.literal('PresentationQueryMessage').optional(),
    '@type': z.literal('PresentationQueryMessage').optional(),
    scope: z.array(z.string().max(512)).max(64).optional(),
    // IdentityHub writes `"presentationDefinition": null` beside a scope list.
    presentationDefinition: z.unknown().optional(),
  })
  .loose()
  .refine((message) => message.type !== undefined || message['@type'] !== undefined, { message: 'type PresentationQueryMessage is missing' })
export type PresentationQueryMessage = z.infer<typeof PresentationQueryMessage>

const PresentationResponseMessage = z
  .object({
    type: z.literal('PresentationResponseMessage').optional(),
    presentation: z.union([z.array(z.unknown()), z.unknown()]),
  })
  .loose()

export function createDcp(options: DcpOptions) {
  const { did, keys, resolver, repository, clock, ids, logger } = options
  const alias = options.scopeAlias ?? defaultScopeAlias
  const trustedForAll = new Set(options.trustedIssuers)
  const trusted = new Set([...options.trustedIssuers, ...dataSpaceIssuers(options.dataSpaces ?? [])])
  const http = options.http ?? limitedHttp
  const claimsCache = new Map<string, { credentials: VerifiedCredential[]; statuses: StatusHeld[]; complete: boolean; expiresAt: number }>()
  let heldTypes: { types: string[]; at: number } | undefined
  let lastPurge = 0
  // Our own public keys, imported once each; the ring may change while we run (rotation).
  const publicKeys = new Map<SigningKey, Promise<CryptoKey>>()
  const ownPublicKey = (kid: string) => {
    // Access tokens we issued stay valid for their lifetime after their key is retired.
    const key = (keys.recent?.(tokenLifetimeSeconds * 1000 + clockLeewaySeconds * 1000) ?? keys.all).find((candidate) => candidate.kid === kid)
    if (!key) return undefined
    let imported = publicKeys.get(key)
    if (!imported) {
      imported = importJWK(key.publicJwk, key.alg) as Promise<CryptoKey>
      if (publicKeys.size > 100) publicKeys.clear()
      publicKeys.set(key, imported)
    }
    return imported
  }

  const seconds = () => Math.floor(clock.now().getTime() / 1000)
  const allHeld = async () => [...(options.fileCredentials ?? []), ...(await repository.listCredentials())]

  async function typesWeHold(): Promise<string[]> {
    const now = clock.now().getTime()
    if (heldTypes && now - heldTypes.at < 10_000) return heldTypes.types
    const rows = await allHeld()
    const types = [...new Set(rows.flatMap((row) => row.types).filter((t) => t !== 'VerifiableCredential'))].sort()
    heldTypes = { types, at: now }
    return types
  }

  /** Mints a self-issued ID token for `audience`, optionally carrying an access token. */
  function idToken(audience: string, accessToken?: string): Promise<string> {
    const iat = seconds()
    return signJwt(
      { iss: did, sub: did, aud: audience, jti: ids.next(), iat, nbf: iat, exp: iat + tokenLifetimeSeconds, ...(accessToken ? { token: accessToken } : {}) },
      keys.signing,
      did,
    )
  }

  /**
   * Checks an ID token's claims once its signature holds; returns the replay key. `precheckReplay`
   * looks the jti up first, for callers that do costly work (a presentation query) before recording it;
   * the recording itself is atomic and refuses a replay in any case.
   */
  async function checkIdToken(token: string, what: string, precheckReplay: boolean) {
    // The claims are checked before the signature too, as the token spells them: a token that
    // would be refused anyway costs no DID resolution (a network fetch an unauthenticated caller
    // could otherwise trigger at will). After the signature, they are checked again as signed.
    const { payload } = await verifyDidJwt(token, {
      resolver,
      clock,
      relationships: ['capabilityInvocation'],
      keyRelationships: options.keyRelationships,
      what,
      beforeResolve: (_, claims) => checkClaims(claims, what),
    })
    checkClaims(payload, what)
    const replayKey = `${payload.iss} ${payload.jti}`
    if (precheckReplay && (await repository.hasSeenToken(replayKey, clock.now().getTime()))) throw unauthorized(`${what} jti was already used (replay)`)
    return { payload, issuer: payload.iss as string, replayKey, expiresAt: ((payload.exp as number) + clockLeewaySeconds) * 1000 }
  }

  function checkClaims(payload: JWTPayload, what: string) {
    if (payload.sub !== payload.iss) throw unauthorized(`${what} iss and sub differ`)
    const audience = Array.isArray(payload.aud) ? payload.aud : [payload.aud]
    if (!audience.includes(did)) throw unauthorized(`${what} audience is not this participant`)
    if (typeof payload.jti !== 'string' || payload.jti === '') throw unauthorized(`${what} has no jti`)
    if (typeof payload.exp !== 'number') throw unauthorized(`${what} has no exp`)
    if (payload.exp + clockLeewaySeconds < seconds()) throw unauthorized(`${what} has expired`)
    if (payload.exp - seconds() > maxAcceptedLifetimeSeconds) throw unauthorized(`${what} lives longer than ${maxAcceptedLifetimeSeconds} s`)
  }

  async function recordToken(replayKey: string, expiresAt: number, what: string) {
    const now = clock.now().getTime()
    if (now - lastPurge > 60_000) {
      lastPurge = now
      await repository.purgeTokens(now)
      await repository.purgePeerStatuses(now)
    }
    if (!(await repository.recordToken(replayKey, expiresAt))) throw unauthorized(`${what} jti was already used (replay)`)
  }

  /**
   * The holder's verified credentials of `types`, and what to keep of them in the store (their
   * statuses), written by the caller once the request is accepted: a refused request changes nothing.
   */
  async function fetchClaims(holder: string, accessToken: unknown, types: string[]): Promise<{ credentials: VerifiedCredential[]; keep: () => Promise<void> }> {
    const cacheKey = `${holder}\n${[...types].sort().join(' ')}`
    const now = clock.now().getTime()
    const cached = claimsCache.get(cacheKey)
    const hasAccessToken = typeof accessToken === 'string' && accessToken !== ''
    // An answer that lacked some asked type is asked again when the holder sends a new access token:
    // DCP answers a type held but not granted with fewer presentations, and the next token may grant it.
    if (cached && cached.expiresAt > now && (cached.complete || !hasAccessToken)) {
      // Reused claims are checked against the status lists again (a warm check costs a look-up).
      try {
        for (const held of cached.statuses) await options.status?.check(held.subject)
      } catch (error) {
        claimsCache.delete(cacheKey)
        throw error
      }
      return { credentials: cached.credentials, keep: nothingToKeep }
    }
    if (typeof accessToken !== 'string' || accessToken === '') throw unauthorized('ID token carries no access token (token claim) to read credentials')
    const document = await resolver.resolve(holder)
    const endpoint = serviceEndpoint(document, credentialServiceType)
    if (!endpoint) throw unauthorized(`${holder} lists no credential service in its DID document`)
    let url: URL
    try {
      url = new URL(`${endpoint.replace(/\/+$/, '')}/presentations/query`)
    } catch {
      throw unauthorized(`${holder} lists a malformed credential service address`)
    }
    const insecureAllowed = options.allowInsecureLoopback === true && isLoopbackHost(url.hostname)
    if (url.protocol !== 'https:' && !insecureAllowed) throw unauthorized(`${holder}'s credential service is not HTTPS`)
    let response: Awaited<ReturnType<LimitedHttp>>
    try {
      response = await http({
        url,
        method: 'POST',
        headers: { authorization: `Bearer ${await idToken(holder, accessToken)}`, 'content-type': 'application/json' },
        body: JSON.stringify({ '@context': [dcpContext], type: 'PresentationQueryMessage', scope: types.map((t) => scopeFor(t, alias)) }),
        timeoutMs: options.timeoutMs ?? 5000,
        maxBytes: options.maxResponseBytes ?? 1024 * 1024,
      })
    } catch (error) {
      // Network details stay in our log.
      logger.info('identity: credential service not reached', { holder, detail: (error as Error).message })
      throw unauthorized(`${holder}'s credential service could not be reached`)
    }
    if (response.status !== 200) throw unauthorized(`${holder}'s credential service answered status ${response.status}`)
    const message = PresentationResponseMessage.safeParse(response.json)
    if (!message.success) throw unauthorized(`${holder}'s credential service answered no PresentationResponseMessage`)
    const presentations = Array.isArray(message.data.presentation) ? message.data.presentation : [message.data.presentation]
    const credentials: VerifiedCredential[] = []
    const statuses: StatusHeld[] = []
    const withStatus: VerifiedCredential[] = []
    const onStatus = (subject: CredentialStatusSubject, credential: VerifiedCredential) => {
      statuses.push({ subject, types: credential.types })
      withStatus.push(credential)
    }
    for (const presentation of presentations) {
      credentials.push(
        ...(await verifyPresentation(presentation, {
          resolver,
          clock,
          ownDid: did,
          holder,
          trustedIssuers: trusted,
          trustedForAll,
          ...(options.dataSpaces ? { dataSpaces: options.dataSpaces } : {}),
          keyRelationships: options.keyRelationships,
          status: options.status,
          onStatus,
        })),
      )
    }
    const complete = types.every((type) => credentials.some((c) => c.types.includes(type)))
    const expiresAt = Math.min(now + claimsCacheMs, ...credentials.map((c) => c.expiresAt ?? Infinity))
    if (claimsCache.size > 1000) claimsCache.clear()
    claimsCache.set(cacheKey, { credentials, statuses, complete, expiresAt })
    return { credentials, keep: () => rememberStatuses(holder, types, statuses, withStatus) }
  }

  /** Kept in the store: the policy monitor re-checks them, after a restart too. */
  async function rememberStatuses(holder: string, types: string[], statuses: StatusHeld[], credentials: VerifiedCredential[]) {
    const verifiedAt = clock.now().getTime()
    await repository.replacePeerStatuses(
      holder,
      types,
      statuses.map((held, i) => ({
        participantId: holder,
        credential: held.subject.credential,
        issuer: held.subject.issuer,
        types: held.types,
        status: held.subject.references,
        expiresAt: credentials[i]?.expiresAt ?? null,
        verifiedAt,
      })),
    )
  }

  /**
   * Checks again the status of the credentials of `holder` verified here (of `types` when given);
   * answers the reason the first one no longer holds, or undefined.
   */
  async function recheckPeer(holder: string, types?: string[]): Promise<string | undefined> {
    if (!options.status) return undefined
    for (const row of await repository.peerStatuses(holder, clock.now().getTime())) {
      if (types && !row.types.some((type) => types.includes(type))) continue
      try {
        await options.status.check({ credential: row.credential, issuer: row.issuer, references: row.status })
      } catch (error) {
        if (error instanceof PasserelleError) return error.message
        throw error
      }
    }
    return undefined
  }

  const tokenIssuer: TokenIssuer = {
    async authorizationFor(peer: PeerAudience, credentialTypes?: string[]) {
      const audience = peer.participantId ?? didWebForUrl(new URL(peer.dspUrl).origin)
      // Without a list, the peer may read any type we hold: it only gets what its policy asks for.
      const types = credentialTypes ?? (await typesWeHold())
      const iat = seconds()
      const accessToken = await signJwt(
        { iss: did, sub: did, aud: audience, jti: ids.next(), iat, exp: iat + tokenLifetimeSeconds, scope: types.map((t) => scopeFor(t, alias)).join(' ') },
        keys.signing,
        did,
      )
      return `Bearer ${await idToken(audience, accessToken)}`
    },
  }

  const authenticator: Authenticator = {
    async authenticate(input: AuthenticateInput): Promise<Requester> {
      const token = bearer(input.authorization)
      try {
        const types = input.credentialTypes ?? []
        const checked = await checkIdToken(token, 'ID token', types.length > 0)
        const { credentials, keep } =
          types.length > 0 ? await fetchClaims(checked.issuer, checked.payload.token, types) : { credentials: [], keep: nothingToKeep }
        // Recorded last: a request refused for its credentials leaves nothing behind.
        await recordToken(checked.replayKey, checked.expiresAt, 'ID token')
        await keep()
        return { participantId: checked.issuer, credentials }
      } catch (error) {
        if (error instanceof PasserelleError) logger.info('identity: request refused', { check: error.message })
        throw error
      }
    },
  }

  /** Verifies one of our own access tokens: issued by us, to `verifier`, unexpired; returns the types it grants. */
  async function readAccessToken(accessToken: unknown, verifier: string): Promise<ReturnType<typeof grantsOf>> {
    if (typeof accessToken !== 'string' || accessToken === '') throw unauthorized('ID token carries no access token (token claim)')
    let kid: unknown
    try {
      kid = decodeProtectedHeader(accessToken).kid
    } catch {
      throw unauthorized('access token is not a well-formed JWT')
    }
    const fragment = typeof kid === 'string' && kid.startsWith(`${did}#`) ? kid.slice(did.length + 1) : undefined
    const key = fragment === undefined ? undefined : ownPublicKey(fragment)
    if (!key) throw unauthorized('access token was not issued by this participant')
    let payload: Record<string, unknown>
    try {
      ;({ payload } = await jwtVerify(accessToken, await key, {
        algorithms: ['EdDSA', 'ES256'],
        issuer: did,
        subject: did,
        audience: verifier,
        clockTolerance: clockLeewaySeconds,
        currentDate: clock.now(),
      }))
    } catch (error) {
      throw unauthorized(`access token refused (${(error as Error).message})`)
    }
    const scopes = typeof payload.scope === 'string' ? payload.scope.split(' ').filter((s) => s !== '') : []
    return grantsOf(scopes.map((scope) => parseScope(scope, [alias])))
  }

  /** The types and ids a list of scopes names. */
  function grantsOf(scopes: Scope[]) {
    const grants = { types: new Set<string>(), ids: new Set<string>() }
    for (const scope of scopes) {
      if ('type' in scope) grants.types.add(scope.type)
      else grants.ids.add(scope.id)
    }
    return grants
  }

  /** Whether a held credential is one that `grants` names, by type or by id (the row's, the JWT's jti or the VC's id). */
  function named(row: HeldCredentialRow, grants: ReturnType<typeof grantsOf>): boolean {
    if (row.types.some((type) => grants.types.has(type))) return true
    if (grants.ids.size === 0) return false
    return credentialIds(row).some((id) => grants.ids.has(id))
  }

  /**
   * The credential service's presentation query (DCP, holder side): the verifier's ID token carries the
   * access token we gave it; the answer is a VP, signed by us and addressed to the verifier, holding the
   * credentials of the asked types that the access token grants.
   */
  async function queryPresentations(input: { authorization: string | undefined; body: unknown }) {
    const token = bearer(input.authorization)
    const checked = await checkIdToken(token, 'ID token', false)
    const message = PresentationQueryMessage.safeParse(input.body)
    if (!message.success) throw new PasserelleError('bad_request', 'expected a PresentationQueryMessage with a scope list')
    const definition = message.data.presentationDefinition
    if (definition !== undefined && definition !== null) {
      if (message.data.scope !== undefined) throw new PasserelleError('bad_request', 'a query has a scope or a presentationDefinition, not both')
      throw new PasserelleError('not_implemented', 'presentationDefinition queries are not supported; send a scope list')
    }
    if (!message.data.scope) throw new PasserelleError('bad_request', 'the query has no scope')
    // DCP: a query names what it wants; an empty list is a malformed query, not "everything".
    if (message.data.scope.length === 0) throw new PasserelleError('bad_request', 'the query has an empty scope list')
    const asked = grantsOf(message.data.scope.map((scope) => parseScope(scope, [alias])))
    const granted = await readAccessToken(checked.payload.token, checked.issuer)
    const now = clock.now().getTime()
    // DCP: the answer holds the asked credentials that the access token grants; one held but not
    // granted is left out (as is one we do not hold), and the verifier decides what it lacks.
    const held = (await allHeld()).filter(
      (row) => row.subject === did && (row.expiresAt === null || row.expiresAt > now) && named(row, asked) && named(row, granted),
    )
    await recordToken(checked.replayKey, checked.expiresAt, 'ID token')
    const iat = seconds()
    const presentation = await signJwt(
      {
        iss: did,
        sub: did,
        aud: checked.issuer,
        jti: ids.next(),
        iat,
        nbf: iat,
        exp: iat + tokenLifetimeSeconds,
        vp: {
          '@context': [credentialsContext],
          type: ['VerifiablePresentation'],
          holder: did,
          verifiableCredential: held.map((row) => row.jwt),
        },
      },
      keys.signing,
      did,
    )
    return { '@context': [dcpContext], type: 'PresentationResponseMessage', presentation: [presentation] }
  }

  /** Checks a VC JWT before we hold it: well formed, about us, not expired. */
  function checkHeldCredential(jwt: string) {
    const summary = readCredentialJwt(jwt)
    if (summary.subject !== did) throw new PasserelleError('bad_request', `credential subject ${summary.subject} is not this participant (${did})`)
    if (summary.expiresAt !== undefined && summary.expiresAt <= clock.now().getTime()) throw new PasserelleError('bad_request', 'credential has expired')
    heldTypes = undefined
    return summary
  }

  return {
    tokenIssuer,
    authenticator,
    queryPresentations,
    checkHeldCredential,
    recheckPeer,
    /** Forgets cached claims (tests, benchmarks). */
    clearCaches() {
      claimsCache.clear()
      heldTypes = undefined
      options.status?.clear()
    },
  }
}

export type Dcp = ReturnType<typeof createDcp>

/** The ids a held credential answers to: the row's, the JWT's `jti` and the VC's `id`. */
function credentialIds(row: HeldCredentialRow): string[] {
  const ids = [row.id]
  try {
    const payload = decodeJwt(row.jwt)
    if (typeof payload.jti === 'string') ids.push(payload.jti)
    const vc = payload.vc as { id?: unknown } | undefined
    if (typeof vc?.id === 'string') ids.push(vc.id)
  } catch {
    // A held credential was checked when it was added; an unreadable one answers to its row id only.
  }
  return ids
}

/** The token of an Authorization header: `Bearer <token>`, or the bare token as EDC's DSP client sends it. */
export function bearer(authorization: string | undefined): string {
  if (!authorization?.trim()) throw unauthorized('no token (Authorization header missing)')
  const value = authorization.trim()
  const match = /^Bearer\s+(\S+)$/i.exec(value)
  if (match) return match[1]!
  if (/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/.test(value)) return value
  throw unauthorized('Authorization is not a Bearer token')
}

const unauthorized = (message: string) => new PasserelleError('unauthorized', message)
