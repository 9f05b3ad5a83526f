import { describe, expect, it } from 'vitest'
import { isPasserelleError } from '../errors.ts'
import { createStaticIdentity } from './static-identity.ts'

describe('static identity (TCK profile, tests)', () => {
  const { authenticator, tokenIssuer } = createStaticIdentity(
    { 'consumer-token': 'urn:connector:consumer', 'own-token': 'urn:connector:self' },
    'urn:connector:self',
  )

  it('maps a configured token, bare (as the TCK sends it) or as a bearer token, to its participant, without credentials', async () => {
    for (const authorization of ['Bearer consumer-token', 'consumer-token']) {
      await expect(authenticator.authenticate({ authorization })).resolves.toEqual({ participantId: 'urn:connector:consumer', credentials: [] })
    }
  })

  it('sends the token configured for its own participant id', async () => {
    await expect(tokenIssuer.authorizationFor({ dspUrl: 'http://127.0.0.1:1/dsp' })).resolves.toBe('Bearer own-token')
  })

  it('refuses a missing or unknown token as unauthorized', async () => {
    for (const authorization of [undefined, '', 'Bearer nope', 'nope', 'Bearer consumer-token extra']) {
      const error = await authenticator.authenticate({ authorization }).catch((e: unknown) => e)
      expect(isPasserelleError(error) && error.code, String(authorization)).toBe('unauthorized')
    }
  })
})
