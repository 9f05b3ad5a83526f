/**
 * Idempotent receivers: what to do with an inbound message about an existing process.
 *
 * "The same message" is the same kind with the same digest of canonical content (see
 * `message-digest.ts`), recorded in the process's timeline when it was applied. Rules, in order:
 *
 * 1. The state machine allows it: apply it (a new message, even if an identical one came before,
 *    e.g. a second counter offer with the same terms, or a start after a suspension).
 * 2. It repeats a message already applied to this process: acknowledge it with the current state and
 *    change nothing, however far the process moved on since (the sender's outbox retried after its
 *    answer or its delivered mark was lost).
 *    Except once the process is TERMINATED: then the peer must learn that it ended (DSP TCK
 *    TP_C:03-04: a start repeated after a termination is refused).
 * 3. A termination of a process that already ended TERMINATED agrees with it: acknowledged.
 * 4. Anything else (another agreement, other terms, a message the state machine forbids that was
 *    never applied) conflicts: refused, state unchanged.
 */
export type InboundDecision = { action: 'apply' } | { action: 'acknowledge'; why: 'repeat' | 'already-terminated' } | { action: 'refuse'; reason: string }

export interface AppliedMessage {
  kind: string
  digest: string | null | undefined
}

export function inboundDecision(input: {
  allowed: { ok: true } | { ok: false; reason: string }
  kind: string
  digest: string
  /** Messages of the peer applied to this process so far (from its timeline). */
  applied: Iterable<AppliedMessage>
  /** The process is TERMINATED. */
  terminated: boolean
  /** The message is a termination. */
  termination: boolean
}): InboundDecision {
  if (input.allowed.ok) return { action: 'apply' }
  if (input.terminated) return input.termination ? { action: 'acknowledge', why: 'already-terminated' } : { action: 'refuse', reason: input.allowed.reason }
  for (const message of input.applied) if (message.kind === input.kind && message.digest === input.digest) return { action: 'acknowledge', why: 'repeat' }
  return { action: 'refuse', reason: input.allowed.reason }
}
