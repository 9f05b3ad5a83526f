import type { DidDocument } from './did-resolver.ts'
import type { SigningKey } from './keys.ts'

export const didContext = 'https://www.w3.org/ns/did/v1'
export const jwsContext = 'https://w3id.org/security/suites/jws-2020/v1'
export const dspContext = 'https://w3id.org/dspace/2025/1/context.jsonld'

export interface DidDocumentInput {
  did: string
  /** Every published key, newest first. */
  keys: Pick<SigningKey, 'kid' | 'publicJwk'>[]
  /** Our DSP base URL; omitted for an identity that only issues credentials (the dev authority). */
  dspUrl?: string
  /** Our credential service base URL (`…/presentations/query` below it). */
  credentialServiceUrl?: string
}

/**
 * Our DID document: each key a JsonWebKey2020 verification method `<did>#<kid>`, listed under
 * authentication, assertionMethod and capabilityInvocation; services for DSP (the DSP 2025-1
 * `CatalogService` shape) and the DCP `CredentialService`.
 */
export function buildDidDocument(input: DidDocumentInput): DidDocument {
  const methods = input.keys.map((key) => ({
    id: `${input.did}#${key.kid}`,
    type: 'JsonWebKey2020',
    controller: input.did,
    publicKeyJwk: publicOnly(key.publicJwk as Record<string, unknown>),
  }))
  const ids = methods.map((m) => m.id)
  const service: NonNullable<DidDocument['service']> = []
  if (input.dspUrl) service.push({ id: `${input.did}#dsp-catalog`, type: 'CatalogService', serviceEndpoint: `${input.dspUrl}/catalog` })
  if (input.credentialServiceUrl) {
    service.push({ id: `${input.did}#credential-service`, type: 'CredentialService', serviceEndpoint: input.credentialServiceUrl })
  }
  return {
    '@context': [didContext, jwsContext, ...(input.dspUrl ? [dspContext] : [])],
    id: input.did,
    verificationMethod: methods,
    authentication: ids,
    assertionMethod: ids,
    capabilityInvocation: ids,
    ...(service.length > 0 ? { service } : {}),
  }
}

const publicOnly = (jwk: Record<string, unknown>) => {
  const { d: _d, ...rest } = jwk
  return rest
}
