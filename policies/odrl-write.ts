import { createHash } from 'node:crypto'
import type { Constraint, OdrlConstraint, OdrlOffer, OdrlRule, PolicyModel, Rule, Value } from './types.ts'
import type { OperandEntry, Registry } from './registry.ts'
import { compactAction, odrlNamespace } from './vocabularies/actions.ts'

/**
 * The model as ODRL JSON-LD in the DSP 2025-1 shape: terms bare where the DSP ODRL profile context
 * defines them (`permission`, `constraint`, `eq`, `use`), `odrl:`-prefixed where it does not
 * (`odrl:purpose`, `odrl:read`), full IRIs for operands ODRL does not define, typed literals for
 * dates, durations and numbers. No `@context` (the enclosing message has it), no `target`.
 */
export function offerBody(id: string, model: PolicyModel, registry: Registry): OdrlOffer {
  const rules = rulesToOdrl(model, registry)
  const content = JSON.stringify(rules)
  return { '@id': stableOfferId(id, content), '@type': 'Offer', ...rules }
}

export function rulesToOdrl(model: PolicyModel, registry: Registry): Omit<OdrlOffer, '@id' | '@type'> {
  const body: Record<string, unknown> = {}
  if (model.profile && model.profile.length > 0) body.profile = model.profile.length === 1 ? model.profile[0] : model.profile
  if (model.conflict) body['odrl:conflict'] = { '@id': `odrl:${model.conflict}` }
  if (model.permissions.length > 0) body.permission = model.permissions.map((r) => rule(r, registry, 'duty'))
  if (model.prohibitions.length > 0) body.prohibition = model.prohibitions.map((r) => rule(r, registry, 'remedy'))
  if (model.obligations.length > 0) body.obligation = model.obligations.map((r) => rule(r, registry, undefined))
  return body
}

/** `urn:uuid:` made from a sha256 of the policy id and its content: same file, same content, same id. */
export function stableOfferId(id: string, content: string): string {
  const hex = createHash('sha256').update(`${id}\n${content}`).digest('hex')
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16)
  return `urn:uuid:${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`
}

function rule(r: Rule, registry: Registry, dutiesKey: 'duty' | 'remedy' | undefined): OdrlRule {
  const out: OdrlRule = { action: compactAction(r.action) }
  if (typeof r.assignee === 'string') out.assignee = r.assignee
  if (r.constraints.length > 0) out.constraint = r.constraints.map((c) => constraint(c, registry))
  if (dutiesKey && r.duties.length > 0) out[dutiesKey] = r.duties.map((d) => rule(d, registry, undefined))
  return out
}

function constraint(c: Constraint, registry: Registry): OdrlConstraint {
  if (c.kind === 'logical') return { [c.operator]: c.constraints.map((x) => constraint(x, registry)) }
  const entry = registry.get(c.leftOperand)
  const leftOperand = entry ? compactOperand(entry) : c.leftOperand
  const rightOperand = Array.isArray(c.rightOperand) ? c.rightOperand.map((v) => value(v, entry)) : value(c.rightOperand, entry)
  return { leftOperand, operator: c.operator, rightOperand }
}

const compactOperand = (entry: OperandEntry) =>
  entry.iri.startsWith(odrlNamespace) ? `odrl:${entry.iri.slice(odrlNamespace.length)}` : entry.iri

const xsd: Partial<Record<OperandEntry['dataType'], string>> = {
  dateTime: 'xsd:dateTime', duration: 'xsd:duration', integer: 'xsd:integer', number: 'xsd:decimal', boolean: 'xsd:boolean',
}

function value(v: Value, entry: OperandEntry | undefined): unknown {
  const type = entry ? xsd[entry.dataType] : undefined
  if (type) return { '@value': String(v), '@type': type }
  return typeof v === 'string' ? v : String(v)
}
