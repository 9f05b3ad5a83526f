import { trace } from '@opentelemetry/api'
import { meter } from './telemetry.ts'

/**
 * Process telemetry shared by negotiations and transfers: every state change is an event on the
 * active span (the DSP request or local action that caused it) and a count by role and states.
 */
type Counter = ReturnType<ReturnType<typeof meter>['createCounter']>
const counters = new Map<string, Counter>()
const counter = (name: string, description: string) => {
  let found = counters.get(name)
  if (!found) counters.set(name, (found = meter().createCounter(name, { description })))
  return found
}

export type ProcessKind = 'negotiation' | 'transfer'

export function recordTransition(kind: ProcessKind, input: { id: string; role: string; from: string | null; to: string; cause: string; actor: string }) {
  trace.getActiveSpan()?.addEvent(`${kind}.transition`, {
    [`${kind}.id`]: input.id,
    [`${kind}.role`]: input.role,
    [`${kind}.from`]: input.from ?? 'none',
    [`${kind}.to`]: input.to,
    [`${kind}.cause`]: input.cause,
    [`${kind}.actor`]: input.actor,
  })
  counter(`passerelle.${kind}.transitions`, `${kind === 'negotiation' ? 'Contract negotiation' : 'Transfer process'} state changes`).add(1, {
    role: input.role,
    from: input.from ?? 'none',
    to: input.to,
  })
}

/** Bytes moved by the data plane, by role. */
export function recordBytes(role: string, bytes: number) {
  if (bytes > 0) counter('passerelle.transfer.bytes', 'Bytes moved by the data plane').add(bytes, { role })
}

type Histogram = ReturnType<ReturnType<typeof meter>['createHistogram']>
let decisionDuration: Histogram | undefined

/** A policy decision's duration and outcome, at a door (`negotiation`, `data-access`). */
export function recordDecision(door: string, outcome: string, seconds: number) {
  decisionDuration ??= meter().createHistogram('passerelle.decision.duration', { unit: 's', description: 'Duration of policy decisions' })
  decisionDuration.record(seconds, { door, outcome })
}

/**
 * A refusal, by door and reason. The reason is a bounded name (a policy's readable id, `usage`,
 * `identity`), never the sentence, which names ids without bound.
 */
export function recordRefusal(door: string, reason: string) {
  counter('passerelle.refusals', 'Requests refused, by door and reason').add(1, { door, reason })
}
