import { z } from 'zod'
import { DeclaredUse } from '../dsp/declared-use.ts'

/**
 * The shapes of the management API's policy routes: what they accept and what they answer. The
 * routes parse with these, the OpenAPI document is generated from them, and the console reads
 * its types from them.
 */

/** A participant id: a DID or another IRI, without spaces. */
const ParticipantId = z
  .string()
  .trim()
  .min(1)
  .max(2048)
  .regex(/^[^\s<>"{}|\\^`\u0000-\u001f\u007f]+$/, 'expected a participant id (a DID or an IRI, without spaces)')

/** A credential type as verifiable credentials name it, e.g. `MembershipCredential`. */
const CredentialType = z
  .string()
  .trim()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z][A-Za-z0-9]*$/, 'expected a credential type, e.g. MembershipCredential')

const DateTime = z.iso.datetime({ offset: true, message: 'expected a date-time with its offset, e.g. 2026-06-01T12:00:00Z' })

/**
 * A credential the imagined requester holds, as if already verified (trusted issuer, valid
 * signature): the decision then depends on its type, claims and expiry only.
 */
export const CredentialInput = z
  .object({
    type: CredentialType,
    issuer: ParticipantId.optional(),
    claims: z.record(z.string().max(200), z.unknown()).optional(),
    expiresAt: DateTime.optional(),
  })
  .strict()

/**
 * "Try a request": who asks, for what purpose, where the data will be processed, when, with which
 * credentials. `scope` is where the decision is taken: at negotiation (a contract request) or in
 * the catalog (whether the requester sees an offer or dataset the policy guards).
 */
export const EvaluateRequest = DeclaredUse.extend({
  participant: ParticipantId,
  /** The time of the request; the connector's clock when left out. */
  date: DateTime.optional(),
  scope: z.enum(['negotiation', 'catalog']).default('negotiation'),
  /** The dataset asked for, for policies that constrain the target. */
  dataset: z.string().trim().min(1).max(2048).optional(),
  credentials: z.array(CredentialInput).max(20).default([]),
}).strict()
export type EvaluateRequest = z.input<typeof EvaluateRequest>

/** One problem of a policy file: where (file relative to the participant folder, line, column, field) and what. */
export const LintProblem = z.object({
  severity: z.enum(['error', 'warning']),
  file: z.string(),
  line: z.number().optional(),
  column: z.number().optional(),
  field: z.string(),
  message: z.string(),
  suggestion: z.string().optional(),
})
export type LintProblem = z.infer<typeof LintProblem>

export const PolicySummary = z.object({
  id: z.string(),
  title: z.string(),
  description: z.string().optional(),
  file: z.string(),
  /** The policy in plain language. */
  plainText: z.string(),
  /** Problems of its file (errors) and of what it says (warnings, e.g. an end date that has passed). */
  lint: z.array(LintProblem),
  /** Datasets whose description names it (as an offer or a visibility policy): the first ones by id, and how many. */
  datasets: z.object({ ids: z.array(z.string()), total: z.number() }),
})
export type PolicySummary = z.infer<typeof PolicySummary>

export const PolicyList = z.object({
  items: z.array(PolicySummary),
  /** Problems of files that did not compile into a policy (with line numbers). */
  problems: z.array(LintProblem),
})
export type PolicyList = z.infer<typeof PolicyList>

export const PolicyDetail = PolicySummary.extend({ odrl: z.record(z.string(), z.unknown()) })
export type PolicyDetail = z.infer<typeof PolicyDetail>

/** One step of a decision's trace, with the steps it is made of under it. */
export interface TraceNodeView {
  constraint: string
  outcome: 'satisfied' | 'violated' | 'unknown' | 'deferred'
  /** The step in one line, as `passerelle policy eval` prints it. */
  text: string
  children: TraceNodeView[]
}
export const TraceNodeView: z.ZodType<TraceNodeView> = z.object({
  constraint: z.string(),
  outcome: z.enum(['satisfied', 'violated', 'unknown', 'deferred']),
  text: z.string(),
  get children() {
    return z.array(TraceNodeView)
  },
})

export const EvaluateAnswer = z.object({
  policy: z.object({ id: z.string(), title: z.string() }),
  scope: z.enum(['negotiation', 'catalog']),
  at: z.string(),
  allowed: z.boolean(),
  /** One plain sentence naming the policy. */
  reason: z.string(),
  explanation: z.array(z.string()),
  invalid: z.array(z.string()).optional(),
  obligations: z.array(z.object({ id: z.string(), action: z.string(), text: z.string(), state: z.string(), blocking: z.boolean() })),
  /** The trace as a tree, per rule. */
  trace: z.array(z.object({ rule: z.string(), nodes: z.array(TraceNodeView) })),
})
export type EvaluateAnswer = z.infer<typeof EvaluateAnswer>

export const PolicyTestRun = z.object({
  policy: z.string(),
  /** The test files (relative to the participant folder) that have cases for this policy. */
  files: z.array(z.string()),
  results: z.array(z.object({ file: z.string(), name: z.string(), passed: z.boolean(), message: z.string().optional(), reason: z.string() })),
  /** Problems of the test files that stopped cases from running. */
  errors: z.array(LintProblem),
  passed: z.number(),
  failed: z.number(),
})
export type PolicyTestRun = z.infer<typeof PolicyTestRun>

/** `?participant=DID&credential=Type&credential=…`: whose view of this connector's catalog. */
export const PreviewQuery = z
  .object({
    participant: ParticipantId,
    credential: z.array(CredentialType).max(20).default([]),
    offset: z.coerce.number().int().min(0).max(1_000_000_000).default(0),
    limit: z.coerce.number().int().min(1).max(100).default(20),
  })
  .strict()

const Localized = z.union([z.string(), z.record(z.string(), z.string())])

export const CatalogPreview = z.object({
  participant: z.string(),
  credentials: z.array(z.string()),
  /** How many datasets this participant sees. */
  total: z.number(),
  offset: z.number(),
  limit: z.number(),
  datasets: z.array(
    z.object({
      id: z.string(),
      title: Localized.optional(),
      offers: z.array(z.object({ id: z.string(), policy: z.string().optional(), title: z.string().optional() })),
    }),
  ),
  /** The visibility policies in use that refuse this participant, each with its reason: what it does not see, and why. */
  refused: z.array(z.object({ policy: z.string(), title: z.string().optional(), reason: z.string() })),
})
export type CatalogPreview = z.infer<typeof CatalogPreview>
