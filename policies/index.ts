/**
 * The policy engine's public API. Everything the connector and the catalog use comes from here.
 *
 * - `loadPolicies(paths)`: compile a folder (or files) of stewards' policy files; bad files yield lint
 *   errors, never exceptions. The result carries the registry (built-ins + the folder's registry.yaml).
 * - `evaluate(policy, context)`: the pure decision, with its trace and plain-language explanation.
 *   Operands that cannot be known at the context's scope are *deferred* (see registry.ts): they
 *   neither refuse a permission nor trigger a prohibition there. Anything unknown denies.
 * - `offerFor` / `agreementFor`: the ODRL bodies DSP messages carry.
 * - `policyFromOdrl(json)`: read an ODRL policy received from a peer (or a stored agreement) into the
 *   model the evaluator runs on; evaluate it with the registry of `loadPolicies`.
 * - the left-operand registry and the plain-language rendering of a policy.
 * - `runPolicyCommand` (in cli.ts): `passerelle policy lint|explain|eval|test`.
 */
export type * from './types.ts'
export { scopes, operators } from './types.ts'
export type { OperandEntry, OperandConfig, Registry, OperandType, OperandReading } from './registry.ts'
export { createRegistry, defaultRegistry, passerelleNamespace } from './registry.ts'
export { loadPolicies, compilePolicyText, lintPolicies, isPolicyFile, registryFileName } from './loader.ts'
export type { LoadOptions } from './loader.ts'
export { offerFor, agreementFor } from './offers.ts'
export { policyFromOdrl } from './odrl-read.ts'
export { evaluate, findingText } from './evaluate.ts'
export type { EvaluateOptions } from './evaluate.ts'
export { explainPolicy } from './explain.ts'
export { contextFromData } from './context-file.ts'
export { runStewardTests } from './steward-tests.ts'
export type { StewardTestResult, StewardTestRun } from './steward-tests.ts'
export { renderDecision } from './cli.ts'
