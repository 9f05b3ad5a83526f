import { decodeJwt, decodeProtectedHeader } from 'jose'
import { z } from 'zod'
import type { Clock } from '../context.ts'
import { PasserelleError } from '../errors.ts'
import type { DidResolver } from './did-resolver.ts'
import { verifyDidJwt } from './jwt.ts'
import type { VerifiedCredential } from './types.ts'

/**
 * Verifiable credentials and presentations as JWTs (VC data model 1.1, JWT profile): a VC JWT has
 * `iss` (issuer DID), `sub` (holder DID) and a `vc` claim; a VP JWT has `iss` (holder), `aud` (the
 * verifier) and a `vp` claim whose `verifiableCredential` lists VC JWTs.
 */

export const credentialsContext = 'https://www.w3.org/2018/credentials/v1'

const TypeList = z.union([z.string(), z.array(z.string())]).transform((t) => (Array.isArray(t) ? t : [t]))

export const VcClaim = z
  .object({
    type: TypeList,
    issuer: z.union([z.string(), z.object({ id: z.string() }).loose()]).optional(),
    credentialSubject: z.union([z.record(z.string(), z.unknown()), z.array(z.record(z.string(), z.unknown())).min(1)]),
    expirationDate: z.string().optional(),
  })
  .loose()
export type VcClaim = z.infer<typeof VcClaim>

export const VpClaim = z
  .object({
    type: TypeList.optional(),
    holder: z.string().optional(),
    verifiableCredential: z.union([z.string(), z.unknown(), z.array(z.unknown())]).optional(),
  })
  .loose()

/** What a VC JWT says, before its signature is checked (for storing and listing). */
export interface CredentialSummary {
  id: string | undefined
  types: string[]
  issuer: string
  subject: string
  claims: Record<string, unknown>
  /** Epoch milliseconds. */
  expiresAt: number | undefined
}

/** Reads a VC JWT's claims; throws `bad_request` (or `unauthorized` when `code` says) if it is not one. */
export function readCredentialJwt(jwt: string, code: 'bad_request' | 'unauthorized' = 'bad_request'): CredentialSummary {
  const fail = (why: string) => new PasserelleError(code, `credential ${why}`)
  let payload: ReturnType<typeof decodeJwt>
  try {
    if (jwt.split('.').length !== 3) throw new Error()
    const header = decodeProtectedHeader(jwt)
    if (typeof header.alg !== 'string' || header.alg.toLowerCase() === 'none') throw fail('is unsigned (alg none refused)')
    payload = decodeJwt(jwt)
  } catch (error) {
    if (error instanceof PasserelleError) throw error
    throw fail('is not a well-formed JWT')
  }
  const vc = VcClaim.safeParse(payload.vc)
  if (!vc.success) throw fail('has no valid vc claim (VC data model 1.1 JWT profile)')
  if (!vc.data.type.includes('VerifiableCredential')) throw fail('type does not include VerifiableCredential')
  const issuer = payload.iss ?? (typeof vc.data.issuer === 'string' ? vc.data.issuer : vc.data.issuer?.id)
  if (typeof issuer !== 'string' || issuer === '') throw fail('has no issuer')
  const vcIssuer = typeof vc.data.issuer === 'string' ? vc.data.issuer : vc.data.issuer?.id
  if (vcIssuer !== undefined && vcIssuer !== issuer) throw fail('issuer in vc differs from iss')
  const subjects = Array.isArray(vc.data.credentialSubject) ? vc.data.credentialSubject : [vc.data.credentialSubject]
  if (subjects.length !== 1) throw fail('has several subjects; one is supported')
  const { id: subjectId, ...claims } = subjects[0]!
  const subject = typeof subjectId === 'string' ? subjectId : payload.sub
  if (typeof subject !== 'string' || subject === '') throw fail('has no credentialSubject.id')
  if (payload.sub !== undefined && typeof subjectId === 'string' && payload.sub !== subjectId) throw fail('sub differs from credentialSubject.id')
  const fromExp = typeof payload.exp === 'number' ? payload.exp * 1000 : undefined
  const fromDate = vc.data.expirationDate ? Date.parse(vc.data.expirationDate) : undefined
  if (fromDate !== undefined && Number.isNaN(fromDate)) throw fail('expirationDate is not a date')
  const expiresAt = fromExp !== undefined && fromDate !== undefined ? Math.min(fromExp, fromDate) : (fromExp ?? fromDate)
  return { id: typeof payload.jti === 'string' ? payload.jti : undefined, types: vc.data.type, issuer, subject, claims, expiresAt }
}

export interface PresentationCheck {
  resolver: DidResolver
  clock: Clock
  /** Our DID: the VP's audience. */
  ownDid: string
  /** The token subject: the VP's holder and every VC's subject. */
  holder: string
  trustedIssuers: ReadonlySet<string>
}

/**
 * Verifies a VP JWT and each VC in it, and returns the credentials reduced to their claims.
 * Any failing check fails the whole presentation: a tampered presentation is not partly trusted.
 */
export async function verifyPresentation(vpJwt: unknown, check: PresentationCheck): Promise<VerifiedCredential[]> {
  if (typeof vpJwt !== 'string') throw unauthorized('presentation is not a JWT (only JWT presentations are supported)')
  const { payload } = await verifyDidJwt(vpJwt, {
    resolver: check.resolver,
    clock: check.clock,
    relationships: ['authentication', 'assertionMethod'],
    what: 'presentation',
  })
  if (payload.iss !== check.holder) throw unauthorized(`presentation holder ${payload.iss} is not the token subject ${check.holder}`)
  const audience = Array.isArray(payload.aud) ? payload.aud : [payload.aud]
  if (!audience.includes(check.ownDid)) throw unauthorized('presentation audience is not this participant')
  const vp = VpClaim.safeParse(payload.vp)
  if (!vp.success) throw unauthorized('presentation has no valid vp claim')
  if (vp.data.holder !== undefined && vp.data.holder !== check.holder) throw unauthorized('presentation vp.holder is not the token subject')
  const listed = vp.data.verifiableCredential
  const vcs = listed === undefined ? [] : Array.isArray(listed) ? listed : [listed]
  const verified: VerifiedCredential[] = []
  for (const vc of vcs) verified.push(await verifyCredential(vc, check))
  return verified
}

export async function verifyCredential(vcJwt: unknown, check: PresentationCheck): Promise<VerifiedCredential> {
  if (typeof vcJwt !== 'string') throw unauthorized('credential is not a JWT (only JWT credentials are supported)')
  const summary = readCredentialJwt(vcJwt, 'unauthorized')
  // Trust is decided before any network access: an untrusted issuer's DID is never resolved.
  if (!check.trustedIssuers.has(summary.issuer)) throw unauthorized(`credential issuer ${summary.issuer} is not trusted`)
  await verifyDidJwt(vcJwt, {
    resolver: check.resolver,
    clock: check.clock,
    relationships: ['assertionMethod'],
    what: 'credential',
  })
  if (summary.expiresAt !== undefined && summary.expiresAt <= check.clock.now().getTime()) throw unauthorized('credential has expired')
  if (summary.subject !== check.holder) throw unauthorized(`credential subject ${summary.subject} is not the holder ${check.holder}`)
  return {
    types: summary.types,
    issuer: summary.issuer,
    claims: summary.claims,
    ...(summary.expiresAt !== undefined ? { expiresAt: summary.expiresAt } : {}),
  }
}

const unauthorized = (message: string) => new PasserelleError('unauthorized', message)
