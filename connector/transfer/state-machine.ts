import type { ProcessMessageType, TransferState } from './messages.ts'

/**
 * The DSP 2025-1 transfer process state machine, as data. A message is always described by who
 * sends it; the same table serves for a message we receive and one we are about to send, so both
 * sides of a connector enforce the same rules.
 */
export type Role = 'provider' | 'consumer'

type Table = Record<Role, Record<ProcessMessageType, Partial<Record<TransferState, TransferState>>>>

export const transitionTable: Table = {
  provider: {
    // The provider starts a requested transfer, or resumes a suspended one.
    TransferStartMessage: { REQUESTED: 'STARTED', SUSPENDED: 'STARTED' },
    TransferCompletionMessage: { STARTED: 'COMPLETED' },
    TransferSuspensionMessage: { STARTED: 'SUSPENDED' },
    TransferTerminationMessage: { REQUESTED: 'TERMINATED', STARTED: 'TERMINATED', SUSPENDED: 'TERMINATED' },
  },
  consumer: {
    // A consumer may only resume a transfer it (or the provider) suspended; it never starts one.
    TransferStartMessage: { SUSPENDED: 'STARTED' },
    TransferCompletionMessage: { STARTED: 'COMPLETED' },
    TransferSuspensionMessage: { STARTED: 'SUSPENDED' },
    TransferTerminationMessage: { REQUESTED: 'TERMINATED', STARTED: 'TERMINATED', SUSPENDED: 'TERMINATED' },
  },
}

export const finalStates: readonly TransferState[] = ['COMPLETED', 'TERMINATED']

export type TransitionResult =
  | { ok: true; from: TransferState; to: TransferState }
  | { ok: false; from: TransferState; reason: string }

/** Pure: the state after `sender` sends `message` to a process in `state`, or why that is not allowed. */
export function transition(state: TransferState, sender: Role, message: ProcessMessageType): TransitionResult {
  const to = transitionTable[sender][message][state]
  if (to) return { ok: true, from: state, to }
  return { ok: false, from: state, reason: `a ${message} from the ${sender} is not allowed in state ${state}` }
}
