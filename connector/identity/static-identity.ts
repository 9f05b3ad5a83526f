import { PasserelleError } from '../errors.ts'
import { bearer } from './dcp.ts'
import type { Authenticator, TokenIssuer } from './types.ts'

/**
 * Fixed tokens (configuration `identity.staticTokens`: token → participant id), for the TCK
 * profile and tests. No credentials: requesters get none. Outbound, we send the token that maps to
 * our own participant id.
 */
export function createStaticIdentity(tokens: Record<string, string>, ownParticipantId: string) {
  const byToken = new Map(Object.entries(tokens))
  const ownToken = [...byToken].find(([, participant]) => participant === ownParticipantId)?.[0]
  const authenticator: Authenticator = {
    async authenticate(input) {
      if (!input.authorization) throw new PasserelleError('unauthorized', 'no token (Authorization header missing)')
      // The DSP TCK sends its token bare; others send `Bearer <token>`.
      const bare = input.authorization.trim()
      const participantId = byToken.get(bare) ?? (/^Bearer\s/i.test(bare) ? byToken.get(bearer(bare)) : undefined)
      if (!participantId) throw new PasserelleError('unauthorized', 'unknown static token')
      return { participantId, credentials: [] }
    },
  }
  const tokenIssuer: TokenIssuer = {
    async authorizationFor() {
      if (!ownToken) throw new PasserelleError('internal', `identity.staticTokens has no token for ${ownParticipantId}`)
      return `Bearer ${ownToken}`
    },
  }
  return { authenticator, tokenIssuer }
}
