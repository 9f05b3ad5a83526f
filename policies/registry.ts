import { z } from 'zod'
import { industryTaxonomy } from './vocabularies/industries.ts'
import { purposeTaxonomy } from './vocabularies/purposes.ts'
import { placeTaxonomy } from './vocabularies/places.ts'
import { Taxonomy } from './taxonomy.ts'
import { odrlNamespace } from './vocabularies/actions.ts'
import { parseDuration } from './values.ts'
import type { EvaluationContext, OperandEntry, OperandReading, Operator, Registry, Scope } from './types.ts'
import { operators as allOperators, scopes as allScopes } from './types.ts'
import { scopeTable } from './scopes.ts'

// The operand types live with the engine's other public types (types.ts refers to Registry).
export type { OperandEntry, OperandReading, OperandType, Registry } from './types.ts'

/** An operand added by configuration (YAML). */
export const OperandConfig = z.strictObject({
  name: z.string().regex(/^[a-zA-Z][a-zA-Z0-9_-]*$/, 'a name of letters, digits, - and _'),
  iri: z.string().url().optional(),
  label: z.string().optional(),
  description: z.string().optional(),
  /** `taxonomy`: values are concepts of the taxonomies the registry file declares for this operand. */
  dataType: z.enum(['string', 'integer', 'number', 'dateTime', 'duration', 'boolean', 'taxonomy']),
  operators: z.array(z.enum(allOperators as [Operator, ...Operator[]])).optional(),
  values: z.array(z.string()).optional(),
  scopes: z.array(z.enum(allScopes as [Scope, ...Scope[]])).optional(),
  /** Read the value from a claim of a credential of this type instead of `context.attributes[name]`. */
  credential: z.strictObject({ type: z.string(), claim: z.string() }).optional(),
})
export type OperandConfig = z.infer<typeof OperandConfig>

/** A taxonomy file (SKOS as Turtle, JSON-LD or YAML) whose concepts an operand's values may name. */
export const TaxonomyConfig = z.strictObject({
  /** The operand: `purpose`, `spatial`, `industry` (added to their shipped taxonomies) or a configured taxonomy operand. */
  operand: z.string().min(1),
  /** The file, relative to the registry file's folder. */
  file: z.string().min(1),
})
export type TaxonomyConfig = z.infer<typeof TaxonomyConfig>

export const RegistryFile = z.strictObject({
  operands: z.array(OperandConfig).default([]),
  taxonomies: z.array(TaxonomyConfig).default([]),
})
export type RegistryFile = z.infer<typeof RegistryFile>

/** Namespace of the operands ODRL does not define. */
export const passerelleNamespace = 'https://w3id.org/passerelle/policy/'

// Where each operand decides comes from the one table (scopes.ts).
const { declared, proven, dateTime: dates, underAgreement, recipient } = scopeTable
const ordered: Operator[] = ['eq', 'neq', 'gt', 'gteq', 'lt', 'lteq']
const sets: Operator[] = ['eq', 'neq', 'isAnyOf', 'isNoneOf', 'isAllOf', 'hasPart']

// Kinds (purposes, sectors) take `isA`; places `isPartOf`; a steward's taxonomy may be either.
const kindOperators: Operator[] = ['eq', 'neq', 'isA', 'hasPart', 'isAnyOf', 'isAllOf', 'isNoneOf']
const taxonomyOperators: Operator[] = ['eq', 'neq', 'isA', 'isPartOf', 'hasPart', 'isAnyOf', 'isAllOf', 'isNoneOf']

/** What a taxonomy operand needs: reading any spelling of a concept, containment, and lint with a suggestion. */
function overTaxonomy(taxonomy: Taxonomy, what: string) {
  // Short lists (short and prefixed names) are given to lint, which suggests from them; long ones
  // (5,000 places) suggest here. Full IRIs are always suggested here, in the same namespace.
  const aliases = taxonomy.aliases()
  const listed = aliases.length <= 100
  return {
    taxonomy,
    ...(listed ? { values: [...aliases, ...taxonomy.prefixedNames()] } : {}),
    parse: (value: unknown) => (typeof value === 'string' ? taxonomy.canonical(value.trim()) : undefined),
    within: (narrower: string, broader: string) => taxonomy.within(narrower, broader),
    check(value: unknown) {
      if (typeof value === 'string' && taxonomy.indexOf(value.trim()) !== undefined) return undefined
      const text = String(value)
      const near = typeof value === 'string' && (!listed || text.includes('://')) ? taxonomy.suggest(text) : undefined
      return `\`${text}\` is not a known ${what}${near ? `; did you mean \`${near}\`?` : ''}`
    },
  }
}

/** The shipped taxonomies of the built-in operands; a registry file may extend them. */
export const shippedTaxonomies = (): Record<string, Taxonomy> => ({ purpose: purposeTaxonomy(), spatial: placeTaxonomy(), industry: industryTaxonomy() })

const present = (value: unknown): OperandReading =>
  value === undefined || value === null || value === '' || (Array.isArray(value) && value.length === 0)
    ? undefined
    : { values: Array.isArray(value) ? value : [value] }

const isValidDate = (value: unknown) =>
  typeof value === 'string' && /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?$/.test(value) && !Number.isNaN(Date.parse(value))

const checkDate = (value: unknown) => (isValidDate(value) ? undefined : `\`${String(value)}\` is not a date-time (expected e.g. 2027-01-01T00:00:00Z)`)

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

function builtIns(taxonomies: Record<string, Taxonomy>): OperandEntry[] {
  return [
    {
      name: 'purpose',
      iri: `${odrlNamespace}purpose`,
      label: 'purpose',
      description:
        'The purpose the requester declared: a DPV purpose (https://w3id.org/dpv#ScientificResearch, dpv:Marketing), one of ours (ai-model-training, text-and-data-mining) or a short name. `isA` follows the purpose taxonomy (climate-research is a kind of research); set operators match narrower purposes too.',
      dataType: 'taxonomy',
      operators: kindOperators,
      scopes: [...declared.scopes],
      read: (c) => present(c.purpose),
      ...overTaxonomy(taxonomies.purpose ?? purposeTaxonomy(), 'purpose'),
    },
    {
      name: 'spatial',
      iri: `${odrlNamespace}spatial`,
      label: 'processing location',
      description:
        'Where the requester processes the data: an ISO 3166 country (CA) or subdivision (CA-QC), also as IRI (https://w3id.org/dpv/loc#CA-QC); groupings EU, EEA, EFTA, G7, NORTH-AMERICA, CA-PROVINCES, CA-TERRITORIES. `isPartOf` follows containment, `hasPart` the other way.',
      dataType: 'place',
      operators: ['eq', 'neq', 'isPartOf', 'hasPart', 'isAnyOf', 'isAllOf', 'isNoneOf'],
      scopes: [...declared.scopes],
      read: (c) => present(c.spatial),
      ...overTaxonomy(taxonomies.spatial ?? placeTaxonomy(), 'ISO 3166 place or grouping'),
    },
    {
      name: 'dateTime',
      iri: `${odrlNamespace}dateTime`,
      label: 'date and time',
      description: 'The time of the request (for embargoes and validity windows).',
      dataType: 'dateTime',
      operators: ordered,
      scopes: [...dates.scopes],
      read: (c) => ({ values: [c.now.getTime()] }),
      check: checkDate,
    },
    {
      name: 'elapsedTime',
      iri: `${odrlNamespace}elapsedTime`,
      label: 'time since the agreement',
      description: 'Time elapsed since the agreement was signed, as an ISO 8601 duration (P30D).',
      dataType: 'duration',
      operators: ordered,
      scopes: [...underAgreement.scopes],
      read: (c) => (c.agreement ? { values: [c.now.getTime() - c.agreement.signedAt.getTime()] } : undefined),
      check: checkDuration,
    },
    {
      name: 'count',
      iri: `${odrlNamespace}count`,
      label: 'number of accesses',
      description:
        'Accesses under the agreement. At transfer scope the access being decided is counted (usage.count + 1); at monitor scope the accesses made so far (usage.count).',
      dataType: 'integer',
      operators: ordered,
      scopes: [...underAgreement.scopes],
      read: (c) =>
        c.usage
          ? { values: [c.scope === 'transfer' ? c.usage.count + 1 : c.usage.count], note: c.scope === 'transfer' ? 'including this access' : undefined }
          : undefined,
      check: checkInteger,
    },
    {
      name: 'recipient',
      iri: `${odrlNamespace}recipient`,
      label: 'recipient',
      description: 'The requesting participant (its participant id, a DID).',
      dataType: 'string',
      operators: ['eq', 'neq', 'isAnyOf', 'isNoneOf'],
      scopes: [...recipient.scopes],
      read: (c) => present(c.assignee),
    },
    {
      name: 'industry',
      iri: `${odrlNamespace}industry`,
      label: 'sector',
      description: "The requester's sector; `isA` follows the sector taxonomy (hospital is a kind of health).",
      dataType: 'taxonomy',
      operators: kindOperators,
      scopes: [...declared.scopes],
      read: (c) => present(c.industry),
      ...overTaxonomy(taxonomies.industry ?? industryTaxonomy(), 'sector'),
    },
    {
      name: 'membership',
      iri: `${passerelleNamespace}membership`,
      label: 'data-space membership',
      description: 'Whether the requester holds an unexpired MembershipCredential from a trusted issuer (`active`), or not (`none`).',
      dataType: 'string',
      operators: ['eq', 'neq'],
      values: ['active', 'none'],
      scopes: [...proven.scopes],
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
    name,
    iri: `${passerelleNamespace}${name}`,
    label: `claim \`${claim}\` of the requester's ${type}`,
    description: `The claim \`${claim}\` of an unexpired ${type} from a trusted issuer.`,
    dataType: 'string',
    operators: [...sets, 'gt', 'gteq', 'lt', 'lteq'],
    scopes: [...proven.scopes],
    read: readClaim(type, claim),
    carried: hasCredentials,
  }
}

function fromConfig(config: OperandConfig, taxonomy: Taxonomy | undefined): OperandEntry {
  const operatorsFor: Record<OperandConfig['dataType'], Operator[]> = {
    string: sets,
    boolean: ['eq', 'neq'],
    integer: [...ordered, 'isAnyOf', 'isNoneOf'],
    number: ordered,
    dateTime: ordered,
    duration: ordered,
    taxonomy: taxonomyOperators,
  }
  const checks: Partial<Record<OperandConfig['dataType'], (v: unknown) => string | undefined>> = {
    integer: checkInteger,
    number: checkNumber,
    dateTime: checkDate,
    duration: checkDuration,
  }
  return {
    name: config.name,
    iri: config.iri ?? `${passerelleNamespace}${config.name}`,
    label: config.label ?? config.name,
    description: config.description ?? `Operand \`${config.name}\` (added by configuration).`,
    dataType: config.dataType,
    operators: config.operators ?? operatorsFor[config.dataType],
    ...(config.values ? { values: config.values } : {}),
    scopes: config.scopes ?? [...(config.credential ? proven : scopeTable.configured).scopes],
    read: config.credential ? readClaim(config.credential.type, config.credential.claim) : (c) => present(c.attributes?.[config.name]),
    ...(config.credential ? { carried: hasCredentials } : {}),
    check: config.values ? checkVocabulary(config.values, config.label ?? config.name) : checks[config.dataType],
    // A taxonomy operand without concepts knows no value: every value is refused (fail closed).
    ...(config.dataType === 'taxonomy' ? overTaxonomy(taxonomy ?? emptyTaxonomy(), config.label ?? config.name) : {}),
  }
}

let empty: Taxonomy | undefined
const emptyTaxonomy = () => (empty ??= Taxonomy.build([]).taxonomy!)

/**
 * The built-in operands plus those configuration adds (a configured name replaces a built-in one).
 * `taxonomies` (by operand name) replace the shipped ones of `purpose`, `spatial` and `industry` and
 * give configured `taxonomy` operands their concepts.
 */
export function createRegistry(extensions: OperandConfig[] = [], taxonomies: Record<string, Taxonomy> = {}): Registry {
  const byName = new Map<string, OperandEntry>()
  const byIri = new Map<string, OperandEntry>()
  for (const entry of [...builtIns(taxonomies), ...extensions.map((e) => fromConfig(e, taxonomies[e.name]))]) {
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
