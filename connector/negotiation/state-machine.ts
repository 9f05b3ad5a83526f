import type { NegotiationState } from '../dsp/negotiation-messages.ts'

/**
 * The DSP 2025-1 contract negotiation state machine, as data. A message kind is sent by one role
 * and received by the other; the same table applies to both directions, so our own sends and the
 * peer's messages go through the same pure `transition`.
 */
export type Role = 'provider' | 'consumer'

export type MessageKind =
  | 'request' // ContractRequestMessage with callbackAddress: opens a process at the provider
  | 'counter-request' // ContractRequestMessage with providerPid
  | 'offer' // ContractOfferMessage with callbackAddress: opens a process at the consumer
  | 'counter-offer' // ContractOfferMessage with consumerPid
  | 'accepted' // ContractNegotiationEventMessage ACCEPTED
  | 'agreement' // ContractAgreementMessage
  | 'verification' // ContractAgreementVerificationMessage
  | 'finalized' // ContractNegotiationEventMessage FINALIZED
  | 'termination' // ContractNegotiationTerminationMessage

/** `null` stands for "no process yet": the messages that open a process. */
export type From = NegotiationState | null

export interface TransitionRule {
  sender: Role | 'either'
  from: readonly From[]
  to: NegotiationState
}

const open: readonly NegotiationState[] = ['REQUESTED', 'OFFERED', 'ACCEPTED', 'AGREED', 'VERIFIED']

export const transitions: Record<MessageKind, TransitionRule> = {
  request: { sender: 'consumer', from: [null], to: 'REQUESTED' },
  'counter-request': { sender: 'consumer', from: ['OFFERED'], to: 'REQUESTED' },
  offer: { sender: 'provider', from: [null], to: 'OFFERED' },
  'counter-offer': { sender: 'provider', from: ['REQUESTED'], to: 'OFFERED' },
  accepted: { sender: 'consumer', from: ['OFFERED'], to: 'ACCEPTED' },
  agreement: { sender: 'provider', from: ['REQUESTED', 'ACCEPTED'], to: 'AGREED' },
  verification: { sender: 'consumer', from: ['AGREED'], to: 'VERIFIED' },
  finalized: { sender: 'provider', from: ['VERIFIED'], to: 'FINALIZED' },
  termination: { sender: 'either', from: open, to: 'TERMINATED' },
}

const senders = (kind: MessageKind): Role[] => {
  const sender = transitions[kind].sender
  return sender === 'either' ? ['provider', 'consumer'] : [sender]
}

export const messageKinds = Object.keys(transitions) as MessageKind[]
export const terminalStates: readonly NegotiationState[] = ['FINALIZED', 'TERMINATED']
export const isTerminal = (state: NegotiationState) => terminalStates.includes(state)

export type Direction = 'inbound' | 'outbound'

/** Per role: which kinds it may receive and send, derived from the table (for docs and tests). */
export const roleTable = (role: Role) => ({
  receives: messageKinds.filter((kind) => senders(kind).some((s) => s !== role)),
  sends: messageKinds.filter((kind) => senders(kind).includes(role)),
})

export type TransitionResult =
  | { ok: true; from: From; to: NegotiationState }
  | { ok: false; reason: string }

/**
 * Pure: may a process of `role` in `state` receive (or send) a message of `kind`, and which state
 * follows. `state` is null when no process exists yet.
 */
export function transition(input: { role: Role; state: From; kind: MessageKind; direction: Direction }): TransitionResult {
  const { role, state, kind, direction } = input
  const rule = transitions[kind]
  const allowedSenders = senders(kind)
  const sender = direction === 'outbound' ? role : role === 'provider' ? 'consumer' : 'provider'
  if (!allowedSenders.includes(sender)) {
    return { ok: false, reason: `a ${role} cannot ${direction === 'outbound' ? 'send' : 'receive'} ${describe(kind)}` }
  }
  if (state !== null && isTerminal(state)) {
    return { ok: false, reason: `the negotiation is ${state} and accepts no further messages` }
  }
  if (!rule.from.includes(state)) {
    return {
      ok: false,
      reason:
        state === null
          ? `${describe(kind)} needs an existing negotiation`
          : `${describe(kind)} is not allowed in state ${state}`,
    }
  }
  return { ok: true, from: state, to: rule.to }
}

export function describe(kind: MessageKind): string {
  switch (kind) {
    case 'request':
      return 'a ContractRequestMessage'
    case 'counter-request':
      return 'a ContractRequestMessage (counter offer)'
    case 'offer':
      return 'a ContractOfferMessage'
    case 'counter-offer':
      return 'a ContractOfferMessage (counter offer)'
    case 'accepted':
      return 'an ACCEPTED event'
    case 'agreement':
      return 'a ContractAgreementMessage'
    case 'verification':
      return 'a ContractAgreementVerificationMessage'
    case 'finalized':
      return 'a FINALIZED event'
    case 'termination':
      return 'a ContractNegotiationTerminationMessage'
  }
}

/** The DSP `@type` each kind is sent as. */
export const messageType: Record<MessageKind, string> = {
  request: 'ContractRequestMessage',
  'counter-request': 'ContractRequestMessage',
  offer: 'ContractOfferMessage',
  'counter-offer': 'ContractOfferMessage',
  accepted: 'ContractNegotiationEventMessage',
  agreement: 'ContractAgreementMessage',
  verification: 'ContractAgreementVerificationMessage',
  finalized: 'ContractNegotiationEventMessage',
  termination: 'ContractNegotiationTerminationMessage',
}
