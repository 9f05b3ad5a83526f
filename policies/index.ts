/**
 * The policy engine's public API. Everything the connector and the catalog use comes from here.
 *
 * - `loadPolicies(paths)`: compile a folder (or files) of stewards' policy files; bad files yield lint
 *   errors, never exceptions.
 * - `evaluate(policy, context)`: the pure decision, with its trace and plain-language explanation.
 * - `offerFor` / `agreementFor`: the ODRL bodies DSP messages carry.
 * - `policyFromOdrl(json)`: read an ODRL policy received from a peer (or stored agreement) into the model
 *   the evaluator runs on.
 * - the left-operand registry and the plain-language rendering of a policy.
 */
export type * from './types.ts'
export { scopes, operators } from './types.ts'
export type { OperandEntry, OperandConfig, Registry, OperandType } from './registry.ts'
export { createRegistry, defaultRegistry } from './registry.ts'
export { loadPolicies, compilePolicyText, lintPolicies } from './loader.ts'
export type { LoadOptions } from './loader.ts'
export { offerFor, agreementFor } from './offers.ts'
export { policyFromOdrl } from './odrl-read.ts'
export { evaluate } from './evaluate.ts'
export type { EvaluateOptions } from './evaluate.ts'
export { explainPolicy } from './explain.ts'
