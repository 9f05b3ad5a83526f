import type { Constraint, Operator, Party, PolicyModel, Rule, Value } from './types.ts'
import { operators } from './types.ts'
import { passerelleNamespace, type OperandEntry, type Registry } from './registry.ts'
import { deprecatedActions, isKnownAction, knownActions, shortAction } from './vocabularies/actions.ts'
import { parseDateTime, parseDuration, parseNumber } from './values.ts'
import { closest } from './suggest.ts'

/**
 * What makes a policy invalid: anything the engine would not enforce as written. One list of
 * checks serves every door: lint of stewards' files, `readPolicy` for peers' offers and agreements,
 * and `evaluate` (a stored agreement read long ago is checked again against today's registry).
 */

export type Path = (string | number)[]

export const fieldName = (path: Path) => path.reduce<string>((s, p) => (typeof p === 'number' ? `${s}[${p}]` : s ? `${s}.${p}` : p), '') || '(file)'

/** ODRL profiles this engine implements. ODRL: a policy with a profile the consumer does not know is invalid. */
export const supportedProfiles: readonly string[] = ['https://w3id.org/dspace/2025/1/odrl-profile', `${passerelleNamespace}profile`]

export interface Problem {
  /** Path in the stewards' file layout: `permissions[0].constraints[1].operator`. */
  path: Path
  /** The same place in ODRL names: `permission[0].constraint[1].operator`. */
  where: string
  message: string
  suggestion?: string
}

const odrlNames: Record<string, string> = {
  permissions: 'permission',
  prohibitions: 'prohibition',
  obligations: 'obligation',
  constraints: 'constraint',
  duties: 'duty',
  remedies: 'remedy',
  consequences: 'consequence',
}
export const odrlPath = (path: Path): Path => path.map((p) => (typeof p === 'string' ? (odrlNames[p] ?? p) : p))

/** What stewards write for an operator by habit. */
const operatorAliases: Record<string, Operator> = {
  equals: 'eq',
  '=': 'eq',
  '==': 'eq',
  is: 'eq',
  '!=': 'neq',
  notEquals: 'neq',
  ne: 'neq',
  '<': 'lt',
  '<=': 'lteq',
  '>': 'gt',
  '>=': 'gteq',
  le: 'lteq',
  ge: 'gteq',
  in: 'isAnyOf',
  oneOf: 'isAnyOf',
  anyOf: 'isAnyOf',
  notIn: 'isNoneOf',
  noneOf: 'isNoneOf',
  allOf: 'isAllOf',
  within: 'isPartOf',
  partOf: 'isPartOf',
  contains: 'hasPart',
  subClassOf: 'isA',
  kindOf: 'isA',
}
const orderedOperators: Operator[] = ['gt', 'gteq', 'lt', 'lteq']

/** Datatypes a right operand may declare, by the operand's type. */
const datatypesFor: Partial<Record<OperandEntry['dataType'], string[]>> = {
  dateTime: ['dateTime', 'dateTimeStamp', 'date'],
  duration: ['duration', 'dayTimeDuration', 'yearMonthDuration'],
  integer: ['integer', 'int', 'long', 'nonNegativeInteger', 'positiveInteger', 'decimal'],
  number: ['integer', 'int', 'long', 'nonNegativeInteger', 'positiveInteger', 'decimal', 'double', 'float'],
  boolean: ['boolean'],
}
const xsdNamespace = 'http://www.w3.org/2001/XMLSchema#'
const xsdShort = (iri: string) => (iri.startsWith(xsdNamespace) ? iri.slice(xsdNamespace.length) : iri.startsWith('xsd:') ? iri.slice(4) : undefined)
const stringTypes = ['string', 'anyURI']

/** Does the value parse as the operand's type (what the evaluator will compare)? */
function parses(entry: OperandEntry, v: Value): boolean {
  switch (entry.dataType) {
    case 'dateTime':
      return parseDateTime(v) !== undefined
    case 'duration':
      return typeof v === 'string' && parseDuration(v) !== undefined
    case 'integer':
      return parseNumber(v) !== undefined && Number.isInteger(parseNumber(v))
    case 'number':
      return parseNumber(v) !== undefined
    case 'boolean':
      return typeof v === 'boolean' || v === 'true' || v === 'false'
    default:
      return true
  }
}

export interface ProblemOptions {
  /** Paths (fieldName) of values that are template parameters without a value yet: not checked. */
  parameterPaths?: Set<string>
}

/** Every reason the policy is invalid, in document order; empty when the engine understands all of it. */
export function policyProblems(model: PolicyModel, registry: Registry, options: ProblemOptions = {}): Problem[] {
  const problems: Problem[] = []
  const add = (path: Path, message: string, suggestion?: string) =>
    problems.push({ path, where: fieldName(odrlPath(path)), message, ...(suggestion ? { suggestion } : {}) })
  for (const [i, profile] of (model.profile ?? []).entries()) {
    if (!supportedProfiles.includes(profile)) {
      add(
        model.profile!.length > 1 ? ['profile', i] : ['profile'],
        `the profile \`${profile}\` is not one this connector implements, so the policy cannot be understood as written`,
        `supported profiles: ${supportedProfiles.join(', ')}`,
      )
    }
  }
  if (model.type === 'Agreement') {
    const rules = [...model.permissions, ...model.prohibitions, ...model.obligations]
    for (const field of ['assigner', 'assignee'] as const) {
      if (model[field] === undefined && (rules.length === 0 || rules.some((r) => r[field] === undefined))) add([field], `an Agreement needs an ${field}`)
    }
  }
  const kinds = [
    ['permissions', model.permissions, 'duties'],
    ['prohibitions', model.prohibitions, 'remedies'],
    ['obligations', model.obligations, 'consequences'],
  ] as const
  for (const [kind, rules, nested] of kinds) {
    rules.forEach((rule, i) => ruleProblems(rule, [kind, i], nested, registry, add, options, 0))
  }
  return problems
}

type Add = (path: Path, message: string, suggestion?: string) => void

function ruleProblems(rule: Rule, path: Path, nested: string, registry: Registry, add: Add, options: ProblemOptions, depth: number) {
  if (!rule.action) add([...path, 'action'], 'the rule has no action (and the policy gives none for its rules)', 'e.g. use, read, distribute')
  else if (!isKnownAction(rule.action)) {
    const short = shortAction(rule.action)
    if (Object.hasOwn(deprecatedActions, short)) {
      const instead = deprecatedActions[short]
      add(
        [...path, 'action'],
        `the action \`${short}\` is deprecated in ODRL 2.2`,
        instead ? `use \`${instead}\`` : 'use a current ODRL action such as use, read, distribute',
      )
    } else {
      const near = closest(short, knownActions())
      add(
        [...path, 'action'],
        `unknown action \`${rule.action}\``,
        near ? `did you mean \`${near}\`?` : 'use an ODRL action such as use, read, distribute, modify, aggregate',
      )
    }
  }
  rule.actionRefinement?.forEach((c, i) => constraintProblems(c, [...path, 'action', 'refinement', i], registry, add, options, 0))
  partyProblems(rule.assignee, [...path, 'assignee'], registry, add, options)
  partyProblems(rule.assigner, [...path, 'assigner'], registry, add, options)
  rule.constraints.forEach((c, i) => constraintProblems(c, [...path, 'constraints', i], registry, add, options, 0))
  if (depth < 3) rule.duties.forEach((d, j) => ruleProblems(d, [...path, nested, j], 'consequences', registry, add, options, depth + 1))
}

function partyProblems(party: Party | undefined, path: Path, registry: Registry, add: Add, options: ProblemOptions) {
  if (party === undefined || typeof party === 'string') return
  party.refinement.forEach((c, i) => constraintProblems(c, [...path, 'refinement', i], registry, add, options, 0))
}

function constraintProblems(c: Constraint, path: Path, registry: Registry, add: Add, options: ProblemOptions, depth: number) {
  if (c.kind === 'logical') {
    if (c.constraints.length === 0) add([...path, c.operator], `\`${c.operator}\` needs at least one constraint`)
    if (depth <= 16) c.constraints.forEach((m, i) => constraintProblems(m, [...path, c.operator, i], registry, add, options, depth + 1))
    return
  }
  const entry = c.leftOperand ? registry.get(c.leftOperand) : undefined
  if (!entry) {
    const names = registry.list().map((e) => e.name)
    const near = closest(c.leftOperand, names)
    const hint = c.leftOperand.startsWith('credential')
      ? 'credential operands are written credential.<CredentialType>.<claim>, e.g. credential.MembershipCredential.role'
      : near
        ? `did you mean \`${near}\`?`
        : `known operands: ${names.join(', ')}`
    add([...path, 'leftOperand'], c.leftOperand ? `unknown left operand \`${c.leftOperand}\`` : 'the constraint has no left operand', hint)
    return
  }
  if (!operators.includes(c.operator)) {
    const near = (Object.hasOwn(operatorAliases, c.operator) ? operatorAliases[c.operator] : undefined) ?? closest(c.operator, operators)
    add([...path, 'operator'], `unknown operator \`${c.operator}\``, near ? `did you mean \`${near}\`?` : `operators: ${operators.join(', ')}`)
    return
  }
  if (!entry.operators.includes(c.operator)) {
    const better =
      c.operator === 'isPartOf' && entry.operators.includes('isA')
        ? 'isA'
        : c.operator === 'isA' && entry.operators.includes('isPartOf')
          ? 'isPartOf'
          : undefined
    add(
      [...path, 'operator'],
      `operator \`${c.operator}\` does not fit the ${entry.label} (${entry.dataType})`,
      better ? `use \`${better}\`` : `use one of: ${entry.operators.join(', ')}`,
    )
    return
  }
  if (c.unit !== undefined)
    add([...path, 'unit'], `units are not enforced by this connector (\`${c.unit}\`)`, "give the value in the operand's own unit and leave `unit` out")
  if (c.dataType !== undefined) {
    const short = xsdShort(c.dataType)
    const allowed = datatypesFor[entry.dataType] ?? stringTypes
    if (!short || !allowed.includes(short)) {
      add(
        [...path, 'rightOperand'],
        `the datatype \`${c.dataType}\` does not fit the ${entry.label} (${entry.dataType})`,
        `use ${allowed.map((t) => `xsd:${t}`).join(' or ')}`,
      )
      return
    }
  }
  if (options.parameterPaths?.has(fieldName([...path, 'rightOperand']))) return
  const values: Value[] = Array.isArray(c.rightOperand) ? c.rightOperand : [c.rightOperand]
  if (values.length === 0) {
    add([...path, 'rightOperand'], 'the right operand is empty')
    return
  }
  if (values.length > 1 && (orderedOperators.includes(c.operator) || entry.dataType === 'dateTime' || entry.dataType === 'duration')) {
    add([...path, 'rightOperand'], `\`${c.operator}\` compares with one value, not a list`)
    return
  }
  values.forEach((v, i) => {
    const at = Array.isArray(c.rightOperand) ? [...path, 'rightOperand', i] : [...path, 'rightOperand']
    const problem = entry.check?.(v) ?? (parses(entry, v) ? undefined : `\`${String(v)}\` is not a valid ${entry.dataType}`)
    if (problem) {
      const near = typeof v === 'string' && entry.values ? closest(v, entry.values) : undefined
      add(at, problem, near ? `did you mean \`${near}\`?` : entry.values && entry.values.length <= 40 ? `known values: ${entry.values.join(', ')}` : undefined)
    }
  })
}
