import type { AtomicConstraint, CatalogOffer, Constraint, Rule } from './dsp-catalog.ts'

/**
 * An offer in plain language, for people choosing a dataset in search results: one sentence per
 * rule ("You may use it if the purpose is research."). It describes the terms; it decides
 * nothing (the provider's policy engine does that when we negotiate).
 */
export function summarizeOffer(offer: CatalogOffer): string {
  const sentences = [
    ...(offer.permission ?? []).map((rule) => `You may ${verb(rule.action)} it${conditions(rule)}${duties(rule)}.`),
    ...(offer.prohibition ?? []).map((rule) => `You may not ${verb(rule.action)} it${conditions(rule)}.`),
    ...(offer.obligation ?? []).map((rule) => `You must ${verb(rule.action)}${conditions(rule)}.`),
  ]
  return sentences.join(' ')
}

/** The actions an offer permits, by local name (`odrl:use` and `use` are both `use`). */
export const permittedActions = (offer: CatalogOffer) => [...new Set((offer.permission ?? []).map((r) => localName(r.action)))]

/** The last segment of an IRI or prefixed name. */
export function localName(term: string): string {
  const cut = Math.max(term.lastIndexOf('#'), term.lastIndexOf('/'), term.lastIndexOf(':'))
  return cut >= 0 && cut < term.length - 1 ? term.slice(cut + 1) : term
}

const verbs: Record<string, string> = {
  use: 'use',
  read: 'read',
  reproduce: 'copy',
  distribute: 'share',
  modify: 'modify',
  derive: 'derive new data from',
  aggregate: 'aggregate',
  anonymize: 'anonymise',
  transfer: 'transfer ownership of',
  compensate: 'pay for',
  attribute: 'attribute the source',
  inform: 'inform the provider',
  delete: 'delete the data',
  commercialize: 'commercialise',
  display: 'display',
  print: 'print',
  play: 'play',
  execute: 'execute',
  archive: 'archive',
  index: 'index',
}
const verb = (action: string) => verbs[localName(action)] ?? `perform "${localName(action)}" on`

const operands: Record<string, string> = {
  dateTime: 'the date',
  spatial: 'the location',
  purpose: 'the purpose',
  count: 'the number of uses',
  elapsedTime: 'the time since the agreement',
  recipient: 'the recipient',
  industry: 'the industry',
  language: 'the language',
  deliveryChannel: 'the delivery channel',
  event: 'the event',
  product: 'the product',
  payAmount: 'the amount paid',
  version: 'the version',
  virtualLocation: 'the network location',
  systemDevice: 'the system',
  absoluteSpatialPosition: 'the location',
}

const operators: Record<string, string> = {
  eq: 'is',
  neq: 'is not',
  gt: 'is after or above',
  gteq: 'is at least',
  lt: 'is before or below',
  lteq: 'is at most',
  'term-lteq': 'is at most',
  isA: 'is a',
  isAnyOf: 'is one of',
  isAllOf: 'is all of',
  isNoneOf: 'is none of',
  isPartOf: 'is within',
  hasPart: 'includes',
}

function value(v: unknown): string {
  if (Array.isArray(v)) return v.map(value).join(', ')
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>
    if (typeof o['@value'] === 'string' || typeof o['@value'] === 'number') return String(o['@value'])
    if (typeof o['@id'] === 'string') return value(o['@id'])
    return JSON.stringify(v)
  }
  const text = String(v)
  // Show the readable end of IRIs (`http://example.org/EU` → `EU`), keep dates and plain words whole.
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(text) || /^[a-z]+:[A-Za-z]/.test(text) ? localName(text) : text
}

function atomic(c: AtomicConstraint): string {
  const left = operands[localName(c.leftOperand)] ?? `"${localName(c.leftOperand)}"`
  return `${left} ${operators[c.operator] ?? c.operator} ${value(c.rightOperand)}`
}

function constraintText(c: Constraint): string {
  if ('leftOperand' in c) return atomic(c as AtomicConstraint)
  if (c.and) return c.and.map(constraintText).join(' and ')
  if (c.andSequence) return c.andSequence.map(constraintText).join(', then ')
  if (c.or) return `either ${c.or.map(constraintText).join(' or ')}`
  if (c.xone) return `exactly one of: ${c.xone.map(constraintText).join('; ')}`
  return 'an unreadable condition'
}

const conditions = (rule: Rule) => (rule.constraint && rule.constraint.length > 0 ? ` if ${rule.constraint.map(constraintText).join(' and ')}` : '')

function duties(rule: Rule): string {
  const duty = (rule as { duty?: unknown }).duty
  const list = (Array.isArray(duty) ? duty : duty ? [duty] : []) as Array<{ action?: unknown }>
  const actions = list.map((d) => (typeof d.action === 'string' ? verb(d.action) : null)).filter((a): a is string => a !== null)
  return actions.length > 0 ? `, provided you ${actions.join(' and ')}` : ''
}
