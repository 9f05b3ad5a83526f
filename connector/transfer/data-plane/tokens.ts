import { randomBytes } from 'node:crypto'
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose'
import type { Clock } from '../../clock.ts'
import type { IdSource } from '../../ids.ts'
import { PasserelleError } from '../../errors.ts'
import { settingsRepository } from '../../store/settings-repository.ts'
import type { Store } from '../../store/store.ts'

/**
 * Short-lived data-plane tokens: HS256 JWTs bound to one transfer and its agreement.
 *
 * Why HS256 with a per-connector secret rather than EdDSA: the same connector issues and checks
 * these tokens (the data plane runs in-process), so no one else ever needs a verification key; a
 * symmetric key is the simplest thing that cannot be forged, is checked in microseconds on every
 * access, and is never confused with the participant's identity key (a leaked data token cannot be
 * replayed as a DSP identity token, nor the other way round). Expiry is short; every access also
 * re-checks the transfer's state, which is what revokes a token early (suspension, termination).
 */
export type TokenScope = 'pull' | 'receive'

export interface DataTokenClaims {
  transferId: string
  agreementId: string
  scope: TokenScope
  expiresAt: Date
}

export interface DataTokens {
  issue(input: { transferId: string; agreementId: string; scope: TokenScope }): Promise<{ token: string; expiresAt: Date }>
  /**
   * Throws `unauthorized` for anything not issued by us, expired, or for another scope.
   * `expiredGraceMs` accepts a token that expired at most that long ago (refreshing only).
   */
  verify(token: string, scope: TokenScope, options?: { expiredGraceMs?: number }): Promise<DataTokenClaims>
}

export const defaultTokenTtlMs = 10 * 60 * 1000
/** How long after expiry a token can still be exchanged for a fresh one (the transfer must still be STARTED). */
export const refreshGraceMs = 24 * 60 * 60 * 1000
const audience = 'passerelle-data-plane'

export function dataTokens(options: { secret: Uint8Array; issuer: string; clock: Clock; ids: IdSource; ttlMs?: number }): DataTokens {
  const ttl = options.ttlMs ?? defaultTokenTtlMs
  return {
    async issue({ transferId, agreementId, scope }) {
      const now = options.clock.now().getTime()
      const expiresAt = new Date(now + ttl)
      const token = await new SignJWT({ agr: agreementId, scope })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setIssuer(options.issuer)
        .setAudience(audience)
        .setSubject(transferId)
        .setIssuedAt(Math.floor(now / 1000))
        .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
        .setJti(options.ids.next())
        .sign(options.secret)
      return { token, expiresAt }
    },
    async verify(token, scope, verifyOptions = {}) {
      try {
        const { payload } = await jwtVerify(token, options.secret, {
          algorithms: ['HS256'],
          issuer: options.issuer,
          audience,
          currentDate: options.clock.now(),
          ...(verifyOptions.expiredGraceMs ? { clockTolerance: Math.floor(verifyOptions.expiredGraceMs / 1000) } : {}),
          requiredClaims: ['sub', 'exp', 'agr', 'scope'],
        })
        if (payload.scope !== scope) throw new PasserelleError('unauthorized', `this token is not for ${scope}`)
        return {
          transferId: String(payload.sub),
          agreementId: String(payload.agr),
          scope,
          expiresAt: new Date((payload.exp ?? 0) * 1000),
        }
      } catch (error) {
        if (error instanceof PasserelleError) throw error
        if (error instanceof joseErrors.JWTExpired) throw new PasserelleError('unauthorized', 'the data token has expired')
        throw new PasserelleError('unauthorized', 'the data token is not valid')
      }
    },
  }
}

/** The per-connector secret, kept in the store so tokens survive a restart. */
export async function loadOrCreateTokenSecret(store: Store, clock: Clock): Promise<Uint8Array> {
  const value = await settingsRepository(store).getOrCreate('data-plane.token-secret', () => randomBytes(32).toString('base64url'), clock.now().getTime())
  return Buffer.from(value, 'base64url')
}

/** `Authorization: Bearer <token>` → token. */
export function bearerToken(header: string | undefined): string {
  const match = /^Bearer\s+(\S+)$/i.exec(header ?? '')
  if (!match) throw new PasserelleError('unauthorized', 'a bearer data token is required')
  return match[1]!
}
