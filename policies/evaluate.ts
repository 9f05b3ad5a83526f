import type {
  Asset,
  AtomicConstraint,
  CompiledPolicy,
  Constraint,
  Decision,
  EvaluationContext,
  Obligation,
  Outcome,
  Party,
  PolicyModel,
  Rule,
  TraceEntry,
} from './types.ts'
import { defaultRegistry, type OperandEntry, type Registry } from './registry.ts'
import { actionIncludedIn, currentAction, shortAction } from './vocabularies/actions.ts'
import { parseDateTime, parseDuration, parseNumber } from './values.ts'
import { policyProblems, type Problem } from './validate.ts'
import { policyPhrase, type PolicyLabel } from './policy-label.ts'
import { actionName, dutyText, formatActual, formatExpected, formatValue, operandLabel, operatorPhrase, partyName } from './phrases.ts'

export interface EvaluateOptions {
  registry?: Registry
  /** How refusals name the policy, when it is not a compiled one (e.g. a stored agreement's). */
  label?: PolicyLabel
}

/**
 * How constraint outcomes count, by the kind of rule they belong to. Fail closed: an unknown value
 * refuses a permission and triggers a prohibition. A deferred constraint (its operand cannot be
 * known at this scope) neither refuses a permission nor triggers a prohibition here; it decides at
 * the scopes where its operand is known.
 */
type Mode = 'permission' | 'prohibition'
const counts: Record<Mode, Record<Outcome, boolean>> = {
  permission: { satisfied: true, violated: false, unknown: false, deferred: true },
  prohibition: { satisfied: true, violated: false, unknown: true, deferred: false },
}

/** A constraint's right operand, parsed once per constraint for its operand's type. */
interface Prepared {
  entry: OperandEntry | undefined
  right: unknown[] | undefined
  rightError?: string
}
const preparedCache = new WeakMap<AtomicConstraint, { registry: Registry; prepared: Prepared }>()

function prepare(constraint: AtomicConstraint, registry: Registry): Prepared {
  const cached = preparedCache.get(constraint)
  if (cached && cached.registry === registry) return cached.prepared
  const entry = registry.get(constraint.leftOperand)
  const raw = Array.isArray(constraint.rightOperand) ? constraint.rightOperand : [constraint.rightOperand]
  let prepared: Prepared = { entry, right: undefined }
  if (entry) {
    const parse = parserFor(entry)
    const right = raw.map(parse)
    const bad = right.indexOf(undefined)
    prepared =
      bad >= 0 ? { entry, right: undefined, rightError: `the policy's value ${formatValue(raw[bad])} is not a valid ${entry.dataType}` } : { entry, right }
  }
  preparedCache.set(constraint, { registry, prepared })
  return prepared
}

const parseDurationValue = (v: unknown) => (typeof v === 'string' ? parseDuration(v) : undefined)
const parsePlace = (v: unknown) => (typeof v === 'string' ? v.toUpperCase() : undefined)
const parseText = (v: unknown) => (v === undefined || v === null ? undefined : String(v))

function parserFor(entry: OperandEntry): (value: unknown) => unknown {
  if (entry.parse) return entry.parse
  switch (entry.dataType) {
    case 'dateTime':
      return parseDateTime
    case 'duration':
      return parseDurationValue
    case 'integer':
    case 'number':
      return parseNumber
    case 'place':
      return parsePlace
    default:
      return parseText
  }
}

function actualFor(entry: OperandEntry, values: unknown[]): unknown[] | undefined {
  const numeric = entry.dataType === 'dateTime' || entry.dataType === 'duration' || entry.dataType === 'integer' || entry.dataType === 'number'
  // Fast path: values already of the operand's type are used as they are (no copy).
  let typed = true
  for (const v of values) {
    if (numeric ? typeof v !== 'number' || !Number.isFinite(v) : typeof v !== 'string' || entry.dataType === 'place' || entry.parse !== undefined) {
      typed = false
      break
    }
  }
  if (typed) return values
  const parse = entry.dataType === 'dateTime' || entry.dataType === 'duration' ? parseNumber : parserFor(entry)
  const parsed = values.map(parse)
  return parsed.some((v) => v === undefined) ? undefined : parsed
}

/** The twelve ODRL operators over a request's values (`actual`) and the policy's (`right`). */
// Module-level helpers, not closures: the evaluator runs on every data access.
function kindOf(a: unknown, b: unknown, within: ((a: string, b: string) => boolean) | undefined): boolean {
  return a === b || within?.(String(a), String(b)) === true
}

export function compare(operator: AtomicConstraint['operator'], actual: unknown[], right: unknown[], within?: (a: string, b: string) => boolean): boolean {
  switch (operator) {
    case 'eq':
      return sameSet(actual, right)
    case 'neq':
      return !sameSet(actual, right)
    case 'gt':
      return actual.length > 0 && actual.every((a) => (a as number) > (right[0] as number))
    case 'gteq':
      return actual.length > 0 && actual.every((a) => (a as number) >= (right[0] as number))
    case 'lt':
      return actual.length > 0 && actual.every((a) => (a as number) < (right[0] as number))
    case 'lteq':
      return actual.length > 0 && actual.every((a) => (a as number) <= (right[0] as number))
    // With several values in the request (two declared purposes, a claim listing roles), every one
    // must qualify: declaring research *and* marketing is not research only.
    case 'isA':
      return actual.length > 0 && actual.every((a) => right.some((r) => kindOf(a, r, within)))
    case 'isPartOf':
      return actual.length > 0 && actual.every((a) => right.some((r) => kindOf(a, r, within)))
    case 'hasPart':
      return right.every((r) => actual.some((a) => kindOf(r, a, within)))
    case 'isAnyOf':
      return actual.length > 0 && actual.every((a) => right.some((r) => kindOf(a, r, within)))
    case 'isNoneOf':
      return !actual.some((a) => right.some((r) => kindOf(a, r, within)))
    case 'isAllOf':
      return right.every((r) => actual.some((a) => kindOf(a, r, within)))
  }
}

/** The request's values are exactly the policy's (as sets; one value each in the common case). */
function sameSet(a: unknown[], b: unknown[]): boolean {
  if (a.length === 0) return false
  if (b.length === 1) {
    for (const v of a) if (v !== b[0]) return false
    return true
  }
  for (const v of a) if (!b.includes(v)) return false
  for (const v of b) if (!a.includes(v)) return false
  return true
}

interface Run {
  context: EvaluationContext
  registry: Registry
  trace: TraceEntry[]
  /** The requested action by its current ODRL name. */
  action: string
  duties: Duties
  /** How refusals name the policy: `policy \`id\``. */
  name: string
  /** While deciding a permission's own constraints at negotiation: a condition that only time will meet is left to the accesses. */
  signing?: boolean
}

/** Evaluates one atomic constraint, records it in the trace, and returns its outcome. */
function record(
  run: Run,
  constraint: AtomicConstraint,
  entry: OperandEntry | undefined,
  rule: string,
  path: string,
  actual: unknown,
  outcome: Outcome,
  note?: string,
): Outcome {
  const entryOut: TraceEntry = {
    rule,
    constraint: path,
    leftOperand: entry?.name ?? constraint.leftOperand,
    operator: constraint.operator,
    expected: constraint.rightOperand,
    actual,
    outcome,
  }
  if (note) entryOut.note = note
  run.trace.push(entryOut)
  return outcome
}

function atomic(run: Run, constraint: AtomicConstraint, rule: string, path: string): Outcome {
  const { entry, right, rightError } = prepare(constraint, run.registry)
  if (!entry) return record(run, constraint, entry, rule, path, null, 'unknown', `the operand \`${constraint.leftOperand}\` is not known to this connector`)
  if (!entry.operators.includes(constraint.operator)) {
    return record(run, constraint, entry, rule, path, null, 'unknown', `the operator \`${constraint.operator}\` does not apply to the ${entry.label}`)
  }
  if (!right) return record(run, constraint, entry, rule, path, null, 'unknown', rightError)
  const overridden = constraint.scopes
  const required = (overridden ?? entry.scopes).includes(run.context.scope)
  if (overridden && !required) {
    const note = `the policy decides this ${entry.label} condition at ${overridden.join(' and ')} time only, not at ${run.context.scope} time`
    return record(run, constraint, entry, rule, path, null, 'deferred', note)
  }
  const reading = required || !entry.carried || entry.carried(run.context) ? entry.read(run.context) : undefined
  if (!reading) {
    return required
      ? record(run, constraint, entry, rule, path, null, 'unknown', `the request does not say what the ${entry.label} is`)
      : record(
          run,
          constraint,
          entry,
          rule,
          path,
          null,
          'deferred',
          `the ${entry.label} is not checked at ${run.context.scope} time (it decides at ${entry.scopes.join(' and ')} time)`,
        )
  }
  const actual = actualFor(entry, reading.values)
  const shown = reading.values.length === 1 ? formatActual(reading.values, entry) : reading.values.map((v) => formatActual([v], entry))
  if (!actual) return record(run, constraint, entry, rule, path, shown, 'unknown', `the request's ${entry.label} is not a valid ${entry.dataType}`)
  const holds = compare(constraint.operator, actual, right, entry.within)
  if (!holds && run.signing && !overridden && holdsLater(entry, constraint.operator, path)) {
    return record(
      run,
      constraint,
      entry,
      rule,
      path,
      shown,
      'deferred',
      `${embargoNote(entry, constraint.rightOperand)}; it is decided at each access, not when the agreement is signed`,
    )
  }
  return record(run, constraint, entry, rule, path, shown, holds ? 'satisfied' : 'violated', reading.note)
}

/**
 * An embargo: the time of the request can only grow, so a lower bound on it that does not hold yet
 * will hold later. Signing such an agreement today opens nothing (each access decides the date
 * again); only a condition every alternative of which must hold (not inside `or`, `xone`) qualifies,
 * so a later date never stands in for another condition that is not met.
 */
const holdsLater = (entry: OperandEntry, operator: string, path: string) =>
  entry.name === 'dateTime' && (operator === 'gt' || operator === 'gteq') && !path.includes('.or[') && !path.includes('.xone[')

const embargoNote = (entry: OperandEntry, value: unknown) => `the ${entry.label} is before ${formatValue(value, entry)}, from when the data may be used`

function constraintHolds(run: Run, constraint: Constraint, rule: string, path: string, mode: Mode): boolean {
  return counts[mode][constraintOutcome(run, constraint, rule, path)]
}

/**
 * A constraint's outcome, in three-valued logic: a logical constraint is unknown (or deferred) when
 * its members leave it undecided, whatever the rule it belongs to. So an unknown member never
 * silently counts as true or false: `or` holds if one member holds; `and` fails if one member fails;
 * `xone` is decided only when every member is.
 */
function constraintOutcome(run: Run, constraint: Constraint, rule: string, path: string): Outcome {
  if (constraint.kind === 'atomic') return atomic(run, constraint, rule, path)
  const paths = memberPaths(constraint, path)
  const total = constraint.constraints.length
  let satisfied = 0
  let violated = 0
  let unknown = 0
  for (let i = 0; i < total; i++) {
    const outcome = constraintOutcome(run, constraint.constraints[i]!, rule, paths[i]!)
    if (outcome === 'satisfied') satisfied++
    else if (outcome === 'violated') violated++
    else if (outcome === 'unknown') unknown++
  }
  const undecided = unknown > 0 ? 'unknown' : 'deferred'
  const open = total - satisfied - violated
  const outcome: Outcome =
    constraint.operator === 'or'
      ? satisfied > 0
        ? 'satisfied'
        : open > 0
          ? undecided
          : 'violated'
      : constraint.operator === 'xone'
        ? open > 0
          ? undecided
          : satisfied === 1
            ? 'satisfied'
            : 'violated'
        : violated > 0
          ? 'violated'
          : open > 0
            ? undecided
            : 'satisfied'
  run.trace.push({
    rule,
    constraint: path,
    leftOperand: `(${constraint.operator})`,
    operator: constraint.operator,
    expected: constraint.operator === 'or' ? 'at least 1' : constraint.operator === 'xone' ? 'exactly 1' : `all ${total}`,
    actual: `${satisfied} of ${total}`,
    outcome,
  })
  return outcome
}

/** Trace paths of a logical constraint's members (`constraint 3.or[1]`), built once per constraint. */
const memberPathCache = new WeakMap<Constraint, { path: string; members: string[] }>()
function memberPaths(constraint: Constraint & { kind: 'logical' }, path: string): string[] {
  const cached = memberPathCache.get(constraint)
  if (cached && cached.path === path) return cached.members
  const members = constraint.constraints.map((_, i) => `${path}.${constraint.operator}[${i + 1}]`)
  memberPathCache.set(constraint, { path, members })
  return members
}

function partyMatches(run: Run, party: Party | undefined, rule: string, mode: Mode): boolean {
  if (party === undefined) return true
  if (typeof party === 'string') return party === run.context.assignee || (run.context.assigneeCollections?.includes(party) ?? false)
  const ids = [party.uid, party.source].filter((id): id is string => id !== undefined)
  if (ids.some((id) => id === run.context.assignee || run.context.assigneeCollections?.includes(id))) return true
  // A collection defined by a refinement: its members are the parties that satisfy it.
  if (party.refinement.length === 0) return false
  return party.refinement.every((c, i) => constraintHolds(run, c, rule, `assignee refinement ${i + 1}`, mode))
}

function assetMatches(context: EvaluationContext, assets: Asset[] | undefined): boolean {
  if (!assets || assets.length === 0 || context.target === undefined) return true
  return assets.some((asset) => {
    const id = typeof asset === 'string' ? asset : (asset.uid ?? asset.partOf)
    return id === context.target || (id !== undefined && (context.targetCollections?.includes(id) ?? false))
  })
}

interface RuleResult {
  label: string
  /** Position among the policy's rules of its kind (0-based). */
  index: number
  rule: Rule
  /** Why the rule does not concern this request (action, party, target), if it does not. */
  notApplicable?: string
  active: boolean
  /** Trace entries of this rule's constraints. */
  entries: TraceEntry[]
  violatedDuty?: string
}

/** "(given by the policy for all its rules)" when a compact policy gave the rule this field. */
const given = (rule: Rule, field: 'action' | 'target' | 'assigner' | 'assignee') =>
  rule.inherited?.includes(field) ? ' (given by the policy for all its rules)' : ''

function evaluateRule(run: Run, policy: PolicyModel, rule: Rule, label: string, index: number, mode: Mode): RuleResult {
  const context = run.context
  const start = run.trace.length
  const result: RuleResult = { label, index, rule, active: false, entries: [] }
  const assigner = rule.assigner ?? policy.assigner
  const assignee = rule.assignee ?? policy.assignee
  const target = rule.target ?? policy.target
  if (!actionIncludedIn(run.action, rule.action)) {
    skip(
      run,
      result,
      'action',
      rule.action,
      context.action,
      `it is about ${actionName(rule.action)}${given(rule, 'action')}, not ${actionName(context.action)}`,
    )
  } else if (!assetMatches(context, target)) {
    skip(run, result, 'target', target, context.target, `it is about another dataset than \`${context.target}\`${given(rule, 'target')}`)
  } else if (!partyMatches(run, assignee, label, mode)) {
    skip(run, result, 'assignee', assignee, context.assignee, `it is granted to ${partyName(assignee!)}${given(rule, 'assignee')}, not \`${context.assignee}\``)
  } else if (context.assigner && typeof assigner === 'string' && assigner !== context.assigner) {
    skip(run, result, 'assigner', assigner, context.assigner, `it was assigned by \`${assigner}\`${given(rule, 'assigner')}, not \`${context.assigner}\``)
  } else {
    let holds = true
    // An action refinement narrows the action: the rule concerns the request only when it holds.
    const refinement = rule.actionRefinement ?? []
    for (let i = 0; i < refinement.length; i++) {
      if (!constraintHolds(run, refinement[i]!, label, `action refinement ${i + 1}`, mode)) holds = false
    }
    run.signing = mode === 'permission' && context.scope === 'negotiation' && context.decideDatesNow !== true
    for (let i = 0; i < rule.constraints.length; i++) {
      if (!constraintHolds(run, rule.constraints[i]!, label, constraintPath(i), mode)) holds = false
    }
    run.signing = false
    if (mode === 'permission' && holds && rule.duties.length > 0) {
      const infos = run.duties.permissions[index]!
      for (let i = 0; i < rule.duties.length; i++) {
        const why = dutyState(run, rule.duties[i]!, infos[i]!, label, true)
        if (why && !result.violatedDuty) result.violatedDuty = `duty ${i + 1} of ${label} of ${run.name}: \`${infos[i]!.action}\` (${infos[i]!.text}) ${why}`
      }
    }
    result.active = holds && !result.violatedDuty
  }
  result.entries = run.trace.slice(start)
  return result
}

/** A rule that does not concern the request: why, in words and in the trace (which field, the rule's and the request's values). */
function skip(run: Run, result: RuleResult, field: 'action' | 'target' | 'assignee' | 'assigner', expected: unknown, actual: unknown, why: string) {
  result.notApplicable = why
  run.trace.push({
    rule: result.label,
    constraint: 'applies',
    leftOperand: '(applies)',
    operator: field,
    expected: expected ?? null,
    actual: actual ?? null,
    outcome: 'violated',
    note: `the rule does not apply: ${why}`,
  })
}

/**
 * Whether a duty stands in the way, and why (undefined when it does not). ODRL 2.2: a permission's
 * duty is a pre-condition of the permission. It permits when the duty is `fulfilled`, or
 * `acknowledged` (taken on, due later) and not overdue (a deadline of its own that the connector
 * can see has passed). A duty recorded as violated blocks; so does one with no record at all when
 * the permission is exercised (a transfer, the monitor, or any request that states what is known
 * of duties). In the catalog and in a negotiation without duty records, the duty is what the
 * agreement will bind: it does not block there, and the decision lists it as an obligation.
 * A policy-level obligation is no pre-condition (`precondition` false): only violated or overdue blocks.
 */
function dutyState(run: Run, duty: Rule, info: DutyInfo, rule: string, precondition: boolean): string | undefined {
  const { id, path } = info
  const recorded = run.context.duties?.[id]
  let why: string | undefined
  if (recorded === 'violated') why = 'was violated'
  else if (precondition && recorded !== 'fulfilled' && recorded !== 'acknowledged' && bindsNow(run.context)) why = 'has not been fulfilled or acknowledged'
  else if (recorded !== 'fulfilled' && duty.constraints.length > 0) {
    const start = run.trace.length
    for (let i = 0; i < duty.constraints.length; i++) constraintHolds(run, duty.constraints[i]!, rule, `${path}.constraint ${i + 1}`, 'permission')
    // Only a condition seen to fail counts: one the request cannot tell (unknown, deferred) leaves the duty due.
    if (run.trace.slice(start).some((e) => e.outcome === 'violated' && !e.leftOperand.startsWith('(')))
      why = 'is overdue (its conditions no longer hold and it is not recorded as fulfilled)'
  }
  run.trace.push({
    rule,
    constraint: path,
    leftOperand: '(duty)',
    operator: info.action,
    expected: 'fulfilled or acknowledged',
    actual: recorded ?? 'no record',
    outcome: why ? 'violated' : 'satisfied',
    note: why ? `${info.note} ${why}` : info.note,
  })
  return why
}

/** Whether duties must already be fulfilled or acknowledged: the permission is exercised, or the request says what is known of duties. */
const bindsNow = (context: EvaluationContext) => context.scope === 'transfer' || context.scope === 'monitor' || context.duties !== undefined

const paths = Array.from({ length: 64 }, (_, i) => `constraint ${i + 1}`)
const constraintPath = (i: number) => paths[i] ?? `constraint ${i + 1}`

/** Rule labels (`permission 1 (use)`), built once per policy model. */
const labelCache = new WeakMap<PolicyModel, { permissions: string[]; prohibitions: string[] }>()
function labelsOf(model: PolicyModel) {
  let labels = labelCache.get(model)
  if (!labels) {
    const label = (kind: string) => (rule: Rule, i: number) => `${kind} ${i + 1} (${shortAction(rule.action || 'no action')})`
    labels = { permissions: model.permissions.map(label('permission')), prohibitions: model.prohibitions.map(label('prohibition')) }
    labelCache.set(model, labels)
  }
  return labels
}

/** The decision for one request. Pure: no I/O, no clock (the context carries `now`). */
export function evaluate(policy: CompiledPolicy | PolicyModel, context: EvaluationContext, options: EvaluateOptions = {}): Decision {
  const compiled = 'model' in policy ? policy : undefined
  const model = compiled ? compiled.model : (policy as PolicyModel)
  const registry = options.registry ?? compiled?.registry ?? defaultRegistry()
  const name = policyPhrase(compiled ? { id: compiled.id, title: compiled.title } : (options.label ?? { id: model.uid }))
  const run: Run = { context, registry, trace: [], action: '', duties: noDuties, name }
  // Callers outside TypeScript's reach (JSON, stored rows) may hand over half a context: deny, never throw.
  if (!(context?.now instanceof Date) || Number.isNaN(context.now.getTime()) || typeof context.action !== 'string') {
    const reason = 'Refused: the request is incomplete (it needs an action and the time of the request).'
    return { allowed: false, reason, explanation: [reason], trace: [], obligations: [] }
  }

  const problems = problemsOf(model, registry)
  if (problems.length > 0) return invalid(run, name, problems)

  const labels = labelsOf(model)
  run.action = currentAction(context.action)
  run.duties = dutiesOf(model, registry, labels.permissions)
  const permissions = model.permissions.map((r, i) => evaluateRule(run, model, r, labels.permissions[i]!, i, 'permission'))
  const prohibitions = model.prohibitions.map((r, i) => evaluateRule(run, model, r, labels.prohibitions[i]!, i, 'prohibition'))
  const granted = permissions.filter((p) => p.active)
  const forbidding = prohibitions.filter((p) => p.active && !p.notApplicable)

  const obligations: Obligation[] = []
  const explanation: string[] = []
  for (const p of granted) {
    p.rule.duties.forEach((duty, i) => obligations.push(obligationOf(duty, run.duties.permissions[p.index]![i]!, context)))
  }
  let broken: { duty: Rule; why: string } | undefined
  model.obligations.forEach((duty, i) => {
    const info = run.duties.obligations[i]!
    const why = dutyState(run, duty, info, info.rule, false)
    if (why && !broken) broken = { duty, why }
    obligations.push(obligationOf(duty, info, context, why !== undefined, false))
  })

  if (broken) {
    return denial(run, explanation, `Refused: the obligation to ${dutyText(broken.duty, registry)} ${broken.why} (${name}).`, [])
  }

  const conflict = model.conflict ?? 'invalid'
  if (forbidding.length > 0 && !(granted.length > 0 && conflict === 'perm')) {
    const first = forbidding[0]!
    const why = firstFinding(first.entries, 'satisfied', registry) ?? firstFinding(first.entries, 'unknown', registry)
    const lead =
      granted.length > 0 && conflict === 'invalid'
        ? `Refused: ${name} is void for this request because ${granted[0]!.label} and ${first.label} both apply (conflict strategy \`invalid\`${model.conflict ? '' : ", ODRL's default"})`
        : granted.length > 0
          ? `Refused: ${first.label} of ${name} forbids ${actionName(context.action)}, and prevails over ${granted[0]!.label} (conflict strategy \`prohibit\`)`
          : `Refused: ${first.label} of ${name} forbids ${actionName(context.action)}`
    const remedies = first.rule.duties.map((r) => `If it happens anyway, the requester must ${dutyText(r, registry)} (remedy of ${first.label}).`)
    return denial(run, explanation, why ? `${lead}: ${why}.` : `${lead}.`, [
      ...remedies,
      ...forbidding.slice(1).map((p) => `${capital(p.label)} also forbids it.`),
    ])
  }

  if (granted.length > 0) {
    const first = granted[0]!
    const reason = `Allowed: ${first.label} of ${name} permits ${actionName(context.action)}${first.entries.some((e) => e.outcome === 'satisfied' && e.leftOperand !== '(duty)') ? ' and its conditions are met' : ''}.`
    explanation.push(reason)
    const met = first.entries.filter((e) => e.outcome === 'satisfied' && !e.leftOperand.startsWith('(') && /^constraint \d+$/.test(e.constraint))
    for (const e of met.slice(0, 8)) explanation.push(`${capital(findingText(e, registry))}.`)
    if (forbidding.length > 0) explanation.push(`${capital(forbidding[0]!.label)} also applies, but the conflict strategy \`perm\` lets permissions prevail.`)
    for (const o of obligations)
      explanation.push(`Duty \`${o.id}\` (${o.state}${o.checkedBy === 'consumer' ? ', the requester performs it' : ', the connector checks it'}): ${o.text}.`)
    deferredNote(run, explanation)
    return { allowed: true, reason, explanation, trace: run.trace, obligations }
  }

  const applicable = permissions.filter((p) => !p.notApplicable)
  if (applicable.length === 0) {
    const details = permissions.map((p) => `${capital(p.label)} does not apply: ${p.notApplicable}.`)
    return denial(
      run,
      explanation,
      `Refused: ${name} grants no permission to ${actionName(context.action)}${permissions.length === 0 ? '' : ' to this requester for this dataset'}.`,
      details,
    )
  }
  const first = applicable[0]!
  if (first.violatedDuty) return denial(run, explanation, `Refused: ${first.violatedDuty}.`, [])
  const failures = topFailures(first.entries, registry)
  const reasonFinding = failures[0] ?? 'its conditions are not met'
  const details = failures.slice(1, 6).map((f) => `Also: ${f}.`)
  if (failures.length > 6) details.push(`And ${failures.length - 6} more unmet conditions.`)
  for (const other of applicable.slice(1)) {
    const f = other.entries.find((e) => e.outcome === 'violated' || e.outcome === 'unknown')
    details.push(`${capital(other.label)} does not allow it either${f ? `: ${findingText(f, registry)}` : ''}.`)
  }
  return denial(run, explanation, `Refused: ${reasonFinding}; required by ${first.label} of ${name}.`, details)
}

/**
 * Duties only the consumer can perform (attribution, payment, obtaining consent, …): the connector
 * records them and learns their state from `context.duties`. The others it can tell itself: a
 * deletion or a count it enforces, a notification through its own events.
 */
const consumerDuties = new Set([
  'attribute',
  'compensate',
  'obtainConsent',
  'acceptTracking',
  'reviewPolicy',
  'ensureExclusivity',
  'nextPolicy',
  'watermark',
  'anonymize',
])

/** A stable id for a duty: its uid, or its position (`permission-1-duty-2`, `obligation-3`). */
export function dutyId(duty: Rule, permission: number | undefined, index: number): string {
  return duty.uid ?? (permission === undefined ? `obligation-${index + 1}` : `permission-${permission + 1}-duty-${index + 1}`)
}

/** What is fixed about a duty for a given policy and registry: found once per model. */
interface DutyInfo {
  id: string
  action: string
  text: string
  checkedBy: Obligation['checkedBy']
  /** The rule it belongs to (`permission 1 (use), duty 2`), and its trace path. */
  rule: string
  path: string
  note: string
}
interface Duties {
  permissions: DutyInfo[][]
  obligations: DutyInfo[]
}
const noDuties: Duties = { permissions: [], obligations: [] }
const dutyCache = new WeakMap<PolicyModel, { registry: Registry; duties: Duties }>()

function dutiesOf(model: PolicyModel, registry: Registry, labels: string[]): Duties {
  const cached = dutyCache.get(model)
  if (cached && cached.registry === registry) return cached.duties
  const info = (duty: Rule, id: string, rule: string, path: string): DutyInfo => {
    const action = shortAction(duty.action)
    return { id, action, text: dutyText(duty, registry), checkedBy: consumerDuties.has(action) ? 'consumer' : 'connector', rule, path, note: `duty \`${id}\`` }
  }
  const duties: Duties = {
    permissions: model.permissions.map((p, i) => p.duties.map((d, j) => info(d, dutyId(d, i, j), `${labels[i]}, duty ${j + 1}`, `duty ${j + 1}`))),
    obligations: model.obligations.map((o, i) => info(o, dutyId(o, undefined, i), `obligation ${i + 1}`, `obligation ${i + 1}`)),
  }
  dutyCache.set(model, { registry, duties })
  return duties
}

function obligationOf(duty: Rule, info: DutyInfo, context: EvaluationContext, blocking = false, precondition = true): Obligation {
  const state = context.duties?.[info.id] ?? 'pending'
  const due = precondition && state === 'pending' && bindsNow(context)
  return {
    id: info.id,
    action: info.action,
    rule: info.rule,
    constraints: duty.constraints,
    text: info.text,
    checkedBy: info.checkedBy,
    state,
    blocking: blocking || due || state === 'violated',
  }
}

/** The policy's problems against this registry, found once per model (evaluation runs on every access). */
const problemCache = new WeakMap<PolicyModel, { registry: Registry; problems: Problem[] }>()
function problemsOf(model: PolicyModel, registry: Registry): Problem[] {
  const cached = problemCache.get(model)
  if (cached && cached.registry === registry) return cached.problems
  const problems = policyProblems(model, registry)
  problemCache.set(model, { registry, problems })
  return problems
}

/** An invalid policy never allows: the refusal names every problem, in sentences and in the trace. */
function invalid(run: Run, name: string, problems: Problem[]): Decision {
  const texts = problems.map((p) => `${p.where}: ${p.message}${p.suggestion ? ` (${p.suggestion})` : ''}`)
  for (const p of problems) {
    run.trace.push({
      rule: p.where.split('.')[0] ?? 'policy',
      constraint: p.where,
      leftOperand: '(invalid)',
      operator: '',
      expected: null,
      actual: null,
      outcome: 'unknown',
      note: p.message,
    })
  }
  const reason = `Refused: ${name} is invalid, so it permits nothing: ${texts[0]}${texts.length > 1 ? ` (and ${texts.length - 1} more problem${texts.length > 2 ? 's' : ''})` : ''}.`
  return { allowed: false, invalid: texts, reason, explanation: [reason, ...texts.slice(1).map((t) => `Also: ${t}.`)], trace: run.trace, obligations: [] }
}

const failed = (e: TraceEntry) => e.outcome === 'violated' || e.outcome === 'unknown'

/** One sentence fragment per unmet top-level constraint of a rule; logical ones are summarised. */
function topFailures(entries: TraceEntry[], registry: Registry): string[] {
  const top = /^(constraint|action refinement) \d+$/
  return entries
    .filter((e) => e.leftOperand !== '(applies)' && (failed(e) || (e.leftOperand.startsWith('(') && e.outcome === 'violated')) && top.test(e.constraint))
    .map((e) => {
      if (!e.leftOperand.startsWith('(')) return findingText(e, registry)
      const members = entries.filter((t) => t.constraint.startsWith(`${e.constraint}.`) && !t.leftOperand.startsWith('('))
      if (e.outcome === 'unknown') {
        const open = members.find((t) => t.outcome === 'unknown')
        return `${e.constraint} (${e.operator}) cannot be decided${open ? `: ${findingText(open, registry)}` : ''}`
      }
      const inner = members.find(failed)
      const [met, total] = String(e.actual).split(' of ')
      switch (e.operator) {
        case 'or': {
          const shown = members
            .filter(failed)
            .slice(0, 3)
            .map((t) => findingText(t, registry))
          return shown.length > 0
            ? `none of the ${total} alternatives holds: ${shown.join('; ')}${members.filter(failed).length > 3 ? '; …' : ''}`
            : `none of the ${total} alternatives of ${e.constraint} holds`
        }
        case 'xone': {
          const holding = members
            .filter((t) => t.outcome === 'satisfied')
            .slice(0, 3)
            .map((t) => findingText(t, registry))
          return `exactly one of the ${total} alternatives must hold, ${met} do${holding.length > 0 ? ` (${holding.join('; ')})` : ''}`
        }
        default:
          return inner ? findingText(inner, registry) : `${e.constraint} is not met`
      }
    })
}

function deferredNote(run: Run, explanation: string[]) {
  let labels: Set<string> | undefined
  for (const t of run.trace) {
    if (t.outcome === 'deferred') (labels ??= new Set()).add(operandLabel(t.leftOperand, run.registry.get(t.leftOperand)))
  }
  if (labels) explanation.push(`Not checked at ${run.context.scope} time: ${[...labels].join(', ')}.`)
}

function denial(run: Run, explanation: string[], reason: string, details: string[]): Decision {
  explanation.push(reason, ...details)
  deferredNote(run, explanation)
  return { allowed: false, reason, explanation, trace: run.trace, obligations: [] }
}

function firstFinding(entries: TraceEntry[], outcome: Outcome, registry: Registry): string | undefined {
  const e = entries.find((t) => t.outcome === outcome && !t.leftOperand.startsWith('('))
  return e ? findingText(e, registry) : undefined
}

/** One trace entry as a plain sentence fragment: "purpose `marketing` is not a kind of `research`". */
export function findingText(e: TraceEntry, registry: Registry): string {
  const entry = registry.get(e.leftOperand)
  const label = operandLabel(e.leftOperand, entry)
  if (e.outcome === 'unknown') return e.note ?? `the ${label} is unknown`
  if (e.outcome === 'deferred') return e.note ?? `the ${label} is checked later`
  const holds = e.outcome === 'satisfied'
  const actual = Array.isArray(e.actual) ? e.actual.join(', ') : String(e.actual)
  const note = e.note ? ` (${e.note})` : ''
  return `${label} \`${actual}\`${note} ${operatorPhrase(e.operator as AtomicConstraint['operator'], entry?.dataType, holds)} ${formatExpected(e.operator, e.expected, entry)}`
}

const capital = (s: string) => s.charAt(0).toUpperCase() + s.slice(1)
