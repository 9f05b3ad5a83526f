import type { IdSource } from '../context.ts'
import { credentialsContext } from './credentials.ts'
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
}

/** Signs a VC JWT (VC data model 1.1 JWT profile), as a data-space authority does. */
export function issueCredentialJwt(input: IssueCredentialInput): Promise<string> {
  const id = input.ids.next()
  const iat = Math.floor(input.issuedAt.getTime() / 1000)
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
      },
    },
    input.key,
    input.issuerDid,
  )
}
