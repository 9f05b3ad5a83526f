import type { Asset, Constraint, ConflictStrategy, InheritedField, LogicalOperator, Operator, Party, PolicyModel, Rule, Scope, Value } from './types.ts'
import { operators, scopes as allScopes } from './types.ts'
import { defaultRegistry, type Registry } from './registry.ts'
import { odrlNamespace, shortAction } from './vocabularies/actions.ts'
import { knownContextUrls } from './jsonld.ts'
import { policyProblems } from './validate.ts'
import { policyLabelTerms, scopesTerm } from './policy-label.ts'

/**
 * The one strict reading of ODRL JSON(-LD): offers and agreements from peers, stored agreements,
 * raw ODRL policy files. Comparison (`samePolicy`), storage and evaluation all work on the model it
 * gives; nothing compares raw JSON.
 *
 * Reading rules:
 * - A term may be written bare (`permission`), `odrl:`-prefixed or as its full ODRL IRI; `@id` may be
 *   written `uid` and `@type` `type` (the W3C ODRL context's aliases). A node that spells one term
 *   twice is refused, naming the term, even when one spelling is an empty array: which one would
 *   count is exactly what an attacker chooses.
 * - Values may be plain, `{ "@id" }`, `{ "@value", "@type" }` or `{ "@list": [...] }`; a one-element
 *   array is the element. An empty array means "none" (Eclipse EDC sends `"permission": []`).
 * - `@context` may only name the bundled ODRL and DSP contexts: a context of the sender's own could
 *   redefine `constraint` or add a `@vocab`, and a JSON-LD reader would then see another policy than
 *   ours. Annotations are ignored: properties in the Dublin Core terms (`dct:`, `dcterms:`,
 *   `http://purl.org/dc/terms/`), RDF Schema (`rdfs:`) and SKOS (`skos:`) namespaces, whatever their
 *   value (titles, descriptions, notes). Any other property, ODRL term or not, that the engine does
 *   not understand at that place is an error: fail closed.
 * - Compact policies (ODRL 2.2 Information Model §2.7.1): `action`, `target`, `assigner` and
 *   `assignee` given on the policy apply to each of its rules (`permission`, `prohibition`,
 *   `obligation`); `target`, `assigner` and `assignee` also to their duties, remedies and
 *   consequences, which always name their own action. A rule that gives another value than the
 *   policy for the same property is refused (two readings are possible; we take neither).
 * - Meaning (actions, operands, operators, values, profiles, the parties an Offer or Agreement
 *   needs) is then checked against the registry by `policyProblems`: a policy the engine does not
 *   understand is an error here too, never a model.
 */
export interface ReadOptions {
  registry?: Registry
  /** The policy type the caller expects (a ContractAgreementMessage carries an Agreement). */
  expect?: 'Offer' | 'Agreement' | 'Set'
  /**
   * Check structure only, not meaning against the registry (for tools that report meaning
   * problems themselves, such as lint). Never for input that will be evaluated or signed.
   */
  structureOnly?: boolean
}

export type ReadResult = { model: PolicyModel; errors?: undefined } | { model?: undefined; errors: string[] }

export function readPolicy(json: unknown, options: ReadOptions = {}): ReadResult {
  const registry = options.registry ?? defaultRegistry()
  const reader = new Reader(registry)
  const model = reader.policy(json, options.expect)
  if (reader.errors.length > 0 || !model) return { errors: reader.errors.length > 0 ? reader.errors : ['not an ODRL policy'] }
  if (!options.structureOnly) {
    const problems = policyProblems(model, registry)
    if (problems.length > 0) return { errors: problems.map((p) => `${p.where}: ${p.message}`) }
  }
  return { model }
}

/** Earlier name of `readPolicy` (same strict reading), with the errors always present. */
export function policyFromOdrl(body: unknown, options: ReadOptions = {}): { model?: PolicyModel; errors: string[] } {
  const read = readPolicy(body, options)
  return read.model ? { model: read.model, errors: [] } : { errors: read.errors }
}

type Json = Record<string, unknown>
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)
const logicalOperators: LogicalOperator[] = ['and', 'or', 'xone', 'andSequence']
const rdfNamespace = 'http://www.w3.org/1999/02/22-rdf-syntax-ns#'
const annotationPrefixes = [
  'dct:',
  'dcterms:',
  'http://purl.org/dc/terms/',
  'rdfs:',
  'http://www.w3.org/2000/01/rdf-schema#',
  'skos:',
  'http://www.w3.org/2004/02/skos/core#',
]

/** A `@context` naming only contexts whose meaning of the terms is the one this reader gives them. */
const onlyKnownContexts = (context: unknown) =>
  (Array.isArray(context) ? context : [context]).every((c) => typeof c === 'string' && knownContextUrls.includes(c))

/** The term a key spells, or `annotation`, or undefined when it is no term we know how to name. */
function termOf(key: string): string | 'annotation' | undefined {
  if (key === '@context') return 'annotation'
  if (key === '@id' || key === 'uid' || key === 'odrl:uid' || key === `${odrlNamespace}uid`) return '@id'
  if (key === '@type' || key === 'type' || key === 'rdf:type' || key === `${rdfNamespace}type`) return '@type'
  if (key === 'rdf:value' || key === `${rdfNamespace}value`) return 'value'
  // DSP writes the agreement's timestamp in its own namespace.
  if (key === 'dspace:timestamp' || key === 'https://w3id.org/dspace/2025/1/timestamp') return 'timestamp'
  if (key === scopesTerm) return 'scopes'
  if (annotationPrefixes.some((p) => key.startsWith(p)) || policyLabelTerms.includes(key)) return 'annotation'
  if (key.startsWith('odrl:')) return key.slice(5)
  if (key.startsWith(odrlNamespace)) return key.slice(odrlNamespace.length)
  if (key.startsWith('@') || key.includes(':')) return undefined
  return key
}

const shortTerm = (term: string) => (term.startsWith(odrlNamespace) ? term.slice(odrlNamespace.length) : term.startsWith('odrl:') ? term.slice(5) : term)

/** Peers' policies are untrusted input: bounded nesting and size. */
const maxDepth = 16
const maxConstraints = 2000
const maxRules = 500

const policyTerms = [
  '@id',
  '@type',
  'profile',
  'conflict',
  'permission',
  'prohibition',
  'obligation',
  'action',
  'target',
  'assigner',
  'assignee',
  'timestamp',
] as const
const ruleTerms = ['@id', '@type', 'action', 'target', 'assigner', 'assignee', 'constraint'] as const
const atomicTerms = ['@id', '@type', 'leftOperand', 'operator', 'rightOperand', 'rightOperandReference', 'dataType', 'unit', 'scopes'] as const
const ruleTypes: Record<RuleKind, string[]> = {
  permission: ['Permission', 'Rule'],
  prohibition: ['Prohibition', 'Rule'],
  obligation: ['Duty', 'Rule'],
  duty: ['Duty', 'Rule'],
  remedy: ['Duty', 'Rule'],
  consequence: ['Duty', 'Rule'],
}
type RuleKind = 'permission' | 'prohibition' | 'obligation' | 'duty' | 'remedy' | 'consequence'
const nestedRules: Record<RuleKind, RuleKind | undefined> = {
  permission: 'duty',
  prohibition: 'remedy',
  obligation: 'consequence',
  duty: 'consequence',
  remedy: undefined,
  consequence: undefined,
}

const idText = (v: unknown): unknown => (isObject(v) && Object.keys(v).length === 1 && termOf(Object.keys(v)[0]!) === '@id' ? Object.values(v)[0] : v)
const sameId = (a: unknown, b: unknown) => typeof idText(a) === 'string' && idText(a) === idText(b)

interface Fields {
  get(term: string): unknown
  has(term: string): boolean
}

/** Inherited values, as the policy gives them. */
interface Shared {
  action?: string
  target?: Asset[]
  assigner?: Party
  assignee?: Party
}

class Reader {
  errors: string[] = []
  count = 0
  rules = 0
  constructor(private registry: Registry) {}

  /** The node's terms, each spelled once and understood here; errors otherwise. */
  fields(node: Json, where: string, allowed: readonly string[]): Fields {
    const found = new Map<string, { key: string; value: unknown }>()
    for (const [key, value] of Object.entries(node)) {
      const term = termOf(key)
      if (key === '@context' && !onlyKnownContexts(value)) {
        this.errors.push(
          `${where}: \`@context\` may only name the ODRL or DSP context (${knownContextUrls.join(', ')}); a context of its own could give these terms another meaning than the one read here`,
        )
        continue
      }
      if (term === 'annotation') continue
      if (term === undefined || !allowed.includes(term)) {
        this.errors.push(`${where}: \`${key}\` is not a term this connector understands here (allowed: ${allowed.join(', ')})`)
        continue
      }
      const earlier = found.get(term)
      // RDF sources state ODRL's `uid` property beside the node's id: harmless when it names the same node.
      if (earlier && term === '@id' && sameId(earlier.value, value)) continue
      if (earlier) {
        this.errors.push(`${where}: \`${term}\` is given twice (as \`${earlier.key}\` and \`${key}\`); give each term once`)
        continue
      }
      found.set(term, { key, value })
    }
    return { get: (term) => found.get(term)?.value, has: (term) => found.has(term) }
  }

  /** The members of a value: an array, an `@list`, or one value. Empty arrays are "none". */
  list(value: unknown, where: string): unknown[] {
    if (value === undefined || value === null) return []
    if (isObject(value) && '@list' in value) {
      if (Object.keys(value).length !== 1 || !Array.isArray(value['@list'])) this.errors.push(`${where}: an \`@list\` object has only \`@list\`, an array`)
      return Array.isArray(value['@list']) ? value['@list'] : []
    }
    return Array.isArray(value) ? value : [value]
  }

  /** One value of a single-valued term (a one-element array is the element). */
  one(value: unknown, where: string): unknown {
    const members = this.list(value, where)
    if (members.length > 1) this.errors.push(`${where}: one value expected, found ${members.length}`)
    return members[0]
  }

  /** An IRI or term from `"x"` or `{ "@id": "x" }` (or `{ "uid": "x" }`). */
  iri(value: unknown, where: string): string | undefined {
    const v = this.one(value, where)
    if (v === undefined) return undefined
    if (typeof v === 'string' && v !== '') return v
    if (isObject(v)) {
      const keys = Object.keys(v)
      if (keys.length === 1 && termOf(keys[0]!) === '@id' && typeof v[keys[0]!] === 'string' && v[keys[0]!] !== '') return v[keys[0]!] as string
    }
    this.errors.push(`${where}: expected an IRI or name, found ${JSON.stringify(v)?.slice(0, 80)}`)
    return undefined
  }

  types(fields: Fields, where: string): string[] {
    return this.list(fields.get('@type'), `${where}.@type`).map((t) => {
      if (typeof t !== 'string') this.errors.push(`${where}.@type must be a name`)
      return typeof t === 'string' ? shortTerm(t) : ''
    })
  }

  checkTypes(fields: Fields, where: string, allowed: string[]) {
    for (const t of this.types(fields, where)) {
      if (t && !allowed.includes(t)) this.errors.push(`${where}: type \`${t}\` is not ${allowed.map((a) => `\`${a}\``).join(' or ')}`)
    }
  }

  uid(fields: Fields, where: string): { uid?: string } {
    const uid = this.iri(fields.get('@id'), `${where}.@id`)
    return uid && !uid.startsWith('_:') ? { uid } : {}
  }

  policy(body: unknown, expect: 'Offer' | 'Agreement' | 'Set' | undefined): PolicyModel | undefined {
    if (!isObject(body)) {
      this.errors.push('the policy must be a JSON object')
      return undefined
    }
    const f = this.fields(body, 'policy', policyTerms)
    const kinds = this.types(f, 'policy')
    const known = kinds.filter((k) => k === 'Agreement' || k === 'Offer' || k === 'Set' || k === 'Policy')
    for (const k of kinds) if (k && !known.includes(k as never)) this.errors.push(`policy: type \`${k}\` is not Set, Offer, Agreement or Policy`)
    if (known.length > 1) this.errors.push(`policy: one policy type, not ${known.join(' and ')}`)
    // ODRL: a policy of no subclass is a Set.
    const type = (known[0] === 'Policy' || known[0] === undefined ? 'Set' : known[0]) as PolicyModel['type']
    if (expect && type !== expect) this.errors.push(`policy: expected an ${expect}, found ${known[0] ? `an ${known[0]}` : 'no type'}`)
    const uid = this.iri(f.get('@id'), 'policy.@id')
    if (!uid) this.errors.push('policy: no `@id`')
    let conflict: ConflictStrategy | undefined
    const conflictTerm = this.iri(f.get('conflict'), 'policy.conflict')
    if (conflictTerm !== undefined) {
      const short = shortTerm(conflictTerm)
      if (short === 'perm' || short === 'prohibit' || short === 'invalid') conflict = short
      else this.errors.push(`policy.conflict: \`${conflictTerm}\` is not perm, prohibit or invalid`)
    }
    const profile = this.list(f.get('profile'), 'policy.profile')
      .map((p, i) => this.iri(p, `policy.profile[${i}]`))
      .filter((p): p is string => p !== undefined)
    const shared: Shared = {}
    const action = this.action(f.get('action'), 'policy.action')
    if (action?.refinement) this.errors.push('policy.action: a policy-level action cannot be refined; refine it on each rule')
    if (action?.name) shared.action = action.name
    const target = this.assets(f.get('target'), 'policy.target')
    const assigner = this.party(f.get('assigner'), 'policy.assigner')
    const assignee = this.party(f.get('assignee'), 'policy.assignee')
    if (target) shared.target = target
    if (assigner !== undefined) shared.assigner = assigner
    if (assignee !== undefined) shared.assignee = assignee
    const timestamp = f.get('timestamp')
    let stamp: string | undefined
    if (timestamp !== undefined) {
      const v = this.one(timestamp, 'policy.timestamp')
      const text = typeof v === 'string' ? v : isObject(v) && typeof v['@value'] === 'string' ? v['@value'] : undefined
      if (text === undefined || Number.isNaN(Date.parse(text))) this.errors.push('policy.timestamp is not a date-time')
      else stamp = text
    }
    const rules = (kind: 'permission' | 'prohibition' | 'obligation') =>
      this.list(f.get(kind), `policy.${kind}`).map((r, i) => this.rule(r, `${kind}[${i}]`, kind, shared, 0))
    return {
      uid: uid ?? '',
      type,
      ...(profile.length > 0 ? { profile } : {}),
      ...(conflict ? { conflict } : {}),
      ...(target ? { target } : {}),
      ...(assigner !== undefined ? { assigner } : {}),
      ...(assignee !== undefined ? { assignee } : {}),
      ...(stamp ? { timestamp: stamp } : {}),
      permissions: rules('permission'),
      prohibitions: rules('prohibition'),
      obligations: rules('obligation'),
    }
  }

  rule(node: unknown, where: string, kind: RuleKind, shared: Shared, depth: number): Rule {
    const empty: Rule = { action: '', constraints: [], duties: [] }
    if (++this.rules > maxRules) {
      if (this.rules === maxRules + 1) this.errors.push(`the policy has more than ${maxRules} rules`)
      return empty
    }
    if (depth > 2) {
      this.errors.push(`${where}: duties nested too deep`)
      return empty
    }
    if (!isObject(node)) {
      this.errors.push(`${where} must be an object`)
      return empty
    }
    const nested = nestedRules[kind]
    const f = this.fields(node, where, nested ? [...ruleTerms, nested] : ruleTerms)
    this.checkTypes(f, where, ruleTypes[kind])
    const inherited: InheritedField[] = []
    const topLevel = kind === 'permission' || kind === 'prohibition' || kind === 'obligation'
    const own = this.action(f.get('action'), `${where}.action`)
    let action = own?.name ?? ''
    if (topLevel && shared.action !== undefined) {
      if (!own) {
        action = shared.action
        inherited.push('action')
      } else if (own.name !== shared.action)
        this.errors.push(`${where}.action: \`${own.name}\` differs from the policy's action \`${shared.action}\`; give the action once`)
    }
    const result: Rule = { ...this.uid(f, where), action, constraints: [], duties: [] }
    if (own?.refinement) result.actionRefinement = own.refinement
    const target = this.assets(f.get('target'), `${where}.target`)
    const assigner = this.party(f.get('assigner'), `${where}.assigner`)
    const assignee = this.party(f.get('assignee'), `${where}.assignee`)
    const take = <K extends 'target' | 'assigner' | 'assignee'>(field: K, value: Rule[K] | undefined) => {
      const policyValue = shared[field] as Rule[K] | undefined
      if (value !== undefined) {
        if (policyValue !== undefined && JSON.stringify(value) !== JSON.stringify(policyValue)) {
          this.errors.push(`${where}.${field} differs from the policy's ${field}; give it once`)
        }
        result[field] = value
      } else if (policyValue !== undefined) {
        result[field] = policyValue
        inherited.push(field)
      }
    }
    take('target', target)
    take('assigner', assigner)
    take('assignee', assignee)
    result.constraints = this.list(f.get('constraint'), `${where}.constraint`).map((c, i) => this.constraint(c, `${where}.constraint[${i}]`, 0))
    if (nested) {
      // Duties name their own action; the parties and the target still come from the policy.
      const inner: Shared = { ...shared }
      delete inner.action
      result.duties = this.list(f.get(nested), `${where}.${nested}`).map((d, i) => this.rule(d, `${where}.${nested}[${i}]`, nested, inner, depth + 1))
    }
    if (inherited.length > 0) result.inherited = inherited
    return result
  }

  /** A rule's action: a name, or `{ "rdf:value": name, "refinement": [...] }`. */
  action(value: unknown, where: string): { name: string; refinement?: Constraint[] } | undefined {
    const v = this.one(value, where)
    if (v === undefined) return undefined
    if (isObject(v) && Object.keys(v).some((k) => termOf(k) !== '@id')) {
      const f = this.fields(v, where, ['@id', '@type', 'value', 'refinement'])
      this.checkTypes(f, where, ['Action'])
      const name = this.iri(f.get('value'), `${where}.value`) ?? this.iri(f.get('@id'), `${where}.@id`)
      if (!name) {
        this.errors.push(`${where} has no action name`)
        return undefined
      }
      const refinement = this.list(f.get('refinement'), `${where}.refinement`).map((c, i) => this.constraint(c, `${where}.refinement[${i}]`, 0))
      return { name: shortAction(name), ...(refinement.length > 0 ? { refinement } : {}) }
    }
    const name = this.iri(v, where)
    return name ? { name: shortAction(name) } : undefined
  }

  constraint(node: unknown, where: string, depth: number): Constraint {
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
    const logical = Object.keys(node)
      .map(termOf)
      .filter((t): t is LogicalOperator => logicalOperators.includes(t as LogicalOperator))
    if (logical.length > 0) {
      const f = this.fields(node, where, ['@id', '@type', ...logicalOperators])
      this.checkTypes(f, where, ['LogicalConstraint', 'Constraint'])
      const present = logicalOperators.filter((op) => f.has(op))
      if (present.length > 1) this.errors.push(`${where}: a logical constraint has one operator, not ${present.join(' and ')}`)
      const op = present[0] ?? 'and'
      const members = this.list(f.get(op), `${where}.${op}`)
      if (members.length === 0) this.errors.push(`${where}.${op} has no constraints`)
      return { kind: 'logical', ...this.uid(f, where), operator: op, constraints: members.map((c, i) => this.constraint(c, `${where}.${op}[${i}]`, depth + 1)) }
    }
    const f = this.fields(node, where, atomicTerms)
    this.checkTypes(f, where, ['Constraint'])
    const left = this.iri(f.get('leftOperand'), `${where}.leftOperand`)
    const operatorTerm = this.iri(f.get('operator'), `${where}.operator`)
    if (f.has('rightOperandReference')) this.errors.push(`${where}.rightOperandReference: references to values elsewhere are not supported; give the value`)
    const rightRaw = f.get('rightOperand')
    if (!left) this.errors.push(`${where}.leftOperand is missing`)
    const operator = operatorTerm ? (shortTerm(operatorTerm) as Operator) : undefined
    if (!operator || !operators.includes(operator)) this.errors.push(`${where}.operator \`${operatorTerm ?? ''}\` is not an ODRL operator`)
    if (rightRaw === undefined) this.errors.push(`${where}.rightOperand is missing`)
    const ordered = isObject(rightRaw) && '@list' in rightRaw
    const members = this.list(rightRaw, `${where}.rightOperand`)
    if (rightRaw !== undefined && members.length === 0) this.errors.push(`${where}.rightOperand is empty`)
    const types = new Set<string>()
    const values = members.map((v, i) => this.value(v, `${where}.rightOperand${members.length > 1 ? `[${i}]` : ''}`, types))
    const declared = this.iri(f.get('dataType'), `${where}.dataType`)
    if (declared) types.add(declared)
    if (types.size > 1) this.errors.push(`${where}: the right operand has several datatypes (${[...types].join(', ')})`)
    const dataType = [...types][0]
    const unit = this.iri(f.get('unit'), `${where}.unit`)
    const scopes = f.has('scopes') ? this.scopes(f.get('scopes'), `${where}.scopes`) : undefined
    return {
      kind: 'atomic',
      ...this.uid(f, where),
      // The registry's name for an operand however it was spelled (`odrl:purpose`, its IRI, `purpose`).
      leftOperand: left ? (this.registry.get(left)?.name ?? shortTerm(left)) : '',
      operator: operator ?? 'eq',
      rightOperand: Array.isArray(rightRaw) || ordered ? values : (values[0] ?? ''),
      ...(ordered ? { ordered: true as const } : {}),
      ...(dataType ? { dataType } : {}),
      ...(unit ? { unit } : {}),
      ...(scopes ? { scopes } : {}),
    }
  }

  /** A constraint's scopes: a non-empty list of scope names (strings, or JSON-LD values of strings). */
  scopes(value: unknown, where: string): Scope[] | undefined {
    const names = this.list(value, where).map((v) => (isObject(v) && typeof v['@value'] === 'string' ? v['@value'] : v))
    const bad = names.find((n) => typeof n !== 'string' || !(allScopes as readonly unknown[]).includes(n))
    if (names.length === 0 || bad !== undefined) {
      this.errors.push(`${where}: expected a list of scopes (${allScopes.join(', ')})${bad !== undefined ? `, got \`${String(bad).slice(0, 80)}\`` : ''}`)
      return undefined
    }
    return [...new Set(names as Scope[])]
  }

  value(v: unknown, where: string, types: Set<string>): Value {
    if (typeof v === 'string' || typeof v === 'boolean') return v
    if (typeof v === 'number' && Number.isFinite(v)) return v
    if (isObject(v)) {
      const keys = Object.keys(v)
      if ('@value' in v) {
        const literal = v['@value']
        // The W3C ODRL context aliases `@type` to `type`, in literals too.
        const typeKeys = keys.filter((k) => termOf(k) === '@type')
        if (keys.some((k) => k !== '@value' && k !== '@language' && termOf(k) !== '@type') || typeKeys.length > 1)
          this.errors.push(`${where}: a literal has only \`@value\`, \`@type\` and \`@language\``)
        const type = typeKeys[0] !== undefined ? v[typeKeys[0]] : undefined
        if (type !== undefined) {
          if (typeof type !== 'string') this.errors.push(`${where}.@type must be a datatype IRI`)
          else types.add(type)
        }
        if (typeof literal === 'string' || typeof literal === 'boolean' || (typeof literal === 'number' && Number.isFinite(literal))) return literal
      } else {
        const id = keys.length === 1 && termOf(keys[0]!) === '@id' ? v[keys[0]!] : undefined
        if (typeof id === 'string' && id !== '') return id
      }
    }
    this.errors.push(`${where} is not a value (a string, number, boolean, \`{ "@value" }\` or \`{ "@id" }\`)`)
    return ''
  }

  party(value: unknown, where: string): Party | undefined {
    if (value === undefined || value === null) return undefined
    const v = this.one(value, where)
    if (isObject(v) && Object.keys(v).some((k) => termOf(k) !== '@id')) {
      const f = this.fields(v, where, ['@id', '@type', 'source', 'refinement'])
      this.checkTypes(f, where, ['PartyCollection', 'Party'])
      const uid = this.iri(f.get('@id'), `${where}.@id`)
      const source = this.iri(f.get('source'), `${where}.source`)
      const refinement = this.list(f.get('refinement'), `${where}.refinement`).map((c, i) => this.constraint(c, `${where}.refinement[${i}]`, 0))
      if (!uid && !source && refinement.length === 0) this.errors.push(`${where} names no party`)
      // A plain party written as an object is the party's id.
      if (!source && refinement.length === 0 && uid) return uid
      return { ...(uid && !uid.startsWith('_:') ? { uid } : {}), ...(source ? { source } : {}), refinement }
    }
    const id = this.iri(v, where)
    if (!id && v !== undefined) this.errors.push(`${where} is not a party`)
    return id
  }

  assets(value: unknown, where: string): Asset[] | undefined {
    if (value === undefined || value === null) return undefined
    const members = this.list(value, where)
    if (members.length === 0) return undefined
    return members.map((a, i) => {
      const at = members.length > 1 ? `${where}[${i}]` : where
      if (isObject(a) && Object.keys(a).some((k) => termOf(k) !== '@id')) {
        const f = this.fields(a, at, ['@id', '@type', 'source', 'partOf'])
        this.checkTypes(f, at, ['AssetCollection', 'Asset'])
        const uid = this.iri(f.get('@id'), `${at}.@id`)
        const partOf = this.iri(f.get('partOf'), `${at}.partOf`) ?? this.iri(f.get('source'), `${at}.source`)
        if (!uid && !partOf) this.errors.push(`${at} names no asset`)
        if (!partOf && uid) return uid
        return { ...(uid && !uid.startsWith('_:') ? { uid } : {}), ...(partOf ? { partOf } : {}) }
      }
      return this.iri(a, at) ?? ''
    })
  }
}
