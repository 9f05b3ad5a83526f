import { decodeJwt, decodeProtectedHeader, errors, importJWK, jwtVerify, SignJWT, type CryptoKey, type JWTPayload } from 'jose'
import type { Clock } from '../clock.ts'
import { PasserelleError } from '../errors.ts'
import { checkJsonLimits, defaultJsonLimits, JsonLimitError } from '../http/bounded-json.ts'
import { findVerificationMethod, type DidResolver, type KeyRelationships, type VerificationRelationship } from './did-resolver.ts'
import type { SigningKey } from './keys.ts'

/** Signature algorithms accepted from peers: EdDSA (and its fully specified name Ed25519), ES256. Never `none`. */
export const acceptedAlgorithms = ['EdDSA', 'Ed25519', 'ES256'] as const

/** Leeway on `exp`, `nbf` and `iat`, in seconds: clocks of two machines differ a little. */
export const clockLeewaySeconds = 30

/** Signs `payload` with `key`; the header names the key as `<did>#<kid>`. */
export function signJwt(payload: JWTPayload, key: SigningKey, did: string, typ = 'JWT'): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: key.alg, kid: `${did}#${key.kid}`, typ }).sign(key.privateKey)
}

export interface VerifiedJwt {
  payload: JWTPayload & Record<string, unknown>
  /** The DID whose key signed (the token's `iss`). */
  did: string
  kid: string
}

export interface VerifyOptions {
  resolver: DidResolver
  clock: Clock
  /** Where the signing key must be listed in the signer's DID document. */
  relationships: VerificationRelationship[]
  /** Whether a document without relationship arrays vouches for its verification methods (default `when-listed`). */
  keyRelationships?: KeyRelationships
  /** What is checked, for messages (e.g. 'ID token', 'credential'). */
  what: string
  /** Checked before any network access (e.g. the issuer is trusted), on the claims as the token spells them. */
  beforeResolve?: (iss: string, unverified: JWTPayload) => void
}

/**
 * Verifies a JWT signed by a DID's key: the algorithm is one we accept, `kid` names a key of the DID
 * in `iss`, the resolved DID document allows that key for one of `relationships` (see
 * `findVerificationMethod`), the
 * signature holds, and the time claims (with leeway) allow it now.
 */
export async function verifyDidJwt(token: string, options: VerifyOptions): Promise<VerifiedJwt> {
  const { what } = options
  let header: ReturnType<typeof decodeProtectedHeader>
  let unverified: JWTPayload
  try {
    const parts = token.split('.')
    if (parts.length !== 3) throw new Error('not three parts')
    // Bounded like every JSON from a peer, before jose parses it.
    for (const part of parts.slice(0, 2)) checkJsonLimits(Buffer.from(part, 'base64url').toString('utf8'), defaultJsonLimits)
    header = decodeProtectedHeader(token)
    unverified = decodeJwt(token)
  } catch (error) {
    if (error instanceof JsonLimitError) throw unauthorized(`${what} is not a well-formed signed JWT: ${error.message}`)
    throw unauthorized(`${what} is not a well-formed signed JWT`)
  }
  const alg = header.alg
  if (typeof alg !== 'string' || alg.toLowerCase() === 'none') throw unauthorized(`${what} is unsigned (alg none refused)`)
  if (!(acceptedAlgorithms as readonly string[]).includes(alg)) throw unauthorized(`${what} uses algorithm ${alg}, not accepted`)
  // VC data model 2.0 payloads may name their signer only as `issuer` (credentials) or `holder` (presentations).
  const iss = unverified.iss ?? signerOf(unverified as Record<string, unknown>)
  if (typeof iss !== 'string' || iss === '') throw unauthorized(`${what} has no iss`)
  options.beforeResolve?.(iss, unverified)
  const kid = header.kid
  if (typeof kid !== 'string' || kid === '') throw unauthorized(`${what} has no kid`)
  // EDC and we write `<did>#<key>`; a bare or relative key id is read against the issuer's DID.
  const hash = kid.indexOf('#')
  const kidDid = hash > 0 ? kid.slice(0, hash) : iss
  if (kidDid !== iss) throw unauthorized(`${what} kid names a key of another DID (${kidDid}) than its issuer (${iss})`)
  const keyId = hash >= 0 ? `${iss}${kid.slice(hash)}` : `${iss}#${kid}`
  const mode = options.keyRelationships ?? 'when-listed'
  let method = findVerificationMethod(await options.resolver.resolve(iss), keyId, options.relationships, mode)
  // A key we do not know may be newly added (rotation): read the document again, at most every
  // `identity.didRefreshMs` (30 s) per DID, so that unknown key ids cannot make us fetch on every request.
  if (!method) method = findVerificationMethod(await options.resolver.resolve(iss, { refresh: true }), keyId, options.relationships, mode)
  if (!method) throw unauthorized(`${what} kid ${keyId} is not a key listed under ${options.relationships.join(' or ')} in ${iss}'s DID document`)
  if (!method.publicKeyJwk) throw unauthorized(`${what} key ${keyId} is not published as a JWK (publicKeyJwk)`)
  const key = await importPublicKey(keyId, method.publicKeyJwk, alg, what)
  try {
    const { payload } = await jwtVerify(token, key, {
      algorithms: [alg],
      clockTolerance: clockLeewaySeconds,
      currentDate: options.clock.now(),
    })
    if (typeof payload.iat === 'number' && payload.iat > options.clock.now().getTime() / 1000 + clockLeewaySeconds) {
      throw unauthorized(`${what} is issued in the future`)
    }
    return { payload: payload as VerifiedJwt['payload'], did: iss, kid: keyId }
  } catch (error) {
    if (error instanceof PasserelleError) throw error
    if (error instanceof errors.JWTExpired) throw unauthorized(`${what} has expired`)
    if (error instanceof errors.JWSSignatureVerificationFailed) throw unauthorized(`${what} signature is invalid`)
    if (error instanceof errors.JWTClaimValidationFailed) throw unauthorized(`${what} claim ${error.claim} is invalid (${error.reason})`)
    throw unauthorized(`${what} cannot be verified (${(error as Error).message})`)
  }
}

function signerOf(payload: Record<string, unknown>): string | undefined {
  const issuer = payload.issuer
  if (typeof issuer === 'string') return issuer
  if (typeof issuer === 'object' && issuer !== null && typeof (issuer as { id?: unknown }).id === 'string') return (issuer as { id: string }).id
  return typeof payload.holder === 'string' ? payload.holder : undefined
}

// Imported keys are reused: importing costs more than verifying.
const keyCache = new Map<string, CryptoKey>()

async function importPublicKey(keyId: string, jwk: Record<string, unknown>, alg: string, what: string): Promise<CryptoKey> {
  const cacheKey = `${keyId} ${alg} ${JSON.stringify(jwk)}`
  const cached = keyCache.get(cacheKey)
  if (cached) return cached
  if ('d' in jwk) throw unauthorized(`${what} key ${keyId} is published with its private part; refused`)
  const compatible = (alg === 'ES256' && jwk.kty === 'EC' && jwk.crv === 'P-256') || (alg !== 'ES256' && jwk.kty === 'OKP' && jwk.crv === 'Ed25519')
  if (!compatible) throw unauthorized(`${what} algorithm ${alg} does not match key ${keyId}`)
  let key: CryptoKey
  try {
    const publicOnly = jwk.kty === 'EC' ? { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y } : { kty: jwk.kty, crv: jwk.crv, x: jwk.x }
    key = (await importJWK(publicOnly as never, alg)) as CryptoKey
  } catch {
    throw unauthorized(`${what} key ${keyId} cannot be imported`)
  }
  if (keyCache.size > 2000) keyCache.clear()
  keyCache.set(cacheKey, key)
  return key
}

const unauthorized = (message: string) => new PasserelleError('unauthorized', message)
