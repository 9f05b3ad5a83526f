/**
 * The policy engine's public API. Everything the connector and the catalog use comes from here.
 *
 * - `loadPolicies(paths)`: compile a folder (or files) of stewards' policy files; bad files yield lint
 *   errors, never exceptions. The result carries the registry (built-ins + the folder's registry.yaml).
 * - `evaluate(policy, context)`: the pure decision, with its trace and plain-language explanation.
 *   Operands that cannot be known at the context's scope are *deferred* (see registry.ts): they
 *   neither refuse a permission nor trigger a prohibition there. Anything unknown denies.
 * - `offerFor` / `agreementFor`: the ODRL bodies DSP messages carry.
 * - `readPolicy(json, { registry, expect })`: the one strict reading of ODRL from a peer, a stored
 *   agreement or a file into the model the evaluator runs on (a term spelled twice, or anything the
 *   engine does not understand, is an error). `policyFromOdrl` is its earlier name.
 * - `samePolicy(a, b, { ignore })` / `canonicalKey(model)`: compare policies as models, never as JSON.
 * - `odrlFromModel(model, { type, uid, target, assigner, assignee, timestamp })`: the one serialiser
 *   that puts a policy on the wire (catalog offers, offers and agreements in DSP messages).
 * - `supportedProfiles`: the ODRL profiles the engine implements (others make a policy invalid).
 * - the left-operand registry and the plain-language rendering of a policy.
 * - `runPolicyCommand` (in cli.ts): `passerelle policy lint|explain|eval|test`.
 * - taxonomies (purposes, places, sectors and stewards' own): `Taxonomy`, the SKOS readers, and
 *   `buildTaxonomies` to check a vocabulary before putting it in force (`loadPolicies` takes them).
 */
export type * from './types.ts'
export { scopes, operators, dutyStates } from './types.ts'
export type { OperandEntry, OperandConfig, Registry, OperandType, OperandReading } from './registry.ts'
export { createRegistry, defaultRegistry, passerelleNamespace } from './registry.ts'
export { loadPolicies, compilePolicyText, lintPolicies, isPolicyFile, registryFileName } from './loader.ts'
export type { LoadOptions } from './loader.ts'
export { offerFor, agreementFor } from './offers.ts'
export { readPolicy, policyFromOdrl } from './odrl-read.ts'
export type { ReadOptions, ReadResult } from './odrl-read.ts'
export { samePolicy, canonicalKey } from './canonical.ts'
export type { IdentityField, CompareOptions } from './canonical.ts'
export { odrlFromModel } from './odrl-write.ts'
export type { PolicyIdentity } from './odrl-write.ts'
export { policyProblems, supportedProfiles } from './validate.ts'
export type { Problem } from './validate.ts'
export { evaluate, findingText } from './evaluate.ts'
export { timeWarnings } from './time-lint.ts'
export type { PolicyWarning } from './time-lint.ts'
export type { EvaluateOptions } from './evaluate.ts'
export { explainPolicy } from './explain.ts'
export { dutyHowTo } from './phrases.ts'
export { contextFromData } from './context-file.ts'
export { runStewardTests } from './steward-tests.ts'
export type { StewardTestResult, StewardTestRun } from './steward-tests.ts'
export { renderDecision, traceNodes } from './cli.ts'
export type { TraceNode } from './cli.ts'
export { Taxonomy, knownPrefixes } from './taxonomy.ts'
export { buildTaxonomies } from './taxonomy-sources.ts'
export type { TaxonomySource } from './taxonomy-sources.ts'
export { readTaxonomyText, taxonomyFormat, maxTaxonomyBytes } from './taxonomy-files.ts'
export type { TaxonomyFormat } from './taxonomy-files.ts'
export { runPolicyCommand } from './cli.ts'
export type { PolicyCommandIo } from './cli.ts'
// The bundled JSON-LD contexts (DSP, ODRL…): the DSP edge reads messages against these only, never fetching.
export { contextDocument, knownContextUrls } from './jsonld.ts'
// The readable id and title of the steward's policy, carried by offers and agreements.
export { policyIdTerm, policyTitleTerm, policyLabelOf, policyPhrase, labelTerms } from './policy-label.ts'
export type { PolicyLabel } from './policy-label.ts'
