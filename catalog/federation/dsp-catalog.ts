import { z } from 'zod'

/**
 * The parts of the DSP 2025-1 catalog schemas (catalog-schema.json, dataset-schema.json and the
 * Offer of contract-schema.json) a crawler must enforce, as zod schemas: the JSON Schemas and ajv
 * are test-time tools, and a peer's answer is checked on the crawl path. Objects stay open (DCAT
 * metadata rides along); tests check these schemas agree with the published ones.
 */

export const dspContextUrl = 'https://w3id.org/dspace/2025/1/context.jsonld'

const operators = ['eq', 'gt', 'gteq', 'lteq', 'hasPart', 'isA', 'isAllOf', 'isAnyOf', 'isNoneOf', 'isPartOf', 'lt', 'term-lteq', 'neq'] as const

export const AtomicConstraint = z.looseObject({
  leftOperand: z.string(),
  operator: z.enum(operators),
  rightOperand: z.union([z.string(), z.record(z.string(), z.unknown()), z.array(z.unknown())]),
})
export type AtomicConstraint = z.infer<typeof AtomicConstraint>

export type Constraint = AtomicConstraint | LogicalConstraint
export interface LogicalConstraint {
  and?: Constraint[]
  andSequence?: Constraint[]
  or?: Constraint[]
  xone?: Constraint[]
}
const logicalKeys = ['and', 'andSequence', 'or', 'xone'] as const

export const Constraint: z.ZodType<Constraint> = z.lazy(() =>
  z.union([
    AtomicConstraint,
    z
      .looseObject({
        and: z.array(Constraint).optional(),
        andSequence: z.array(Constraint).optional(),
        or: z.array(Constraint).optional(),
        xone: z.array(Constraint).optional(),
      })
      .refine((c) => logicalKeys.filter((k) => c[k] !== undefined).length === 1, {
        message: 'a logical constraint has exactly one of and, andSequence, or, xone',
      }),
  ]),
)

export const Rule = z.looseObject({
  action: z.string(),
  constraint: z.array(Constraint).optional(),
})
export type Rule = z.infer<typeof Rule>

/** An Offer inside a catalog: an `@id`, at least one permission or prohibition, and no `target`. */
export const CatalogOffer = z
  .looseObject({
    '@id': z.string(),
    '@type': z.literal('Offer').optional(),
    profile: z.union([z.string(), z.array(z.string())]).optional(),
    permission: z.array(Rule).min(1).optional(),
    prohibition: z.array(Rule).min(1).optional(),
    obligation: z.array(Rule).min(1).optional(),
  })
  .refine((o) => o.permission !== undefined || o.prohibition !== undefined, {
    message: 'an offer needs a permission or a prohibition',
  })
  .refine((o) => !('target' in o), { message: 'an offer inside a catalog must not have a target' })
export type CatalogOffer = z.infer<typeof CatalogOffer>

export const DataService = z.looseObject({
  '@id': z.string(),
  '@type': z.literal('DataService'),
  endpointURL: z.string(),
})
export type DataService = z.infer<typeof DataService>

export const Distribution = z.looseObject({
  format: z.string(),
  accessService: z.union([z.string(), DataService]),
  hasPolicy: z.array(CatalogOffer).min(1).optional(),
})
export type Distribution = z.infer<typeof Distribution>

export const CatalogDataset = z.looseObject({
  '@id': z.string(),
  hasPolicy: z.array(CatalogOffer).min(1),
  distribution: z.array(Distribution).min(1),
})
export type CatalogDataset = z.infer<typeof CatalogDataset>

/**
 * The envelope of a catalog page, with its datasets left unchecked: each dataset is checked on
 * its own, so that one bad dataset is refused without losing the rest of the page.
 */
export interface CatalogEnvelope {
  '@id': string
  '@type': 'Catalog'
  dataset?: unknown[]
  catalog?: CatalogEnvelope[]
  service?: DataService[]
  [key: string]: unknown
}
export const CatalogEnvelope: z.ZodType<CatalogEnvelope> = z.lazy(() =>
  z
    .looseObject({
      '@id': z.string(),
      '@type': z.literal('Catalog'),
      dataset: z.array(z.unknown()).min(1).optional(),
      catalog: z.array(CatalogEnvelope).min(1).optional(),
      service: z.array(DataService).min(1).optional(),
    })
    .refine((c) => !('hasPolicy' in c), { message: 'a catalog must not have hasPolicy' }),
)

/** What the root catalog adds to a catalog: the DSP context and the participant id. */
export const RootCatalogFields = z.object({
  '@context': z.array(z.string()).refine((c) => c.includes(dspContextUrl), { message: `@context must contain ${dspContextUrl}` }),
  participantId: z.string(),
})

/** A root catalog page (checked in two parts: a zod intersection would deep-compare every dataset). */
export const RootCatalogEnvelope = {
  safeParse(value: unknown): { success: true; data: RootCatalogEnvelope } | { success: false; error: z.ZodError } {
    const envelope = CatalogEnvelope.safeParse(value)
    if (!envelope.success) return envelope
    const o = value as Record<string, unknown>
    const root = RootCatalogFields.safeParse({ '@context': o['@context'], participantId: o.participantId })
    if (!root.success) return root
    return { success: true, data: { ...envelope.data, ...root.data } }
  },
}
export type RootCatalogEnvelope = CatalogEnvelope & { '@context': string[]; participantId: string }

/** zod issues as one short line: `dataset/0/hasPolicy: Too small…`. */
export const describeIssues = (error: z.ZodError, max = 3) =>
  error.issues
    .slice(0, max)
    .map((i) => `${i.path.join('/') || '(root)'}: ${i.message}`)
    .join('; ')
