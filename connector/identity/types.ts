/**
 * What the rest of the connector knows of identity. The DCP implementation (did:web, self-issued
 * tokens, verifiable presentations) and simpler ones (the TCK's static tokens, tests) implement
 * these interfaces; routes and the peer client only see them.
 */

/** A verified credential, reduced to what policies can refer to. */
export interface VerifiedCredential {
  /** e.g. ['VerifiableCredential', 'MembershipCredential'] */
  types: string[]
  /** The issuer's DID; only credentials from trusted issuers ever get here. */
  issuer: string
  /** `credentialSubject` without its `id` (which is the holder). */
  claims: Record<string, unknown>
  /** Milliseconds since the epoch, when the credential stops being valid, if it says. */
  expiresAt?: number
}

/** Who sent a request, once its authentication has been verified. */
export interface Requester {
  /** The participant id (a DID with DCP). */
  participantId: string
  /** The credentials verified for this request (empty when none were asked for). */
  credentials: VerifiedCredential[]
  /**
   * What the requester declared about its intended use in the message (purpose, place of
   * processing, sector): its word, not a verified claim.
   */
  declared?: { purpose?: string | string[] | undefined; spatial?: string | string[] | undefined; industry?: string | string[] | undefined }
}

export interface AuthenticateInput {
  /** The request's `Authorization` header, as received (may be missing). */
  authorization: string | undefined
  /** Credential types the decision at hand needs (e.g. ['MembershipCredential']); may be empty. */
  credentialTypes?: string[]
}

/** Verifies inbound DSP requests. Throws `PasserelleError('unauthorized', reason)` on failure. */
export interface Authenticator {
  authenticate(input: AuthenticateInput): Promise<Requester>
}

export interface PeerAudience {
  /** The peer's participant id (DID), when known. */
  participantId?: string
  /** The peer's DSP base URL. */
  dspUrl: string
}

/** Produces the `Authorization` header value for an outbound DSP request to a peer. */
export interface TokenIssuer {
  authorizationFor(peer: PeerAudience, credentialTypes?: string[]): Promise<string>
}
