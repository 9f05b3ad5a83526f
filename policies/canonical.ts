import type { Asset, Constraint, Party, PolicyModel, Rule, Value } from './types.ts'
import { shortAction } from './vocabularies/actions.ts'

/**
 * One canonical form of a policy's meaning, for comparing policies (is the offer a consumer sent
 * the one we published?) and for storing a key of it. It works on models from `readPolicy` or the
 * compiler, never on raw JSON, so spellings (`odrl:x`, full IRIs, typed or plain literals,
 * one-element arrays) do not matter and duplicates never get this far.
 *
 * - Permissions, prohibitions, obligations, duties, the members of `and`, `or`, `xone` and plain
 *   right-operand lists are sets: order does not matter. `andSequence` members and `@list` values
 *   are ordered.
 * - Values compare as text (5 and "5" are the same value of an integer operand, as the evaluator
 *   reads them); `dataType` is not part of the key: validation only lets through datatypes that fit
 *   the operand, so it adds nothing to the meaning.
 * - A missing `conflict` is ODRL's default, `invalid`.
 * - Which rule fields came from a compact policy (`inherited`) is presentation, not meaning.
 * - The identity fields the caller names are left out: the policy's `uid`, `type`, `target`,
 *   `assigner`, `assignee` (on the policy and on its rules) and `timestamp`.
 */
export type IdentityField = 'uid' | 'type' | 'target' | 'assigner' | 'assignee' | 'timestamp'

export interface CompareOptions {
  ignore?: readonly IdentityField[]
}

export function canonicalKey(model: PolicyModel, options: CompareOptions = {}): string {
  return JSON.stringify(canonicalPolicy(model, new Set(options.ignore ?? [])))
}

/** Equality of the rules of two models (see `canonicalKey` for what counts). */
export function samePolicy(a: PolicyModel, b: PolicyModel, options: CompareOptions = {}): boolean {
  return canonicalKey(a, options) === canonicalKey(b, options)
}

type Canon = unknown
const sortedSet = (items: Canon[]): Canon[] =>
  items
    .map((i) => [JSON.stringify(i), i] as const)
    .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
    .map(([, i]) => i)

function canonicalPolicy(m: PolicyModel, ignore: Set<IdentityField>): Canon {
  return {
    ...(ignore.has('uid') ? {} : { uid: m.uid }),
    ...(ignore.has('type') ? {} : { type: m.type }),
    ...(ignore.has('target') || !m.target ? {} : { target: assets(m.target) }),
    ...(ignore.has('assigner') || m.assigner === undefined ? {} : { assigner: party(m.assigner) }),
    ...(ignore.has('assignee') || m.assignee === undefined ? {} : { assignee: party(m.assignee) }),
    ...(ignore.has('timestamp') || m.timestamp === undefined ? {} : { timestamp: instant(m.timestamp) }),
    profile: [...new Set(m.profile ?? [])].sort(),
    conflict: m.conflict ?? 'invalid',
    permissions: sortedSet(m.permissions.map((r) => rule(r, ignore))),
    prohibitions: sortedSet(m.prohibitions.map((r) => rule(r, ignore))),
    obligations: sortedSet(m.obligations.map((r) => rule(r, ignore))),
  }
}

function rule(r: Rule, ignore: Set<IdentityField>): Canon {
  return {
    uid: r.uid ?? null,
    action: shortAction(r.action),
    refinement: sortedSet((r.actionRefinement ?? []).map(constraint)),
    target: ignore.has('target') || !r.target ? null : assets(r.target),
    assigner: ignore.has('assigner') || r.assigner === undefined ? null : party(r.assigner),
    assignee: ignore.has('assignee') || r.assignee === undefined ? null : party(r.assignee),
    constraints: sortedSet(r.constraints.map(constraint)),
    duties: sortedSet(r.duties.map((d) => rule(d, ignore))),
  }
}

function constraint(c: Constraint): Canon {
  if (c.kind === 'logical') {
    const members = c.constraints.map(constraint)
    return { uid: c.uid ?? null, logical: c.operator, members: c.operator === 'andSequence' ? members : sortedSet(members) }
  }
  const values = (Array.isArray(c.rightOperand) ? c.rightOperand : [c.rightOperand]).map(text)
  return {
    uid: c.uid ?? null,
    left: c.leftOperand,
    operator: c.operator,
    right: c.ordered ? { list: values } : [...new Set(values)].sort(),
    unit: c.unit ?? null,
    // Only when given, so that the keys of policies without overrides stay as they were.
    ...(c.scopes ? { scopes: [...new Set(c.scopes)].sort() } : {}),
  }
}

const text = (v: Value) => String(v)
const instant = (t: string) => (Number.isNaN(Date.parse(t)) ? t : new Date(t).toISOString())

function party(p: Party): Canon {
  return typeof p === 'string' ? p : { uid: p.uid ?? null, source: p.source ?? null, refinement: sortedSet(p.refinement.map(constraint)) }
}

function assets(list: Asset[]): Canon {
  return sortedSet(list.map((a) => (typeof a === 'string' ? a : { uid: a.uid ?? null, partOf: a.partOf ?? null })))
}
