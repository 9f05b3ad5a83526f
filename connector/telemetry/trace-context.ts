import { context, propagation, ROOT_CONTEXT } from '@opentelemetry/api'

/**
 * A trace carried over a pause: work written down now (an outbox row) and done later, after a
 * restart perhaps, continues the trace that wrote it. The W3C `traceparent` of the active context
 * is what is kept; a value the propagator does not accept is ignored (the work starts a new trace).
 */

/** The active context's `traceparent`, or null when there is no trace to continue. */
export function currentTraceparent(): string | null {
  const carrier: Record<string, string> = {}
  propagation.inject(context.active(), carrier)
  return carrier.traceparent ?? null
}

/**
 * Runs `fn` in the trace `traceparent` names, or in no trace when it is null or malformed: never in
 * whatever context the caller happens to run in (a scan woken by an unrelated request).
 */
export function withTraceparent<T>(traceparent: string | null | undefined, fn: () => T): T {
  const carried = traceparent ? propagation.extract(ROOT_CONTEXT, { traceparent }) : ROOT_CONTEXT
  return context.with(carried, fn)
}
