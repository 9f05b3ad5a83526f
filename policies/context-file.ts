/** Evaluation contexts written in YAML (for `policy eval --as` and steward tests). */
import { z } from 'zod'
import type { EvaluationContext } from './types.ts'
import { scopes } from './types.ts'

const When = z.union([z.string(), z.number(), z.date()]).transform((value, ctx) => {
  const date = value instanceof Date ? value : new Date(value)
  if (Number.isNaN(date.getTime())) {
    ctx.addIssue({ code: 'custom', message: `\`${String(value)}\` is not a date-time (e.g. 2026-06-01T12:00:00Z)` })
    return z.NEVER
  }
  return date
})

const Credential = z
  .strictObject({
    types: z.array(z.string()).optional(),
    type: z.string().optional(),
    /** Only credentials from trusted issuers reach a decision; the issuer is informative here. */
    issuer: z.string().default('did:web:issuer.example'),
    claims: z.record(z.string(), z.unknown()).default({}),
    expiresAt: When.optional(),
  })
  .transform(({ types, type, issuer, claims, expiresAt }) => ({
    types: [...new Set(['VerifiableCredential', ...(types ?? []), ...(type ? [type] : [])])],
    issuer,
    claims,
    ...(expiresAt ? { expiresAt: expiresAt.getTime() } : {}),
  }))

export const ContextFile = z.strictObject({
  scope: z.enum(scopes as unknown as ['catalog', 'negotiation', 'transfer', 'monitor']).default('negotiation'),
  action: z.string().default('use'),
  assignee: z.string().default('did:web:requester.example'),
  assigner: z.string().optional(),
  target: z.string().optional(),
  purpose: z.union([z.string(), z.array(z.string())]).optional(),
  spatial: z.union([z.string(), z.array(z.string())]).optional(),
  industry: z.union([z.string(), z.array(z.string())]).optional(),
  credentials: z.array(Credential).default([]),
  now: When.optional(),
  agreement: z.strictObject({ signedAt: When }).optional(),
  usage: z.strictObject({ count: z.number().int().min(0) }).optional(),
  attributes: z.record(z.string(), z.unknown()).optional(),
  assigneeCollections: z.array(z.string()).optional(),
  targetCollections: z.array(z.string()).optional(),
  duties: z.record(z.string(), z.enum(['fulfilled', 'acknowledged', 'violated', 'pending'])).optional(),
})
export type ContextFile = z.input<typeof ContextFile>

/** A context from YAML data; `now` defaults to the given time. Errors name the field. */
export function contextFromData(data: unknown, now: Date): { context?: EvaluationContext; errors: string[] } {
  const parsed = ContextFile.safeParse(data ?? {})
  if (!parsed.success) return { errors: parsed.error.issues.map((i) => `${i.path.join('.') || '(context)'}: ${i.message}`) }
  const { now: at, ...rest } = parsed.data
  const context: EvaluationContext = { ...(rest as Omit<EvaluationContext, 'now'>), now: at ?? now }
  for (const key of Object.keys(context) as (keyof EvaluationContext)[]) if (context[key] === undefined) delete context[key]
  return { context, errors: [] }
}
