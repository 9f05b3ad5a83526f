import { trace } from '@opentelemetry/api'
import { meter } from '../telemetry/telemetry.ts'

/**
 * Transfer telemetry: every state change is an event on the active span (the DSP request or local
 * action that caused it) and a count by role and states; bytes moved are counted by role.
 */
let instruments: { transitions: ReturnType<ReturnType<typeof meter>['createCounter']>; bytes: ReturnType<ReturnType<typeof meter>['createCounter']> } | undefined
const get = () =>
  (instruments ??= {
    transitions: meter().createCounter('passerelle.transfer.transitions', { description: 'Transfer process state changes' }),
    bytes: meter().createCounter('passerelle.transfer.bytes', { description: 'Bytes moved by the data plane', unit: 'By' }),
  })

export function recordTransition(input: { id: string; role: string; from: string | null; to: string; cause: string; actor: string }) {
  trace.getActiveSpan()?.addEvent('transfer.transition', {
    'transfer.id': input.id,
    'transfer.role': input.role,
    'transfer.from': input.from ?? 'none',
    'transfer.to': input.to,
    'transfer.cause': input.cause,
    'transfer.actor': input.actor,
  })
  get().transitions.add(1, { role: input.role, from: input.from ?? 'none', to: input.to })
}

export function recordBytes(role: string, bytes: number) {
  if (bytes > 0) get().bytes.add(bytes, { role })
}
