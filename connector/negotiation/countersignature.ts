import { agreementDigest } from '../audit/audit-trail.ts'
import { verifyDidJwt } from '../identity/jwt.ts'
import type { Requester } from '../identity/types.ts'
import { agreementSignatureKey } from './messages.ts'
import type { Ctx } from '../context.ts'
import type { NegotiationRepository } from './repository.ts'

/** What the provider's trail records of a consumer's signature of the agreement. */
export interface Countersignature {
  signature?: string
  sha256?: string
  verified: boolean
  reason?: string
}

const maxSignatureLength = 8192

/**
 * Checks the signature a consumer sent with its verification (see `agreementSignatureKey`): a JWT
 * of the consumer's DID whose `sha256` is the digest of the agreement we stored. It never refuses
 * the verification (other connectors send none, and the agreement stands on its own): the trail
 * records whether it held, and why not. Runs before the transaction, since it may fetch the
 * consumer's DID document.
 */
export async function checkCountersignature(
  rt: { ctx: Ctx; repo: NegotiationRepository },
  pid: string,
  requester: Requester,
  message: Record<string, unknown>,
): Promise<Countersignature | undefined> {
  const sent = message[agreementSignatureKey]
  if (sent === undefined) return undefined
  if (typeof sent !== 'string' || sent.length > maxSignatureLength) return { verified: false, reason: 'the agreement signature is not a compact JWS' }
  const n = await rt.repo.find(rt.ctx.store.db, pid)
  const [stored] =
    n?.agreementId && n.counterpartyId === requester.participantId
      ? (await rt.repo.agreementsOf(rt.ctx.store.db, n.id)).filter((a) => a.id === n.agreementId)
      : []
  if (!stored) return { signature: sent, verified: false, reason: 'no agreement of this negotiation to compare it with' }
  const sha256 = agreementDigest(stored.body)
  const identity = rt.ctx.identity
  if (identity?.mode !== 'dcp')
    return { signature: sent, sha256, verified: false, reason: 'not checked: this connector identifies peers by static tokens, which have no keys' }
  try {
    const verified = await verifyDidJwt(sent, {
      resolver: identity.resolver,
      clock: rt.ctx.clock,
      relationships: ['assertionMethod', 'authentication', 'capabilityInvocation'],
      what: 'the agreement signature',
      beforeResolve: (iss) => {
        if (iss !== requester.participantId) throw new Error(`the agreement signature is by ${iss}, not by ${requester.participantId}`)
      },
    })
    if (verified.did !== requester.participantId)
      return { signature: sent, sha256, verified: false, reason: `signed by ${verified.did}, not by ${requester.participantId}` }
    if (verified.payload.sha256 !== sha256)
      return { signature: sent, sha256, verified: false, reason: 'it signs another document than the agreement we stored' }
    return { signature: sent, sha256, verified: true }
  } catch (error) {
    return { signature: sent, sha256, verified: false, reason: (error as Error).message }
  }
}
