/**
 * Compiles stewards' policy files: YAML (the file format of file-format.ts) or raw ODRL JSON-LD.
 * Every problem becomes a lint error with file, line, field and, when there is one, a suggestion;
 * nothing here throws for bad input.
 */
import { basename } from 'node:path'
import { LineCounter, parseDocument, isMap, isPair, isScalar, visit, type Document } from 'yaml'
import type { CompiledPolicy, Constraint, LintError, Operator, PolicyModel, Rule, Scope, Value } from './types.ts'
import { scopes } from './types.ts'
import type { Registry } from './registry.ts'
import { atomicKeys, dutyKeys, logicalKeys, parameterKeys, ruleKeys, topLevelKeys } from './file-format.ts'
import { actionIncludedIn, shortAction } from './vocabularies/actions.ts'
import { closest } from './suggest.ts'
import { offerBody } from './odrl-write.ts'
import { explainPolicy } from './explain.ts'
import { readPolicy } from './odrl-read.ts'
import { policyProblems, fieldName, type Path } from './validate.ts'
import { graphFromJsonLd, jsonldErrorMessage, knownContextUrls, nest } from './jsonld.ts'

export { fieldName, type Path }
type Json = Record<string, unknown>
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

/** A parsed source file, before `extends` is resolved. */
export interface PolicySource {
  file: string
  id: string
  title: string
  description?: string
  abstract: boolean
  extends: string[]
  /** The file's raw content (YAML sources), for instantiating it with parameters. */
  raw?: Json
  parameters: Record<string, { default?: unknown }>
  withValues: Record<string, unknown>
  /** Raw ODRL sources: their model, already read. */
  model?: PolicyModel
  /** Errors were already reported for the file: check it, but do not compile it into a policy. */
  hasErrors?: boolean
  locate: (path: Path, onKey?: boolean) => { line: number; column?: number }
}

interface Collector {
  errors: LintError[]
  add(path: Path, message: string, suggestion?: string, onKey?: boolean): void
}

function collector(file: string, locate: PolicySource['locate']): Collector {
  const errors: LintError[] = []
  return {
    errors,
    add(path, message, suggestion, onKey) {
      const { line, column } = locate(path, onKey)
      errors.push({ file, line, ...(column !== undefined ? { column } : {}), field: fieldName(path), message, ...(suggestion ? { suggestion } : {}) })
    },
  }
}

function yamlLocator(doc: Document, lines: LineCounter): PolicySource['locate'] {
  return (path, onKey) => {
    for (let depth = path.length; depth >= 0; depth--) {
      const at = path.slice(0, depth)
      if (onKey && depth === path.length && depth > 0) {
        const parent = doc.getIn(at.slice(0, -1), true)
        if (isMap(parent)) {
          const pair = parent.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === at[at.length - 1])
          const range = pair && isScalar(pair.key) ? pair.key.range : undefined
          if (range) return position(lines, range[0])
        }
        continue
      }
      const node = depth === 0 ? doc.contents : doc.getIn(at, true)
      const range = (node as { range?: [number, number, number] } | null | undefined)?.range
      if (range) return position(lines, range[0])
    }
    return { line: 1 }
  }
}

/** ODRL's own (singular) names are accepted for the plural keys of the format: `permission:` is `permissions:`. */
const odrlNames: Record<string, string> = {
  permission: 'permissions',
  prohibition: 'prohibitions',
  obligation: 'obligations',
  constraint: 'constraints',
  duty: 'duties',
  remedy: 'remedies',
}
function acceptOdrlNames(doc: Document) {
  visit(doc, {
    Pair(_, pair) {
      if (isScalar(pair.key) && typeof pair.key.value === 'string' && pair.key.value in odrlNames) pair.key.value = odrlNames[pair.key.value]
    },
  })
}

const position = (lines: LineCounter, offset: number) => {
  const { line, col } = lines.linePos(offset)
  return { line, column: col }
}

/** Reads one file's text into a source (or lint errors). `.json` / `.jsonld` files are raw ODRL. */
export async function parseSource(text: string, file: string, registry: Registry): Promise<{ source?: PolicySource; errors: LintError[] }> {
  if (/\.(json|jsonld)$/i.test(file)) return parseOdrlSource(text, file, registry)
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true })
  const locate = yamlLocator(doc, lines)
  if (doc.errors.length > 0) {
    return {
      errors: doc.errors.map((e) => {
        const { line, column } = position(lines, e.pos[0])
        return { file, line, column, field: '(file)', message: `not valid YAML: ${e.message.split('\n')[0]}` }
      }),
    }
  }
  const lint = collector(file, locate)
  acceptOdrlNames(doc)
  let raw: unknown
  try {
    // yaml refuses alias expansion beyond its limit (a "billion laughs" file): that is a lint error too.
    raw = doc.toJS({ maxAliasCount: 100 }) as unknown
  } catch (error) {
    lint.add([], `cannot read the YAML: ${(error as Error).message.split('\n')[0]}`)
    return { errors: lint.errors }
  }
  if (!isObject(raw)) {
    lint.add([], 'a policy file must be a mapping with at least `id`, `title` and `permissions` or `prohibitions`')
    return { errors: lint.errors }
  }
  const defaultId = basename(file).replace(/\.(ya?ml)$/i, '')
  if (raw.id === undefined && /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(defaultId)) raw.id = defaultId
  if (raw.title === undefined && typeof raw.id === 'string') raw.title = raw.id
  checkStructure(raw, lint, defaultId)
  // Unknown fields do not stop the meaning checks, so one lint run reports everything it can.
  const blocking = lint.errors.some((e) => !e.message.startsWith('unknown field'))
  if (blocking) return { errors: lint.errors }
  const parameters = (raw.parameters ?? {}) as Record<string, { default?: unknown }>
  return {
    source: {
      file,
      id: raw.id as string,
      title: raw.title as string,
      ...(typeof raw.description === 'string' ? { description: raw.description } : {}),
      abstract: raw.abstract === true || Object.values(parameters).some((p) => p.default === undefined),
      extends: raw.extends === undefined ? [] : Array.isArray(raw.extends) ? (raw.extends as string[]) : [raw.extends as string],
      raw,
      parameters,
      withValues: (raw.with ?? {}) as Record<string, unknown>,
      locate,
      hasErrors: lint.errors.length > 0,
    },
    errors: lint.errors,
  }
}

/** The ODRL (JSON) name of a step of a model path: `permissions` is `permission` there. */
const jsonNames: Record<string, string> = {
  permissions: 'permission',
  prohibitions: 'prohibition',
  obligations: 'obligation',
  constraints: 'constraint',
  duties: 'duty',
  remedies: 'remedy',
}
const jsonPath = (path: Path): Path => path.map((p) => (typeof p === 'string' ? (jsonNames[p] ?? p) : p))

/** Lines of a JSON file's fields (JSON is YAML), found by the path in ODRL names; line 1 when not found. */
function jsonLocator(text: string): PolicySource['locate'] {
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines })
  const inner = doc.errors.length === 0 ? yamlLocator(doc, lines) : undefined
  return (path, onKey) => (inner ? inner(jsonPath(path), onKey) : { line: 1 })
}

async function parseOdrlSource(text: string, file: string, registry: Registry): Promise<{ source?: PolicySource; errors: LintError[] }> {
  const locate = jsonLocator(text)
  const errors: LintError[] = []
  const lint: Collector = {
    errors,
    add(path, message, suggestion, onKey) {
      const { line, column } = locate(path, onKey)
      errors.push({ file, line, ...(column !== undefined ? { column } : {}), field: fieldName(jsonPath(path)), message, ...(suggestion ? { suggestion } : {}) })
    },
  }
  let document: unknown
  try {
    document = JSON.parse(text)
  } catch (error) {
    lint.add([], `not valid JSON: ${(error as Error).message}`)
    return { errors: lint.errors }
  }
  if (!isObject(document)) {
    lint.add([], 'an ODRL policy file must be a JSON object')
    return { errors: lint.errors }
  }
  let nested: Json | undefined
  try {
    const graph = await graphFromJsonLd(document)
    const policyTypes = ['Set', 'Offer', 'Agreement', 'Policy', 'odrl:Set', 'odrl:Offer', 'odrl:Agreement', 'odrl:Policy']
    const root = graph.find((n) => [n.type, n['@type']].flat().some((t) => typeof t === 'string' && policyTypes.includes(t)))
    const rootId = root ? ((root.uid ?? root['@id']) as string) : undefined
    nested = rootId ? nest(graph, rootId) : undefined
  } catch (error) {
    // Policies written the way DSP messages are (no @context, or the DSP context with bare
    // operand names such as "spatial") are read as compact JSON; the registry checks the names.
    if (!onlyKnownContexts(document['@context'])) {
      lint.add(
        [],
        `not valid ODRL JSON-LD: ${jsonldErrorMessage(error)}`,
        'use the ODRL or DSP context (bundled), `odrl:`-prefixed names (odrl:purpose) or full IRIs',
      )
      return { errors: lint.errors }
    }
    nested = document
  }
  if (!nested) {
    lint.add([], 'no ODRL policy (Set, Offer, Agreement or Policy) in this document')
    return { errors: lint.errors }
  }
  // Structure here; meaning (with suggestions and lines) by lintModel below.
  const read = readPolicy(nested, { registry, structureOnly: true })
  if (!read.model) {
    for (const message of read.errors) lint.add([], message)
    return { errors: lint.errors }
  }
  lintModel(read.model, registry, lint)
  if (lint.errors.length > 0) return { errors: lint.errors }
  const name = file
    .split(/[\\/]/)
    .pop()!
    .replace(/\.(json|jsonld)$/i, '')
  const title = [document.title, document['dct:title'], document['http://purl.org/dc/terms/title']].find((t) => typeof t === 'string') as string | undefined
  const description = [document.description, document['dct:description']].find((t) => typeof t === 'string') as string | undefined
  return {
    source: {
      file,
      id: name,
      title: title ?? name,
      ...(description ? { description } : {}),
      abstract: false,
      extends: [],
      parameters: {},
      withValues: {},
      model: read.model,
      locate,
    },
    errors: [],
  }
}

function onlyKnownContexts(context: unknown): boolean {
  if (context === undefined) return true
  return (Array.isArray(context) ? context : [context]).every((c) => typeof c === 'string' && knownContextUrls.includes(c))
}

function checkKeys(node: Json, allowed: readonly string[], path: Path, lint: Collector) {
  for (const key of Object.keys(node)) {
    if (!allowed.includes(key)) {
      const near = closest(key, allowed)
      lint.add(
        [...path, key],
        `unknown field \`${key}\``,
        near ? `did you mean \`${near}\`?` : `allowed here: ${allowed.filter((k) => k !== '$schema').join(', ')}`,
        true,
      )
    }
  }
}

const isValue = (v: unknown) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'

/** The shape of a YAML policy: keys, types, required fields. */
function checkStructure(raw: Json, lint: Collector, defaultId: string) {
  checkKeys(raw, topLevelKeys, [], lint)
  // Without `id`, the file name is the id; without `title`, the id is the title.
  if (typeof raw.id !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(raw.id)) {
    lint.add(
      ['id'],
      raw.id === undefined
        ? `the file name \`${String(defaultId)}\` cannot be an id: give the policy an \`id\``
        : '`id` must be letters, digits, `.`, `_` and `-`',
      'e.g. `id: research-only`',
    )
  }
  if (typeof raw.title !== 'string' || raw.title.trim() === '') lint.add(['title'], '`title` must be one line of text (shown in the catalog)')
  if (raw.description !== undefined && typeof raw.description !== 'string') lint.add(['description'], '`description` must be text')
  if (raw.abstract !== undefined && typeof raw.abstract !== 'boolean') lint.add(['abstract'], '`abstract` must be true or false')
  if (raw.extends !== undefined && typeof raw.extends !== 'string' && !(Array.isArray(raw.extends) && raw.extends.every((e) => typeof e === 'string'))) {
    lint.add(['extends'], '`extends` must be a policy id or a list of them')
  }
  if (raw.conflict !== undefined && !['perm', 'prohibit', 'invalid'].includes(raw.conflict as string)) {
    lint.add(['conflict'], `\`${String(raw.conflict)}\` is not a conflict strategy`, 'use `perm`, `prohibit` or `invalid`')
  }
  if (raw.scopes !== undefined) {
    if (!isObject(raw.scopes))
      lint.add(['scopes'], '`scopes` must map operands to the scopes where they decide', 'e.g. `scopes: { dateTime: [negotiation, transfer, monitor] }`')
    else for (const [operand, list] of Object.entries(raw.scopes)) checkScopes(list, ['scopes', operand], lint)
  }
  if (raw.profile !== undefined && typeof raw.profile !== 'string' && !(Array.isArray(raw.profile) && raw.profile.every((e) => typeof e === 'string'))) {
    lint.add(['profile'], '`profile` must be an IRI or a list of them')
  }
  if (raw.parameters !== undefined) {
    if (!isObject(raw.parameters)) lint.add(['parameters'], '`parameters` must map names to `{ description, default }`')
    else
      for (const [name, p] of Object.entries(raw.parameters)) {
        if (!isObject(p)) lint.add(['parameters', name], `parameter \`${name}\` must be \`{ description, default }\``)
        else checkKeys(p, parameterKeys, ['parameters', name], lint)
      }
  }
  if (raw.with !== undefined && !isObject(raw.with)) lint.add(['with'], '`with` must map parameter names to values')
  if (raw.with !== undefined && raw.extends === undefined)
    lint.add(['with'], '`with` gives parameters to extended policies, but this policy extends none', 'add `extends: <policy id>`')
  for (const kind of ['permissions', 'prohibitions', 'obligations'] as const) {
    const rules = raw[kind]
    if (rules === undefined) continue
    if (!Array.isArray(rules)) {
      lint.add([kind], `\`${kind}\` must be a list of rules`, '- action: use')
      continue
    }
    rules.forEach((r, i) => checkRule(r, [kind, i], kind === 'obligations' ? dutyKeys : ruleKeys, lint, kind))
  }
  if (raw.permissions === undefined && raw.prohibitions === undefined && raw.extends === undefined) {
    lint.add([], 'the policy has no rules: a DSP offer needs at least one permission or prohibition', 'add `permissions:` with `- action: use`')
  }
}

function checkRule(r: unknown, path: Path, allowed: readonly string[], lint: Collector, kind: string) {
  if (!isObject(r)) {
    lint.add(path, 'a rule must be a mapping with at least `action`', '- action: use')
    return
  }
  checkKeys(r, allowed, path, lint)
  if (kind === 'permissions' && r.remedies !== undefined)
    lint.add([...path, 'remedies'], 'only prohibitions have remedies', 'use `duties` for what a permission requires', true)
  if (kind === 'prohibitions' && r.duties !== undefined)
    lint.add([...path, 'duties'], 'prohibitions have no duties', 'use `remedies`, or move the duty to a permission', true)
  if (typeof r.action !== 'string') lint.add([...path, 'action'], 'every rule needs an `action`', `e.g. use, read, distribute`)
  if (r.assignee !== undefined && typeof r.assignee !== 'string') lint.add([...path, 'assignee'], '`assignee` must be a participant id')
  if (r.note !== undefined && typeof r.note !== 'string') lint.add([...path, 'note'], '`note` must be text')
  checkConstraintList(r.constraints, [...path, 'constraints'], lint)
  for (const key of ['duties', 'remedies'] as const) {
    const duties = r[key]
    if (duties === undefined) continue
    if (!Array.isArray(duties)) lint.add([...path, key], `\`${key}\` must be a list`)
    else duties.forEach((d, i) => checkRule(d, [...path, key, i], dutyKeys, lint, key))
  }
}

function checkConstraintList(list: unknown, path: Path, lint: Collector) {
  if (list === undefined) return
  if (!Array.isArray(list)) {
    lint.add(path, 'constraints must be a list', '- { leftOperand: purpose, operator: isA, rightOperand: research }')
    return
  }
  list.forEach((c, i) => checkConstraint(c, [...path, i], lint))
}

function checkConstraint(c: unknown, path: Path, lint: Collector) {
  if (path.length > 40) {
    lint.add(path, 'constraints are nested too deeply (more than 16 levels)')
    return
  }
  if (!isObject(c)) {
    lint.add(path, 'a constraint must be a mapping', '{ leftOperand: purpose, operator: isA, rightOperand: research }')
    return
  }
  const logical = logicalKeys.filter((k) => k in c)
  if (logical.length > 0) {
    if (Object.keys(c).length > 1) {
      lint.add(path, `a logical constraint has exactly one of ${logicalKeys.join(', ')} and nothing else`)
      return
    }
    const members = c[logical[0]!]
    if (!Array.isArray(members) || members.length === 0) lint.add([...path, logical[0]!], `\`${logical[0]}\` needs a list of constraints`)
    else members.forEach((m, i) => checkConstraint(m, [...path, logical[0]!, i], lint))
    return
  }
  checkKeys(c, [...atomicKeys, ...logicalKeys], path, lint)
  for (const key of ['leftOperand', 'operator', 'rightOperand'] as const) {
    if (c[key] === undefined) lint.add(path, `the constraint has no \`${key}\``, 'a constraint is { leftOperand, operator, rightOperand }')
  }
  if (c.leftOperand !== undefined && typeof c.leftOperand !== 'string') lint.add([...path, 'leftOperand'], '`leftOperand` must be an operand name')
  if (c.operator !== undefined && typeof c.operator !== 'string') lint.add([...path, 'operator'], '`operator` must be an operator name')
  if (c.scopes !== undefined) checkScopes(c.scopes, [...path, 'scopes'], lint)
  const right = c.rightOperand
  if (right !== undefined && !isValue(right) && !(Array.isArray(right) && right.length > 0 && right.every(isValue))) {
    lint.add([...path, 'rightOperand'], '`rightOperand` must be a value or a non-empty list of values')
  }
}

/** A list of scope names (scopes.ts), each known, at least one. */
function checkScopes(list: unknown, path: Path, lint: Collector) {
  const example = `scopes: [${scopes.join(', ')}]`
  if (!Array.isArray(list) || list.length === 0) {
    lint.add(path, '`scopes` must be a non-empty list of scopes', `e.g. \`${example}\``)
    return
  }
  list.forEach((name, i) => {
    if (typeof name === 'string' && (scopes as readonly string[]).includes(name)) return
    const near = typeof name === 'string' ? closest(name, scopes) : undefined
    lint.add([...path, i], `\`${String(name)}\` is not a scope (the scopes are ${scopes.join(', ')})`, near ? `did you mean \`${near}\`?` : undefined)
  })
}

/** The operands a policy-level `scopes` names must be operands of the registry. */
function checkScopeOperands(raw: Json, registry: Registry, lint: Collector) {
  if (!isObject(raw.scopes)) return
  for (const operand of Object.keys(raw.scopes)) {
    if (registry.get(operand)) continue
    const near = closest(
      operand,
      registry.list().map((e) => e.name),
    )
    lint.add(['scopes', operand], `\`${operand}\` is not an operand this connector knows`, near ? `did you mean \`${near}\`?` : undefined)
  }
}

const listOperators: Operator[] = ['isAnyOf', 'isNoneOf', 'isAllOf']

/**
 * Meaning, against the registry (the checks every door makes, see validate.ts), plus what a
 * published offer cannot carry: DSP 2025-1 actions are plain names, so an action refinement would
 * not reach the wire; the steward writes it as a constraint of the rule instead.
 */
export function lintModel(model: PolicyModel, registry: Registry, lint: Collector, parameterPaths: Set<string> = new Set()) {
  for (const p of policyProblems(model, registry, { parameterPaths })) lint.add(p.path, p.message, p.suggestion)
  const rules: [string, Rule[]][] = [
    ['permissions', model.permissions],
    ['prohibitions', model.prohibitions],
    ['obligations', model.obligations],
  ]
  for (const [kind, list] of rules) {
    list.forEach((rule, i) => {
      if (rule.actionRefinement)
        lint.add(
          [kind, i, 'action'],
          'an action refinement cannot be published in a DSP offer (its actions are plain names)',
          'write the refinement as a constraint of the rule',
        )
      rule.duties.forEach((duty, j) => {
        if (duty.actionRefinement)
          lint.add(
            [kind, i, kind === 'prohibitions' ? 'remedies' : 'duties', j, 'action'],
            'an action refinement cannot be published in a DSP offer (its actions are plain names)',
            'write the refinement as a constraint of the duty',
          )
      })
    })
  }
}

/** `${name}` values replaced by parameters; paths of values that came from a parameter without value. */
export function substitute(raw: unknown, values: Record<string, unknown>, lint: Collector, path: Path = [], open = new Set<string>()): unknown {
  if (typeof raw === 'string') {
    const match = /^\$\{([A-Za-z_][A-Za-z0-9_-]*)\}$/.exec(raw.trim())
    if (!match) return raw
    const name = match[1]!
    if (!(name in values)) {
      lint.add(
        path,
        `unknown parameter \`${name}\``,
        closest(name, Object.keys(values)) ? `did you mean \`${closest(name, Object.keys(values))}\`?` : 'declare it under `parameters:`',
      )
      return raw
    }
    const value = values[name]
    if (value === undefined) open.add(fieldName(path))
    return value ?? raw
  }
  if (Array.isArray(raw)) {
    const out: unknown[] = []
    raw.forEach((item, i) => {
      const v = substitute(item, values, lint, [...path, i], open)
      // A list parameter used inside a list is spliced in.
      if (Array.isArray(v) && typeof item === 'string') out.push(...v)
      else out.push(v)
    })
    return out
  }
  if (isObject(raw)) {
    const out: Json = {}
    for (const [k, v] of Object.entries(raw)) out[k] = k === 'parameters' || k === 'with' ? v : substitute(v, values, lint, [...path, k], open)
    return out
  }
  return raw
}

/** The model of a YAML source whose structure has been checked. */
export function modelFromRaw(raw: Json, registry: Registry): PolicyModel {
  // Policy-level overrides, by the registry's name of the operand; a constraint's own `scopes` win.
  const policyScopes = new Map<string, Scope[]>()
  if (isObject(raw.scopes))
    for (const [operand, list] of Object.entries(raw.scopes)) {
      const name = registry.get(operand)?.name
      if (name && Array.isArray(list)) policyScopes.set(name, list as Scope[])
    }
  const constraint = (c: Json): Constraint => {
    const logical = logicalKeys.find((k) => k in c)
    if (logical) return { kind: 'logical', operator: logical, constraints: (c[logical] as Json[]).map(constraint) }
    // ODRL IRIs and `odrl:` names are accepted for operators, as for operands and actions.
    const operator = String(c.operator).replace(/^(odrl:|http:\/\/www\.w3\.org\/ns\/odrl\/2\/)/, '') as Operator
    const entry = registry.get(c.leftOperand as string)
    let right = c.rightOperand as Value | Value[]
    if (listOperators.includes(operator) && !Array.isArray(right)) right = [right]
    if (Array.isArray(right) && right.length === 1 && !listOperators.includes(operator)) right = right[0]!
    const unit = typeof c.unit === 'string' ? { unit: c.unit } : {}
    const leftOperand = entry?.name ?? (c.leftOperand as string)
    const own = Array.isArray(c.scopes) ? (c.scopes as Scope[]) : policyScopes.get(leftOperand)
    const scoped = own ? { scopes: [...new Set(own)] } : {}
    return { kind: 'atomic', leftOperand, operator, rightOperand: right, ...unit, ...scoped }
  }
  const rule = (r: Json): Rule => ({
    action: shortAction(r.action as string),
    ...(typeof r.assignee === 'string' ? { assignee: r.assignee } : {}),
    constraints: ((r.constraints ?? []) as Json[]).map(constraint),
    duties: ((r.duties ?? r.remedies ?? []) as Json[]).map(rule),
  })
  const profile = raw.profile === undefined ? undefined : Array.isArray(raw.profile) ? (raw.profile as string[]) : [raw.profile as string]
  return {
    uid: '',
    type: 'Offer',
    ...(profile ? { profile } : {}),
    ...(raw.conflict ? { conflict: raw.conflict as PolicyModel['conflict'] } : {}),
    permissions: ((raw.permissions ?? []) as Json[]).map(rule),
    prohibitions: ((raw.prohibitions ?? []) as Json[]).map(rule),
    obligations: ((raw.obligations ?? []) as Json[]).map(rule),
  }
}

/**
 * A baseline restricts: its permissions' constraints and duties are added to each of the policy's
 * own permissions whose action they cover (a baseline "use by members" and a policy "use for
 * research" give "use by members for research"). A policy without permissions of its own takes the
 * baseline's as they are. Prohibitions and obligations of baselines are simply included.
 */
function mergePermissions(baselines: Rule[][], own: Rule[]): Rule[] {
  if (own.length === 0) return baselines.flat()
  return own.map((rule) => {
    const inherited: Constraint[] = []
    const duties: Rule[] = []
    for (const baseline of baselines) {
      const covering = baseline.filter((b) => actionIncludedIn(rule.action, b.action))
      if (covering.length === 1) inherited.push(...covering[0]!.constraints)
      // Several permissions of one baseline are alternatives.
      if (covering.length > 1)
        inherited.push({
          kind: 'logical',
          operator: 'or',
          constraints: covering.map((b) => ({ kind: 'logical', operator: 'and', constraints: b.constraints }) as Constraint),
        })
      duties.push(...covering.flatMap((b) => b.duties))
    }
    return { ...rule, constraints: [...inherited, ...rule.constraints], duties: [...duties, ...rule.duties] }
  })
}

/**
 * Compiles parsed sources together (so `extends` can name any of them). Returns the compiled
 * policies (abstract ones are checked but not returned) and every error.
 */
export function compileSources(sources: PolicySource[], registry: Registry, assigner?: string): { policies: Map<string, CompiledPolicy>; errors: LintError[] } {
  const errors: LintError[] = []
  const byId = new Map<string, PolicySource>()
  for (const source of sources) {
    const existing = byId.get(source.id)
    if (existing) {
      const { line, column } = source.locate(['id'])
      errors.push({
        file: source.file,
        line,
        ...(column !== undefined ? { column } : {}),
        field: 'id',
        message: `policy id \`${source.id}\` is already used by ${existing.file}`,
        suggestion: 'give each policy its own id',
      })
      continue
    }
    byId.set(source.id, source)
  }

  /** A source's model with the given parameter values, its baselines' rules included first. */
  const instantiate = (source: PolicySource, values: Record<string, unknown>, lint: Collector, chain: string[]): PolicyModel | undefined => {
    let own: PolicyModel
    if (source.model) own = source.model
    else {
      const open = new Set<string>()
      const concrete = substitute(source.raw, values, lint, [], open) as Json
      own = modelFromRaw(concrete, registry)
      checkScopeOperands(concrete, registry, lint)
      lintModel(own, registry, lint, open)
    }
    const inherited: PolicyModel[] = []
    const inheritedFrom: number[] = []
    source.extends.forEach((parentId, i) => {
      const where: Path = Array.isArray(source.raw?.extends) ? ['extends', i] : ['extends']
      if (chain.includes(parentId)) {
        lint.add(where, `\`extends\` makes a cycle: ${[...chain, parentId].join(' → ')}`)
        return
      }
      const parent = byId.get(parentId)
      if (!parent) {
        const near = closest(parentId, byId.keys())
        lint.add(where, `no policy with id \`${parentId}\``, near ? `did you mean \`${near}\`?` : undefined)
        return
      }
      const parentValues: Record<string, unknown> = {}
      for (const [name, p] of Object.entries(parent.parameters)) parentValues[name] = source.withValues[name] ?? p.default
      for (const name of Object.keys(source.withValues)) {
        if (!(name in parent.parameters) && !source.extends.some((other) => other !== parentId && byId.get(other)?.parameters[name])) {
          lint.add(
            ['with', name],
            `\`${parentId}\` has no parameter \`${name}\``,
            Object.keys(parent.parameters).length ? `its parameters: ${Object.keys(parent.parameters).join(', ')}` : undefined,
            true,
          )
        }
      }
      // Errors in the baseline with these values are reported on this file's `with`/`extends`.
      const inner = collector(parent.file, parent.locate)
      const model = instantiate(parent, parentValues, inner, [...chain, parentId])
      const cycle = inner.errors.find((e) => e.message.startsWith('`extends` makes a cycle'))
      if (cycle) lint.add(where, cycle.message)
      else if (inner.errors.length > 0 && Object.keys(source.withValues).length === 0) {
        lint.add(where, `baseline \`${parentId}\` has errors`, `fix ${parent.file} first`)
      } else {
        for (const e of inner.errors) lint.add(['with'], `in baseline \`${parentId}\` (${e.field}): ${e.message}`, e.suggestion)
      }
      if (model) {
        inherited.push(model)
        inheritedFrom.push(i)
      }
    })
    // A baseline whose permissions cover none of this policy's would silently not apply.
    inherited.forEach((baseline, k) => {
      const i = inheritedFrom[k]!
      if (own.permissions.length === 0 || baseline.permissions.length === 0) return
      const covers = own.permissions.some((rule) => baseline.permissions.some((b) => actionIncludedIn(rule.action, b.action)))
      if (!covers) {
        lint.add(
          Array.isArray(source.raw?.extends) ? ['extends', i] : ['extends'],
          `baseline \`${source.extends[i]}\` permits ${baseline.permissions.map((b) => `\`${b.action}\``).join(', ')}, which covers none of this policy's permissions (${own.permissions.map((r) => `\`${r.action}\``).join(', ')}), so its conditions would not apply`,
          'give the baseline a permission for a broader action (use), or this policy one the baseline covers',
        )
      }
    })
    return {
      ...own,
      conflict: own.conflict ?? inherited.find((m) => m.conflict)?.conflict,
      permissions: mergePermissions(
        inherited.map((m) => m.permissions),
        own.permissions,
      ),
      prohibitions: [...inherited.flatMap((m) => m.prohibitions), ...own.prohibitions],
      obligations: [...inherited.flatMap((m) => m.obligations), ...own.obligations],
    } as PolicyModel
  }

  const policies = new Map<string, CompiledPolicy>()
  for (const source of byId.values()) {
    const lint = collector(source.file, source.locate)
    const defaults = Object.fromEntries(Object.entries(source.parameters).map(([k, p]) => [k, p.default]))
    const model = instantiate(source, defaults, lint, [source.id])
    if (model && !source.abstract && model.permissions.length === 0 && model.prohibitions.length === 0) {
      lint.add(['permissions'], 'the policy has no permission and no prohibition: a DSP offer needs at least one', 'add `permissions:` with `- action: use`')
    }
    errors.push(...lint.errors)
    if (!model || lint.errors.length > 0 || source.abstract || source.hasErrors) continue
    if (model.conflict === undefined) delete model.conflict
    const offer = offerBody(source.id, model, registry, source.title)
    const odrl = assigner ? { ...offer, assigner } : offer
    const finalModel: PolicyModel = { ...model, uid: odrl['@id'], type: 'Offer', ...(assigner ? { assigner } : {}) }
    const compiled: CompiledPolicy = {
      id: source.id,
      title: source.title,
      ...(source.description ? { description: source.description } : {}),
      sourceFile: source.file,
      odrl,
      plainText: '',
      model: finalModel,
      registry,
    }
    compiled.plainText = explainPolicy(compiled)
    policies.set(source.id, compiled)
  }
  return { policies, errors }
}
