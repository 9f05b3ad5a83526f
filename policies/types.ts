/**
 * The policy engine's public types. The engine never imports from the connector: whatever it needs
 * to know of a request is described here, and the connector fills it in.
 */
import type { Taxonomy } from './taxonomy.ts'

/**
 * Where a decision is taken. Each registry operand lists the scopes where a value is required;
 * elsewhere it decides only when the request carries its value, and is deferred otherwise.
 */
export type Scope = 'catalog' | 'negotiation' | 'transfer' | 'monitor'
export const scopes: readonly Scope[] = ['catalog', 'negotiation', 'transfer', 'monitor']

/** The twelve ODRL 2.2 operators. */
export type Operator = 'eq' | 'neq' | 'gt' | 'gteq' | 'lt' | 'lteq' | 'isA' | 'hasPart' | 'isPartOf' | 'isAllOf' | 'isAnyOf' | 'isNoneOf'
export const operators: readonly Operator[] = ['eq', 'neq', 'gt', 'gteq', 'lt', 'lteq', 'isA', 'hasPart', 'isPartOf', 'isAllOf', 'isAnyOf', 'isNoneOf']

export type LogicalOperator = 'and' | 'or' | 'xone' | 'andSequence'
export type ConflictStrategy = 'perm' | 'prohibit' | 'invalid'

/** A value on the right of a constraint: plain JSON scalars; IRIs are strings. */
export type Value = string | number | boolean

export interface AtomicConstraint {
  kind: 'atomic'
  /** The constraint's `@id`, when it has one. */
  uid?: string
  /** The operand's short name from the registry (e.g. `purpose`) or a full IRI for foreign ones. */
  leftOperand: string
  operator: Operator
  rightOperand: Value | Value[]
  /** The right operand is an ordered list (`@list`): order matters when policies are compared. */
  ordered?: true
  /** xsd datatype IRI of the right operand, when the source said (e.g. xsd:dateTime). */
  dataType?: string
  unit?: string
  /**
   * Where this constraint decides, when its policy overrides the operand's scopes (scopes.ts):
   * exactly there (unknown refuses, a start date is not deferred at negotiation), deferred elsewhere.
   */
  scopes?: Scope[]
}

export interface LogicalConstraint {
  kind: 'logical'
  uid?: string
  operator: LogicalOperator
  constraints: Constraint[]
}

export type Constraint = AtomicConstraint | LogicalConstraint

/** A party: one participant id (IRI), or a collection refined by constraints. */
export type Party = string | { uid?: string; source?: string; refinement: Constraint[] }
/** An asset: one IRI, or a collection (`partOf`). */
export type Asset = string | { uid?: string; partOf?: string; refinement?: Constraint[] }

/** The rule properties a compact policy gives once, on the policy, for all its rules (ODRL 2.2 §2.7.1). */
export type InheritedField = 'action' | 'target' | 'assigner' | 'assignee'

export interface Rule {
  uid?: string
  /** Action short name (`use`, `read`, …) or a full IRI for foreign actions. */
  action: string
  actionRefinement?: Constraint[]
  target?: Asset[]
  assigner?: Party
  assignee?: Party
  constraints: Constraint[]
  /** Permissions: duties that come with the permission. Prohibitions: remedies. Duties: consequences. */
  duties: Rule[]
  /** Fields this rule took from the policy (a compact policy), for explanations; not part of its meaning. */
  inherited?: InheritedField[]
}

export interface PolicyModel {
  uid: string
  type: 'Set' | 'Offer' | 'Agreement' | 'Policy'
  profile?: string[]
  conflict?: ConflictStrategy
  target?: Asset[]
  assigner?: Party
  assignee?: Party
  /** When an Agreement was concluded (xsd:dateTime, as the wire said it). */
  timestamp?: string
  permissions: Rule[]
  prohibitions: Rule[]
  obligations: Rule[]
}

/** A credential the requester presented, already verified (issuer trusted, signature checked). */
export interface CredentialInfo {
  types: string[]
  issuer: string
  claims: Record<string, unknown>
  /** Milliseconds since the epoch. */
  expiresAt?: number
}

/** Everything a decision may look at. Pure data: the engine does no I/O. */
export interface EvaluationContext {
  scope: Scope
  /**
   * At negotiation, a start date not reached yet (an embargo) is left to the accesses, since signing
   * opens nothing before it. `true` decides it as of `now` instead: "is this permitted at this
   * instant", the question ODRL's own test suite asks.
   */
  decideDatesNow?: boolean
  /** The requested action, short name (`use`) or IRI. */
  action: string
  /** The requester's participant id. */
  assignee: string
  /** The provider's participant id. */
  assigner?: string
  /** The dataset id. */
  target?: string
  /** The purpose(s) the requester declared (short names from the purpose taxonomy). With several, each must qualify. */
  purpose?: string | string[]
  /** Where the requester will process the data: ISO 3166-1 alpha-2 or 3166-2 code(s) (e.g. `CA-QC`). */
  spatial?: string | string[]
  /** The requester's sector(s) (e.g. `research`, `health`). */
  industry?: string | string[]
  credentials: CredentialInfo[]
  now: Date
  agreement?: { signedAt: Date }
  /**
   * Accesses already made under the agreement. At `transfer` scope the access being decided counts
   * too (the `count` operand reads usage.count + 1); at `monitor` scope it reads usage.count.
   */
  usage?: { count: number }
  /** Values for operands that configuration added to the registry, by operand name. */
  attributes?: Record<string, unknown>
  /** Party collections the assignee belongs to (for rules whose assignee is a collection). */
  assigneeCollections?: string[]
  /** Asset collections the target belongs to (for rules whose target is a collection). */
  targetCollections?: string[]
  /**
   * What is known of duties, by the duty's `uid`. A permission permits only when each of its duties
   * is `fulfilled`, or `acknowledged` (taken on, due later) and not overdue; `violated`, `pending`
   * or no record blocks when the permission is exercised (see `dutyState` in the evaluator).
   */
  duties?: Record<string, DutyState>
}

/**
 * A constraint's outcome. `unknown`: the operand, operator or value could not be resolved (denies).
 * `deferred`: the operand does not decide at this scope and the request did not carry its value
 * (neither refuses a permission nor triggers a prohibition; see the registry's `scopes`).
 */
export type Outcome = 'satisfied' | 'violated' | 'unknown' | 'deferred'

export interface TraceEntry {
  /** e.g. `permission 1 (use)`. */
  rule: string
  /** e.g. `constraint 2` or `constraint 1.and[2]`. */
  constraint: string
  leftOperand: string
  operator: string
  expected: unknown
  actual: unknown
  outcome: Outcome
  /** Why, when the outcome is not plain (unknown operand, not applicable at this scope, …). */
  note?: string
}

/** A duty the requester takes on when the decision allows. */
/** What is known of a duty: `pending` is the same as no record (neither fulfilled nor taken on). */
export type DutyState = 'fulfilled' | 'acknowledged' | 'violated' | 'pending'
export const dutyStates: readonly DutyState[] = ['fulfilled', 'acknowledged', 'violated', 'pending']

export interface Obligation {
  /**
   * Stable id: the duty's `uid`, or one derived from its position (`permission 1, duty 2` →
   * `permission-1-duty-2`), the same for the same policy, so it can be recorded on an agreement.
   */
  id: string
  /** The duty's action (e.g. `attribute`, `delete`, `inform`). */
  action: string
  /** The rule it comes from, e.g. `permission 1 (use)` or `obligation 1`. */
  rule: string
  constraints: Constraint[]
  /** The duty in plain language. */
  text: string
  /**
   * `connector`: the connector can tell itself whether it is met (a count, a deletion deadline, a
   * notification through its own events). `consumer`: only the consumer can perform it
   * (attribution, payment); the connector records it and learns its state from `context.duties`.
   */
  checkedBy: 'connector' | 'consumer'
  /** What is known of it (from `context.duties`; `pending` when nothing is). */
  state: DutyState
  /** A permission does not permit while this duty is not fulfilled. */
  blocking: boolean
}

export interface Decision {
  allowed: boolean
  /**
   * Why the policy itself is invalid (an unknown action, operand, operator, profile or datatype, a
   * value that does not parse, …): an invalid policy never allows. Absent when the policy is valid.
   */
  invalid?: string[]
  /** One plain sentence, fit for a DSP `reason`. */
  reason: string
  /** Plain sentences, most important first. */
  explanation: string[]
  trace: TraceEntry[]
  obligations: Obligation[]
}

export interface LintError {
  file: string
  line: number
  column?: number
  /** Dotted path of the offending field, e.g. `permissions[0].constraints[1].operator`. */
  field: string
  message: string
  suggestion?: string
}

/** An ODRL policy as it appears inside a DSP catalog Offer: no `target`, no `@context` of its own. */
export interface OdrlOffer {
  '@id': string
  '@type': 'Offer'
  permission?: OdrlRule[]
  prohibition?: OdrlRule[]
  obligation?: OdrlRule[]
  [key: string]: unknown
}

export interface OdrlRule {
  action: string | Record<string, unknown>
  constraint?: OdrlConstraint[]
  duty?: OdrlRule[]
  [key: string]: unknown
}

export type OdrlConstraint = Record<string, unknown>

/** An Offer with its `target`, as sent in a ContractOfferMessage / ContractRequestMessage. */
export type OdrlTargetedOffer = Omit<OdrlOffer, '@type'> & { '@type': 'Offer'; target: string }

/** An Agreement body, as a ContractAgreementMessage carries it. */
export interface OdrlAgreement {
  '@id': string
  '@type': 'Agreement'
  target: string
  assigner: string
  assignee: string
  timestamp: string
  permission?: OdrlRule[]
  prohibition?: OdrlRule[]
  obligation?: OdrlRule[]
  [key: string]: unknown
}

export interface CompiledPolicy {
  id: string
  title: string
  description?: string
  /** The file it was compiled from (as given to the loader). */
  sourceFile: string
  odrl: OdrlOffer
  /** The policy in plain language. */
  plainText: string
  /** The normalised model the evaluator runs on. */
  model: PolicyModel
  /** The operand registry the policy was checked against (and is evaluated with). */
  registry: Registry
}

export interface LoadResult {
  policies: Map<string, CompiledPolicy>
  errors: LintError[]
  /** The registry (built-ins plus any `registry.yaml` of the folder) the policies were compiled with. */
  registry: Registry
}

export type OperandType = 'string' | 'integer' | 'number' | 'dateTime' | 'duration' | 'place' | 'taxonomy' | 'boolean'

/** What the evaluator reads for an operand: a list of values, or `undefined` when it cannot be known. */
export type OperandReading = { values: unknown[]; note?: string } | undefined

/** One left operand the engine understands. */
export interface OperandEntry {
  /** Short name used in policy files (`purpose`). */
  name: string
  /** Full IRI used in ODRL JSON-LD. */
  iri: string
  label: string
  description: string
  dataType: OperandType
  operators: Operator[]
  /** Allowed right-operand values (a closed vocabulary), when there is one. */
  values?: string[]
  /**
   * Scopes where the operand must decide: there, a value the request does not give is unknown, and
   * unknown denies. At other scopes it decides only when the request carries its value; when it
   * does not, the constraint is *deferred*: it neither refuses a permission nor triggers a
   * prohibition there, and the trace says so.
   */
  scopes: Scope[]
  /** Reads the request's value(s). */
  read: (context: EvaluationContext) => OperandReading
  /** Whether the request carries this information at all (default: `read` gives a value). */
  carried?: (context: EvaluationContext) => boolean
  /** For taxonomies and places: is `narrower` a kind of / within `broader`? Both are `parse`d values. */
  within?: (narrower: string, broader: string) => boolean
  /**
   * Reads one value (of the policy or of the request) into the form the operators compare, or
   * undefined when it cannot be read. Taxonomies map every spelling of a concept (IRI, prefixed
   * name, short name) to one name, so `eq` and `isA` compare concepts, not spellings.
   */
  parse?: (value: unknown) => unknown
  /** The concepts of a taxonomy operand. */
  taxonomy?: Taxonomy
  /** Lint check of one right-operand value; a message when it is not acceptable. */
  check?: (value: unknown) => string | undefined
}

export interface Registry {
  list(): OperandEntry[]
  /** By short name, by full IRI, by `odrl:` name, or a `credential.<Type>.<claim>` operand. */
  get(nameOrIri: string): OperandEntry | undefined
}
