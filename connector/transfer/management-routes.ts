import { type Context, Hono } from 'hono'
import { Readable } from 'node:stream'
import { relayResponse } from './data-plane/relay.ts'
import { z } from 'zod'
import { PasserelleError } from '../errors.ts'
import type { AppEnv } from '../http/env.ts'
import { parseBoundedJson } from '../http/bounded-json.ts'
import type { PeerClient, PeerStream } from '../http/peer-client.ts'
import { parseInput, parseJsonBody, parseQuery, readJson } from '../http/validate.ts'
import type { OpenApiRegistry } from '../management/openapi.ts'
import { httpDataAddress, readHttpDataAddress, transferStates, type DataAddress } from './messages.ts'
import type { TransferEvent, TransferRecord } from './repository.ts'
import { asksPresigned, followPresignedRedirect, isRedirect } from './presigned-redirect.ts'
import { objectKeyProblem, s3PushFormat } from './s3-address.ts'
import { act, repo, requestTransfer, sameHost, type LocalAction, type TransferCtx } from './service.ts'

/** `/management/v1/transfers`: start (as consumer), read, list, suspend, resume, complete, terminate, download. */
/** An object in our S3-compatible storage that the provider writes to (a push); its access key is named, never given. */
export const S3PushDestination = z
  .object({
    bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'expected an S3 bucket name (3 to 63 lowercase letters, digits, dots and dashes)'),
    key: z
      .string()
      .max(1024)
      .refine((k) => objectKeyProblem(k) === undefined, { error: (issue) => objectKeyProblem(issue.input as string) ?? 'expected an object key' }),
    /** The storage's URL (Ceph, MinIO…); AWS S3 when absent. */
    endpoint: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).optional(),
    region: z
      .string()
      .regex(/^[a-z0-9-]{1,32}$/, 'expected a region such as us-east-1')
      .default('us-east-1'),
    /** Name of the secret holding the access key the provider writes with (`PASSERELLE_SECRET_<NAME>_ACCESS_KEY_ID`…). */
    credentials: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'expected a secret name'),
  })
  .strict()

export const StartTransfer = z
  .object({
    agreementId: z.string().min(1).max(512),
    /** `pull` (default) or `push`; the DSP format names are accepted too. */
    format: z.enum(['pull', 'push', 'HttpData-PULL', 'HttpData-PUSH', 'AmazonS3-PUSH']).default('pull'),
    /** A push into our S3-compatible storage instead of this connector's data folder. */
    destination: z.object({ s3: S3PushDestination }).strict().optional(),
    /** The provider's DSP base URL and participant id; taken from the agreement's negotiation when left out. */
    providerUrl: z.url({ protocol: /^https?$/ }).optional(),
    providerId: z.string().min(1).max(512).optional(),
  })
  .strict()
  .superRefine((t, ctx) => {
    const push = t.format === 'push' || t.format === 'HttpData-PUSH' || t.format === 'AmazonS3-PUSH'
    if (t.destination && !push) ctx.addIssue({ code: 'custom', message: 'a destination applies to a push', path: ['destination'] })
    if (t.format === 'AmazonS3-PUSH' && !t.destination) ctx.addIssue({ code: 'custom', message: 'AmazonS3-PUSH needs destination.s3', path: ['destination'] })
  })

const ListQuery = z.object({
  state: z.enum(transferStates).optional(),
  role: z.enum(['provider', 'consumer']).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  offset: z.coerce.number().int().min(0).default(0),
})
const IdParam = z.object({ id: z.string().min(1).max(512) })
const Reason = z.object({ reason: z.string().min(1).max(2000).optional() }).strict()

export const TransferView = z.object({
  id: z.string(),
  role: z.enum(['provider', 'consumer']),
  state: z.enum(transferStates),
  providerPid: z.string().nullable(),
  consumerPid: z.string(),
  agreementId: z.string(),
  datasetId: z.string().nullable(),
  counterpartyId: z.string(),
  format: z.string(),
  bytesMoved: z.number(),
  accessCount: z.number(),
  size: z.number().nullable(),
  sha256: z.string().nullable(),
  /** Consumer, push: where the received file is. */
  outputPath: z.string().nullable(),
  reason: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
})

export const transferView = (t: TransferRecord) => ({
  id: t.id,
  role: t.role,
  state: t.state,
  providerPid: t.providerPid,
  consumerPid: t.consumerPid,
  agreementId: t.agreementId,
  datasetId: t.datasetId,
  counterpartyId: t.counterpartyId,
  format: t.format,
  bytesMoved: t.bytesMoved,
  accessCount: t.accessCount,
  size: t.size,
  sha256: t.sha256,
  outputPath: t.outputPath,
  reason: t.reason,
  createdAt: new Date(t.createdAt).toISOString(),
  updatedAt: new Date(t.updatedAt).toISOString(),
})
const eventView = (e: TransferEvent) => ({
  at: new Date(e.at).toISOString(),
  fromState: e.fromState,
  toState: e.toState,
  cause: e.cause,
  actor: e.actor,
  reason: e.reason,
})

export interface ProviderOf {
  providerOf(agreementId: string): Promise<{ providerId: string; providerAddress: string; datasetId: string } | undefined>
}

/**
 * `peers`: the one HTTP client (egress policy, size limits, tracing) through which the download
 * reaches the provider's data endpoint.
 */
export function transferManagementRoutes(deps: { ctx: TransferCtx; agreements: ProviderOf; peers: PeerClient; openapi?: OpenApiRegistry }) {
  const { ctx, peers } = deps
  const app = new Hono<AppEnv>()
  const load = async (id: string) => {
    const t = await repo(ctx).get(ctx.store.db, id)
    if (!t) throw new PasserelleError('not_found', `no transfer ${id}`)
    return t
  }

  app.post('/transfers', async (c) => {
    const input = await parseJsonBody(c, StartTransfer)
    const format = input.destination ? s3PushFormat : input.format === 'push' || input.format === 'HttpData-PUSH' ? 'HttpData-PUSH' : 'HttpData-PULL'
    const destination = input.destination?.s3
    // The secret must be there now; its value is read again when the request is sent, and never stored.
    if (destination) {
      if (!ctx.s3Credentials) throw new PasserelleError('bad_request', 'this connector reads no storage credentials')
      try {
        ctx.s3Credentials(destination.credentials)
      } catch (error) {
        throw new PasserelleError('bad_request', `destination.s3.credentials: ${(error as Error).message}`)
      }
    }
    const known = await deps.agreements.providerOf(input.agreementId)
    const providerAddress = input.providerUrl ?? known?.providerAddress
    const providerId = input.providerId ?? known?.providerId
    if (!providerAddress || !providerId) {
      throw new PasserelleError(
        'not_found',
        `no finalized agreement ${input.agreementId} where this participant is the consumer (or give providerUrl and providerId)`,
      )
    }
    const transfer = await requestTransfer({
      ctx,
      input: {
        agreementId: input.agreementId,
        providerId,
        providerAddress,
        format,
        datasetId: known?.datasetId ?? null,
        ...(destination ? { destination } : {}),
      },
    })
    return c.json(transferView(transfer), 201)
  })

  // Before /transfers/:id, so that `counts` is not read as an id.
  app.get('/transfers/counts', async (c) => {
    const counted = await repo(ctx).countByState(ctx.store.db)
    return c.json({ byState: Object.fromEntries(transferStates.map((state) => [state, counted[state] ?? 0])) })
  })

  app.get('/transfers', async (c) => {
    const query = parseQuery(c, ListQuery)
    const rows = await repo(ctx).list(ctx.store.db, query)
    return c.json({ items: rows.map(transferView), limit: query.limit, offset: query.offset })
  })

  app.get('/transfers/:id', async (c) => {
    const { id } = parseInput(IdParam, c.req.param(), 'path')
    const t = await load(id)
    const timeline = await repo(ctx).timeline(ctx.store.db, id)
    const accesses = await repo(ctx).accesses(ctx.store.db, id)
    return c.json({
      ...transferView(t),
      timeline: timeline.map(eventView),
      accesses: accesses.map((a) => ({ at: new Date(a.at).toISOString(), status: a.status, bytes: a.bytes, range: a.range, reason: a.reason })),
    })
  })

  const action = (path: string, local: LocalAction) =>
    app.post(`/transfers/:id/${path}`, async (c) => {
      const { id } = parseInput(IdParam, c.req.param(), 'path')
      const raw = await readJson(c, { optional: true })
      const { reason } = raw === undefined ? { reason: undefined } : parseInput(Reason, raw, 'body')
      await load(id)
      const t = await act({ ctx, input: { id, action: local, actor: 'local', reason } })
      return c.json(transferView(t))
    })
  action('suspend', 'suspend')
  action('resume', 'start')
  action('complete', 'complete')
  action('terminate', 'terminate')

  /** Consumer, pull: the data, fetched from the provider's endpoint with the token it sent. */
  const downloadRoute = async (c: Context<AppEnv>) => {
    const { id } = parseInput(IdParam, { id: c.req.param('id') }, 'path')
    const t = await load(id)
    if (t.role !== 'consumer' || t.format !== 'HttpData-PULL') throw new PasserelleError('bad_request', 'only pull transfers we consume have data to download')
    if (t.state !== 'STARTED') throw new PasserelleError('invalid_state', `the transfer is ${t.state}`)
    const address = readHttpDataAddress(t.dataAddress as DataAddress | undefined)
    if (!address) throw new PasserelleError('invalid_state', 'the provider has not sent a usable data address')
    // We fetch from there: only from the provider's own host, never from a place it merely names.
    if (!sameHost(address.endpoint, t.counterpartyAddress)) {
      throw new PasserelleError('forbidden', `the provider's data endpoint ${address.endpoint} is not on its own host`)
    }
    const range = c.req.header('range')
    const ifRange = c.req.header('if-range')
    // A folder dataset comes as a tar, or a zip when asked for (`?archive=zip` or `Accept: application/zip`).
    const accept = c.req.header('accept')
    // A path suffix and query parameters go on to the provider, which checks them against what the distribution declares.
    const asked = new URL(c.req.url)
    const suffix = /^.*\/transfers\/[^/]+\/data(\/.*)?$/.exec(asked.pathname)?.[1] ?? ''
    const endpoint = `${address.endpoint}${suffix}${asked.search}`
    const get = async (token: string) => {
      try {
        return asResponse(
          await peers.open({
            url: endpoint,
            headers: {
              authorization: `Bearer ${token}`,
              ...(range ? { range } : {}),
              ...(ifRange ? { 'if-range': ifRange } : {}),
              ...(accept ? { accept } : {}),
            },
          }),
        )
      } catch (error) {
        throw new PasserelleError('peer_failed', `the provider's data endpoint could not be reached: ${(error as Error).message}`)
      }
    }
    let upstream = await get(address.token)
    if (upstream.status === 401) {
      // The token expired: exchange it for a fresh one (the provider agrees while the transfer is STARTED).
      await upstream.arrayBuffer().catch(() => undefined)
      const fresh = await refreshToken(address)
      if (fresh) {
        await repo(ctx).update(ctx.store.db, t.id, { dataAddress: httpDataAddress(address.endpoint, fresh) })
        upstream = await get(fresh)
      }
    }
    // A presigned URL the consumer asked for (`?redirect=presigned`): followed once, to the storage,
    // without our token; every other redirect is refused (presigned-redirect.ts).
    let digest: Record<string, string> = {}
    if (isRedirect(upstream.status)) {
      digest = pick(upstream.headers, ['repr-digest', 'digest', 'x-content-sha256'])
      upstream = asResponse(
        await followPresignedRedirect(peers, upstream, { presigned: asksPresigned(asked.search), range, ifRange }).catch((error: unknown) => {
          ctx.logger.info('the provider redirect was not followed', { transferId: t.id, reason: (error as Error).message })
          throw error
        }),
      )
    }
    if (!upstream.ok || !upstream.body) {
      const detail = errorText(await upstream.text().catch(() => ''))
      if (upstream.status === 429)
        throw new PasserelleError('too_many_requests', `the provider asks to retry later: ${detail.slice(0, 300)}`, {
          retryAfterSeconds: Number(upstream.headers.get('retry-after')) || 1,
        })
      // A range beyond the end (its Content-Range says the size), or one the provider does not serve (its reason said).
      if (upstream.status === 416)
        return c.json(
          {
            error: {
              code: 'range_not_satisfiable',
              message: detail ? `the provider: ${detail.slice(0, 500)}` : 'the range asked for is beyond the end of the data',
            },
          },
          416,
          {
            'content-range': upstream.headers.get('content-range') ?? '',
          },
        )
      throw new PasserelleError(
        upstream.status === 403 || upstream.status === 401 ? 'forbidden' : upstream.status === 400 ? 'bad_request' : 'peer_failed',
        `the provider refused the download (${upstream.status}): ${detail.slice(0, 1000)}`,
      )
    }
    return relayResponse(upstream as Response & { body: ReadableStream<Uint8Array> }, {
      headers: ['content-type', 'content-length', 'content-range', 'etag', 'accept-ranges', 'repr-digest', 'digest', 'x-content-sha256', 'content-disposition'],
      // A digest the provider stated on its redirect holds for the object the storage sends.
      extra: digest,
      onBytes: (bytes) =>
        void repo(ctx)
          .addBytes(ctx.store.db, t.id, bytes)
          .catch(() => {}),
    })
  }
  app.get('/transfers/:id/data', downloadRoute)
  app.get('/transfers/:id/data/*', downloadRoute)

  async function refreshToken(address: { endpoint: string; token: string }): Promise<string | undefined> {
    try {
      const res = await peers.request({
        method: 'POST',
        url: `${address.endpoint}/token`,
        headers: { authorization: `Bearer ${address.token}` },
        body: '',
        maxBytes: 64 * 1024,
      })
      if (res.status !== 200) return undefined
      const body = parseBoundedJson(res.text, { maxBytes: 64 * 1024, what: "the provider's token answer" }) as { token?: unknown } | null
      if (body === null || typeof body !== 'object') return undefined
      return typeof body.token === 'string' && body.token ? body.token : undefined
    } catch {
      return undefined
    }
  }

  if (deps.openapi) {
    const tags = ['transfers']
    const view = { description: 'the transfer', schema: TransferView }
    deps.openapi.add({
      method: 'post',
      path: '/transfers',
      summary: 'Start a transfer (pull or push) for an agreement where we are the consumer',
      tags,
      body: StartTransfer,
      responses: { 201: view },
    })
    deps.openapi.add({
      method: 'get',
      path: '/transfers',
      summary: 'List transfers (filter by state and role)',
      tags,
      query: ListQuery,
      responses: { 200: { description: 'transfers', schema: z.object({ items: z.array(TransferView), limit: z.number(), offset: z.number() }) } },
    })
    deps.openapi.add({
      method: 'get',
      path: '/transfers/counts',
      summary: 'How many transfers are in each state (both roles)',
      tags,
      responses: { 200: { description: 'the count per state', schema: z.object({ byState: z.record(z.string(), z.number()) }) } },
    })
    deps.openapi.add({
      method: 'get',
      path: '/transfers/{id}',
      summary: 'One transfer: state, timeline, bytes moved, data accesses',
      tags,
      params: IdParam,
      responses: { 200: view },
    })
    for (const [path, summary] of [
      ['suspend', 'Suspend a started transfer'],
      ['resume', 'Resume a suspended transfer'],
      ['complete', 'Complete a started transfer'],
      ['terminate', 'Terminate a transfer'],
    ] as const) {
      deps.openapi.add({ method: 'post', path: `/transfers/{id}/${path}`, summary, tags, params: IdParam, body: Reason, responses: { 200: view } })
    }
    deps.openapi.add({
      method: 'get',
      path: '/transfers/{id}/data',
      summary: "Download a pull transfer's data from the provider (Range supported)",
      tags,
      params: IdParam,
      responses: { 200: { description: 'the bytes' }, 206: { description: 'a range of the bytes' } },
    })
  }
  return app
}

/** A streamed peer answer as a web Response (what the relay takes); a redirect is not followed. */
const pick = (headers: Headers, names: string[]) => Object.fromEntries(names.flatMap((name) => (headers.get(name) ? [[name, headers.get(name)!]] : [])))

function asResponse(answer: PeerStream): Response {
  const headers = new Headers()
  for (const [name, value] of Object.entries(answer.headers)) if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value)
  const empty = answer.status === 204 || answer.status === 304
  if (empty) answer.body.destroy()
  return new Response(empty ? null : (Readable.toWeb(answer.body) as ReadableStream<Uint8Array>), { status: answer.status, headers })
}

/**
 * The sentence inside a provider's error answer (our management error, a DSP TransferError), so a
 * refusal reaches the consumer as text and not as JSON escaped inside JSON; the raw text otherwise.
 */
export function errorText(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: { message?: unknown }; reason?: unknown; message?: unknown }
    const reason = Array.isArray(parsed?.reason) ? parsed.reason.filter((r) => typeof r === 'string').join('; ') : parsed?.reason
    const text = [parsed?.error?.message, reason, parsed?.message].find((t): t is string => typeof t === 'string' && t !== '')
    if (text) return text
  } catch {
    // not JSON: the text as it is
  }
  return body
}
