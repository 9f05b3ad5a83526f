import type { CompiledPolicy, Decision, EvaluationContext, PolicyModel } from './types.ts'
import type { Registry } from './registry.ts'

export interface EvaluateOptions {
  registry?: Registry
}

/** The decision for one request. Pure: no I/O, no clock (the context carries `now`). */
export function evaluate(_policy: CompiledPolicy | PolicyModel, _context: EvaluationContext, _options: EvaluateOptions = {}): Decision {
  throw new Error('not implemented yet')
}
