import { z } from 'zod'
import { PasserelleError } from '../errors.ts'

/**
 * What a consumer declares about its intended use of a dataset when it requests a contract: the
 * purpose, where the data will be processed, its sector. DSP 2025-1 has no field for this, yet ODRL
 * offers constrain exactly these operands (`purpose`, `spatial`, `industry`). We carry the
 * declaration as an extension property of the ContractRequestMessage under an absolute IRI, so it
 * stays valid DSP and JSON-LD, and other connectors ignore it. A declaration is the requester's word,
 * not a verified claim; it is recorded in the timeline and decided on like any request context.
 */
export const declaredUseKey = 'https://w3id.org/passerelle/ns#declaredUse'

/**
 * A concept as the policy engine's taxonomies name it: a short name (`climate-research`, `CA-QC`),
 * a prefixed name (`dpv:ScientificResearch`) or a full IRI (`https://w3id.org/dpv/loc#CA-QC`). No
 * spaces or control characters; what it means is decided by the provider's taxonomies (a term they
 * do not know refuses, never allows).
 */
const term = z
  .string()
  .trim()
  .min(1)
  .max(512)
  .regex(/^[^\s<>"{}|\\^`\u0000-\u001f\u007f]+$/, 'expected a short name, prefixed name or IRI without spaces')

/** One term, or several (each must qualify: two purposes are both declared). */
const terms = z.union([term, z.array(term)]).superRefine((value, ctx) => {
  if (!Array.isArray(value)) return
  if (value.length === 0) ctx.addIssue({ code: 'custom', message: 'expected at least one value' })
  else if (value.length > 8) ctx.addIssue({ code: 'custom', message: 'expected at most 8 values' })
  else if (new Set(value).size !== value.length) ctx.addIssue({ code: 'custom', message: 'the same value is given twice' })
})

export const DeclaredUse = z
  .object({
    /** e.g. `climate-research`, `https://w3id.org/dpv#ScientificResearch` (the purpose taxonomy). */
    purpose: terms.optional(),
    /** Where the data will be processed: ISO 3166 code or IRI, e.g. `CA`, `FR`, `CA-QC`. */
    spatial: terms.optional(),
    /** The requester's sector, e.g. `research`, `commercial`. */
    industry: terms.optional(),
  })
  .strict()
export type DeclaredUse = z.infer<typeof DeclaredUse>

/** The declaration a request message carries, if any; a malformed one is a `bad_request`. */
export function declaredUseOf(message: Record<string, unknown>): DeclaredUse | undefined {
  const value = message[declaredUseKey]
  if (value === undefined) return undefined
  const parsed = DeclaredUse.safeParse(value)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    throw new PasserelleError('bad_request', `${declaredUseKey}${issue.path.length ? `.${issue.path.join('.')}` : ''}: ${issue.message}`)
  }
  return Object.keys(parsed.data).length > 0 ? parsed.data : undefined
}
