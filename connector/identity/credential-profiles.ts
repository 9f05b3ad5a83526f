export const credentialsContext = 'https://www.w3.org/2018/credentials/v1'
/** VC data model 2.0: the credential is the JWT payload itself (VC-JOSE-COSE, enveloping proof). */
export const credentialsV2Context = 'https://www.w3.org/ns/credentials/v2'

/**
 * The two DCP credential profiles: `vc11-sl2021/jwt` (VC data model 1.1, the credential in the JWT's
 * `vc` claim) and `vc20-bssl/jwt` (VC data model 2.0 secured with JOSE: the payload is the
 * credential, `validFrom`/`validUntil`, Bitstring Status List).
 */
export const credentialProfiles = ['vc11-sl2021/jwt', 'vc20-bssl/jwt'] as const
export type CredentialProfile = (typeof credentialProfiles)[number]

/** True for a VC data model 2.0 payload: its `@context` starts with the 2.0 context. */
export const isVc20 = (payload: Record<string, unknown>): boolean => {
  const context = payload['@context']
  return Array.isArray(context) ? context[0] === credentialsV2Context : context === credentialsV2Context
}
