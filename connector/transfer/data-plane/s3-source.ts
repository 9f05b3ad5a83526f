import type { Readable } from 'node:stream'
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3'
import { PasserelleError } from '../../errors.ts'
import { storageFailure } from './s3-client.ts'

/**
 * Reading a dataset from S3-compatible storage: one object as an HTTP answer the data plane relays
 * (the consumer's Range passed through), or the objects under a prefix for a folder archive.
 */

export interface S3Object {
  bucket: string
  key: string
}

/**
 * GetObject (or HeadObject) as a web Response: status 200 or 206, the size headers the storage
 * declared, and a body that fails if the storage sends more or fewer bytes than it declared.
 * An unsatisfiable range answers 416. Other failures throw a readable transfer error.
 */
export async function openS3Object(client: S3Client, object: S3Object, request: { head?: boolean; range?: string | null }): Promise<Response> {
  const answer = await readS3Object(client, object, request)
  return new Response(answer.body && declaredLength(answer.body, answer.declaredLength), { status: answer.status, headers: answer.headers })
}

/**
 * The same read, with the storage's body as it comes (a Node stream, no web-stream layer) and the
 * length it declared: for a relay that checks the length itself (see guarded-stream.ts). No body
 * for HEAD and 416.
 */
export async function readS3Object(
  client: S3Client,
  object: S3Object,
  request: { head?: boolean; range?: string | null },
): Promise<{ status: number; headers: Headers; body?: Readable; declaredLength?: number | undefined }> {
  const input = { Bucket: object.bucket, Key: object.key }
  try {
    if (request.head) {
      const head = await client.send(new HeadObjectCommand(input))
      return { status: 200, headers: objectHeaders(head) }
    }
    const answer = await client.send(new GetObjectCommand({ ...input, ...(request.range ? { Range: request.range } : {}) }))
    const body = answer.Body as Readable | undefined
    if (!body) throw new PasserelleError('peer_failed', "the dataset's storage sent no body")
    const status = answer.$metadata.httpStatusCode === 206 || answer.ContentRange ? 206 : 200
    return { status, headers: objectHeaders(answer), body, declaredLength: answer.ContentLength }
  } catch (error) {
    if (error instanceof PasserelleError) throw error
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode
    if (status === 416) return { status: 416, headers: new Headers() }
    throw storageFailure(error)
  }
}

function objectHeaders(o: {
  ContentLength?: number | undefined
  ContentRange?: string | undefined
  ETag?: string | undefined
  ContentType?: string | undefined
  LastModified?: Date | undefined
}) {
  const headers = new Headers({ 'accept-ranges': 'bytes' })
  if (o.ContentLength !== undefined) headers.set('content-length', String(o.ContentLength))
  if (o.ContentRange) headers.set('content-range', o.ContentRange)
  if (o.ETag) headers.set('etag', o.ETag)
  if (o.ContentType) headers.set('content-type', o.ContentType)
  if (o.LastModified) headers.set('last-modified', o.LastModified.toUTCString())
  return headers
}

/**
 * The storage's body as a web stream that ends in an error unless exactly `declared` bytes came
 * (a storage, or something in between, that sends more or less than it said).
 */
function declaredLength(body: Readable, declared: number | undefined): ReadableStream<Uint8Array> {
  const iterator = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>
  let seen = 0
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const { done, value } = await iterator.next()
          if (done) {
            if (declared !== undefined && seen !== declared) throw new Error(`the storage sent ${seen} of the ${declared} bytes it declared`)
            controller.close()
            return
          }
          seen += value.length
          if (declared !== undefined && seen > declared) throw new Error(`the storage sent more than the ${declared} bytes it declared`)
          controller.enqueue(value)
        } catch (error) {
          body.destroy()
          controller.error(error)
        }
      },
      cancel() {
        body.destroy()
      },
    },
    { highWaterMark: 0 },
  )
}

/** One object under a prefix, for an archive: its path below the prefix. */
export interface ListedObject {
  key: string
  path: string
  size: number
  modified: Date
}

/** The objects under a prefix, a page (up to 1,000) at a time, in key order; "folders" (keys ending in /) left out. */
export async function* listPrefix(client: S3Client, bucket: string, prefix: string): AsyncGenerator<ListedObject> {
  let token: string | undefined
  do {
    let page
    try {
      page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }))
    } catch (error) {
      throw storageFailure(error)
    }
    for (const item of page.Contents ?? []) {
      if (!item.Key || item.Key.endsWith('/') || !item.Key.startsWith(prefix)) continue
      yield { key: item.Key, path: item.Key.slice(prefix.length), size: item.Size ?? 0, modified: item.LastModified ?? new Date(0) }
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined
  } while (token)
}
