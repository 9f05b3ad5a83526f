import { dspContext } from '../dsp/context.ts'
import { declaredUseKey, type DeclaredUse } from '../dsp/declared-use.ts'
import type { MessageKind } from './state-machine.ts'
import type { Negotiation } from './repository.ts'

/**
 * The DSP message each kind is sent as, built from the stored process, and the peer URL it goes to.
 * The provider is addressed at its DSP base, the consumer at its callback address; both with or
 * without a trailing `/`.
 */
export const unknownPid = '{providerPid}'

const base = (address: string) => address.replace(/\/+$/, '')
const segment = (pid: string) => (pid === unknownPid ? pid : encodeURIComponent(pid))

export interface MessageExtras {
  offer?: Record<string, unknown>
  agreement?: Record<string, unknown>
  reason?: string
  code?: string
  /** Our own DSP base: the callback address a process-opening message carries. */
  ownDspUrl: string
  /** What a consumer declares about its intended use, carried by its first request. */
  declaredUse?: DeclaredUse | undefined
  /** The consumer's signature of the agreement's digest, carried by its verification. */
  agreementSignature?: string | undefined
}

/**
 * A consumer that is a Passerelle signs the agreement's digest (sha256 of its canonical JSON) with its
 * participant key and sends it with its verification, under an absolute IRI other connectors ignore:
 * the provider's audit trail then holds both parties' signatures of the same document.
 */
export const agreementSignatureKey = 'https://w3id.org/passerelle/ns#agreementSignature'

export function buildMessage(kind: MessageKind, n: Negotiation, extras: MessageExtras): { url: string; body: Record<string, unknown> } {
  const peer = base(n.counterpartyAddress)
  const providerPid = n.providerPid ?? unknownPid
  const consumerPid = n.consumerPid ?? ''
  const head = { '@context': dspContext }
  switch (kind) {
    case 'request':
      return {
        url: `${peer}/negotiations/request`,
        body: {
          ...head,
          '@type': 'ContractRequestMessage',
          consumerPid,
          offer: extras.offer ?? n.offer,
          callbackAddress: extras.ownDspUrl,
          ...(extras.declaredUse ? { [declaredUseKey]: extras.declaredUse } : {}),
        },
      }
    case 'counter-request':
      return {
        url: `${peer}/negotiations/${segment(providerPid)}/request`,
        body: { ...head, '@type': 'ContractRequestMessage', providerPid, consumerPid, offer: extras.offer ?? n.offer },
      }
    case 'offer':
      return {
        url: `${peer}/negotiations/offers`,
        body: { ...head, '@type': 'ContractOfferMessage', providerPid, offer: extras.offer ?? n.offer, callbackAddress: extras.ownDspUrl },
      }
    case 'counter-offer':
      return {
        url: `${peer}/negotiations/${segment(consumerPid)}/offers`,
        body: { ...head, '@type': 'ContractOfferMessage', providerPid, consumerPid, offer: extras.offer ?? n.offer },
      }
    case 'accepted':
      return {
        url: `${peer}/negotiations/${segment(providerPid)}/events`,
        body: { ...head, '@type': 'ContractNegotiationEventMessage', providerPid, consumerPid, eventType: 'ACCEPTED' },
      }
    case 'agreement':
      return {
        url: `${peer}/negotiations/${segment(consumerPid)}/agreement`,
        body: { ...head, '@type': 'ContractAgreementMessage', providerPid, consumerPid, agreement: extras.agreement },
      }
    case 'verification':
      return {
        url: `${peer}/negotiations/${segment(providerPid)}/agreement/verification`,
        body: {
          ...head,
          '@type': 'ContractAgreementVerificationMessage',
          providerPid,
          consumerPid,
          ...(extras.agreementSignature ? { [agreementSignatureKey]: extras.agreementSignature } : {}),
        },
      }
    case 'finalized':
      return {
        url: `${peer}/negotiations/${segment(consumerPid)}/events`,
        body: { ...head, '@type': 'ContractNegotiationEventMessage', providerPid, consumerPid, eventType: 'FINALIZED' },
      }
    case 'termination': {
      const pid = n.role === 'provider' ? segment(consumerPid) : segment(providerPid)
      return {
        url: `${peer}/negotiations/${pid}/termination`,
        body: {
          ...head,
          '@type': 'ContractNegotiationTerminationMessage',
          providerPid,
          consumerPid,
          ...(extras.code ? { code: extras.code } : {}),
          ...(extras.reason ? { reason: [extras.reason] } : {}),
        },
      }
    }
  }
}

/** Fills in the provider's pid once it is known (it may arrive after the message was queued). */
export function withProviderPid(message: { url: string; body: unknown }, providerPid: string) {
  const body = { ...(message.body as Record<string, unknown>) }
  if (body.providerPid === unknownPid) body.providerPid = providerPid
  return { url: message.url.replace(unknownPid, encodeURIComponent(providerPid)), body }
}

/** The ContractNegotiation body that answers a message or a GET. */
export const negotiationBody = (n: Negotiation) => ({
  '@context': dspContext,
  '@type': 'ContractNegotiation',
  providerPid: n.providerPid ?? '',
  consumerPid: n.consumerPid ?? '',
  state: n.state,
})
