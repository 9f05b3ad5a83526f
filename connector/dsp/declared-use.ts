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

const term = z.string().trim().min(1).max(200)

export const DeclaredUse = z
  .object({
    /** e.g. `climate-research` (the purpose taxonomy of the policy engine). */
    purpose: term.optional(),
    /** Where the data will be processed: ISO 3166 code, e.g. `CA`, `FR`, `CA-QC`. */
    spatial: term.optional(),
    /** The requester's sector, e.g. `research`, `commercial`. */
    industry: term.optional(),
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
    throw new PasserelleError('bad_request', `${declaredUseKey}${issue.path.length ? '.' + issue.path.join('.') : ''}: ${issue.message}`)
  }
  return Object.keys(parsed.data).length > 0 ? parsed.data : undefined
}
