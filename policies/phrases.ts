/** Plain-language fragments shared by policy rendering and decision explanations. */
import type { AtomicConstraint, Constraint, Operator, Party, Rule } from './types.ts'
import type { OperandEntry, Registry } from './registry.ts'
import { shortAction } from './vocabularies/actions.ts'
import { placeLabel } from './vocabularies/places.ts'
import { parseDuration } from './values.ts'

const operatorWords: Record<Operator, [yes: string, no: string]> = {
  eq: ['is', 'is not'],
  neq: ['is not', 'is'],
  gt: ['is more than', 'is not more than'],
  gteq: ['is at least', 'is less than'],
  lt: ['is less than', 'is not less than'],
  lteq: ['is at most', 'is more than'],
  isA: ['is a kind of', 'is not a kind of'],
  hasPart: ['includes', 'does not include'],
  isPartOf: ['is within', 'is not within'],
  isAllOf: ['includes all of', 'does not include all of'],
  isAnyOf: ['is one of', 'is none of'],
  isNoneOf: ['is none of', 'is one of'],
}

const timeWords: Partial<Record<Operator, [string, string]>> = {
  gt: ['is after', 'is not after'],
  gteq: ['is on or after', 'is before'],
  lt: ['is before', 'is not before'],
  lteq: ['is on or before', 'is after'],
}

export function operatorPhrase(operator: Operator, dataType: string | undefined, holds: boolean): string {
  const words = (dataType === 'dateTime' ? timeWords[operator] : undefined) ?? operatorWords[operator] ?? [operator, `not ${operator}`]
  return holds ? words[0] : words[1]
}

const day = 86_400_000

/** Milliseconds as a readable duration (`31 days`, `5 hours`). */
export function formatDuration(ms: number): string {
  if (ms >= day && ms % day === 0) return plural(ms / day, 'day')
  if (ms >= day) return `${(ms / day).toFixed(1)} days`
  if (ms >= 3_600_000) return plural(Math.round((ms / 3_600_000) * 10) / 10, 'hour')
  if (ms >= 60_000) return plural(Math.round(ms / 60_000), 'minute')
  return plural(Math.round(ms / 1000), 'second')
}
const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`

/** A right-operand value as a steward wrote it. */
export function formatValue(value: unknown, entry?: OperandEntry): string {
  if (Array.isArray(value)) return value.map((v) => formatValue(v, entry)).join(', ')
  if (entry?.dataType === 'place' && typeof value === 'string' && value.length > 3) return `\`${value}\` (${placeLabel(value)})`
  if (entry?.dataType === 'duration' && typeof value === 'string') {
    const ms = parseDuration(value)
    if (ms !== undefined) return `\`${value}\` (${formatDuration(ms)})`
  }
  return `\`${String(value)}\``
}

/** The policy's side of a constraint: lists read "a or b" except for the set operators. */
export function formatExpected(operator: string, value: unknown, entry?: OperandEntry): string {
  if (Array.isArray(value) && !['isAllOf', 'isAnyOf', 'isNoneOf', 'eq', 'neq', 'hasPart'].includes(operator)) {
    return value.map((v) => formatValue(v, entry)).join(' or ')
  }
  if (Array.isArray(value) && operator === 'isAllOf') return value.map((v) => formatValue(v, entry)).join(' and ')
  return formatValue(value, entry)
}

/** An actual value read from the request, for the trace and explanations. */
export function formatActual(values: unknown[], entry?: OperandEntry): string {
  if (values.length === 1) return formatOne(values[0], entry)
  return values.map((v) => formatOne(v, entry)).join(', ')
}

// The same instant is formatted for every dateTime constraint of a request: remember the last one.
let lastInstant = Number.NaN
let lastIso = ''
function formatOne(v: unknown, entry: OperandEntry | undefined): string {
  if (entry?.dataType === 'dateTime' && typeof v === 'number') {
    if (v !== lastInstant) {
      lastIso = new Date(v).toISOString()
      lastInstant = v
    }
    return lastIso
  }
  if (entry?.dataType === 'duration' && typeof v === 'number') return formatDuration(v)
  return String(v)
}

export const operandLabel = (leftOperand: string, entry?: OperandEntry) => entry?.label ?? `operand \`${leftOperand}\``

/** "the purpose is a kind of `research`". */
export function requirement(constraint: Constraint, registry: Registry): string {
  if (constraint.kind === 'logical') {
    const parts = constraint.constraints.map((c) => requirement(c, registry))
    switch (constraint.operator) {
      case 'and':
        return parts.join(' and ')
      case 'andSequence':
        return `in this order: ${parts.join(', then ')}`
      case 'or':
        return `at least one of: ${parts.join('; or ')}`
      case 'xone':
        return `exactly one of: ${parts.join('; or ')}`
    }
  }
  return atomicRequirement(constraint, registry)
}

function atomicRequirement(c: AtomicConstraint, registry: Registry): string {
  const entry = registry.get(c.leftOperand)
  return `the ${operandLabel(c.leftOperand, entry)} ${operatorPhrase(c.operator, entry?.dataType, true)} ${formatExpected(c.operator, c.rightOperand, entry)}`
}

export const actionName = (action: string) => `\`${shortAction(action)}\``

export function partyName(party: Party): string {
  if (typeof party === 'string') return `\`${party}\``
  return party.source ? `members of \`${party.source}\`` : 'a party collection'
}

const dutyVerbs: Record<string, string> = {
  attribute: 'credit the provider (attribution)',
  delete: 'delete the data',
  inform: 'inform the provider',
  compensate: 'pay compensation',
  obtainConsent: 'obtain consent',
  anonymize: 'anonymize the data',
  watermark: 'watermark the data',
  reviewPolicy: 'review the policy',
  acceptTracking: 'accept tracking',
}

/** How a consumer fulfils a duty, by its action: what a person does, in one sentence. */
const dutyWays: Record<string, string> = {
  attribute: 'name the provider and the dataset wherever you publish or show what you made with it',
  delete: 'delete every copy you hold within the time the condition gives',
  inform: 'tell the provider, as the condition says (its contact is in its catalog)',
  compensate: 'pay the provider as agreed with it',
  obtainConsent: 'obtain the consent of the people the data is about before you use it',
  anonymize: 'anonymize the data before you use or share it',
  watermark: 'watermark the data before you share it',
  reviewPolicy: "read the provider's policy again before each use",
  acceptTracking: 'accept that the provider records how you use the data',
}

/** "name the provider and the dataset wherever you publish …": how to fulfil a duty of this action. */
export function dutyHowTo(action: string): string {
  const name = shortAction(action)
  return dutyWays[name] ?? `do what \`${name}\` means in the provider's policy (ask the provider if it is not clear)`
}

/** "delete the data, when the time since the agreement is at most `P30D`". */
export function dutyText(duty: Rule, registry: Registry): string {
  const action = shortAction(duty.action)
  const verb = dutyVerbs[action] ?? `perform \`${action}\``
  const when = duty.constraints.map((c) => requirement(c, registry)).join(' and ')
  return when ? `${verb} (condition: ${when})` : verb
}
