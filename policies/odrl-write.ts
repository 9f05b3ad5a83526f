import { createHash } from 'node:crypto'
import type { Asset, Constraint, OdrlConstraint, OdrlOffer, OdrlRule, Party, PolicyModel, Rule, Value } from './types.ts'
import { defaultRegistry, type OperandEntry, type Registry } from './registry.ts'
import { compactAction, odrlNamespace } from './vocabularies/actions.ts'
import { labelTerms, scopesTerm } from './policy-label.ts'

/** What identifies a policy on the wire, given by the caller: never taken from the model's source. */
export interface PolicyIdentity {
  type: 'Offer' | 'Agreement' | 'Set'
  uid: string
  /** Offers inside a catalog have none; offers inside messages and agreements must have one. */
  target?: string
  assigner?: string
  assignee?: string
  /** Agreements: when concluded. */
  timestamp?: Date | string
  /** The registry the policy was read or compiled with (for operand IRIs and typed literals). */
  registry?: Registry
}

/**
 * The one serialiser that puts a policy on the wire (catalog offers, ContractOfferMessage,
 * ContractRequestMessage and ContractAgreementMessage bodies), in the DSP 2025-1 shape: terms bare
 * where the DSP ODRL profile context defines them (`permission`, `constraint`, `eq`, `use`),
 * `odrl:`-prefixed where it does not (`odrl:purpose`, `odrl:read`), full IRIs for operands ODRL does
 * not define, typed literals for dates, durations and numbers, `@list` for ordered values. No
 * `@context` (the enclosing message has it). The identity (id, type, target, parties, timestamp)
 * comes from the caller; rule-level parties and targets the model inherited from its policy are not
 * repeated, so an agreement made from a catalog offer carries the agreement's own target.
 * `readPolicy(odrlFromModel(m, …))` gives a model `samePolicy` to `m` (a property test checks it).
 */
export function odrlFromModel(model: PolicyModel, identity: PolicyIdentity): Record<string, unknown> & { '@id': string; '@type': string } {
  const registry = identity.registry ?? defaultRegistry()
  const timestamp = identity.timestamp instanceof Date ? identity.timestamp.toISOString() : identity.timestamp
  return {
    '@id': identity.uid,
    '@type': identity.type,
    ...(identity.target !== undefined ? { target: identity.target } : {}),
    ...(identity.assigner !== undefined ? { assigner: identity.assigner } : {}),
    ...(identity.assignee !== undefined ? { assignee: identity.assignee } : {}),
    ...(timestamp !== undefined ? { timestamp } : {}),
    ...rulesToOdrl(model, registry),
  }
}

/**
 * The catalog's Offer for a compiled policy: a stable `@id` derived from the policy id and content,
 * and the policy's readable id and title as annotations (policy-label.ts).
 */
export function offerBody(id: string, model: PolicyModel, registry: Registry, title?: string): OdrlOffer {
  const rules = rulesToOdrl(model, registry)
  return { '@id': stableOfferId(id, JSON.stringify(rules)), '@type': 'Offer', ...labelTerms({ id, title }), ...rules }
}

export function rulesToOdrl(model: PolicyModel, registry: Registry): Omit<OdrlOffer, '@id' | '@type'> {
  const body: Record<string, unknown> = {}
  if (model.profile && model.profile.length > 0) body.profile = model.profile.length === 1 ? model.profile[0] : model.profile
  if (model.conflict) body['odrl:conflict'] = { '@id': `odrl:${model.conflict}` }
  // DSP schemas want these arrays non-empty when present.
  if (model.permissions.length > 0) body.permission = model.permissions.map((r) => rule(r, registry, 'duty'))
  if (model.prohibitions.length > 0) body.prohibition = model.prohibitions.map((r) => rule(r, registry, 'remedy'))
  if (model.obligations.length > 0) body.obligation = model.obligations.map((r) => rule(r, registry, 'consequence'))
  return body
}

/** `urn:uuid:` made from a sha256 of the policy id and its content: same file, same content, same id. */
export function stableOfferId(id: string, content: string): string {
  const hex = createHash('sha256').update(`${id}\n${content}`).digest('hex')
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16)
  return `urn:uuid:${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`
}

function rule(r: Rule, registry: Registry, nestedKey: 'duty' | 'remedy' | 'consequence' | undefined): OdrlRule {
  const action = compactAction(r.action)
  const out: OdrlRule = {
    ...(r.uid ? { '@id': r.uid } : {}),
    action: r.actionRefinement ? { 'rdf:value': { '@id': action }, refinement: r.actionRefinement.map((c) => constraint(c, registry)) } : action,
  }
  const own = (field: 'target' | 'assigner' | 'assignee') => r[field] !== undefined && !r.inherited?.includes(field)
  if (own('target')) out.target = assets(r.target!, registry)
  if (own('assigner')) out.assigner = party(r.assigner!, registry)
  if (own('assignee')) out.assignee = party(r.assignee!, registry)
  if (r.constraints.length > 0) out.constraint = r.constraints.map((c) => constraint(c, registry))
  const inner = nestedKey === 'duty' ? 'consequence' : undefined
  if (nestedKey && r.duties.length > 0) out[nestedKey] = r.duties.map((d) => rule(d, registry, inner))
  return out
}

function party(p: Party, registry: Registry): unknown {
  if (typeof p === 'string') return p
  return {
    '@type': 'PartyCollection',
    ...(p.uid ? { '@id': p.uid } : {}),
    ...(p.source ? { source: p.source } : {}),
    ...(p.refinement.length > 0 ? { refinement: p.refinement.map((c) => constraint(c, registry)) } : {}),
  }
}

function assets(list: Asset[], _registry: Registry): unknown {
  const out = list.map((a) =>
    typeof a === 'string' ? a : { '@type': 'AssetCollection', ...(a.uid ? { '@id': a.uid } : {}), ...(a.partOf ? { partOf: a.partOf } : {}) },
  )
  return out.length === 1 ? out[0] : out
}

function constraint(c: Constraint, registry: Registry): OdrlConstraint {
  const id = c.uid ? { '@id': c.uid } : {}
  if (c.kind === 'logical') return { ...id, [c.operator]: c.constraints.map((x) => constraint(x, registry)) }
  const entry = registry.get(c.leftOperand)
  const leftOperand = entry ? compactOperand(entry) : c.leftOperand
  const type = c.dataType ?? (entry ? xsd[entry.dataType] : undefined)
  const values = Array.isArray(c.rightOperand) ? c.rightOperand.map((v) => value(v, type)) : value(c.rightOperand, type)
  const rightOperand = c.ordered ? { '@list': Array.isArray(values) ? values : [values] } : values
  return { ...id, leftOperand, operator: c.operator, rightOperand, ...(c.unit ? { unit: c.unit } : {}), ...(c.scopes ? { [scopesTerm]: c.scopes } : {}) }
}

const compactOperand = (entry: OperandEntry) => (entry.iri.startsWith(odrlNamespace) ? `odrl:${entry.iri.slice(odrlNamespace.length)}` : entry.iri)

const xsd: Partial<Record<OperandEntry['dataType'], string>> = {
  dateTime: 'xsd:dateTime',
  duration: 'xsd:duration',
  integer: 'xsd:integer',
  number: 'xsd:decimal',
  boolean: 'xsd:boolean',
}

function value(v: Value, type: string | undefined): unknown {
  if (type) return { '@value': String(v), '@type': type }
  return typeof v === 'string' ? v : String(v)
}
