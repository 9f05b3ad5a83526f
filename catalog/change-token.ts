import { createHash } from 'node:crypto'

/**
 * The change feed's token: the catalog version an answer was read at, when it was issued, and a key
 * of what the requester could see then (the policies' contents and this requester's refusals). A
 * token is honoured only while that key is unchanged: the departures the feed reports are those
 * from groups the requester could see, which a change of policies or credentials would alter.
 */
export interface ChangeToken {
  version: number
  issuedAt: number
  sight: string
}

/** How long a token is honoured (departures are kept that long). */
export const changeTokenRetentionMs = 30 * 24 * 3600 * 1000

/** At most this many departures in one feed answer: beyond, a full read costs about the same. */
export const maxDepartures = 10_000

/** The member of a change feed's first page that lists the datasets gone since the token. */
export const removedDatasetsKey = 'https://w3id.org/passerelle/ns#removedDatasets'

/** The response header that carries the token of a catalog answer. */
export const changeTokenHeader = 'passerelle-change-token'

/** A token a peer asked with was not honoured: the reason says what to do (read the whole catalog). */
export class ChangeTokenRefused extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ChangeTokenRefused'
  }
}

export const sightKey = (policiesKey: string, refused: readonly string[]) =>
  createHash('sha256')
    .update(`${policiesKey}\n${refused.join('\n')}`)
    .digest('base64url')
    .slice(0, 22)

export const encodeChangeToken = (t: ChangeToken) => `c1.${t.version}.${t.issuedAt}.${t.sight}`

export function decodeChangeToken(text: string): ChangeToken | undefined {
  const m = /^c1\.(\d{1,15})\.(\d{1,15})\.([A-Za-z0-9_-]{22})$/.exec(text)
  if (!m) return undefined
  return { version: Number(m[1]), issuedAt: Number(m[2]), sight: m[3]! }
}

/** Checks a token against the catalog now; the version to read changes after, or a refusal with its reason. */
export function checkChangeToken(text: string, now: { version: number; time: number; sight: string }): number {
  const token = decodeChangeToken(text)
  if (!token || token.version > now.version) throw new ChangeTokenRefused('changedSince: not a change token this catalog gave (read the whole catalog)')
  if (now.time - token.issuedAt > changeTokenRetentionMs)
    throw new ChangeTokenRefused('changedSince: the token is older than 30 days, changes that old are not kept (read the whole catalog)')
  if (token.sight !== now.sight)
    throw new ChangeTokenRefused(
      'changedSince: what this requester may see changed since the token (policies or credentials), so its changes cannot be told (read the whole catalog)',
    )
  return token.version
}
