import type { ProcessMessageType, TransferState } from './messages.ts'
import { stateMachine, type Edge, type Role } from '../process/state-machine.ts'

/**
 * The DSP 2025-1 transfer process state machine, as data. A message is always described by who
 * sends it; the same table serves for a message we receive and one we are about to send, so both
 * sides of a connector enforce the same rules.
 */
export type { Role }

const ongoing: readonly TransferState[] = ['REQUESTED', 'STARTED', 'SUSPENDED']

/** The edges of the transfer process: who may send which message in which state, and what follows. */
export const transferEdges: readonly Edge<TransferState, ProcessMessageType>[] = [
  // The provider starts a requested transfer, or resumes a suspended one.
  { kind: 'TransferStartMessage', sender: 'provider', from: ['REQUESTED', 'SUSPENDED'], to: 'STARTED' },
  // A consumer may only resume a transfer it (or the provider) suspended; it never starts one.
  { kind: 'TransferStartMessage', sender: 'consumer', from: ['SUSPENDED'], to: 'STARTED' },
  { kind: 'TransferCompletionMessage', sender: 'either', from: ['STARTED'], to: 'COMPLETED' },
  { kind: 'TransferSuspensionMessage', sender: 'either', from: ['STARTED'], to: 'SUSPENDED' },
  { kind: 'TransferTerminationMessage', sender: 'either', from: ongoing, to: 'TERMINATED' },
]

export const finalStates: readonly TransferState[] = ['COMPLETED', 'TERMINATED']

/** The table above as the process kernel's state machine. */
export const transferMachine = stateMachine<TransferState, ProcessMessageType>(
  ['TransferStartMessage', 'TransferCompletionMessage', 'TransferSuspensionMessage', 'TransferTerminationMessage'],
  transferEdges,
  finalStates,
)

export type TransitionResult = { ok: true; from: TransferState; to: TransferState } | { ok: false; from: TransferState; reason: string }

/** Pure: the state after `sender` sends `message` to a process in `state`, or why that is not allowed. */
export function transition(state: TransferState, sender: Role, message: ProcessMessageType): TransitionResult {
  const result = transferMachine.step(state, sender, message)
  if (result.ok) return { ok: true, from: state, to: result.to }
  return { ok: false, from: state, reason: `a ${message} from the ${sender} is not allowed in state ${state}` }
}
