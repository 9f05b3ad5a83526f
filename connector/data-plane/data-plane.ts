import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, rename, rm } from 'node:fs/promises'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { Hono, type Context } from 'hono'
import type { Clock, IdSource } from '../context.ts'
import { errorStatus, PasserelleError } from '../errors.ts'
import { plainErrorBody, toPasserelleError } from '../http/error-response.ts'
import type { Store } from '../store/store.ts'
import type { Logger } from '../telemetry/logger.ts'
import { httpDataAddress, readHttpDataAddress, type DataAddress } from '../transfer/messages.ts'
import type { AgreementLookup, DataPlaneControl, DataSource, DistributionSource, UsagePolicy } from '../transfer/ports.ts'
import { transferRepository, type TransferRecord } from '../transfer/repository.ts'
import { fileRangeStream } from './file-stream.ts'
import { writeHashedFile } from './hashed-file.ts'
import { relayResponse } from './relay.ts'
import { bearerToken, refreshGraceMs, type DataTokens } from './tokens.ts'
import {
  confinedFile,
  parseRange,
  readChunkBytes,
  reprDigest,
  sha256FromDigestHeader,
  type ByteRange,
  type DigestCache,
  type LocalFile,
} from './sources.ts'

/**
 * The in-process data plane: the pull endpoint (provider), the push sender (provider) and the
 * receiving endpoint (consumer). Every access re-checks the transfer's state and the agreement's
 * usage rules and is recorded. Bytes stream with bounded memory (1 MiB reads, back-pressure).
 */
export interface DataPlaneDeps {
  store: Store
  clock: Clock
  ids: IdSource
  logger: Logger
  agreements: AgreementLookup
  usage: UsagePolicy
  sources: DistributionSource
  tokens: DataTokens
  digests: DigestCache
  /** Our public base URL; the data endpoints live under `/data/`. */
  publicUrl: string
  /** Where received data is written (`<dataDir>/received/`). */
  dataDir: string
  /** Outbound HTTP for push and upstream sources; global fetch by default. */
  fetch?: typeof fetch
  /** How a push goes on the wire (node:http by default: streams without extra copies); tests route it in-process. */
  upload?: Upload
  /** Push attempts before the transfer terminates. */
  pushAttempts?: number
}

export function createDataPlane(deps: DataPlaneDeps) {
  const repo = transferRepository(deps.store, { clock: deps.clock, ids: deps.ids })
  const doFetch = deps.fetch ?? fetch
  const upload = deps.upload ?? nodeUpload
  const base = deps.publicUrl.replace(/\/+$/, '')

  const fileOf = async (transfer: TransferRecord): Promise<{ source: DataSource; file?: LocalFile }> => {
    const source = transfer.datasetId ? await deps.sources.resolve(transfer.datasetId) : undefined
    if (!source) throw new PasserelleError('not_found', 'the dataset has no distribution to transfer')
    if (source.kind === 'file') return { source, file: await confinedFile(source.root, source.path) }
    return { source }
  }

  const control: DataPlaneControl = {
    async pullAddress(transfer) {
      // Start hashing now so the first access does not wait for it (cached per file version).
      fileOf(transfer)
        .then(({ file }) => file && deps.digests.sha256(file))
        .catch(() => {})
      const { token } = await deps.tokens.issue({ transferId: transfer.id, agreementId: transfer.agreementId, scope: 'pull' })
      return httpDataAddress(`${base}/data/transfers/${transfer.id}`, token)
    },
    async receiveAddress(transfer) {
      const { token } = await deps.tokens.issue({ transferId: transfer.id, agreementId: transfer.agreementId, scope: 'receive' })
      return httpDataAddress(`${base}/data/incoming/${transfer.id}`, token)
    },
    async push(transfer, address) {
      const target = readHttpDataAddress(address)
      if (!target) throw new Error('the consumer gave no usable HTTP data address')
      const attempts = deps.pushAttempts ?? 3
      let last: unknown
      for (let attempt = 1; attempt <= attempts; attempt++) {
        try {
          return await pushOnce(transfer, target)
        } catch (error) {
          last = error
          if (error instanceof PasserelleError && error.code === 'policy_refused') break
          if (attempt < attempts) await new Promise((r) => setTimeout(r, 200 * 2 ** (attempt - 1)))
        }
      }
      throw new Error(`${(last as Error).message} (after ${attempts} attempts)`)
    },
  }

  /** Checks state and usage, counts and records the access, all in one transaction. */
  /** `count: false` (HEAD) checks everything but neither counts nor records the access. */
  async function authorize(transferId: string, agreementId: string, requester: string | null, range: string | null, plannedBytes: number, status: number, count = true) {
    const refusal = await deps.store.transaction(async (tx) => {
      const transfer = await repo.lock(tx, transferId)
      if (!transfer || transfer.role !== 'provider') return new PasserelleError('not_found', 'no such transfer')
      const refuse = async (error: PasserelleError) => {
        await repo.recordAccess(tx, { transferId, requester, range, status: errorStatus[error.code], bytes: 0, reason: error.message })
        return error
      }
      if (transfer.agreementId !== agreementId) return refuse(new PasserelleError('forbidden', 'this token belongs to another agreement'))
      if (transfer.state !== 'STARTED') return refuse(new PasserelleError('forbidden', `the transfer is ${transfer.state}`))
      const agreement = await deps.agreements.find(transfer.agreementId)
      if (!agreement) return refuse(new PasserelleError('forbidden', 'the agreement no longer exists'))
      const decision = deps.usage.check({ agreement, scope: 'transfer', requester: transfer.counterpartyId, now: deps.clock.now(), accessCount: transfer.accessCount })
      if (!decision.allowed) return refuse(new PasserelleError('policy_refused', decision.reason))
      if (!count) return undefined
      await repo.countAccess(tx, transferId)
      await repo.recordAccess(tx, { transferId, requester, range, status, bytes: plannedBytes })
      return undefined
    })
    if (refusal) throw refusal
  }

  /** Reads the transfer a pull token names, refusing tokens of other transfers. */
  async function pullTransfer(c: Context, verifyOptions?: { expiredGraceMs?: number }) {
    const claims = await deps.tokens.verify(bearerToken(c.req.header('authorization')), 'pull', verifyOptions)
    if (claims.transferId !== c.req.param('id')) throw new PasserelleError('forbidden', 'this token belongs to another transfer')
    const transfer = await repo.get(deps.store.db, claims.transferId)
    if (!transfer || transfer.role !== 'provider') throw new PasserelleError('not_found', 'no such transfer')
    return { claims, transfer }
  }

  const app = new Hono()
  app.onError((error, c) => {
    const known = toPasserelleError(error)
    if (known.code === 'internal') deps.logger.error('data plane failed', { path: c.req.path, error })
    return c.json(plainErrorBody(known, c), errorStatus[known.code])
  })

  app.get('/data/transfers/:id', async (c) => {
    const { claims, transfer } = await pullTransfer(c)
    const rangeHeader = c.req.header('range') ?? null
    const { source, file } = await fileOf(transfer)
    if (source.kind === 'http') {
      await authorize(transfer.id, claims.agreementId, transfer.counterpartyId, rangeHeader, 0, 200)
      return proxyUpstream(c, transfer, source, rangeHeader)
    }
    const sha256 = await deps.digests.sha256(file!)
    const etag = `"sha256-${sha256}"`
    let range = parseRange(rangeHeader ?? undefined, file!.size)
    // If-Range with a stale validator means "send it all".
    const ifRange = c.req.header('if-range')
    if (ifRange && ifRange !== etag) range = undefined
    if (range === 'unsatisfiable') {
      return c.body(null, 416, { 'content-range': `bytes */${file!.size}` })
    }
    const { start, end } = range ?? { start: 0, end: file!.size - 1 }
    const length = file!.size === 0 ? 0 : end - start + 1
    const status = range ? 206 : 200
    if (c.req.header('if-none-match') === etag && !range) return c.body(null, 304, { etag })
    const head = c.req.method === 'HEAD'
    await authorize(transfer.id, claims.agreementId, transfer.counterpartyId, rangeHeader, length, status, !head)
    const headers: Record<string, string> = {
      'content-type': source.mediaType ?? 'application/octet-stream',
      'content-length': String(length),
      'accept-ranges': 'bytes',
      etag,
      'repr-digest': reprDigest(sha256),
      'x-content-sha256': sha256,
      'cache-control': 'no-store',
    }
    if (range) headers['content-range'] = `bytes ${start}-${end}/${file!.size}`
    if (head) return new Response(null, { status, headers })
    return streamFile(c, transfer.id, file!.path, length === 0 ? undefined : { start, end }, status, headers)
  })

  /** A fresh token for a transfer that is still STARTED, in exchange for one of ours (even recently expired). */
  app.post('/data/transfers/:id/token', async (c) => {
    const { transfer } = await pullTransfer(c, { expiredGraceMs: refreshGraceMs })
    if (transfer.state !== 'STARTED') throw new PasserelleError('forbidden', `the transfer is ${transfer.state}`)
    const { token, expiresAt } = await deps.tokens.issue({ transferId: transfer.id, agreementId: transfer.agreementId, scope: 'pull' })
    return c.json({ token, expiresAt: expiresAt.toISOString() })
  })

  app.put('/data/incoming/:id', async (c) => {
    const claims = await deps.tokens.verify(bearerToken(c.req.header('authorization')), 'receive')
    if (claims.transferId !== c.req.param('id')) throw new PasserelleError('forbidden', 'this token belongs to another transfer')
    const transfer = await repo.get(deps.store.db, claims.transferId)
    if (!transfer || transfer.role !== 'consumer') throw new PasserelleError('not_found', 'no such transfer')
    if (transfer.state !== 'STARTED') throw new PasserelleError('forbidden', `the transfer is ${transfer.state}`)
    const declaredLength = c.req.header('content-length')
    const expectedSize = declaredLength === undefined ? undefined : Number(declaredLength)
    const expectedSha = sha256FromDigestHeader(c.req.header('repr-digest') ?? c.req.header('content-digest'))
    const folder = join(deps.dataDir, 'received')
    await mkdir(folder, { recursive: true })
    const finalPath = join(folder, safeName(transfer.id))
    const partPath = `${finalPath}.part`
    // Size and sha256 are known once the file is closed, and decide the answer below.
    const { bytes, sha256 } = await writeHashedFile(incomingBody(c), partPath).catch(async (error: Error) => {
      await rm(partPath, { force: true })
      throw new PasserelleError('bad_request', `the upload broke off: ${error.message}`)
    })
    const refuse = async (message: string) => {
      await rm(partPath, { force: true })
      await repo.recordAccess(deps.store.db, { transferId: transfer.id, requester: transfer.counterpartyId, range: null, status: 400, bytes, reason: message })
      throw new PasserelleError('bad_request', message)
    }
    if (expectedSize !== undefined && bytes !== expectedSize) await refuse(`received ${bytes} bytes, expected ${expectedSize}`)
    if (expectedSha && expectedSha !== sha256) await refuse('the sha256 of the received bytes does not match the digest sent')
    await rename(partPath, finalPath)
    await repo.update(deps.store.db, transfer.id, { size: bytes, sha256, outputPath: finalPath })
    await repo.addBytes(deps.store.db, transfer.id, bytes)
    await repo.recordAccess(deps.store.db, { transferId: transfer.id, requester: transfer.counterpartyId, range: null, status: 201, bytes })
    return c.json({ bytes, sha256 }, 201)
  })

  /**
   * Streams a file as the response body. (Writing straight onto the Node response would skip the web
   * stream, but the app's middleware rebuilds responses to add headers, which that would bypass.)
   */
  function streamFile(_c: Context, transferId: string, path: string, range: ByteRange | undefined, status: number, headers: Record<string, string>) {
    const done = (sent: number, error?: unknown) => {
      // A client that goes away, or a file that vanishes, ends the stream; it must not end the process.
      if (error) deps.logger.debug('data stream ended early', { transferId, error })
      repo.addBytes(deps.store.db, transferId, sent).catch((error) => deps.logger.warn('could not count bytes', { transferId, error }))
    }
    if (!range) {
      done(0)
      return new Response(null, { status, headers })
    }
    return new Response(fileRangeStream(path, range, done), { status, headers })
  }

  async function proxyUpstream(c: Context, transfer: TransferRecord, source: Extract<DataSource, { kind: 'http' }>, range: string | null) {
    let upstream: Response
    try {
      upstream = await doFetch(source.url, { headers: { ...source.headers, ...(range ? { range } : {}) }, redirect: 'error' })
    } catch (error) {
      throw new PasserelleError('peer_failed', `the upstream source could not be reached: ${(error as Error).message}`)
    }
    if (!upstream.ok || !upstream.body) throw new PasserelleError('peer_failed', `the upstream source answered ${upstream.status}`)
    return relayResponse(upstream as Response & { body: ReadableStream<Uint8Array> }, {
      headers: ['content-type', 'content-length', 'content-range', 'etag', 'accept-ranges', 'repr-digest', 'last-modified'],
      extra: { 'cache-control': 'no-store' },
      onBytes: (bytes) => void repo.addBytes(deps.store.db, transfer.id, bytes).catch(() => {}),
    })
  }

  /** Provider, push: one attempt at sending the whole dataset to the consumer's endpoint. */
  async function pushOnce(transfer: TransferRecord, target: { endpoint: string; token: string }) {
    const current = await repo.get(deps.store.db, transfer.id)
    if (!current || current.state !== 'STARTED') throw new PasserelleError('forbidden', `the transfer is ${current?.state ?? 'gone'}`)
    const agreement = await deps.agreements.find(transfer.agreementId)
    const decision = agreement
      ? deps.usage.check({ agreement, scope: 'transfer', requester: transfer.counterpartyId, now: deps.clock.now(), accessCount: current.accessCount })
      : { allowed: false, reason: 'the agreement no longer exists' }
    if (!decision.allowed) throw new PasserelleError('policy_refused', decision.reason)
    const { source, file } = await fileOf(current)
    let body: Readable
    const headers: Record<string, string> = { authorization: `Bearer ${target.token}`, 'content-type': source.mediaType ?? 'application/octet-stream' }
    let size: number | undefined
    let sha256: string | undefined
    if (file) {
      sha256 = await deps.digests.sha256(file)
      size = file.size
      headers['content-length'] = String(file.size)
      headers['repr-digest'] = reprDigest(sha256)
      body = createReadStream(file.path, { highWaterMark: readChunkBytes })
    } else {
      const src = source as Extract<DataSource, { kind: 'http' }>
      const upstream = await doFetch(src.url, { headers: src.headers, redirect: 'error' })
      if (!upstream.ok || !upstream.body) throw new Error(`the upstream source answered ${upstream.status}`)
      const length = upstream.headers.get('content-length')
      if (length) headers['content-length'] = length
      body = Readable.fromWeb(upstream.body as import('node:stream/web').ReadableStream)
    }
    const hash = createHash('sha256')
    let sent = 0
    // Read errors reach the upload through its pipe; this listener only keeps a late one (after a
    // refused upload closed the stream) from ending the process.
    body.on('error', (error) => deps.logger.debug('push source stream failed', { transferId: transfer.id, error }))
    await repo.countAccess(deps.store.db, transfer.id)
    // A data listener starts the flow: attach it in the same turn as the upload's pipe, or the
    // first chunks would go to the listener alone.
    body.on('data', (chunk: Buffer) => {
      sent += chunk.length
      if (!file) hash.update(chunk)
    })
    let status: number
    try {
      status = await upload({ url: target.endpoint, headers, body })
    } finally {
      // A refused or broken upload may leave the file stream open: close it.
      body.destroy()
    }
    const ok = status >= 200 && status < 300
    await repo.recordAccess(deps.store.db, { transferId: transfer.id, requester: transfer.counterpartyId, range: null, status, bytes: sent, reason: ok ? undefined : `the consumer answered ${status}` })
    if (!ok) throw new Error(`the consumer's endpoint answered ${status}`)
    await repo.addBytes(deps.store.db, transfer.id, sent)
    return { bytes: size ?? sent, sha256: sha256 ?? hash.digest('hex') }
  }

  return { control, routes: app }
}

export type Upload = (input: { url: string; headers: Record<string, string>; body: Readable }) => Promise<number>

/** PUTs a stream with node:http(s), never following redirects; resolves with the status. */
export const nodeUpload: Upload = ({ url, headers, body }) =>
  new Promise((resolvePromise, reject) => {
    const target = new URL(url)
    if (target.protocol !== 'http:' && target.protocol !== 'https:') return reject(new Error(`cannot push to ${target.protocol} URLs`))
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest
    const req = send(target, { method: 'PUT', headers, timeout: 60_000 }, (res) => {
      res.resume()
      res.on('end', () => resolvePromise(res.statusCode ?? 0))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error('the consumer stopped answering')))
    req.on('error', reject)
    pipeline(body, req).catch(reject)
  })

/** The request body as a Node stream, straight from the socket when there is one. */
function incomingBody(c: Context): Readable {
  const incoming = (c.env as { incoming?: Readable } | undefined)?.incoming
  if (incoming && typeof incoming.pipe === 'function' && !incoming.readableEnded) return incoming
  const body = c.req.raw.body
  return body ? Readable.fromWeb(body as import('node:stream/web').ReadableStream) : Readable.from([])
}

const safeName = (id: string) => id.replace(/[^A-Za-z0-9._-]/g, '_')

export type DataPlane = ReturnType<typeof createDataPlane>
export type { DataAddress }
