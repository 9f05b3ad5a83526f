import type { Asset, Constraint, ConflictStrategy, LogicalOperator, Operator, Party, PolicyModel, Rule, Value } from './types.ts'
import { operators } from './types.ts'
import { defaultRegistry, type Registry } from './registry.ts'
import { odrlNamespace, shortAction } from './vocabularies/actions.ts'

/**
 * Reads a compact ODRL policy into the evaluator's model: an Offer or Agreement as DSP messages
 * carry it, or any ODRL policy compacted with the W3C ODRL context. Terms may be bare
 * (`permission`), `odrl:`-prefixed or full IRIs; values may be plain or `{ "@id" }` / `{ "@value" }`.
 * Errors are plain sentences naming the field; when there is any, there is no model.
 */
export function policyFromOdrl(body: unknown, options: { registry?: Registry } = {}): { model?: PolicyModel; errors: string[] } {
  const reader = new Reader(options.registry ?? defaultRegistry())
  const model = reader.policy(body)
  return reader.errors.length > 0 || !model ? { errors: reader.errors.length > 0 ? reader.errors : ['not an ODRL policy'] } : { model, errors: [] }
}

type Json = Record<string, unknown>
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)
const logicalOperators: LogicalOperator[] = ['and', 'or', 'xone', 'andSequence']

function field(node: Json, name: string): unknown {
  return node[name] ?? node[`odrl:${name}`] ?? node[`${odrlNamespace}${name}`]
}

function list(value: unknown): unknown[] {
  if (value === undefined || value === null) return []
  if (isObject(value) && Array.isArray(value['@list'])) return value['@list']
  return Array.isArray(value) ? value : [value]
}

/** An IRI or term from `"x"` or `{ "@id": "x" }`. */
function iri(value: unknown): string | undefined {
  if (typeof value === 'string') return value
  if (isObject(value) && typeof value['@id'] === 'string') return value['@id']
  // The W3C ODRL context aliases `@id` to `uid`.
  if (isObject(value) && typeof value['uid'] === 'string' && Object.keys(value).length === 1) return value['uid']
  return undefined
}

const shortTerm = (term: string) => (term.startsWith(odrlNamespace) ? term.slice(odrlNamespace.length) : term.startsWith('odrl:') ? term.slice(5) : term)

function types(node: Json): string[] {
  return list(node['@type'] ?? node.type).filter((t): t is string => typeof t === 'string').map(shortTerm)
}

/** Peers' policies are untrusted input: bounded nesting and size. */
const maxDepth = 16
const maxConstraints = 2000
const maxRules = 500

class Reader {
  errors: string[] = []
  count = 0
  rules = 0
  constructor(private registry: Registry) {}

  policy(body: unknown): PolicyModel | undefined {
    if (!isObject(body)) {
      this.errors.push('the policy must be a JSON object')
      return undefined
    }
    const kinds = types(body)
    const type = (['Agreement', 'Offer', 'Set', 'Policy'] as const).find((t) => kinds.includes(t)) ?? 'Set'
    const uid = iri(body['@id']) ?? iri(field(body, 'uid'))
    if (!uid) this.errors.push('the policy has no `@id`')
    const conflictTerm = iri(field(body, 'conflict'))
    let conflict: ConflictStrategy | undefined
    if (conflictTerm !== undefined) {
      const short = shortTerm(conflictTerm)
      if (short === 'perm' || short === 'prohibit' || short === 'invalid') conflict = short
      else this.errors.push(`conflict: \`${conflictTerm}\` is not perm, prohibit or invalid`)
    }
    const profile = list(field(body, 'profile')).map(iri).filter((p): p is string => p !== undefined)
    const target = this.assets(field(body, 'target'), 'target')
    const assigner = this.party(field(body, 'assigner'), 'assigner')
    const assignee = this.party(field(body, 'assignee'), 'assignee')
    return {
      uid: uid ?? '',
      type,
      ...(profile.length > 0 ? { profile } : {}),
      ...(conflict ? { conflict } : {}),
      ...(target ? { target } : {}),
      ...(assigner !== undefined ? { assigner } : {}),
      ...(assignee !== undefined ? { assignee } : {}),
      permissions: list(field(body, 'permission')).map((r, i) => this.rule(r, `permission[${i}]`, 'duty')),
      prohibitions: list(field(body, 'prohibition')).map((r, i) => this.rule(r, `prohibition[${i}]`, 'remedy')),
      obligations: list(field(body, 'obligation')).map((r, i) => this.rule(r, `obligation[${i}]`, 'consequence')),
    }
  }

  rule(node: unknown, where: string, dutiesField: string, depth = 0): Rule {
    if (++this.rules > maxRules || depth > 2) {
      if (this.rules === maxRules + 1 || depth > 2) this.errors.push(depth > 2 ? `${where}: duties nested too deep` : `the policy has more than ${maxRules} rules`)
      return { action: '', constraints: [], duties: [] }
    }
    if (!isObject(node)) {
      this.errors.push(`${where} must be an object`)
      return { action: '', constraints: [], duties: [] }
    }
    const actionValue = field(node, 'action')
    let action = ''
    let actionRefinement: Constraint[] | undefined
    const actions = list(actionValue)
    if (actions.length > 1) this.errors.push(`${where}.action: one action per rule`)
    const first = actions[0]
    if (isObject(first) && (first['rdf:value'] !== undefined || field(first, 'refinement') !== undefined)) {
      action = shortAction(iri(first['rdf:value']) ?? iri(first['http://www.w3.org/1999/02/22-rdf-syntax-ns#value']) ?? iri(first) ?? '')
      actionRefinement = list(field(first, 'refinement')).map((c, i) => this.constraint(c, `${where}.action.refinement[${i}]`))
    } else if (first !== undefined) {
      const term = iri(first)
      if (term === undefined) this.errors.push(`${where}.action is not an action name`)
      else action = shortAction(term)
    }
    const target = this.assets(field(node, 'target'), `${where}.target`)
    const assigner = this.party(field(node, 'assigner'), `${where}.assigner`)
    const assignee = this.party(field(node, 'assignee'), `${where}.assignee`)
    const uid = iri(node['@id']) ?? iri(field(node, 'uid'))
    return {
      ...(uid && !uid.startsWith('_:') ? { uid } : {}),
      action,
      ...(actionRefinement && actionRefinement.length > 0 ? { actionRefinement } : {}),
      ...(target ? { target } : {}),
      ...(assigner !== undefined ? { assigner } : {}),
      ...(assignee !== undefined ? { assignee } : {}),
      constraints: list(field(node, 'constraint')).map((c, i) => this.constraint(c, `${where}.constraint[${i}]`)),
      duties: list(field(node, dutiesField)).map((d, i) => this.rule(d, `${where}.${dutiesField}[${i}]`, 'consequence', depth + 1)),
    }
  }

  constraint(node: unknown, where: string, depth = 0): Constraint {
    const fallback: Constraint = { kind: 'logical', operator: 'and', constraints: [] }
    if (depth > maxDepth) {
      this.errors.push(`${where}: constraints nested more than ${maxDepth} deep`)
      return fallback
    }
    if (++this.count > maxConstraints) {
      if (this.count === maxConstraints + 1) this.errors.push(`the policy has more than ${maxConstraints} constraints`)
      return fallback
    }
    if (!isObject(node)) {
      this.errors.push(`${where} must be an object`)
      return fallback
    }
    const uid = iri(node['@id']) ?? iri(field(node, 'uid'))
    const withUid = uid && !uid.startsWith('_:') ? { uid } : {}
    for (const op of logicalOperators) {
      const members = field(node, op)
      if (members !== undefined) {
        return { kind: 'logical', ...withUid, operator: op, constraints: list(members).map((c, i) => this.constraint(c, `${where}.${op}[${i}]`, depth + 1)) }
      }
    }
    const left = iri(field(node, 'leftOperand'))
    const operatorTerm = iri(field(node, 'operator'))
    const rightRaw = field(node, 'rightOperand') ?? field(node, 'rightOperandReference')
    if (!left) this.errors.push(`${where}.leftOperand is missing`)
    const operator = operatorTerm ? (shortTerm(operatorTerm) as Operator) : undefined
    if (!operator || !operators.includes(operator)) this.errors.push(`${where}.operator \`${operatorTerm ?? ''}\` is not an ODRL operator`)
    if (rightRaw === undefined) this.errors.push(`${where}.rightOperand is missing`)
    const values = list(rightRaw).map((v) => this.value(v, `${where}.rightOperand`))
    const entry = left ? this.registry.get(left) : undefined
    const dataType = isObject(rightRaw) && typeof rightRaw['@type'] === 'string' ? rightRaw['@type'] : undefined
    const unit = iri(field(node, 'unit'))
    return {
      kind: 'atomic',
      ...withUid,
      leftOperand: entry?.name ?? left ?? '',
      operator: operator ?? 'eq',
      rightOperand: Array.isArray(rightRaw) || (isObject(rightRaw) && Array.isArray(rightRaw['@list'])) ? values : values[0] ?? '',
      ...(dataType ? { dataType } : {}),
      ...(unit ? { unit } : {}),
    }
  }

  value(v: unknown, where: string): Value {
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v
    if (isObject(v)) {
      const literal = v['@value']
      if (typeof literal === 'string' || typeof literal === 'number' || typeof literal === 'boolean') return literal
      const id = iri(v)
      if (id) return id
    }
    this.errors.push(`${where} is not a value`)
    return ''
  }

  party(value: unknown, where: string): Party | undefined {
    if (value === undefined || value === null) return undefined
    const first = list(value)[0]
    if (isObject(first) && (types(first).includes('PartyCollection') || field(first, 'refinement') !== undefined || field(first, 'source') !== undefined)) {
      const uid = iri(first['@id']) ?? iri(field(first, 'uid'))
      const source = iri(field(first, 'source'))
      return {
        ...(uid && !uid.startsWith('_:') ? { uid } : {}),
        ...(source ? { source } : {}),
        refinement: list(field(first, 'refinement')).map((c, i) => this.constraint(c, `${where}.refinement[${i}]`)),
      }
    }
    const id = iri(first)
    if (!id) this.errors.push(`${where} is not a party`)
    return id
  }

  assets(value: unknown, where: string): Asset[] | undefined {
    if (value === undefined || value === null) return undefined
    return list(value).map((a) => {
      if (isObject(a) && (types(a).includes('AssetCollection') || field(a, 'partOf') !== undefined || field(a, 'refinement') !== undefined)) {
        const uid = iri(a['@id']) ?? iri(field(a, 'uid'))
        const partOf = iri(field(a, 'partOf'))
        return { ...(uid ? { uid } : {}), ...(partOf ? { partOf } : {}) }
      }
      const id = iri(a)
      if (!id) this.errors.push(`${where} is not an asset`)
      return id ?? ''
    })
  }
}
