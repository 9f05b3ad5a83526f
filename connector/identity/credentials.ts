import { decodeJwt, decodeProtectedHeader } from 'jose'
import { z } from 'zod'
import type { Clock } from '../clock.ts'
import { PasserelleError } from '../errors.ts'
import type { DidResolver, KeyRelationships } from './did-resolver.ts'
import { type CredentialProfile, isVc20 } from './credential-profiles.ts'
import { issuerRefusal, type DataSpace } from './data-spaces.ts'
import { clockLeewaySeconds, verifyDidJwt } from './jwt.ts'
import { statusReferencesOf, type CredentialStatusSubject, type StatusListChecker } from './status-list.ts'
import type { VerifiedCredential } from './types.ts'

/**
 * Verifiable credentials and presentations as JWTs, in both DCP profiles. VC data model 1.1: a VC JWT
 * has `iss` (issuer DID), `sub` (holder DID) and a `vc` claim; a VP JWT has `iss` (holder), `aud` (the
 * verifier) and a `vp` claim whose `verifiableCredential` lists VC JWTs. VC data model 2.0 secured with
 * JOSE: the payload is the credential (`@context` starting with the 2.0 context, `issuer`,
 * `validFrom`, `validUntil`) or the presentation (`holder`, enveloped credentials), `iss` optional.
 */

export { credentialsContext, credentialsV2Context, isVc20, type CredentialProfile } from './credential-profiles.ts'

const TypeList = z.union([z.string(), z.array(z.string())]).transform((t) => (Array.isArray(t) ? t : [t]))

export const VcClaim = z
  .object({
    type: TypeList,
    issuer: z.union([z.string(), z.object({ id: z.string() }).loose()]).optional(),
    credentialSubject: z.union([z.record(z.string(), z.unknown()), z.array(z.record(z.string(), z.unknown())).min(1)]),
    expirationDate: z.string().optional(),
    validFrom: z.string().optional(),
    validUntil: z.string().optional(),
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
  /** Epoch milliseconds (VC data model 2.0 `validFrom`). */
  validFrom?: number | undefined
  profile: CredentialProfile
  /** The credential object (the `vc` claim, or the 2.0 payload): where `credentialStatus` and `id` are. */
  credential: Record<string, unknown>
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
  const profile: CredentialProfile = payload.vc === undefined && isVc20(payload) ? 'vc20-bssl/jwt' : 'vc11-sl2021/jwt'
  const vc = VcClaim.safeParse(profile === 'vc20-bssl/jwt' ? payload : payload.vc)
  if (!vc.success) {
    throw fail(
      profile === 'vc20-bssl/jwt'
        ? `is not a valid VC data model 2.0 credential (${vc.error.issues[0]?.path.join('.') || 'credential'}: ${vc.error.issues[0]?.message})`
        : 'has no valid vc claim (VC data model 1.1 JWT profile) and is not a VC data model 2.0 credential',
    )
  }
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
  // 1.1 says expirationDate, 2.0 validUntil; each profile reads only its own term.
  const untilName = profile === 'vc20-bssl/jwt' ? 'validUntil' : 'expirationDate'
  const untilText = vc.data[untilName]
  const fromDate = untilText ? Date.parse(untilText) : undefined
  if (fromDate !== undefined && Number.isNaN(fromDate)) throw fail(`${untilName} is not a date`)
  const validFrom = profile === 'vc20-bssl/jwt' && vc.data.validFrom ? Date.parse(vc.data.validFrom) : undefined
  if (validFrom !== undefined && Number.isNaN(validFrom)) throw fail('validFrom is not a date')
  const expiresAt = fromExp !== undefined && fromDate !== undefined ? Math.min(fromExp, fromDate) : (fromExp ?? fromDate)
  const credential = vc.data as Record<string, unknown>
  const id = typeof payload.jti === 'string' ? payload.jti : typeof credential.id === 'string' ? credential.id : undefined
  return { id, types: vc.data.type, issuer, subject, claims, expiresAt, validFrom, profile, credential }
}

export interface PresentationCheck {
  resolver: DidResolver
  clock: Clock
  /** Our DID: the VP's audience. */
  ownDid: string
  /** The token subject: the VP's holder and every VC's subject. */
  holder: string
  trustedIssuers: ReadonlySet<string>
  /** How signing keys must be published in DID documents (default `when-listed`). */
  keyRelationships?: KeyRelationships
  /** Data spaces and their authorities: which issuer may issue which types (see `data-spaces.ts`). */
  dataSpaces?: DataSpace[]
  /** Issuers trusted for every type (`identity.trustedIssuers`); `trustedIssuers` when absent. */
  trustedForAll?: ReadonlySet<string>
  /** Checks credentials' status lists; a credential with a status is refused without it. */
  status?: StatusListChecker
  /** Told the status of each credential that has one, once it was found good (for re-checks later). */
  onStatus?: (subject: CredentialStatusSubject, credential: VerifiedCredential) => void
}

/**
 * Verifies a VP JWT and each VC in it, and returns the credentials reduced to their claims.
 * Any failing check fails the whole presentation: a tampered presentation is not partly trusted.
 */
export async function verifyPresentation(vpJwt: unknown, check: PresentationCheck): Promise<VerifiedCredential[]> {
  if (typeof vpJwt !== 'string') throw unauthorized('presentation is not a JWT (only JWT presentations are supported)')
  const { payload, did: signer } = await verifyDidJwt(vpJwt, {
    resolver: check.resolver,
    clock: check.clock,
    relationships: ['authentication', 'assertionMethod'],
    keyRelationships: check.keyRelationships,
    what: 'presentation',
  })
  if (signer !== check.holder) throw unauthorized(`presentation holder ${signer} is not the token subject ${check.holder}`)
  const audience = Array.isArray(payload.aud) ? payload.aud : [payload.aud]
  if (!audience.includes(check.ownDid)) throw unauthorized('presentation audience is not this participant')
  // 1.1: the presentation in the `vp` claim; 2.0 (VC-JOSE-COSE): the payload is the presentation.
  const v20 = payload.vp === undefined && isVc20(payload)
  const vp = VpClaim.safeParse(v20 ? payload : payload.vp)
  if (!vp.success) throw unauthorized(v20 ? 'presentation is not a valid VC data model 2.0 presentation' : 'presentation has no valid vp claim')
  if (v20 && !vp.data.type?.includes('VerifiablePresentation')) throw unauthorized('presentation type does not include VerifiablePresentation')
  if (vp.data.holder !== undefined && vp.data.holder !== check.holder) throw unauthorized('presentation holder is not the token subject')
  const listed = vp.data.verifiableCredential
  const vcs = (listed === undefined ? [] : Array.isArray(listed) ? listed : [listed]).map(envelopedCredential)
  const verified: VerifiedCredential[] = []
  for (const vc of vcs) verified.push(await verifyCredential(vc, check))
  return verified
}

/**
 * A 2.0 presentation lists its credentials as `EnvelopedVerifiableCredential` objects whose id is a
 * data URL (`data:application/vc+jwt,<jwt>`); 1.1 lists the JWTs. Anything else is left for
 * `verifyCredential` to refuse.
 */
function envelopedCredential(entry: unknown): unknown {
  if (typeof entry !== 'object' || entry === null) return entry
  const { type, id } = entry as { type?: unknown; id?: unknown }
  const types = Array.isArray(type) ? type : [type]
  if (!types.includes('EnvelopedVerifiableCredential') || typeof id !== 'string') return entry
  const match = /^data:application\/vc\+jwt,([A-Za-z0-9_.-]+)$/.exec(id)
  return match ? match[1] : entry
}

export async function verifyCredential(vcJwt: unknown, check: PresentationCheck): Promise<VerifiedCredential> {
  if (typeof vcJwt !== 'string') throw unauthorized('credential is not a JWT (only JWT credentials are supported)')
  const summary = readCredentialJwt(vcJwt, 'unauthorized')
  // Trust is decided before any network access: an untrusted issuer's DID is never resolved.
  if (!check.trustedIssuers.has(summary.issuer)) throw unauthorized(`credential issuer ${summary.issuer} is not trusted`)
  const outside = check.dataSpaces && issuerRefusal(check.dataSpaces, check.trustedForAll ?? check.trustedIssuers, summary)
  if (outside) throw unauthorized(outside)
  const { payload } = await verifyDidJwt(vcJwt, {
    resolver: check.resolver,
    clock: check.clock,
    relationships: ['assertionMethod'],
    keyRelationships: check.keyRelationships,
    what: 'credential',
  })
  if (summary.expiresAt !== undefined && summary.expiresAt <= check.clock.now().getTime()) throw unauthorized('credential has expired')
  if (summary.validFrom !== undefined && summary.validFrom > check.clock.now().getTime() + clockLeewaySeconds * 1000)
    throw unauthorized(`credential is not valid before ${new Date(summary.validFrom).toISOString()} (validFrom)`)
  if (summary.subject !== check.holder) throw unauthorized(`credential subject ${summary.subject} is not the holder ${check.holder}`)
  const verified: VerifiedCredential = {
    types: summary.types,
    issuer: summary.issuer,
    claims: summary.claims,
    ...(summary.expiresAt !== undefined ? { expiresAt: summary.expiresAt } : {}),
  }
  // The signed copy: 1.1 keeps the credential in `vc`, 2.0 is the payload itself.
  const vc = (summary.profile === 'vc20-bssl/jwt' ? payload : payload.vc) as Record<string, unknown>
  const name =
    summary.id ?? (typeof vc.id === 'string' ? vc.id : `${summary.types.filter((t) => t !== 'VerifiableCredential').join(',')} of ${summary.subject}`)
  const references = statusReferencesOf(vc, name)
  if (references.length > 0) {
    // Checked last: a credential refused for its signature or subject costs no status list fetch.
    if (!check.status) throw unauthorized(`credential ${name} has a status, and status lists are not checked here`)
    const subject: CredentialStatusSubject = { credential: name, issuer: summary.issuer, references }
    await check.status.check(subject)
    check.onStatus?.(subject, verified)
  }
  return verified
}

const unauthorized = (message: string) => new PasserelleError('unauthorized', message)
