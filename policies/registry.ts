import { z } from 'zod'
import { industryParents } from './vocabularies/industries.ts'
import { purposeParents } from './vocabularies/purposes.ts'
import { knownPlace, listPlaces, placeWithin } from './vocabularies/places.ts'
import { odrlNamespace } from './vocabularies/actions.ts'
import { parseDuration } from './values.ts'
import type { EvaluationContext, Operator, Scope } from './types.ts'
import { operators as allOperators, scopes as allScopes } from './types.ts'

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
  /** For taxonomies and places: is `narrower` a kind of / within `broader`? */
  within?: (narrower: string, broader: string) => boolean
  /** Lint check of one right-operand value; a message when it is not acceptable. */
  check?: (value: unknown) => string | undefined
}

/** An operand added by configuration (YAML). */
export const OperandConfig = z.strictObject({
  name: z.string().regex(/^[a-zA-Z][a-zA-Z0-9_-]*$/, 'a name of letters, digits, - and _'),
  iri: z.string().url().optional(),
  label: z.string().optional(),
  description: z.string().optional(),
  dataType: z.enum(['string', 'integer', 'number', 'dateTime', 'duration', 'boolean']),
  operators: z.array(z.enum(allOperators as [Operator, ...Operator[]])).optional(),
  values: z.array(z.string()).optional(),
  scopes: z.array(z.enum(allScopes as [Scope, ...Scope[]])).optional(),
  /** Read the value from a claim of a credential of this type instead of `context.attributes[name]`. */
  credential: z.strictObject({ type: z.string(), claim: z.string() }).optional(),
})
export type OperandConfig = z.infer<typeof OperandConfig>

export const RegistryFile = z.strictObject({ operands: z.array(OperandConfig) })
export type RegistryFile = z.infer<typeof RegistryFile>

export interface Registry {
  list(): OperandEntry[]
  /** By short name, by full IRI, by `odrl:` name, or a `credential.<Type>.<claim>` operand. */
  get(nameOrIri: string): OperandEntry | undefined
}

/** Namespace of the operands ODRL does not define. */
export const passerelleNamespace = 'https://w3id.org/passerelle/policy/'

/*
 * Where operands decide. What the requester declares (purpose, place of processing, sector) is
 * decided when it negotiates: the agreement records the commitment, and transfers are not asked
 * again. What it proves with credentials is decided in the catalog and at negotiation. Counters
 * and time since the agreement exist only under an agreement (transfer, monitor). The date and the
 * recipient decide everywhere.
 */
const everywhere: Scope[] = ['catalog', 'negotiation', 'transfer', 'monitor']
const declared: Scope[] = ['negotiation']
const proven: Scope[] = ['catalog', 'negotiation']
const underAgreement: Scope[] = ['transfer', 'monitor']
const ordered: Operator[] = ['eq', 'neq', 'gt', 'gteq', 'lt', 'lteq']
const sets: Operator[] = ['eq', 'neq', 'isAnyOf', 'isNoneOf', 'isAllOf', 'hasPart']

function taxonomyWithin(parents: Record<string, string | null>) {
  return (narrower: string, broader: string) => {
    let current: string | null | undefined = narrower
    for (let depth = 0; current && depth < 16; depth++) {
      if (current === broader) return true
      current = parents[current]
    }
    return false
  }
}

const present = (value: unknown): OperandReading =>
  value === undefined || value === null || value === '' || (Array.isArray(value) && value.length === 0) ? undefined : { values: Array.isArray(value) ? value : [value] }

const isValidDate = (value: unknown) =>
  typeof value === 'string' && /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?$/.test(value) && !Number.isNaN(Date.parse(value))

const checkDate = (value: unknown) =>
  isValidDate(value) ? undefined : `\`${String(value)}\` is not a date-time (expected e.g. 2027-01-01T00:00:00Z)`

const checkDuration = (value: unknown) =>
  typeof value === 'string' && parseDuration(value) !== undefined
    ? undefined
    : `\`${String(value)}\` is not an ISO 8601 duration (expected e.g. P30D, PT12H, P1Y)`

const checkInteger = (value: unknown) =>
  (typeof value === 'number' && Number.isInteger(value) && value >= 0) || (typeof value === 'string' && /^\d+$/.test(value))
    ? undefined
    : `\`${String(value)}\` is not a whole number`

const checkNumber = (value: unknown) =>
  (typeof value === 'number' && Number.isFinite(value)) || (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)))
    ? undefined
    : `\`${String(value)}\` is not a number`

function checkVocabulary(values: string[], what: string) {
  const set = new Set(values)
  return (value: unknown) => (typeof value === 'string' && set.has(value) ? undefined : `\`${String(value)}\` is not a known ${what}`)
}

/** Credentials were presented with the request (the data plane, for one, has none to give). */
const hasCredentials = (context: EvaluationContext) => (context.credentials?.length ?? 0) > 0

function hasValidCredential(context: EvaluationContext, type: string): boolean {
  const now = context.now.getTime()
  for (const c of context.credentials ?? []) if (c.types?.includes(type) && (c.expiresAt === undefined || c.expiresAt > now)) return true
  return false
}

function claimAt(claims: Record<string, unknown>, path: string): unknown {
  let current: unknown = claims
  for (const key of path.split('.')) {
    if (current === null || typeof current !== 'object') return undefined
    current = (current as Record<string, unknown>)[key]
  }
  return current
}

function readClaim(type: string, claim: string) {
  return function readClaimOf(context: EvaluationContext): OperandReading {
    const now = context.now.getTime()
    let found: unknown[] | undefined
    for (const c of context.credentials ?? []) {
      if (!c.types?.includes(type) || (c.expiresAt !== undefined && c.expiresAt <= now)) continue
      const value = claimAt(c.claims, claim)
      if (value === undefined) continue
      found ??= []
      if (Array.isArray(value)) found.push(...value)
      else found.push(value)
    }
    return found ? { values: found } : undefined
  }
}

// Readings are not modified by the evaluator: the two membership answers are shared.
const membershipActive: OperandReading = { values: ['active'] }
const membershipNone: OperandReading = { values: ['none'] }

function builtIns(): OperandEntry[] {
  const purposes = Object.keys(purposeParents)
  const industries = Object.keys(industryParents)
  return [
    {
      name: 'purpose', iri: `${odrlNamespace}purpose`, label: 'purpose',
      description: 'The purpose the requester declared. `isA` follows the purpose taxonomy (climate-research is a kind of research); set operators match narrower purposes too.',
      dataType: 'taxonomy', operators: ['eq', 'neq', 'isA', 'isAnyOf', 'isNoneOf'], values: purposes, scopes: declared,
      read: (c) => present(c.purpose), within: taxonomyWithin(purposeParents), check: checkVocabulary(purposes, 'purpose'),
    },
    {
      name: 'spatial', iri: `${odrlNamespace}spatial`, label: 'processing location',
      description: 'Where the requester processes the data: an ISO 3166 country (CA) or subdivision (CA-QC); groupings such as EU and EEA. `isPartOf` follows containment.',
      dataType: 'place', operators: ['eq', 'neq', 'isPartOf', 'isAnyOf', 'isNoneOf'], values: listPlaces(), scopes: declared,
      read: (c) => present(c.spatial === undefined ? undefined : Array.isArray(c.spatial) ? c.spatial.map((p) => p.toUpperCase()) : c.spatial.toUpperCase()), within: placeWithin,
      check: (v) => (typeof v === 'string' && knownPlace(v) ? undefined : `\`${String(v)}\` is not an ISO 3166 code or a known grouping (EU, EEA, …)`),
    },
    {
      name: 'dateTime', iri: `${odrlNamespace}dateTime`, label: 'date and time',
      description: 'The time of the request (for embargoes and validity windows).',
      dataType: 'dateTime', operators: ordered, scopes: everywhere,
      read: (c) => ({ values: [c.now.getTime()] }), check: checkDate,
    },
    {
      name: 'elapsedTime', iri: `${odrlNamespace}elapsedTime`, label: 'time since the agreement',
      description: 'Time elapsed since the agreement was signed, as an ISO 8601 duration (P30D).',
      dataType: 'duration', operators: ordered, scopes: underAgreement,
      read: (c) => (c.agreement ? { values: [c.now.getTime() - c.agreement.signedAt.getTime()] } : undefined), check: checkDuration,
    },
    {
      name: 'count', iri: `${odrlNamespace}count`, label: 'number of accesses',
      description: 'Accesses under the agreement. At transfer scope the access being decided is counted (usage.count + 1); at monitor scope the accesses made so far (usage.count).',
      dataType: 'integer', operators: ordered, scopes: underAgreement,
      read: (c) => (c.usage ? { values: [c.scope === 'transfer' ? c.usage.count + 1 : c.usage.count], note: c.scope === 'transfer' ? 'including this access' : undefined } : undefined),
      check: checkInteger,
    },
    {
      name: 'recipient', iri: `${odrlNamespace}recipient`, label: 'recipient',
      description: 'The requesting participant (its participant id, a DID).',
      dataType: 'string', operators: ['eq', 'neq', 'isAnyOf', 'isNoneOf'], scopes: everywhere,
      read: (c) => present(c.assignee),
    },
    {
      name: 'industry', iri: `${odrlNamespace}industry`, label: 'sector',
      description: 'The requester\'s sector; `isA` follows the sector taxonomy (hospital is a kind of health).',
      dataType: 'taxonomy', operators: ['eq', 'neq', 'isA', 'isAnyOf', 'isNoneOf'], values: industries, scopes: declared,
      read: (c) => present(c.industry), within: taxonomyWithin(industryParents), check: checkVocabulary(industries, 'sector'),
    },
    {
      name: 'membership', iri: `${passerelleNamespace}membership`, label: 'data-space membership',
      description: 'Whether the requester holds an unexpired MembershipCredential from a trusted issuer (`active`), or not (`none`).',
      dataType: 'string', operators: ['eq', 'neq'], values: ['active', 'none'], scopes: proven,
      read: (c) => (hasValidCredential(c, 'MembershipCredential') ? membershipActive : membershipNone),
      carried: hasCredentials,
      check: checkVocabulary(['active', 'none'], 'membership state (active or none)'),
    },
  ]
}

/** `credential.<Type>.<claim.path>`: any claim of a verified credential from a trusted issuer. */
function credentialOperand(name: string): OperandEntry | undefined {
  const match = /^credential\.([A-Za-z][A-Za-z0-9]*)\.([A-Za-z_][A-Za-z0-9_.]*)$/.exec(name)
  if (!match) return undefined
  const [, type, claim] = match as unknown as [string, string, string]
  return {
    name, iri: `${passerelleNamespace}${name}`, label: `claim \`${claim}\` of the requester's ${type}`,
    description: `The claim \`${claim}\` of an unexpired ${type} from a trusted issuer.`,
    dataType: 'string', operators: [...sets, 'gt', 'gteq', 'lt', 'lteq'], scopes: proven, read: readClaim(type, claim), carried: hasCredentials,
  }
}

function fromConfig(config: OperandConfig): OperandEntry {
  const operatorsFor: Record<OperandConfig['dataType'], Operator[]> = {
    string: sets, boolean: ['eq', 'neq'], integer: [...ordered, 'isAnyOf', 'isNoneOf'], number: ordered, dateTime: ordered, duration: ordered,
  }
  const checks: Partial<Record<OperandConfig['dataType'], (v: unknown) => string | undefined>> = {
    integer: checkInteger, number: checkNumber, dateTime: checkDate, duration: checkDuration,
  }
  return {
    name: config.name,
    iri: config.iri ?? `${passerelleNamespace}${config.name}`,
    label: config.label ?? config.name,
    description: config.description ?? `Operand \`${config.name}\` (added by configuration).`,
    dataType: config.dataType,
    operators: config.operators ?? operatorsFor[config.dataType],
    ...(config.values ? { values: config.values } : {}),
    scopes: config.scopes ?? (config.credential ? proven : declared),
    read: config.credential ? readClaim(config.credential.type, config.credential.claim) : (c) => present(c.attributes?.[config.name]),
    ...(config.credential ? { carried: hasCredentials } : {}),
    check: config.values ? checkVocabulary(config.values, config.label ?? config.name) : checks[config.dataType],
  }
}

/** The built-in operands plus those configuration adds (a configured name replaces a built-in one). */
export function createRegistry(extensions: OperandConfig[] = []): Registry {
  const byName = new Map<string, OperandEntry>()
  const byIri = new Map<string, OperandEntry>()
  for (const entry of [...builtIns(), ...extensions.map(fromConfig)]) {
    byName.set(entry.name, entry)
    byIri.set(entry.iri, entry)
  }
  // Every name, IRI or prefixed form resolved once is remembered (bounded: names may come from peers).
  const resolved = new Map<string, OperandEntry>()
  const resolve = (nameOrIri: string): OperandEntry | undefined => {
    const found = byName.get(nameOrIri) ?? byIri.get(nameOrIri)
    if (found) return found
    let name = nameOrIri
    if (name.startsWith('odrl:')) return byName.get(name.slice(5))
    if (name.startsWith(odrlNamespace)) return byName.get(name.slice(odrlNamespace.length))
    if (name.startsWith(passerelleNamespace)) name = name.slice(passerelleNamespace.length)
    if (!name.startsWith('credential.')) return byName.get(name)
    return credentialOperand(name)
  }
  return {
    list: () => [...byName.values()],
    get(nameOrIri) {
      let entry = resolved.get(nameOrIri)
      if (entry) return entry
      entry = resolve(nameOrIri)
      if (entry && resolved.size < 10_000) resolved.set(nameOrIri, entry)
      return entry
    },
  }
}

let shared: Registry | undefined
/** The built-in registry (no configured operands). */
export const defaultRegistry = (): Registry => (shared ??= createRegistry())
