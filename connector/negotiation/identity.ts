import type { Ctx } from '../context.ts'
import { PasserelleError } from '../errors.ts'
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

export function identityOf(ctx: Ctx): Identity {
  const provided = (ctx as Ctx & { identity?: Partial<Identity> }).identity
  const identity =
    provided?.authenticator && provided.tokenIssuer
      ? (provided as Identity)
      : staticTokenIdentity(ctx.config.identity.staticTokens, ctx.config.participant.id)
  return { ...identity, authenticator: askingForPolicyCredentials(identity.authenticator, ctx) }
}

/** Requests that may lead to a policy decision present the credentials our policies refer to. */
function askingForPolicyCredentials(authenticator: Authenticator, ctx: Ctx): Authenticator {
  return {
    async authenticate(input) {
      const types = new Set([...(input.credentialTypes ?? []), ...(await policyCredentialTypes(ctx))])
      return authenticator.authenticate({ ...input, credentialTypes: [...types] })
    },
  }
}

/** Token → participant id. The header may carry the token bare or as `Bearer <token>`. */
export function staticTokenIdentity(tokens: Record<string, string>, ownParticipantId: string): Identity {
  const byToken = new Map(Object.entries(tokens))
  const ownToken = [...byToken].find(([, participant]) => participant === ownParticipantId)?.[0]
  return {
    authenticator: {
      async authenticate({ authorization }) {
        if (!authorization) throw new PasserelleError('unauthorized', 'missing Authorization header')
        const token = authorization.replace(/^Bearer\s+/i, '').trim()
        const participantId = byToken.get(token) ?? byToken.get(authorization)
        if (!participantId) throw new PasserelleError('unauthorized', 'unknown token')
        return { participantId, credentials: [] }
      },
    },
    tokenIssuer: {
      async authorizationFor() {
        if (!ownToken) throw new PasserelleError('internal', `identity.staticTokens has no token for ${ownParticipantId}`)
        return `Bearer ${ownToken}`
      },
    },
  }
}
