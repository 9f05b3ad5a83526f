import type {
  Asset, AtomicConstraint, CompiledPolicy, Constraint, Decision, EvaluationContext, Obligation, Outcome, Party,
  PolicyModel, Rule, TraceEntry,
} from './types.ts'
import { defaultRegistry, type OperandEntry, type Registry } from './registry.ts'
import { actionIncludedIn, shortAction } from './vocabularies/actions.ts'
import { parseDateTime, parseDuration, parseNumber } from './values.ts'
import { actionName, dutyText, formatActual, formatExpected, formatValue, operandLabel, operatorPhrase, partyName } from './phrases.ts'

export interface EvaluateOptions {
  registry?: Registry
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
    const bad = right.findIndex((v) => v === undefined)
    prepared = bad >= 0
      ? { entry, right: undefined, rightError: `the policy's value ${formatValue(raw[bad])} is not a valid ${entry.dataType}` }
      : { entry, right }
  }
  preparedCache.set(constraint, { registry, prepared })
  return prepared
}

const parseDurationValue = (v: unknown) => (typeof v === 'string' ? parseDuration(v) : undefined)
const parsePlace = (v: unknown) => (typeof v === 'string' ? v.toUpperCase() : undefined)
const parseText = (v: unknown) => (v === undefined || v === null ? undefined : String(v))

function parserFor(entry: OperandEntry): (value: unknown) => unknown {
  switch (entry.dataType) {
    case 'dateTime': return parseDateTime
    case 'duration': return parseDurationValue
    case 'integer':
    case 'number': return parseNumber
    case 'place': return parsePlace
    default: return parseText
  }
}

function actualFor(entry: OperandEntry, values: unknown[]): unknown[] | undefined {
  const numeric = entry.dataType === 'dateTime' || entry.dataType === 'duration' || entry.dataType === 'integer' || entry.dataType === 'number'
  // Fast path: values already of the operand's type are used as they are (no copy).
  let typed = true
  for (const v of values) {
    if (numeric ? typeof v !== 'number' || !Number.isFinite(v) : typeof v !== 'string' || entry.dataType === 'place') {
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
  return a === b || (within !== undefined && within(String(a), String(b)))
}

export function compare(operator: AtomicConstraint['operator'], actual: unknown[], right: unknown[], within?: (a: string, b: string) => boolean): boolean {
  switch (operator) {
    case 'eq': return sameSet(actual, right)
    case 'neq': return !sameSet(actual, right)
    case 'gt': return actual.length > 0 && actual.every((a) => (a as number) > (right[0] as number))
    case 'gteq': return actual.length > 0 && actual.every((a) => (a as number) >= (right[0] as number))
    case 'lt': return actual.length > 0 && actual.every((a) => (a as number) < (right[0] as number))
    case 'lteq': return actual.length > 0 && actual.every((a) => (a as number) <= (right[0] as number))
    // With several values in the request (two declared purposes, a claim listing roles), every one
    // must qualify: declaring research *and* marketing is not research only.
    case 'isA': return actual.length > 0 && actual.every((a) => right.some((r) => kindOf(a, r, within)))
    case 'isPartOf': return actual.length > 0 && actual.every((a) => right.some((r) => kindOf(a, r, within)))
    case 'hasPart': return right.every((r) => actual.some((a) => kindOf(r, a, within)))
    case 'isAnyOf': return actual.length > 0 && actual.every((a) => right.some((r) => kindOf(a, r, within)))
    case 'isNoneOf': return !actual.some((a) => right.some((r) => kindOf(a, r, within)))
    case 'isAllOf': return right.every((r) => actual.some((a) => kindOf(a, r, within)))
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
}

/** Evaluates one atomic constraint, records it in the trace, and returns its outcome. */
function record(run: Run, constraint: AtomicConstraint, entry: OperandEntry | undefined, rule: string, path: string, actual: unknown, outcome: Outcome, note?: string): Outcome {
  const entryOut: TraceEntry = { rule, constraint: path, leftOperand: entry?.name ?? constraint.leftOperand, operator: constraint.operator, expected: constraint.rightOperand, actual, outcome }
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
  const required = entry.scopes.includes(run.context.scope)
  const reading = required || !entry.carried || entry.carried(run.context) ? entry.read(run.context) : undefined
  if (!reading) {
    return required
      ? record(run, constraint, entry, rule, path, null, 'unknown', `the request does not say what the ${entry.label} is`)
      : record(run, constraint, entry, rule, path, null, 'deferred', `the ${entry.label} is not checked at ${run.context.scope} time (it decides at ${entry.scopes.join(' and ')} time)`)
  }
  const actual = actualFor(entry, reading.values)
  const shown = reading.values.length === 1 ? formatActual(reading.values, entry) : reading.values.map((v) => formatActual([v], entry))
  if (!actual) return record(run, constraint, entry, rule, path, shown, 'unknown', `the request's ${entry.label} is not a valid ${entry.dataType}`)
  const holds = compare(constraint.operator, actual, right, entry.within)
  return record(run, constraint, entry, rule, path, shown, holds ? 'satisfied' : 'violated', reading.note)
}

function constraintHolds(run: Run, constraint: Constraint, rule: string, path: string, mode: Mode): boolean {
  if (constraint.kind === 'atomic') return counts[mode][atomic(run, constraint, rule, path)]
  const paths = memberPaths(constraint, path)
  const total = constraint.constraints.length
  let satisfied = 0
  for (let i = 0; i < total; i++) if (constraintHolds(run, constraint.constraints[i]!, rule, paths[i]!, mode)) satisfied++
  const holds =
    constraint.operator === 'or' ? satisfied > 0
      : constraint.operator === 'xone' ? satisfied === 1
        : satisfied === total
  run.trace.push({
    rule, constraint: path, leftOperand: `(${constraint.operator})`, operator: constraint.operator,
    expected: constraint.operator === 'or' ? 'at least 1' : constraint.operator === 'xone' ? 'exactly 1' : `all ${total}`,
    actual: `${satisfied} of ${total}`, outcome: holds ? 'satisfied' : 'violated',
  })
  return holds
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
    const id = typeof asset === 'string' ? asset : asset.uid ?? asset.partOf
    return id === context.target || (id !== undefined && (context.targetCollections?.includes(id) ?? false))
  })
}

interface RuleResult {
  label: string
  rule: Rule
  /** Why the rule does not concern this request (action, party, target), if it does not. */
  notApplicable?: string
  active: boolean
  /** Trace entries of this rule's constraints. */
  entries: TraceEntry[]
  violatedDuty?: string
}

function evaluateRule(run: Run, policy: PolicyModel, rule: Rule, label: string, mode: Mode): RuleResult {
  const context = run.context
  const start = run.trace.length
  const result: RuleResult = { label, rule, active: false, entries: [] }
  if (rule.action && !actionIncludedIn(context.action, rule.action)) {
    result.notApplicable = `it is about ${actionName(rule.action)}, not ${actionName(context.action)}`
  } else if (!assetMatches(context, rule.target ?? policy.target)) {
    result.notApplicable = `it is about another dataset than \`${context.target}\``
  } else if (!partyMatches(run, rule.assignee ?? policy.assignee, label, mode)) {
    result.notApplicable = `it is granted to ${partyName((rule.assignee ?? policy.assignee)!)}, not \`${context.assignee}\``
  } else if (context.assigner && policy.assigner && typeof policy.assigner === 'string' && policy.assigner !== context.assigner) {
    result.notApplicable = `it was assigned by \`${policy.assigner}\`, not \`${context.assigner}\``
  } else {
    let holds = true
    for (let i = 0; i < rule.constraints.length; i++) {
      if (!constraintHolds(run, rule.constraints[i]!, label, constraintPath(i), mode)) holds = false
    }
    const violated = mode === 'permission' && context.duties ? rule.duties.find((d) => d.uid && context.duties?.[d.uid] === 'violated') : undefined
    if (violated) result.violatedDuty = `its duty to ${dutyText(violated, run.registry)} was violated`
    else result.active = holds
  }
  result.entries = run.trace.slice(start)
  return result
}

const paths = Array.from({ length: 64 }, (_, i) => `constraint ${i + 1}`)
const constraintPath = (i: number) => paths[i] ?? `constraint ${i + 1}`

/** Rule labels (`permission 1 (use)`), built once per policy model. */
const labelCache = new WeakMap<PolicyModel, { permissions: string[]; prohibitions: string[] }>()
function labelsOf(model: PolicyModel) {
  let labels = labelCache.get(model)
  if (!labels) {
    const label = (kind: string) => (rule: Rule, i: number) => `${kind} ${i + 1} (${shortAction(rule.action || 'any action')})`
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
  const name = `policy \`${compiled?.id ?? model.uid}\``
  const run: Run = { context, registry, trace: [] }
  // Callers outside TypeScript's reach (JSON, stored rows) may hand over half a context: deny, never throw.
  if (!(context?.now instanceof Date) || Number.isNaN(context.now.getTime()) || typeof context.action !== 'string') {
    const reason = 'Refused: the request is incomplete (it needs an action and the time of the request).'
    return { allowed: false, reason, explanation: [reason], trace: [], obligations: [] }
  }

  const labels = labelsOf(model)
  const permissions = model.permissions.map((r, i) => evaluateRule(run, model, r, labels.permissions[i]!, 'permission'))
  const prohibitions = model.prohibitions.map((r, i) => evaluateRule(run, model, r, labels.prohibitions[i]!, 'prohibition'))
  const granted = permissions.filter((p) => p.active)
  const forbidding = prohibitions.filter((p) => p.active && !p.notApplicable)

  const obligations: Obligation[] = []
  const explanation: string[] = []
  for (const p of granted) {
    p.rule.duties.forEach((duty, i) => obligations.push({
      action: shortAction(duty.action), rule: `${p.label}, duty ${i + 1}`, constraints: duty.constraints, text: dutyText(duty, registry),
    }))
  }
  const violatedObligation = model.obligations.find((o) => o.uid && context.duties?.[o.uid] === 'violated')
  model.obligations.forEach((duty, i) => obligations.push({
    action: shortAction(duty.action), rule: `obligation ${i + 1}`, constraints: duty.constraints, text: dutyText(duty, registry),
  }))

  if (violatedObligation) {
    return denial(run, explanation, `Refused: the obligation to ${dutyText(violatedObligation, registry)} was violated (${name}).`, [])
  }

  const conflict = model.conflict ?? 'invalid'
  if (forbidding.length > 0 && !(granted.length > 0 && conflict === 'perm')) {
    const first = forbidding[0]!
    const why = firstFinding(first.entries, 'satisfied', registry) ?? firstFinding(first.entries, 'unknown', registry)
    const lead = granted.length > 0 && conflict === 'invalid'
      ? `Refused: ${name} is void for this request because ${granted[0]!.label} and ${first.label} both apply (conflict strategy \`invalid\`)`
      : `Refused: ${first.label} of ${name} forbids ${actionName(context.action)}`
    return denial(run, explanation, why ? `${lead}: ${why}.` : `${lead}.`, forbidding.slice(1).map((p) => `${capital(p.label)} also forbids it.`))
  }

  if (granted.length > 0) {
    const first = granted[0]!
    const reason = `Allowed: ${first.label} of ${name} permits ${actionName(context.action)}${first.entries.some((e) => e.outcome === 'satisfied') ? ' and its conditions are met' : ''}.`
    explanation.push(reason)
    const met = first.entries.filter((e) => e.outcome === 'satisfied' && !e.leftOperand.startsWith('(') && /^constraint \d+$/.test(e.constraint))
    for (const e of met.slice(0, 8)) explanation.push(`${capital(findingText(e, registry))}.`)
    if (forbidding.length > 0) explanation.push(`${capital(forbidding[0]!.label)} also applies, but the conflict strategy \`perm\` lets permissions prevail.`)
    for (const o of obligations) explanation.push(`Duty: ${o.text}.`)
    deferredNote(run, explanation)
    return { allowed: true, reason, explanation, trace: run.trace, obligations }
  }

  const applicable = permissions.filter((p) => !p.notApplicable)
  if (applicable.length === 0) {
    const details = permissions.map((p) => `${capital(p.label)} does not apply: ${p.notApplicable}.`)
    return denial(run, explanation, `Refused: ${name} grants no permission to ${actionName(context.action)}${permissions.length === 0 ? '' : ' to this requester for this dataset'}.`, details)
  }
  const first = applicable[0]!
  if (first.violatedDuty) return denial(run, explanation, `Refused: ${first.label} of ${name} no longer holds: ${first.violatedDuty}.`, [])
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

const failed = (e: TraceEntry) => e.outcome === 'violated' || e.outcome === 'unknown'

/** One sentence fragment per unmet top-level constraint of a rule; logical ones are summarised. */
function topFailures(entries: TraceEntry[], registry: Registry): string[] {
  return entries.filter((e) => failed(e) && /^constraint \d+$/.test(e.constraint) || (e.leftOperand.startsWith('(') && e.outcome === 'violated' && /^constraint \d+$/.test(e.constraint)))
    .map((e) => {
      if (!e.leftOperand.startsWith('(')) return findingText(e, registry)
      const members = entries.filter((t) => t.constraint.startsWith(`${e.constraint}.`) && !t.leftOperand.startsWith('('))
      const inner = members.find(failed)
      const [met, total] = String(e.actual).split(' of ')
      switch (e.operator) {
        case 'or': {
          const shown = members.filter(failed).slice(0, 3).map((t) => findingText(t, registry))
          return shown.length > 0 ? `none of the ${total} alternatives holds: ${shown.join('; ')}${members.filter(failed).length > 3 ? '; …' : ''}` : `none of the ${total} alternatives of ${e.constraint} holds`
        }
        case 'xone': {
          const holding = members.filter((t) => t.outcome === 'satisfied').slice(0, 3).map((t) => findingText(t, registry))
          return `exactly one of the ${total} alternatives must hold, ${met} do${holding.length > 0 ? ` (${holding.join('; ')})` : ''}`
        }
        default: return inner ? findingText(inner, registry) : `${e.constraint} is not met`
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
