import type { IdSource } from '../ids.ts'
import { credentialsContext, credentialsV2Context, type CredentialProfile } from './credential-profiles.ts'
import { signJwt } from './jwt.ts'
import type { SigningKey } from './keys.ts'

export interface IssueCredentialInput {
  issuerDid: string
  key: SigningKey
  subject: string
  /** The credential's own type, e.g. 'MembershipCredential' (VerifiableCredential is added). */
  type: string
  claims?: Record<string, unknown>
  issuedAt: Date
  expiresAt?: Date
  ids: IdSource
  /** The credential's id (default: a new one from `ids`). */
  id?: string
  /** `credentialStatus` entries (BitstringStatusListEntry), when the issuer publishes status lists. */
  credentialStatus?: Array<Record<string, unknown>>
  /** Default `vc11-sl2021/jwt`. */
  profile?: CredentialProfile
}

/** Signs a VC JWT, as a data-space authority does: VC data model 1.1 (default) or 2.0 secured with JOSE (`vc20-bssl/jwt`). */
export function issueCredentialJwt(input: IssueCredentialInput): Promise<string> {
  const id = input.id ?? input.ids.next()
  const iat = Math.floor(input.issuedAt.getTime() / 1000)
  if (input.profile === 'vc20-bssl/jwt') {
    // The payload is the credential (VC-JOSE-COSE); iss, sub, jti and exp repeat it for JWT readers.
    return signJwt(
      {
        '@context': [credentialsV2Context],
        id,
        type: ['VerifiableCredential', input.type],
        issuer: input.issuerDid,
        validFrom: input.issuedAt.toISOString(),
        ...(input.expiresAt ? { validUntil: input.expiresAt.toISOString() } : {}),
        credentialSubject: { id: input.subject, ...input.claims },
        ...(input.credentialStatus && input.credentialStatus.length > 0 ? { credentialStatus: input.credentialStatus } : {}),
        iss: input.issuerDid,
        sub: input.subject,
        jti: id,
        iat,
        ...(input.expiresAt ? { exp: Math.floor(input.expiresAt.getTime() / 1000) } : {}),
      },
      input.key,
      input.issuerDid,
      'vc+jwt',
    )
  }
  return signJwt(
    {
      iss: input.issuerDid,
      sub: input.subject,
      jti: id,
      iat,
      nbf: iat,
      ...(input.expiresAt ? { exp: Math.floor(input.expiresAt.getTime() / 1000) } : {}),
      vc: {
        '@context': [credentialsContext],
        id,
        type: ['VerifiableCredential', input.type],
        issuer: input.issuerDid,
        issuanceDate: input.issuedAt.toISOString(),
        ...(input.expiresAt ? { expirationDate: input.expiresAt.toISOString() } : {}),
        credentialSubject: { id: input.subject, ...input.claims },
        ...(input.credentialStatus && input.credentialStatus.length > 0 ? { credentialStatus: input.credentialStatus } : {}),
      },
    },
    input.key,
    input.issuerDid,
  )
}
