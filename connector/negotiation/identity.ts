import type { Ctx } from '../context.ts'
import { createStaticIdentity } from '../identity/static-identity.ts'
import type { CatalogService } from '../catalog/catalog-service.ts'
import { policyCredentialTypes } from '../catalog/offer-lookup.ts'
import type { Authenticator, TokenIssuer } from '../identity/types.ts'

/**
 * The identity the negotiation routes use: the one the identity area puts on the context when it
 * is there, otherwise the configuration's static tokens (TCK profile, tests).
 */
export interface Identity {
  authenticator: Authenticator
  tokenIssuer: TokenIssuer
}

export function identityOf(ctx: Ctx, catalog?: CatalogService): Identity {
  const provided = (ctx as Ctx & { identity?: Partial<Identity> }).identity
  const identity =
    provided?.authenticator && provided.tokenIssuer ? (provided as Identity) : staticTokenIdentity(ctx.config.identity.staticTokens, ctx.config.participant.id)
  return { ...identity, authenticator: catalog ? askingForPolicyCredentials(identity.authenticator, catalog) : identity.authenticator }
}

/** Requests that may lead to a policy decision present the credentials our policies refer to. */
function askingForPolicyCredentials(authenticator: Authenticator, catalog: CatalogService): Authenticator {
  return {
    async authenticate(input) {
      const types = new Set([...(input.credentialTypes ?? []), ...policyCredentialTypes(catalog)])
      return authenticator.authenticate({ ...input, credentialTypes: [...types] })
    },
  }
}

/** Token → participant id (the configuration's `identity.staticTokens`): the identity area's static identity. */
export const staticTokenIdentity = (tokens: Record<string, string>, ownParticipantId: string): Identity => createStaticIdentity(tokens, ownParticipantId)
