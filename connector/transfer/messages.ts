import { dspContext, dspContextUrl } from '../dsp/context.ts'
import type { DataAddress } from '../dsp/transfer-messages.ts'

/**
 * Transfer helpers over the DSP transfer messages (their schemas and bodies live in
 * `dsp/transfer-messages.ts`, re-exported here for the area's modules).
 */
export { dspContext, dspContextUrl }
export * from '../dsp/transfer-messages.ts'

/** The endpoint type of an HTTP data address. */
export const httpEndpointType = 'https://w3id.org/idsa/v4.1/HTTP'
/** `AmazonS3-PUSH`: the provider writes into the consumer's S3-compatible storage (see `s3-address.ts`). */
export const transferFormats = ['HttpData-PULL', 'HttpData-PUSH', 'AmazonS3-PUSH'] as const
export type TransferFormat = (typeof transferFormats)[number]

/** Formats in which the provider sends the data (the others: the consumer fetches it). */
export const isPushFormat = (format: string) => format === 'HttpData-PUSH' || format === 'AmazonS3-PUSH'

/** A DataAddress for HTTP with a bearer token. */
export function httpDataAddress(endpoint: string, token: string): DataAddress {
  return {
    '@type': 'DataAddress',
    endpointType: httpEndpointType,
    endpoint,
    endpointProperties: [
      { '@type': 'EndpointProperty', name: 'authorization', value: token },
      { '@type': 'EndpointProperty', name: 'authType', value: 'bearer' },
    ],
  }
}

/** Reads endpoint and token out of an HTTP DataAddress; undefined when it is not one we can use. */
export function readHttpDataAddress(address: DataAddress | undefined): { endpoint: string; token: string } | undefined {
  if (!address || address.endpointType !== httpEndpointType || !address.endpoint) return undefined
  const props = new Map((address.endpointProperties ?? []).map((p) => [p.name, p.value]))
  const token = props.get('authorization')
  const authType = props.get('authType')
  if (!token || (authType !== undefined && authType.toLowerCase() !== 'bearer')) return undefined
  return { endpoint: address.endpoint, token }
}
