import { canonicalKey, labelTerms, odrlFromModel, policyLabelOf, readPolicy, type PolicyModel, type Registry } from '../../policies/index.ts'

/**
 * Offers and agreements a peer sends, read by the policy engine's one strict reading: a term
 * spelled twice, or anything the engine does not understand, makes them unreadable. They are
 * compared as models and kept in our own spelling, never as the peer's JSON.
 */
export type Terms = { model: PolicyModel; errors?: undefined } | { model?: undefined; errors: string[] }

/**
 * Parsed JSON is never changed once received, so an object is read once per way of reading it: a
 * message's offer is read when it comes in and again by the step that follows.
 */
const reads = new WeakMap<object, Array<{ way: string; registry: Registry | undefined; terms: Terms }>>()

/**
 * `comparedOnly`: the policy is only compared with one of ours, never evaluated, stored or signed;
 * its structure is read as strictly, but the meaning checks are left to ours (which passed them when
 * it was compiled), since nothing that fails them can equal it.
 */
export function readTerms(json: unknown, options: { expect: 'Offer' | 'Agreement'; registry?: Registry | undefined; comparedOnly?: boolean }): Terms {
  const way = `${options.expect}${options.comparedOnly ? ' compared' : ''}`
  const cacheable = typeof json === 'object' && json !== null
  const earlier = cacheable ? reads.get(json)?.find((r) => r.way === way && r.registry === options.registry) : undefined
  if (earlier) return earlier.terms
  const terms = readPolicy(json, {
    expect: options.expect,
    ...(options.registry ? { registry: options.registry } : {}),
    ...(options.comparedOnly ? { structureOnly: true } : {}),
  })
  if (cacheable) reads.set(json, [...(reads.get(json) ?? []), { way, registry: options.registry, terms }])
  return terms
}

const identityFields = ['uid', 'type', 'target', 'assigner', 'assignee', 'timestamp'] as const
const keys = new WeakMap<PolicyModel, string>()
const termsKey = (model: PolicyModel) => {
  let key = keys.get(model)
  if (key === undefined) keys.set(model, (key = canonicalKey(model, { ignore: identityFields })))
  return key
}

/** Two policies say the same thing: the same rules, whatever their ids, types, targets, parties and times. */
export const sameTerms = (a: PolicyModel, b: PolicyModel) => termsKey(a) === termsKey(b)

/** The problems of a policy in one sentence (the first few). */
export const termsProblems = (errors: string[]) => errors.slice(0, 3).join('; ') + (errors.length > 3 ? `; and ${errors.length - 3} more` : '')

const text = (value: unknown) => (typeof value === 'string' ? value : undefined)

/**
 * A peer's offer or agreement as we keep it: read, then written by the policy engine's one
 * serialiser with the ids and parties it named. Undefined when it cannot be read.
 */
export function ownSpelling(
  json: Record<string, unknown>,
  expect: 'Offer' | 'Agreement',
  registry?: Registry,
): (Record<string, unknown> & { '@id': string }) | undefined {
  const read = readTerms(json, { expect, registry })
  if (read.errors) return undefined
  const [target, assigner, assignee, timestamp] = [json.target, json.assigner, json.assignee, json.timestamp].map(text)
  const own = odrlFromModel(read.model, {
    type: expect,
    uid: text(json['@id']) ?? read.model.uid,
    ...(target !== undefined ? { target } : {}),
    ...(assigner !== undefined ? { assigner } : {}),
    ...(assignee !== undefined ? { assignee } : {}),
    ...(timestamp !== undefined ? { timestamp } : {}),
  })
  // The provider's name for its policy (an annotation, checked to be one short line) is kept for display.
  const label = policyLabelOf(json)
  return label ? { ...own, ...labelTerms(label) } : own
}
