/**
 * Several data spaces, each with its own authorities (`identity.dataSpaces`): which issuer may vouch
 * for which credential types, and for membership of which data space. A credential from one of these
 * issuers is accepted only for the types its data spaces let it issue, and a `memberOf` claim must
 * name a data space that lists the issuer: the European authority cannot make anybody a member of
 * the Canadian data space. Issuers of `identity.trustedIssuers` are trusted for every type, as before.
 */

export interface DataSpaceIssuer {
  did: string
  /** Credential types it may issue (VerifiableCredential aside). */
  types: string[]
}

export interface DataSpace {
  id: string
  issuers: DataSpaceIssuer[]
}

/** Every issuer a data space names (to trust them before any network access). */
export const dataSpaceIssuers = (dataSpaces: DataSpace[]): string[] => [...new Set(dataSpaces.flatMap((space) => space.issuers.map((issuer) => issuer.did)))]

/**
 * Why a credential of `types` with `claims` from `issuer` is refused, or undefined when its data
 * spaces allow it. `trustedForAll` are the issuers trusted for every type.
 */
export function issuerRefusal(
  dataSpaces: DataSpace[],
  trustedForAll: ReadonlySet<string>,
  credential: { issuer: string; types: string[]; claims: Record<string, unknown> },
): string | undefined {
  const spaces = dataSpaces.filter((space) => space.issuers.some((entry) => entry.did === credential.issuer))
  if (spaces.length === 0 || trustedForAll.has(credential.issuer)) return undefined
  const allowed = new Set(spaces.flatMap((space) => space.issuers.filter((entry) => entry.did === credential.issuer).flatMap((entry) => entry.types)))
  const names = spaces.map((space) => space.id).join(', ')
  for (const type of credential.types) {
    if (type !== 'VerifiableCredential' && !allowed.has(type))
      return `credential issuer ${credential.issuer} may issue only ${[...allowed].join(', ')} (data space ${names}), not ${type}`
  }
  const memberOf = credential.claims.memberOf
  for (const claimed of Array.isArray(memberOf) ? memberOf : memberOf === undefined ? [] : [memberOf]) {
    if (typeof claimed !== 'string' || !spaces.some((space) => space.id === claimed))
      return `credential issuer ${credential.issuer} is not an authority of data space ${JSON.stringify(claimed)} (it is one of ${names})`
  }
  return undefined
}
