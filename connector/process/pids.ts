import type { Role } from './state-machine.ts'

/**
 * Binds a message to one process: the pid of our role must be the process's own id, and the peer's
 * pid, once bound (from its first message or its answer), must be the bound one. Returns what does
 * not match, or undefined; each protocol words (and maps) the refusal.
 */
export function pidMismatch(input: {
  role: Role
  process: { id: string; providerPid: string | null; consumerPid: string | null }
  message: { providerPid?: string | undefined; consumerPid?: string | undefined }
}): { side: 'ours' | 'theirs'; field: 'providerPid' | 'consumerPid'; named: string | undefined; expected: string } | undefined {
  const { role, process, message } = input
  const ours = role === 'provider' ? 'providerPid' : 'consumerPid'
  const theirs = role === 'provider' ? 'consumerPid' : 'providerPid'
  if (message[ours] !== process.id) return { side: 'ours', field: ours, named: message[ours], expected: process.id }
  const bound = process[theirs]
  const named = message[theirs]
  if (bound !== null && named !== undefined && named !== bound) return { side: 'theirs', field: theirs, named, expected: bound }
  return undefined
}
