import { createHash } from 'node:crypto'
import type { AuditTrail } from '../../audit/audit-trail.ts'
import { createReadStream } from 'node:fs'
import { mkdir, rename, rm } from 'node:fs/promises'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { Hono, type Context } from 'hono'
import type { Clock } from '../../clock.ts'
import type { IdSource } from '../../ids.ts'
import { errorStatus, PasserelleError } from '../../errors.ts'
import { plainErrorBody, toPasserelleError } from '../../http/error-response.ts'
import type { Store } from '../../store/store.ts'
import type { Logger } from '../../telemetry/logger.ts'
import { HttpApi, locateDistributionFile } from '../../../catalog/index.ts'
import { recordRefusal } from '../../telemetry/transitions.ts'
import { httpDataAddress, readHttpDataAddress, type DataAddress } from '../messages.ts'
import type { AgreementLookup, DataPlaneControl, DataSource, DistributionSource, UsagePolicy } from '../ports.ts'
import { transferRepository, type TransferRecord } from '../repository.ts'
import { usageGate } from '../usage-gate.ts'
import { usageRepository } from '../usage-repository.ts'
import { grantedUnits, isNewDownload, upstreamExtent } from './access-rule.ts'
import { admission, perKeyLimit, retryAfterSeconds } from './limits.ts'
import { jitteredDelay, retryableStatus } from '../../dispatch/backoff.ts'
import { isPermanentFailure } from '../../http/peer-client.ts'
import { fileRangeStream } from './file-stream.ts'
import { writeHashedFile } from './hashed-file.ts'
import { archiveMediaType, archiveStream, tarLayout, type ArchiveEntry, type ArchiveFormat } from './folder-archive.ts'
import { localFolderEntries, prefixEntries } from './folder-entries.ts'
import { storageFailure, type S3Clients } from './s3-client.ts'
import { openS3Object, readS3Object } from './s3-source.ts'
import { presignAsked, presignedGet, presignParameter } from './s3-presign.ts'
import { uploadToS3 } from './s3-destination.ts'
import { readS3DataAddress, s3EndpointType, type S3Destination } from '../s3-address.ts'
import { checkedRequest, fetchUpstream, openUpstream, requestParts, type UpstreamOpen } from './http-backend.ts'
import { guardedStream, type StreamEnd } from './guarded-stream.ts'
import { streamWatch } from './stream-watch.ts'
import { bearerToken, refreshGraceMs, type DataTokens } from './tokens.ts'
import {
  confinedFile,
  FileRefused,
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
 * usage rules, is counted against the agreement (see access-rule.ts for what counts) and is
 * recorded. Bytes stream with bounded memory (1 MiB reads, back-pressure). Parallel requests on one
 * transfer are bounded (429 with Retry-After), and so are the data plane's database transactions,
 * so that a hostile consumer cannot starve the database pool.
 */
export interface DataPlaneDeps {
  store: Store
  clock: Clock
  ids: IdSource
  /** Every access (granted or refused) and the bytes it moved are appended to it. */
  audit?: AuditTrail | undefined
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
  /** How upstream HTTP sources are read (the peer client, under the egress policy); `fetch` when absent. */
  upstream?: UpstreamOpen
  /** How often a running stream re-reads its transfer and agreement, to stop when they end (default 250 ms). */
  watchIntervalMs?: number
  /** How a push goes on the wire (node:http by default: streams without extra copies); tests route it in-process. */
  upload?: Upload
  /** An upper bound on push attempts, on top of the retry window (none by default). */
  pushAttempts?: number
  /**
   * How long a push is retried (consumer unreachable or answering an error), from its first
   * attempt, in milliseconds, with exponential backoff and jitter between attempts (defaults: five
   * minutes, first delay 1 s, at most 30 s apart). Then the transfer terminates with the reason.
   */
  pushRetry?: { windowMs?: number; baseDelayMs?: number; maxDelayMs?: number }
  /** Randomness for the jitter of push retries (in [0, 1)). */
  random?: () => number
  /** Clients of S3-compatible storage (datasets kept in object storage); without them such datasets are unavailable. */
  objects?: S3Clients
  /** Requests at once on one transfer (pull token) before 429 (default 4). */
  maxParallelPerTransfer?: number
  /** Data-plane transactions at once (default 4: the rest of the pool stays free for everything else). */
  maxParallelDecisions?: number
}

export function createDataPlane(deps: DataPlaneDeps) {
  const repo = transferRepository(deps.store, { clock: deps.clock, ids: deps.ids, audit: deps.audit })
  const doFetch = deps.fetch ?? fetch
  const upload = deps.upload ?? nodeUpload
  const base = deps.publicUrl.replace(/\/+$/, '')
  const gate = usageGate(deps)
  const usage = usageRepository(deps.store, deps)
  const perTransfer = perKeyLimit(deps.maxParallelPerTransfer ?? 4)
  const decisions = admission(deps.maxParallelDecisions ?? 4, 256)
  const openUpstreamAnswer = deps.upstream ?? fetchUpstream(doFetch)
  const watcher = streamWatch({
    intervalMs: deps.watchIntervalMs,
    async reasonToStop(transferId, agreementId) {
      const transfer = await repo.get(deps.store.db, transferId)
      if (transfer?.state !== 'STARTED') return `the transfer is ${transfer?.state ?? 'gone'}${transfer?.reason ? `: ${transfer.reason}` : ''}`
      const agreement = await deps.agreements.find(agreementId)
      if (agreement?.state !== 'FINALIZED') return `the agreement ${agreementId} is no longer in force`
      return undefined
    },
  })

  const fileOf = async (transfer: TransferRecord): Promise<{ source: DataSource; file?: LocalFile }> => {
    const source = transfer.datasetId ? await deps.sources.resolve(transfer.datasetId) : undefined
    if (!source) throw new PasserelleError('not_found', 'the dataset has no distribution to transfer')
    if (source.kind === 'file') {
      const file = await confinedFile(source.root, source.path, source.files).catch((error: unknown) => {
        if (error instanceof FileRefused)
          deps.logger.warn('dataset file refused at serve time', { transferId: transfer.id, datasetId: transfer.datasetId, reason: error.reason })
        throw error
      })
      return { source, file }
    }
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
      const target = pushTarget(address)
      const maxAttempts = deps.pushAttempts ?? Infinity
      const windowMs = deps.pushRetry?.windowMs ?? 300_000
      const baseDelayMs = deps.pushRetry?.baseDelayMs ?? 1000
      const maxDelayMs = deps.pushRetry?.maxDelayMs ?? 30_000
      const random = deps.random ?? Math.random
      const until = deps.clock.now().getTime() + windowMs
      let last: unknown
      let attempt = 0
      const counted: { accessId?: string } = {}
      for (;;) {
        attempt++
        try {
          return await pushOnce(transfer, target, counted)
        } catch (error) {
          last = error
          if (error instanceof PasserelleError && error.code === 'policy_refused') break
          // A destination the egress policy refuses or whose name does not exist, or a consumer that
          // answered and refused (a redirect, a 4xx), will not change its mind: only silence and transient answers are retried.
          if (isPermanentFailure(error) || (error instanceof PushAnswered && !retryableStatus(error.status))) break
          if (attempt >= maxAttempts) break
          const delay = jitteredDelay(attempt, baseDelayMs, maxDelayMs, random())
          if (deps.clock.now().getTime() + delay > until) break
          deps.logger.info('push failed; retrying', { transferId: transfer.id, attempt, delayMs: delay, error: (error as Error).message })
          await new Promise((r) => setTimeout(r, delay))
        }
      }
      // The consumer received nothing: the access it was counted for is given back.
      if (counted.accessId)
        await refundCount(transfer, counted.accessId, `the push failed: ${(last as Error).message}`).catch((error) =>
          deps.logger.warn('could not give a count back', { transferId: transfer.id, error }),
        )
      throw new Error(`${(last as Error).message} (after ${attempt} attempt${attempt === 1 ? '' : 's'})`)
    },
  }

  /**
   * Checks state and usage, and counts and records the access, in one transaction that reads only
   * through itself: the transfer row and the agreement's counter are locked until it ends. `dryRun`
   * (HEAD) checks everything but neither counts nor records. Resolves with the access's id.
   */
  async function authorize(input: {
    transferId: string
    agreementId: string
    range: string | null
    status: number
    /** Bytes this access is granted (the whole answer); 0 when unknown (an upstream source). */
    plannedBytes: number
    /** Whether it starts a new download, decided on the locked transfer row. */
    counts: (transfer: TransferRecord) => boolean
    dryRun?: boolean
  }): Promise<string | undefined> {
    const outcome = await decisions.run(() =>
      deps.store.transactionFor(input.transferId, async (tx) => {
        const transfer = await repo.lock(tx, input.transferId)
        if (transfer?.role !== 'provider') return { error: new PasserelleError('not_found', 'no such transfer') }
        const refuse = async (error: PasserelleError) => {
          await repo.recordAccess(tx, {
            transferId: input.transferId,
            requester: transfer.counterpartyId,
            range: input.range,
            status: errorStatus[error.code],
            bytes: 0,
            reason: error.message,
          })
          return { error }
        }
        if (transfer.agreementId !== input.agreementId) return refuse(new PasserelleError('forbidden', 'this token belongs to another agreement'))
        // The reason it ended was told to the consumer already (termination message): say it again here.
        if (transfer.state !== 'STARTED')
          return refuse(new PasserelleError('forbidden', `the transfer is ${transfer.state}${transfer.reason ? `: ${transfer.reason}` : ''}`))
        const counts = input.counts(transfer)
        const decision = await gate.decide(tx, { agreementId: transfer.agreementId, requester: transfer.counterpartyId, counts, dryRun: input.dryRun })
        if (!decision.allowed) return refuse(new PasserelleError('policy_refused', decision.reason))
        if (input.dryRun) return {}
        await repo.grantAccess(tx, transfer.id, { bytes: input.plannedBytes, counted: counts })
        // Bytes are recorded as they are confirmed sent (when the stream ends): a download cut by a
        // crash is never logged as complete.
        const accessId = await repo.recordAccess(tx, {
          transferId: transfer.id,
          requester: transfer.counterpartyId,
          range: input.range,
          status: input.status,
          bytes: 0,
          counted: counts,
        })
        return { accessId }
      }),
    )
    if (outcome.error) {
      recordRefusal('data-access', outcome.error.code === 'policy_refused' ? 'usage' : 'state')
      if (outcome.error.code === 'policy_refused')
        deps.logger.info('data access refused', { transferId: input.transferId, agreementId: input.agreementId, reason: outcome.error.message })
      throw outcome.error
    }
    return outcome.accessId
  }

  /** Reads the transfer a pull token names, refusing tokens of other transfers. */
  async function pullTransfer(c: Context, verifyOptions?: { expiredGraceMs?: number }) {
    const claims = await deps.tokens.verify(bearerToken(c.req.header('authorization')), 'pull', verifyOptions)
    if (claims.transferId !== c.req.param('id')) throw new PasserelleError('forbidden', 'this token belongs to another transfer')
    const transfer = await repo.get(deps.store.db, claims.transferId)
    if (transfer?.role !== 'provider') throw new PasserelleError('not_found', 'no such transfer')
    return { claims, transfer }
  }

  const app = new Hono()
  app.onError((error, c) => {
    const known = toPasserelleError(error)
    if (known.code === 'internal') deps.logger.error('data plane failed', { path: c.req.path, error })
    if (known.code === 'too_many_requests') c.header('retry-after', String(retryAfterSeconds))
    return c.json(plainErrorBody(known, c), errorStatus[known.code])
  })

  /** A folder's archive format is the only parameter a folder dataset takes. */
  const archiveParameters = HttpApi.parse({ query: [{ name: 'archive', type: 'string', enum: ['tar', 'zip'] }] })

  const pullRoute = async (c: Context) => {
    const claims = await deps.tokens.verify(bearerToken(c.req.header('authorization')), 'pull')
    if (claims.transferId !== c.req.param('id')) throw new PasserelleError('forbidden', 'this token belongs to another transfer')
    // Taken before any database work; given back when the answer has been sent (or has failed).
    const release = perTransfer.acquire(claims.transferId)
    try {
      return await pull(c, claims, release)
    } catch (error) {
      release()
      throw error
    }
  }
  app.get('/data/transfers/:id', pullRoute)
  // A path suffix, for HTTP API sources that declare which they allow.
  app.get('/data/transfers/:id/*', pullRoute)

  async function pull(c: Context, claims: { transferId: string; agreementId: string }, release: () => void): Promise<Response> {
    const transfer = await repo.get(deps.store.db, claims.transferId)
    if (transfer?.role !== 'provider') throw new PasserelleError('not_found', 'no such transfer')
    const rangeHeader = c.req.header('range') ?? null
    const head = c.req.method === 'HEAD'
    const { source, file } = await fileOf(transfer)
    // An HTTP API source takes the parameters it declares; a folder, its archive format; nothing else does.
    const asked = requestParts(c.req.url, (c.env as { incoming?: { url?: string } } | undefined)?.incoming?.url)
    const archived = source.kind === 'folder' || source.kind === 's3-prefix'
    // `?redirect=presigned`: a presigned GET of an S3 object, where its steward allows one (an HTTP
    // API that declares its own `redirect` parameter keeps it).
    const ownRedirect = source.kind === 'http' && source.api?.query.some((q) => q.name === presignParameter.name)
    const presign = ownRedirect ? { asked: false, rest: asked.query } : presignAsked(asked.query)
    if (presign.asked) {
      if (source.kind !== 's3' || source.presignTtl === undefined)
        throw new PasserelleError('bad_request', "this dataset's distribution does not allow presigned URLs: pull it without redirect=presigned")
      checkedRequest(undefined, asked.suffix, presign.rest)
      return pullPresigned(c, transfer, claims.agreementId, { ...source, presignTtl: source.presignTtl }, release)
    }
    const request = checkedRequest(source.kind === 'http' ? source.api : archived ? archiveParameters : undefined, asked.suffix, asked.query)
    if (source.kind === 'http') return pullUpstream(c, transfer, claims.agreementId, source, rangeHeader, release, request)
    if (source.kind === 's3') return pullObject(c, transfer, claims.agreementId, source, rangeHeader, release)
    if (archived) return pullArchive(c, transfer, claims.agreementId, source, release)
    const sha256 = await deps.digests.sha256(file!)
    const etag = `"sha256-${sha256}"`
    let range = parseRange(rangeHeader ?? undefined, file!.size)
    // If-Range with a stale validator means "send it all".
    const ifRange = c.req.header('if-range')
    if (ifRange && ifRange !== etag) range = undefined
    if (range === 'unsatisfiable') {
      release()
      return c.body(null, 416, { 'content-range': `bytes */${file!.size}` })
    }
    const { start, end } = range ?? { start: 0, end: file!.size - 1 }
    const length = file!.size === 0 ? 0 : end - start + 1
    const status = range ? 206 : 200
    if (c.req.header('if-none-match') === etag && !range) {
      release()
      return c.body(null, 304, { etag })
    }
    const planned = grantedUnits(length)
    const accessId = await authorize({
      transferId: transfer.id,
      agreementId: claims.agreementId,
      range: rangeHeader,
      status,
      plannedBytes: planned,
      counts: (t) => isNewDownload(t, { size: file!.size, length, start }),
      dryRun: head,
    })
    const headers: Record<string, string> = {
      'content-type': source.mediaType ?? 'application/octet-stream',
      'content-length': String(length),
      'accept-ranges': 'bytes',
      etag,
      'repr-digest': reprDigest(sha256),
      // RFC 3230, for clients that predate Repr-Digest.
      digest: `sha-256=${Buffer.from(sha256, 'hex').toString('base64')}`,
      'x-content-sha256': sha256,
      'cache-control': 'no-store',
    }
    if (range) headers['content-range'] = `bytes ${start}-${end}/${file!.size}`
    if (head || !accessId) {
      release()
      return new Response(null, { status, headers })
    }
    return streamFile(transfer, file!.path, length === 0 ? undefined : { start, end }, status, headers, { id: accessId, planned }, release)
  }

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
    if (transfer?.role !== 'consumer') throw new PasserelleError('not_found', 'no such transfer')
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
      await deps.store.transaction((tx) =>
        repo.recordAccess(tx, { transferId: transfer.id, requester: transfer.counterpartyId, range: null, status: 400, bytes, reason: message }),
      )
      throw new PasserelleError('bad_request', message)
    }
    if (expectedSize !== undefined && bytes !== expectedSize) await refuse(`received ${bytes} bytes, expected ${expectedSize}`)
    if (expectedSha && expectedSha !== sha256) await refuse('the sha256 of the received bytes does not match the digest sent')
    await rename(partPath, finalPath)
    await repo.update(deps.store.db, transfer.id, { size: bytes, sha256, outputPath: finalPath })
    // The bytes, the access and its audit record commit together.
    await deps.store.transactionFor(transfer.id, async (tx) => {
      await repo.addBytes(tx, transfer.id, bytes)
      await repo.recordAccess(tx, { transferId: transfer.id, requester: transfer.counterpartyId, range: null, status: 201, bytes, sha256 })
    })
    return c.json({ bytes, sha256 }, 201)
  })

  /**
   * Streams a file as the response body. (Writing straight onto the Node response would skip the web
   * stream, but the app's middleware rebuilds responses to add headers, which that would bypass.)
   * Once it ends, the access's bytes are settled (what a cut download did not send is given back)
   * and the transfer's slot is released.
   */
  function streamFile(
    transfer: TransferRecord,
    path: string,
    range: ByteRange | undefined,
    status: number,
    headers: Record<string, string>,
    access: { id: string; planned: number },
    release: () => void,
  ) {
    const transferId = transfer.id
    const watch = watcher.watch(transfer.id, transfer.agreementId)
    const done = (sent: number, error?: unknown) => {
      watch.stop()
      release()
      // A client that goes away, or a file that vanishes, ends the stream; it must not end the process.
      if (error) deps.logger.debug('data stream ended early', { transferId, error })
      repo
        .finishAccess(transferId, { id: access.id, planned: access.planned, sent: range ? sent : access.planned })
        .catch((error) => deps.logger.warn('could not settle an access', { transferId, error }))
    }
    if (!range) {
      done(0)
      return new Response(null, { status, headers })
    }
    const body = guardedStream(fileRangeStream(path, range, done), { signal: watch.signal, onEnd: () => {} })
    return new Response(body, { status, headers })
  }

  /** How an upstream (an HTTP source, an object in S3 storage) is asked for its bytes, as an HTTP answer. */
  type Upstream = (request: { head: boolean; range: string | null }) => Promise<Response>
  const upstreamOf =
    (source: Extract<DataSource, { kind: 'http' | 's3' }>): Upstream =>
    async ({ head, range }) => {
      if (source.kind === 's3') {
        return openS3Object(objectClient(source.access), source, { head, range }).catch((error: unknown) => {
          deps.logger.warn('dataset storage access failed', {
            bucket: source.bucket,
            detail: (error as { detail?: string }).detail,
            error: (error as Error).message,
          })
          throw error
        })
      }
      try {
        return await doFetch(source.url, { method: head ? 'HEAD' : 'GET', headers: { ...source.headers, ...(range ? { range } : {}) }, redirect: 'error' })
      } catch (error) {
        throw new PasserelleError('peer_failed', `the upstream source could not be reached: ${(error as Error).message}`)
      }
    }

  /**
   * Pull from an S3 object. Checked (without counting) before the storage is asked, then counted on
   * what it answered: its size and length decide whether this is a new download. A failed storage
   * access spends nothing; a storage that fails while its body is relayed (a cut, more or fewer
   * bytes than it declared, silence) gives the count back. The storage's body goes to the client
   * through one guarded layer (no web-stream relay of its own), cut when the transfer or its agreement ends.
   */
  async function pullObject(
    c: Context,
    transfer: TransferRecord,
    agreementId: string,
    source: Extract<DataSource, { kind: 's3' }>,
    range: string | null,
    release: () => void,
  ) {
    const access = { transferId: transfer.id, agreementId, range }
    await authorize({ ...access, status: 200, plannedBytes: 0, counts: () => false, dryRun: true })
    const head = c.req.method === 'HEAD'
    const answer = await readS3Object(objectClient(source.access), source, { head, range }).catch((error: unknown) => {
      deps.logger.warn('dataset storage access failed', {
        bucket: source.bucket,
        detail: (error as { detail?: string }).detail,
        error: (error as Error).message,
      })
      throw error
    })
    if (answer.status === 416 || head || !answer.body) {
      release()
      answer.body?.destroy()
      if (answer.status === 416) return c.body(null, 416)
      return new Response(null, { status: answer.status, headers: { 'cache-control': 'no-store' } })
    }
    const upstreamBody = answer.body
    const extent = upstreamExtent(answer.status, answer.headers)
    const planned = extent ? grantedUnits(extent.length) : 0
    let accessId: string | undefined
    let counted = false
    try {
      accessId = await authorize({ ...access, status: answer.status, plannedBytes: planned, counts: (t) => (counted = !extent || isNewDownload(t, extent)) })
    } catch (error) {
      upstreamBody.destroy()
      throw error
    }
    const watch = watcher.watch(transfer.id, transfer.agreementId)
    const body = guardedStream(upstreamBody, {
      declaredLength: answer.declaredLength,
      idleMs: 60_000,
      signal: watch.signal,
      onEnd: (bytes: number, end: StreamEnd) => {
        watch.stop()
        release()
        repo.finishAccess(transfer.id, { id: accessId!, planned: Math.max(planned, bytes), sent: bytes }).catch(() => {})
        if (end.kind === 'source') {
          deps.logger.warn('dataset storage failed during a transfer', { transferId: transfer.id, detail: end.error.message })
          if (counted) refundCount(transfer, accessId!, end.error.message).catch((error) => deps.logger.warn('could not give a count back', { error }))
        } else if (end.kind === 'stopped') deps.logger.info('data stream stopped', { transferId: transfer.id, reason: end.error.message })
      },
    })
    const headers: Record<string, string> = { 'cache-control': 'no-store' }
    for (const name of ['content-type', 'content-length', 'content-range', 'etag', 'accept-ranges', 'last-modified']) {
      const value = answer.headers.get(name)
      if (value) headers[name] = value
    }
    return new Response(body, { status: answer.status, headers })
  }

  /**
   * A presigned GET of an S3 object, answered as a 307 to it: one access, counted with the object's
   * size as bytes granted, under the same checks as a pull through the connector. Checked (without
   * counting) before the storage is asked for the object's size; a storage that fails then spends
   * nothing. The bytes then go from the storage to the consumer: the connector neither sees them nor
   * can stop them, so the access records no bytes moved and the URL's life is capped at an hour.
   * A HEAD is checked, never counted, and gets no URL.
   */
  async function pullPresigned(
    c: Context,
    transfer: TransferRecord,
    agreementId: string,
    source: Extract<DataSource, { kind: 's3' }> & { presignTtl: number },
    release: () => void,
  ) {
    try {
      const access = { transferId: transfer.id, agreementId, range: null }
      await authorize({ ...access, status: 307, plannedBytes: 0, counts: () => false, dryRun: true })
      if (c.req.method === 'HEAD') return new Response(null, { status: 204, headers: { 'cache-control': 'no-store' } })
      const client = objectClient(source.access)
      const head = await readS3Object(client, source, { head: true }).catch((error: unknown) => {
        deps.logger.warn('dataset storage access failed', {
          bucket: source.bucket,
          detail: (error as { detail?: string }).detail,
          error: (error as Error).message,
        })
        throw error
      })
      const planned = grantedUnits(Number(head.headers.get('content-length') ?? 0))
      const accessId = await authorize({ ...access, status: 307, plannedBytes: planned, counts: () => true })
      let url: string
      try {
        url = await presignedGet(client, source, source.presignTtl)
      } catch (error) {
        const failure = storageFailure(error)
        await refundCount(transfer, accessId!, failure.message)
        throw failure
      }
      // A declared sha256 goes with the URL: the storage does not state one, and the consumer checks it.
      const digest: Record<string, string> = source.sha256 ? { 'repr-digest': reprDigest(source.sha256), 'x-content-sha256': source.sha256 } : {}
      return new Response(null, { status: 307, headers: { location: url, 'cache-control': 'no-store', 'referrer-policy': 'no-referrer', ...digest } })
    } finally {
      release()
    }
  }

  /**
   * Pull from an upstream HTTP source. Checked (without counting) before the upstream is asked, then
   * counted on what the upstream answered: its size and length decide whether this is a new download.
   * An upstream that fails before its answer is relayed counts nothing; one that fails while it is
   * relayed (too many bytes, silence, a cut) gives its count back.
   */
  async function pullUpstream(
    c: Context,
    transfer: TransferRecord,
    agreementId: string,
    source: Extract<DataSource, { kind: 'http' }>,
    range: string | null,
    release: () => void,
    request: { segments: string[]; query: Array<[string, string]> },
  ) {
    const access = { transferId: transfer.id, agreementId, range }
    await authorize({ ...access, status: 200, plannedBytes: 0, counts: () => false, dryRun: true })
    const head = c.req.method === 'HEAD'
    const upstream = await openUpstream({
      open: openUpstreamAnswer,
      source,
      request,
      range,
      method: head ? 'HEAD' : 'GET',
      logger: deps.logger,
      transferId: transfer.id,
    }).catch(async (error: unknown) => {
      if (error instanceof PasserelleError)
        await repo
          .recordAccess(deps.store.db, {
            transferId: transfer.id,
            requester: transfer.counterpartyId,
            range,
            status: errorStatus[error.code],
            bytes: 0,
            reason: error.message,
          })
          .catch(() => {})
      throw error
    })
    if (head) {
      release()
      upstream.body.destroy()
      return new Response(null, { status: upstream.status, headers: { 'cache-control': 'no-store' } })
    }
    const extent = upstreamExtent(upstream.status, upstream.headers)
    const planned = extent ? grantedUnits(extent.length) : 0
    let accessId: string | undefined
    let counted = false
    try {
      accessId = await authorize({
        ...access,
        status: upstream.status,
        plannedBytes: planned,
        counts: (t) => (counted = !extent || isNewDownload(t, extent)),
      })
    } catch (error) {
      upstream.body.destroy()
      throw error
    }
    const watch = watcher.watch(transfer.id, transfer.agreementId)
    const body = guardedStream(upstream.body, {
      declaredLength: upstream.declaredLength,
      maxBytes: source.api?.maxBytes,
      idleMs: (source.api?.timeoutSeconds ?? 30) * 1000,
      signal: watch.signal,
      onEnd: (bytes: number, end: StreamEnd) => {
        watch.stop()
        release()
        repo.finishAccess(transfer.id, { id: accessId!, planned: Math.max(planned, bytes), sent: bytes }).catch(() => {})
        if (end.kind === 'source') {
          deps.logger.warn('upstream source failed during a transfer', { transferId: transfer.id, detail: end.error.message })
          if (counted) refundCount(transfer, accessId!, end.error.message).catch((error) => deps.logger.warn('could not give a count back', { error }))
        } else if (end.kind === 'stopped') deps.logger.info('data stream stopped', { transferId: transfer.id, reason: end.error.message })
      },
    })
    const headers: Record<string, string> = { 'cache-control': 'no-store' }
    for (const name of ['content-type', 'content-length', 'content-range', 'etag', 'accept-ranges', 'repr-digest', 'digest', 'last-modified']) {
      const value = upstream.headers.get(name)
      if (value) headers[name] = value
    }
    return new Response(body, { status: upstream.status, headers })
  }

  /** An access the upstream failed is not the consumer's: its count goes back to the agreement. */
  async function refundCount(transfer: TransferRecord, accessId: string, reason: string) {
    await deps.store.transactionFor(transfer.id, async (tx) => {
      await repo.refundAccess(tx, transfer.id, { id: accessId, reason })
      await usage.giveBack(tx, transfer.agreementId)
    })
  }

  const objectClient = (access: Extract<DataSource, { kind: 's3' | 's3-prefix' }>['access']) => {
    if (!deps.objects) throw new PasserelleError('unavailable', 'object storage is not configured on this connector')
    return deps.objects.client(access)
  }

  /** The files of a folder dataset, its first one already found: a storage that fails does so before anything is counted. */
  async function archiveEntries(transfer: TransferRecord, source: Extract<DataSource, { kind: 'folder' | 's3-prefix' }>): Promise<AsyncIterable<ArchiveEntry>> {
    let entries: AsyncIterator<ArchiveEntry>
    if (source.kind === 'folder') {
      const located = await locateDistributionFile(source.files ?? { root: source.root, private: [] }, source.root, source.path)
      if ('problem' in located) {
        if (located.missing) throw new PasserelleError('not_found', 'the dataset folder does not exist')
        deps.logger.warn('dataset folder refused at serve time', { transferId: transfer.id, datasetId: transfer.datasetId, reason: located.problem })
        throw new FileRefused(located.problem)
      }
      entries = localFolderEntries(located.path, source.files, '', (file) => deps.digests.sha256(file))[Symbol.asyncIterator]()
    } else entries = prefixEntries(objectClient(source.access), source.bucket, source.prefix)[Symbol.asyncIterator]()
    const first = await entries.next().catch((error: unknown) => {
      deps.logger.warn('dataset folder could not be listed', {
        transferId: transfer.id,
        detail: (error as { detail?: string }).detail,
        error: (error as Error).message,
      })
      if (error instanceof PasserelleError) throw error
      throw new PasserelleError('not_found', 'the dataset folder cannot be read')
    })
    return (async function* () {
      if (first.done) return
      yield first.value
      for (let next = await entries.next(); !next.done; next = await entries.next()) yield next.value
    })()
  }

  /**
   * A folder dataset as one archive: tar, or zip when the consumer asks (`?archive=zip` or
   * `Accept: application/zip`), ending with a manifest of each file's size and sha256. A tar is
   * deterministic, so it has a length and an ETag from the listing, answers a single Range (206,
   * If-Range honoured, 416 beyond its end) and is counted as a file is (access-rule.ts). A zip is
   * not served by ranges (416 with the reason): each GET of one is a new download.
   */
  async function pullArchive(
    c: Context,
    transfer: TransferRecord,
    agreementId: string,
    source: Extract<DataSource, { kind: 'folder' | 's3-prefix' }>,
    release: () => void,
  ) {
    const format = archiveFormat(c.req.query('archive'), c.req.header('accept'))
    const head = c.req.method === 'HEAD'
    const rangeHeader = c.req.header('range') ?? null
    const headers: Record<string, string> = {
      'content-type': archiveMediaType[format],
      'content-disposition': `attachment; filename="${safeName(transfer.datasetId ?? transfer.id)}.${format}"`,
      'cache-control': 'no-store',
    }
    if (format === 'zip') {
      headers['accept-ranges'] = 'none'
      if (rangeHeader) {
        release()
        return c.json(
          {
            error: {
              code: 'range_not_satisfiable',
              message: 'a zip archive is not served by ranges: ask for the tar (archive=tar), which is, or for the whole zip',
            },
          },
          416,
          { 'accept-ranges': 'none' },
        )
      }
    }
    // A tar's length and validator come from a first listing; its bytes from a second one.
    const layout = format === 'tar' ? await tarLayout(await archiveEntries(transfer, source)) : undefined
    let range = layout ? parseRange(rangeHeader ?? undefined, layout.size) : undefined
    const ifRange = c.req.header('if-range')
    if (layout && ifRange && ifRange !== layout.etag) range = undefined
    if (layout && range === 'unsatisfiable') {
      release()
      return c.body(null, 416, { 'content-range': `bytes */${layout.size}` })
    }
    const span = range === 'unsatisfiable' ? undefined : range
    const entries = await archiveEntries(transfer, source)
    const length = layout ? (span ? span.end - span.start + 1 : layout.size) : 0
    const status = span ? 206 : 200
    const planned = grantedUnits(length)
    const accessId = await authorize({
      transferId: transfer.id,
      agreementId,
      range: rangeHeader,
      status,
      plannedBytes: layout ? planned : 0,
      counts: (t) => (layout ? isNewDownload(t, { size: layout.size, length, start: span?.start ?? 0 }) : true),
      dryRun: head,
    })
    if (layout) {
      headers['content-length'] = String(length)
      headers['accept-ranges'] = 'bytes'
      headers.etag = layout.etag
      if (span) headers['content-range'] = `bytes ${span.start}-${span.end}/${layout.size}`
    }
    if (head || !accessId) {
      release()
      return new Response(null, { status, headers })
    }
    const watch = watcher.watch(transfer.id, transfer.agreementId)
    const archive = archiveStream(
      entries,
      format,
      (sent, error) => {
        watch.stop()
        release()
        if (error) deps.logger.info('archive stream ended early', { transferId: transfer.id, error: (error as Error).message })
        repo.finishAccess(transfer.id, { id: accessId, planned: layout ? planned : sent, sent }).catch(() => {})
      },
      span,
    )
    // Cut when the transfer or its agreement ends, like every other stream.
    const body = guardedStream(archive, { signal: watch.signal, onEnd: () => {} })
    return new Response(body, { status, headers })
  }

  /**
   * Provider, push: one attempt at sending the whole dataset to the consumer's endpoint or storage.
   * `counted` keeps the access the push was counted for (its first attempt), to give it back if the push fails.
   */
  async function pushOnce(transfer: TransferRecord, target: PushTarget, counted: { accessId?: string }) {
    const current = await repo.get(deps.store.db, transfer.id)
    if (current?.state !== 'STARTED') throw new PasserelleError('forbidden', `the transfer is ${current?.state ?? 'gone'}`)
    const { source, file } = await fileOf(current)
    // A push is one access of its transfer: counted on the first attempt, not on retries (the same copy).
    let counts = false
    const accessId = await authorize({
      transferId: transfer.id,
      agreementId: transfer.agreementId,
      range: null,
      status: 0,
      plannedBytes: 0,
      counts: (t) => (counts = t.accessCount === 0),
    })
    if (counts) counted.accessId = accessId
    let body: Readable
    const headers: Record<string, string> = { 'content-type': source.mediaType ?? 'application/octet-stream' }
    let size: number | undefined
    let sha256: string | undefined
    if (file) {
      sha256 = await deps.digests.sha256(file)
      size = file.size
      headers['content-length'] = String(file.size)
      headers['repr-digest'] = reprDigest(sha256)
      body = createReadStream(file.path, { highWaterMark: readChunkBytes })
    } else if (source.kind === 'folder' || source.kind === 's3-prefix') {
      // A folder is pushed as a tar with its manifest, like a pull that asks for nothing else.
      headers['content-type'] = archiveMediaType.tar
      body = Readable.fromWeb(archiveStream(await archiveEntries(current, source), 'tar') as import('node:stream/web').ReadableStream)
    } else if (source.kind === 'http' || source.kind === 's3') {
      const upstream = await upstreamOf(source)({ head: false, range: null })
      if (!upstream.ok || !upstream.body) throw new Error(`the upstream source answered ${upstream.status}`)
      const length = upstream.headers.get('content-length')
      if (length) headers['content-length'] = length
      body = Readable.fromWeb(upstream.body as import('node:stream/web').ReadableStream)
    } else throw new PasserelleError('not_found', 'the dataset has no distribution to transfer')
    const hash = createHash('sha256')
    let sent = 0
    let confirmed = 0
    // Read errors reach the upload through its pipe; this listener only keeps a late one (after a
    // refused upload closed the stream) from ending the process.
    body.on('error', (error) => deps.logger.debug('push source stream failed', { transferId: transfer.id, error }))
    const seen = (chunk: Buffer) => {
      sent += chunk.length
      if (!file) hash.update(chunk)
    }
    let status: number
    try {
      if (target.kind === 'http') {
        // A data listener starts the flow: attach it in the same turn as the upload's pipe, or the
        // first chunks would go to the listener alone.
        body.on('data', seen)
        status = await upload({ url: target.endpoint, headers: { ...headers, authorization: `Bearer ${target.token}` }, body })
      } else {
        // A file's size and sha256 are known: it goes to the upload as it is read. Other sources are
        // hashed on the way; the multipart upload reads when it is ready, so chunks are counted as it takes them.
        const source = body
        const taken = file
          ? body
          : Readable.from(
              (async function* () {
                for await (const chunk of source) {
                  seen(chunk as Buffer)
                  yield chunk as Buffer
                }
              })(),
              { objectMode: false },
            )
        const d = target.destination
        const length = size ?? (headers['content-length'] ? Number(headers['content-length']) : undefined)
        await uploadToS3(
          objectStorage().once(d.access),
          { bucket: d.bucket, key: d.key, body: taken, contentType: headers['content-type']!, size: length, sha256 },
          (bytes) => (confirmed = bytes),
        ).finally(() => taken.destroy())
        if (file) sent = file.size
        status = 200
      }
    } catch (error) {
      // Into storage, only whole parts it confirmed count as sent.
      const moved = target.kind === 's3' ? confirmed : sent
      if (target.kind === 's3')
        deps.logger.warn('push into the destination storage failed', { transferId: transfer.id, detail: (error as { detail?: string }).detail })
      const answered = (error as PasserelleError).details?.status
      await repo.settlePush(transfer.id, {
        id: accessId!,
        status: typeof answered === 'number' ? answered : 0,
        sent: moved,
        reason: `the push broke off: ${(error as Error).message}`,
      })
      throw error
    } finally {
      // A refused or broken upload may leave the file stream open: close it.
      body.destroy()
    }
    const ok = status >= 200 && status < 300
    await repo.settlePush(transfer.id, { id: accessId!, status, sent, reason: ok ? undefined : `the consumer answered ${status}` })
    if (!ok) throw new PushAnswered(status)
    return { bytes: size ?? sent, sha256: sha256 ?? hash.digest('hex') }
  }

  const objectStorage = () => {
    if (!deps.objects) throw new PasserelleError('unavailable', 'object storage is not configured on this connector')
    return deps.objects
  }

  return { control, routes: app }
}

/** Where a push goes: the consumer's HTTP endpoint (with its token), or an object in its S3-compatible storage. */
type PushTarget = { kind: 'http'; endpoint: string; token: string } | { kind: 's3'; destination: S3Destination }

function pushTarget(address: DataAddress): PushTarget {
  if (address.endpointType === s3EndpointType) {
    const read = readS3DataAddress(address)
    if ('problem' in read) throw new PasserelleError('bad_request', read.problem, { permanent: true })
    return { kind: 's3', destination: read.destination }
  }
  const target = readHttpDataAddress(address)
  if (!target) throw new Error('the consumer gave no usable HTTP data address')
  return { kind: 'http', ...target }
}

/** The consumer's endpoint answered, with a status that is not a success. */
class PushAnswered extends Error {
  constructor(readonly status: number) {
    super(`the consumer's endpoint answered ${status}`)
  }
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

/** The archive a consumer asks for: zip by `?archive=zip` or an Accept that prefers it; tar otherwise. */
export function archiveFormat(query: string | undefined, accept: string | undefined): ArchiveFormat {
  if (query === 'zip' || query === 'tar') return query
  if (query !== undefined) throw new PasserelleError('bad_request', `archive must be tar or zip, not ${JSON.stringify(query.slice(0, 40))}`)
  return accept && /application\/zip/i.test(accept) && !/application\/(x-)?tar/i.test(accept) ? 'zip' : 'tar'
}

export type DataPlane = ReturnType<typeof createDataPlane>
export type { DataAddress }
