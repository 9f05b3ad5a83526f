import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { PasserelleError } from '../../errors.ts'
import type { S3Object } from './s3-source.ts'

/**
 * Presigned GETs of S3 objects, for distributions whose steward allows them: the consumer fetches
 * the bytes from the storage itself, with the provider's signature, until the URL expires. The URL
 * is a bearer credential: it goes to the consumer in the answer and nowhere else (no log, no record).
 */

/** The query parameter (and its one value) a consumer adds to a pull to ask for a presigned URL. */
export const presignParameter = { name: 'redirect', value: 'presigned' } as const

/**
 * Whether a pull asks for a presigned URL, and the query without that parameter. A `redirect`
 * with another value, or given twice, is refused with the reason.
 */
export function presignAsked(query: Array<[string, string]>): { asked: boolean; rest: Array<[string, string]> } {
  const given = query.filter(([name]) => name === presignParameter.name)
  if (given.length === 0) return { asked: false, rest: query }
  if (given.length > 1 || given[0]![1] !== presignParameter.value)
    throw new PasserelleError('bad_request', `the query parameter ${presignParameter.name} takes one value, ${presignParameter.value}`)
  return { asked: true, rest: query.filter(([name]) => name !== presignParameter.name) }
}

/** A GET of the object signed for `ttlSeconds` (signed locally: the storage is not asked). */
export function presignedGet(client: S3Client, object: S3Object, ttlSeconds: number): Promise<string> {
  return getSignedUrl(client, new GetObjectCommand({ Bucket: object.bucket, Key: object.key }), { expiresIn: ttlSeconds })
}
