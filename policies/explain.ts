import type { CompiledPolicy, PolicyModel } from './types.ts'

/** The policy in plain language, one sentence per rule. */
export function explainPolicy(_policy: CompiledPolicy | PolicyModel): string {
  throw new Error('not implemented yet')
}
