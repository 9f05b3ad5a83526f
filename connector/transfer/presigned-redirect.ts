import { PasserelleError } from '../errors.ts'
import type { PeerClient, PeerStream } from '../http/peer-client.ts'

/**
 * The consumer's side of a presigned pull (ADR 0024, 0026): when it asked the provider for
 * `redirect=presigned` and the provider answered a 307, the download goes on at the URL the
 * provider gave, once. Nothing else is followed: a redirect that was not asked for, a status other
 * than 307, a second redirect, a URL that is not plain http(s) or carries user information. The URL
 * is fetched through the peer client (the egress policy decides which addresses may be reached, so a
 * URL at a private address is refused unless the operator allowed it) with none of our credentials:
 * no Authorization header, only the Range the consumer asked for. The URL is itself a credential:
 * it is never put in an error, a log line or the database.
 */

/** Whether the consumer's query asks the provider for a presigned URL. */
export const asksPresigned = (search: string) => new URLSearchParams(search).getAll('redirect').includes('presigned')

export const isRedirect = (status: number) => status >= 300 && status < 400 && status !== 304

/** The longest Location accepted (a presigned S3 URL is well under 2 KiB). */
const maxLocationLength = 8192

/**
 * Follows the provider's redirect to its storage, or refuses with a reason the consumer can read.
 * `answer` is the provider's redirect (its body is discarded here).
 */
export async function followPresignedRedirect(
  peers: Pick<PeerClient, 'open'>,
  answer: { status: number; headers: Headers; body: ReadableStream<Uint8Array> | null },
  asked: { presigned: boolean; range?: string | undefined; ifRange?: string | undefined },
): Promise<PeerStream> {
  await answer.body?.cancel().catch(() => {})
  if (!asked.presigned)
    throw new PasserelleError('peer_failed', `the provider answered with a redirect (${answer.status}) that was not asked for: it is not followed`)
  if (answer.status !== 307)
    throw new PasserelleError('peer_failed', `the provider answered ${answer.status} where a presigned URL is a 307: it is not followed`)
  const location = presignedLocation(answer.headers.get('location'))
  const headers: Record<string, string> = {}
  if (asked.range) headers.range = asked.range
  if (asked.range && asked.ifRange) headers['if-range'] = asked.ifRange
  let stored: PeerStream
  try {
    stored = await peers.open({ url: location.href, headers, timeout: 30_000 })
  } catch (error) {
    // The peer client's message names the origin and path, never the query that carries the signature.
    throw new PasserelleError('peer_failed', `the storage the provider redirected to (${location.host}) could not be reached: ${(error as Error).message}`)
  }
  if (isRedirect(stored.status)) {
    discard(stored)
    throw new PasserelleError('peer_failed', `the storage the provider redirected to (${location.host}) answered another redirect: only one is followed`)
  }
  if (stored.status !== 200 && stored.status !== 206 && stored.status !== 416) {
    discard(stored)
    throw new PasserelleError(
      'peer_failed',
      `the storage the provider redirected to (${location.host}) answered ${stored.status}${stored.status === 403 ? ' (the URL may have expired: ask again)' : ''}`,
    )
  }
  return stored
}

/** The provider's Location, if it is one URL we may fetch. */
function presignedLocation(value: string | null): URL {
  const refuse = (why: string) => new PasserelleError('peer_failed', `the provider's redirect is not followed: ${why}`)
  if (!value) throw refuse('it names no location')
  if (value.length > maxLocationLength) throw refuse(`its location is longer than ${maxLocationLength} characters`)
  let url: URL
  try {
    // Absolute only: a relative location would be the provider's own host, which is no storage.
    url = new URL(value)
  } catch {
    throw refuse('its location is not an absolute URL')
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw refuse(`its location is a ${url.protocol} URL, not http(s)`)
  if (url.username || url.password) throw refuse('its location carries user information')
  return url
}

/** Drops an answer's body; undici reports a destroyed body as an error, which nobody is left to read. */
function discard(answer: PeerStream) {
  answer.body.on('error', () => {})
  answer.body.destroy()
}
