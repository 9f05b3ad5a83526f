/**
 * How stewards and peers know a policy: the readable id of its policy file and its title. Offers
 * and agreements carry both as two terms in Passerelle's own namespace (DSP and ODRL have none for
 * them), so a consumer can name an offer by its policy id and every refusal can say which policy
 * refused. They are annotations: they never change what a policy means, and the strict reader skips
 * them (a peer that leaves them out, or changes them, still sends the same terms).
 */
export const policyIdTerm = 'https://w3id.org/passerelle/ns#policyId'
export const policyTitleTerm = 'https://w3id.org/passerelle/ns#policyTitle'
export const policyLabelTerms: readonly string[] = [policyIdTerm, policyTitleTerm]
/**
 * Unlike the label, a constraint's scopes are part of what the policy means (where the constraint
 * decides, scopes.ts): the reader reads them and policies compare with them.
 */
export const scopesTerm = 'https://w3id.org/passerelle/ns#scopes'

export interface PolicyLabel {
  id: string
  title?: string | undefined
}

/** Peers' bytes: a label is one short line of text, or nothing. */
const maxLabelLength = 200
const oneLine = (value: unknown): string | undefined => {
  const v = Array.isArray(value) && value.length === 1 ? value[0] : value
  const text =
    typeof v === 'string'
      ? v
      : typeof v === 'object' && v !== null && typeof (v as { '@value'?: unknown })['@value'] === 'string'
        ? (v as { '@value': string })['@value']
        : undefined
  if (text === undefined) return undefined
  const clean = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim()
  return clean === '' ? undefined : clean.length > maxLabelLength ? `${clean.slice(0, maxLabelLength - 1)}…` : clean
}

/** The two terms for an offer's or agreement's body. */
export const labelTerms = (label: PolicyLabel): Record<string, string> => ({
  [policyIdTerm]: label.id,
  ...(label.title && label.title !== label.id ? { [policyTitleTerm]: label.title } : {}),
})

/** The label an offer or agreement body carries, when it carries one. */
export function policyLabelOf(body: unknown): PolicyLabel | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined
  const record = body as Record<string, unknown>
  const id = oneLine(record[policyIdTerm])
  if (!id) return undefined
  const title = oneLine(record[policyTitleTerm])
  return { id, ...(title ? { title } : {}) }
}

/**
 * How a refusal names a policy: policy `three-downloads` (“Members, at most three downloads”).
 * Typographic quotes, so the sentence stays readable when it travels inside JSON.
 */
export const policyPhrase = (label: PolicyLabel): string => `policy \`${label.id}\`${label.title && label.title !== label.id ? ` (“${label.title}”)` : ''}`
