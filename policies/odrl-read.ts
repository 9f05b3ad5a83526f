import type { PolicyModel } from './types.ts'
import type { Registry } from './registry.ts'

/**
 * Read a compact ODRL policy (as DSP messages carry it: an Offer or Agreement, terms bare or
 * `odrl:`-prefixed) into the evaluator's model. Errors are plain sentences; no model when any.
 */
export function policyFromOdrl(_body: unknown, _options: { registry?: Registry } = {}): { model?: PolicyModel; errors: string[] } {
  throw new Error('not implemented yet')
}
