import type { Readable } from 'node:stream'
import type { S3Client } from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import { PasserelleError } from '../../errors.ts'
import { storageFailure } from './s3-client.ts'

/**
 * Writing a pushed dataset into the consumer's S3-compatible storage, with a multipart upload:
 * parts of 8 MiB (more for very large datasets: a multipart upload has at most 10,000 parts), four
 * in flight, so memory stays near 32 MiB whatever the size. A failed upload is aborted (its parts
 * deleted).
 */

const minPartBytes = 8 * 1024 * 1024
const partsInFlight = 4

export interface S3Upload {
  bucket: string
  key: string
  body: Readable
  contentType: string
  /** Known for a file or a storage object; unknown for an archive. */
  size?: number | undefined
  /** Kept as the object's `sha256` metadata when known before sending. */
  sha256?: string | undefined
}

/**
 * Uploads `body`; resolves once the storage has the whole object. A failure throws a transfer
 * error naming what the storage said (never the endpoint or a credential), marked permanent when
 * trying again cannot help (a bucket that does not exist, refused credentials), with the bytes the
 * storage confirmed (`confirmed`, whole parts).
 */
export async function uploadToS3(client: S3Client, input: S3Upload, onConfirmed: (bytes: number) => void): Promise<void> {
  const partSize = Math.max(minPartBytes, Math.ceil((input.size ?? 0) / 9_000))
  const upload = new Upload({
    client,
    queueSize: partsInFlight,
    partSize,
    leavePartsOnError: false,
    params: {
      Bucket: input.bucket,
      Key: input.key,
      Body: input.body,
      ContentType: input.contentType,
      ...(input.size !== undefined ? { ContentLength: input.size } : {}),
      ...(input.sha256 ? { Metadata: { sha256: input.sha256 } } : {}),
    },
  })
  upload.on('httpUploadProgress', (progress) => {
    if (progress.loaded !== undefined) onConfirmed(progress.loaded)
  })
  try {
    await upload.done()
  } catch (error) {
    if (error instanceof PasserelleError) throw error
    const failure = storageFailure(error, 'the destination storage')
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode
    const name = (error as { name?: string }).name
    const permanent =
      (failure.details as { permanent?: boolean } | undefined)?.permanent === true ||
      name === 'NoSuchBucket' ||
      (status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429)
    throw Object.assign(
      new PasserelleError(failure.code, name === 'NoSuchBucket' ? 'the destination bucket does not exist (NoSuchBucket)' : failure.message, {
        ...(permanent ? { permanent: true } : {}),
        ...(status !== undefined ? { status } : {}),
      }),
      { detail: failure.detail },
    )
  }
}
