import type { S3Access, S3Credentials } from './data-plane/s3-client.ts'
import type { DataAddress } from '../dsp/transfer-messages.ts'

/**
 * A push into the consumer's S3-compatible storage: the DSP format `AmazonS3-PUSH` and a
 * DataAddress of type `AmazonS3` whose endpoint properties carry Eclipse EDC's AmazonS3 names
 * (`region`, `bucketName`, `objectName`, `endpointOverride`, `accessKeyId`, `secretAccessKey`, and
 * `sessionToken` for temporary keys). The consumer's access key travels in the address, as EDC's
 * does; we keep it only until the push has ended and never show it (see `redactDataAddress`).
 */
export const s3EndpointType = 'AmazonS3'
export const s3PushFormat = 'AmazonS3-PUSH'

/** Where the provider writes: one object, and how to sign for its storage. */
export interface S3Destination {
  bucket: string
  key: string
  access: S3Access & { credentials: NonNullable<S3Access['credentials']> }
}

/** The consumer's side of a destination: its access key is named by a secret, read only when the request is sent. */
export interface S3DestinationInput {
  bucket: string
  key: string
  region: string
  endpoint?: string | undefined
  /** The secret's name (see `s3Credentials`). */
  credentials: string
}

/** Endpoint properties whose values are secrets: never logged, stored past the push, or shown. */
export const secretProperties = new Set(['accessKeyId', 'secretAccessKey', 'sessionToken', 'authorization'])

export function s3DataAddress(d: S3DestinationInput, key: S3Credentials): DataAddress {
  const properties: Array<[string, string | undefined]> = [
    ['region', d.region],
    ['bucketName', d.bucket],
    ['objectName', d.key],
    ['endpointOverride', d.endpoint],
    ['accessKeyId', key.accessKeyId],
    ['secretAccessKey', key.secretAccessKey],
    ['sessionToken', key.sessionToken],
  ]
  return {
    '@type': 'DataAddress',
    endpointType: s3EndpointType,
    endpointProperties: properties.filter(([, v]) => v !== undefined).map(([name, value]) => ({ '@type': 'EndpointProperty', name, value: value! })),
  }
}

const bucketName = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/
const regionName = /^[a-z0-9-]{1,32}$/

/** Why an object key cannot be written to (undefined when it can): relative, no `.`/`..` segment, no control character. */
export function objectKeyProblem(key: string): string | undefined {
  if (key.length === 0 || key.length > 1024) return 'objectName must be 1 to 1024 characters'
  if (key.startsWith('/') || key.split('/').some((part) => part === '..' || part === '.')) return 'objectName must not start with / or contain . or .. segments'
  if ([...key].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) return 'objectName must not contain control characters'
  return undefined
}

/**
 * Reads an `AmazonS3` DataAddress. Answers the destination, or a problem a consumer can act on
 * (never echoing a credential). `endpointOverride` (self-hosted storage) is addressed path-style,
 * as EDC does; without it, AWS S3 in the region.
 */
export function readS3DataAddress(address: DataAddress | undefined): { destination: S3Destination } | { problem: string } {
  if (!address || address.endpointType !== s3EndpointType)
    return { problem: `an ${s3PushFormat} transfer needs a DataAddress of endpointType ${s3EndpointType}` }
  const props = new Map<string, string>()
  for (const p of address.endpointProperties ?? []) {
    if (props.has(p.name)) return { problem: `the DataAddress property ${p.name.slice(0, 64)} is given twice` }
    props.set(p.name, p.value)
  }
  const bucket = props.get('bucketName')
  if (!bucket || !bucketName.test(bucket)) return { problem: 'bucketName must be an S3 bucket name (3 to 63 lowercase letters, digits, dots and dashes)' }
  const key = props.get('objectName')
  if (key === undefined) return { problem: 'objectName (the key to write) is missing' }
  const keyProblem = objectKeyProblem(key)
  if (keyProblem) return { problem: keyProblem }
  const region = props.get('region') ?? 'us-east-1'
  if (!regionName.test(region)) return { problem: 'region must look like us-east-1' }
  const endpoint = props.get('endpointOverride')
  if (endpoint !== undefined) {
    const url = URL.canParse(endpoint) ? new URL(endpoint) : undefined
    if (!url || !/^https?:$/.test(url.protocol)) return { problem: 'endpointOverride must be an http(s) URL' }
    if (url.username || url.password || url.search || url.hash) return { problem: 'endpointOverride must not carry credentials, a query or a fragment' }
  }
  const accessKeyId = props.get('accessKeyId')
  const secretAccessKey = props.get('secretAccessKey')
  if (!accessKeyId || !secretAccessKey) return { problem: 'the destination credentials are missing: give accessKeyId and secretAccessKey' }
  const sessionToken = props.get('sessionToken')
  return {
    destination: {
      bucket,
      key,
      access: {
        endpoint,
        region,
        pathStyle: endpoint !== undefined,
        credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) },
      },
    },
  }
}

/** The URL the provider will connect to for a destination (checked against its egress policy). */
export const s3EndpointUrl = (d: S3Destination) => d.access.endpoint ?? `https://s3.${d.access.region}.amazonaws.com`

/** The address with every secret property's value replaced: what may be kept once a push has ended, logged or shown. */
export function redactDataAddress(address: DataAddress): DataAddress {
  if (!address.endpointProperties) return address
  return {
    ...address,
    endpointProperties: address.endpointProperties.map((p) => (secretProperties.has(p.name) ? { ...p, value: '[redacted]' } : p)),
  }
}
