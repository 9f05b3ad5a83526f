import { describe, expect, it } from 'vitest'
import { transferStates, type ProcessMessageType } from './messages.ts'
import { finalStates, transferMachine, transition, type Role } from './state-machine.ts'

const messages: ProcessMessageType[] = ['TransferStartMessage', 'TransferCompletionMessage', 'TransferSuspensionMessage', 'TransferTerminationMessage']
const roles: Role[] = ['provider', 'consumer']

// The expected outcome of every (sender, message, state), written out independently of the table.
const allowed = new Map<string, string>([
  ['provider TransferStartMessage REQUESTED', 'STARTED'],
  ['provider TransferStartMessage SUSPENDED', 'STARTED'],
  ['consumer TransferStartMessage SUSPENDED', 'STARTED'],
  ['provider TransferCompletionMessage STARTED', 'COMPLETED'],
  ['consumer TransferCompletionMessage STARTED', 'COMPLETED'],
  ['provider TransferSuspensionMessage STARTED', 'SUSPENDED'],
  ['consumer TransferSuspensionMessage STARTED', 'SUSPENDED'],
  ...roles.flatMap((r) =>
    (['REQUESTED', 'STARTED', 'SUSPENDED'] as const).map((s) => [`${r} TransferTerminationMessage ${s}`, 'TERMINATED'] as [string, string]),
  ),
])

describe('transfer state machine', () => {
  const pairs = roles.flatMap((role) => messages.flatMap((message) => transferStates.map((state) => ({ role, message, state }))))

  it('covers every (sender, message, state) combination', () => {
    expect(pairs).toHaveLength(2 * 4 * 5)
  })

  it.each(pairs)('$role sends $message in $state', ({ role, message, state }) => {
    const result = transition(state, role, message)
    const expected = allowed.get(`${role} ${message} ${state}`)
    if (expected) {
      expect(result).toEqual({ ok: true, from: state, to: expected })
    } else {
      expect(result.ok).toBe(false)
      if (!result.ok) expect(result.reason).toContain(state)
    }
  })

  it('never leaves a final state', () => {
    for (const state of finalStates) for (const role of roles) for (const m of messages) expect(transition(state, role, m).ok).toBe(false)
  })

  it('refuses a consumer starting a requested transfer (only the provider starts)', () => {
    expect(transition('REQUESTED', 'consumer', 'TransferStartMessage').ok).toBe(false)
  })

  it('is declared as edges on the process kernel; none leaves a final state', () => {
    for (const edge of transferMachine.edges) for (const from of edge.from) expect(from === null || !finalStates.includes(from)).toBe(true)
    expect(transferMachine.roleTable('consumer').receives).toEqual(messages)
  })
})
