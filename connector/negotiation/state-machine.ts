import type { NegotiationState } from '../dsp/negotiation-messages.ts'
import { stateMachine, type Direction, type Role } from '../process/state-machine.ts'

/**
 * The DSP 2025-1 contract negotiation state machine, as data. A message kind is sent by one role
 * and received by the other; the same table applies to both directions, so our own sends and the
 * peer's messages go through the same pure `transition`.
 */
export type { Role }

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

export const messageKinds = Object.keys(transitions) as MessageKind[]
export const terminalStates: readonly NegotiationState[] = ['FINALIZED', 'TERMINATED']

/** The table above as the process kernel's state machine. */
export const negotiationMachine = stateMachine<NegotiationState, MessageKind>(
  messageKinds,
  messageKinds.map((kind) => ({ kind, ...transitions[kind] })),
  terminalStates,
)
export const isTerminal = negotiationMachine.isTerminal

export type { Direction }

/** Per role: which kinds it may receive and send, derived from the table (for docs and tests). */
export const roleTable = negotiationMachine.roleTable

export type TransitionResult = { ok: true; from: From; to: NegotiationState } | { ok: false; reason: string }

/**
 * Pure: may a process of `role` in `state` receive (or send) a message of `kind`, and which state
 * follows. `state` is null when no process exists yet.
 */
export function transition(input: { role: Role; state: From; kind: MessageKind; direction: Direction }): TransitionResult {
  const { role, state, kind, direction } = input
  const result = negotiationMachine.transition(input)
  if (result.ok) return { ok: true, from: result.from, to: result.to }
  switch (result.refusal) {
    case 'wrong-sender':
      return { ok: false, reason: `a ${role} cannot ${direction === 'outbound' ? 'send' : 'receive'} ${describe(kind)}` }
    case 'terminal':
      return { ok: false, reason: `the negotiation is ${state} and accepts no further messages` }
    case 'needs-process':
      return { ok: false, reason: `${describe(kind)} needs an existing negotiation` }
    case 'wrong-state':
      return { ok: false, reason: `${describe(kind)} is not allowed in state ${state}` }
  }
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
