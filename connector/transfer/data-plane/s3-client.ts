import { readFileSync } from 'node:fs'
import { S3Client, type S3ServiceException } from '@aws-sdk/client-s3'
import { PasserelleError } from '../../errors.ts'
import type { EgressPolicy } from '../../http/egress.ts'
import { egressAgents } from '../../http/peer-client.ts'

/**
 * Clients of S3-compatible object storage (AWS S3, Ceph, MinIO…). Every connection obeys the
 * egress policy (a storage endpoint on a loopback or private address must be in `egress.allow`).
 * Credentials come from the environment, named by a secret, never from the catalog.
 */

/** An access key, resolved from the environment. */
export interface S3Credentials {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
}

/** Where a storage is and how to sign for it. */
export interface S3Access {
  /** The storage's URL; AWS S3 when absent. */
  endpoint?: string | undefined
  region: string
  /** `endpoint/bucket/key` addressing (most self-hosted storage) instead of `bucket.endpoint/key`. */
  pathStyle: boolean
  /** Anonymous requests when absent. */
  credentials?: S3Credentials | undefined
}

/**
 * The access key a secret names: `PASSERELLE_SECRET_<NAME>_ACCESS_KEY_ID` and
 * `…_SECRET_ACCESS_KEY` (optionally `…_SESSION_TOKEN`), each given directly or, with a `_FILE`
 * suffix, as the path of a file holding it (a mounted secrets file). Throws `unavailable` naming
 * the variables, never their values.
 */
export function s3Credentials(secret: string, env: Record<string, string | undefined>): S3Credentials {
  const prefix = `PASSERELLE_SECRET_${secret.toUpperCase().replace(/[.-]/g, '_')}`
  const read = (name: string): string | undefined => {
    const direct = env[name]
    if (direct) return direct.trim()
    const file = env[`${name}_FILE`]
    if (!file) return undefined
    try {
      return readFileSync(file, 'utf8').trim() || undefined
    } catch {
      throw new PasserelleError('unavailable', `the secret ${secret} cannot be read from the file ${name}_FILE names`)
    }
  }
  const accessKeyId = read(`${prefix}_ACCESS_KEY_ID`)
  const secretAccessKey = read(`${prefix}_SECRET_ACCESS_KEY`)
  if (!accessKeyId || !secretAccessKey)
    throw new PasserelleError('unavailable', `the secret ${secret} is not set (${prefix}_ACCESS_KEY_ID and ${prefix}_SECRET_ACCESS_KEY, or their _FILE forms)`)
  const sessionToken = read(`${prefix}_SESSION_TOKEN`)
  return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) }
}

/** Builds clients, one per storage and key (kept: each holds its connection pool). */
export function s3Clients(egress: EgressPolicy, options: { maxSockets?: number } = {}) {
  const agents = egressAgents(egress, { maxSockets: options.maxSockets ?? 64 })
  const clients = new Map<string, S3Client>()
  const create = (access: S3Access) =>
    new S3Client({
      region: access.region,
      ...(access.endpoint ? { endpoint: access.endpoint } : {}),
      forcePathStyle: access.pathStyle,
      // Never the SDK's default chain (environment, profiles, the instance metadata service).
      credentials: access.credentials ?? { accessKeyId: '', secretAccessKey: '' },
      ...(access.credentials ? {} : { signer: { sign: async (request) => request } }),
      requestHandler: { ...agents, connectionTimeout: 10_000, requestTimeout: 60_000 },
      // Checksums only where the protocol requires them: self-hosted storage often knows no other.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 2,
    })
  return {
    client(access: S3Access): S3Client {
      const key = JSON.stringify([access.endpoint, access.region, access.pathStyle, access.credentials])
      let client = clients.get(key)
      if (!client) {
        client = create(access)
        clients.set(key, client)
      }
      return client
    },
    /**
     * A client for one use (a consumer's destination, with the key it gave): not kept, and never
     * destroyed by its user, since destroying a client closes the shared connection pools.
     */
    once: create,
    close() {
      for (const client of clients.values()) client.destroy()
      clients.clear()
      agents.httpAgent.destroy()
      agents.httpsAgent.destroy()
    },
  }
}
export type S3Clients = ReturnType<typeof s3Clients>

/**
 * A storage failure as a transfer error the consumer can read: what kind of failure, never the
 * endpoint, the key or a credential. `detail` is for the provider's log (codes and status only).
 */
export function storageFailure(error: unknown, what = "the dataset's storage", whose = "the provider's credentials"): PasserelleError & { detail: string } {
  const e = error as Partial<S3ServiceException> & { code?: string; name?: string; cause?: unknown }
  const status = e.$metadata?.httpStatusCode
  const name = e.name ?? 'Error'
  const refused = findNamed(error, 'EgressRefusal')
  let failure: PasserelleError
  // An address the egress policy refuses stays refused: not worth trying again.
  if (refused) failure = new PasserelleError('peer_failed', `${what} could not be reached`, { permanent: true })
  else if (name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchBucket' || status === 404)
    failure = new PasserelleError('not_found', `${what} has no such object (${name})`)
  else if (['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken'].includes(name) || status === 403 || status === 401)
    failure = new PasserelleError('peer_failed', `${what} refused ${whose} (${name})`)
  else if (status !== undefined) failure = new PasserelleError('peer_failed', `${what} answered ${status} (${name})`)
  else failure = new PasserelleError('peer_failed', `${what} could not be reached (${transport(error)})`)
  return Object.assign(failure, { detail: `${name}${status ? ` ${status}` : ''}${refused ? `: ${refused.message}` : ''}` })
}

const findNamed = (error: unknown, name: string): { message: string; detail?: string } | undefined => {
  for (let e = error as { name?: string; cause?: unknown; detail?: string } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++)
    if (e.name === name) return { message: e.detail ?? '', ...(e.detail ? { detail: e.detail } : {}) }
  return undefined
}

const transport = (error: unknown): string => {
  for (let e = error as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++)
    if (typeof e.code === 'string') return e.code
  return (error as Error)?.name === 'TimeoutError' ? 'no answer in time' : 'a network error'
}
