import { policyLabelOf, policyPhrase } from '../../policies/index.ts'
import { DeclaredUse } from '../dsp/declared-use.ts'
import { from2024 } from '../dsp/dsp-2024-1.ts'
import { peerVersions, type VersionChoice } from '../dsp/peer-versions.ts'
import { Hono } from 'hono'
import { z } from 'zod'
import type { AppEnv } from '../http/env.ts'
import { parseBoundedJson, peerAnswerMaxItems } from '../http/bounded-json.ts'
import { parseInput, parseJsonBody, parseQuery } from '../http/validate.ts'
import type { OpenApiRegistry } from '../management/openapi.ts'
import { negotiationStates, type NegotiationState } from '../dsp/negotiation-messages.ts'
import { PasserelleError } from '../errors.ts'
import type { Identity } from './identity.ts'
import type { Negotiation, NegotiationEvent } from './repository.ts'
import { isTerminal } from './state-machine.ts'
import { approveNegotiation, startNegotiation, terminateNegotiation, type NegotiationRuntime } from './service.ts'

/** `/management/v1/negotiations` and `/management/v1/agreements`. */
export const StartNegotiation = z
  .object({
    /** The provider's DSP base URL (e.g. https://peer.example/dsp/2025-1). */
    peerUrl: z.url({ protocol: /^https?$/ }),
    /** The provider's participant id, when known. */
    peerId: z.string().min(1).optional(),
    datasetId: z.string().min(1).max(512),
    /** Which of the dataset's offers: its `@id` or the readable id of its policy; the first one when left out. */
    offerId: z.string().min(1).max(512).optional(),
    /** The offer itself, when the caller already has it (otherwise read from the peer's catalog). */
    offer: z.looseObject({ '@id': z.string().min(1) }).optional(),
    mode: z.enum(['auto', 'manual']).optional(),
    /** What we declare about our intended use: purpose, place of processing, sector. */
    declaredUse: DeclaredUse.optional(),
  })
  .strict()
export type StartNegotiation = z.infer<typeof StartNegotiation>

const ListQuery = z.object({
  state: z.enum(negotiationStates).optional(),
  peer: z.string().min(1).optional(),
  dataset: z.string().min(1).optional(),
  role: z.enum(['provider', 'consumer']).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  offset: z.coerce.number().int().min(0).default(0),
})
const AgreementQuery = z.object({
  dataset: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  offset: z.coerce.number().int().min(0).default(0),
})
/** Long polling: answer once the timeline goes past `after` (or the negotiation ends), waiting at most `wait` seconds. */
const FollowQuery = z.object({
  after: z.coerce.number().int().min(0).optional(),
  wait: z.coerce.number().min(0).max(30).optional(),
})
const Reason = z.object({ reason: z.string().min(1).max(2000).optional() }).strict()
const IdParam = z.object({ id: z.string().min(1) })

/** A count per state, every state present (0 when none). */
export const StateCounts = z.object({ byState: z.record(z.string(), z.number()) })

export const NegotiationView = z.object({
  id: z.string(),
  role: z.enum(['provider', 'consumer']),
  state: z.enum(negotiationStates),
  providerPid: z.string().nullable(),
  consumerPid: z.string().nullable(),
  counterpartyId: z.string().nullable(),
  counterpartyAddress: z.string(),
  datasetId: z.string(),
  offerId: z.string(),
  offer: z.record(z.string(), z.unknown()),
  agreementId: z.string().nullable(),
  mode: z.enum(['auto', 'manual']),
  /** What waits for approval, when something does. */
  pending: z.string().nullable(),
  reason: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
})
export const TimelineView = z.object({
  seq: z.number(),
  at: z.string(),
  kind: z.string(),
  direction: z.string(),
  actor: z.string(),
  fromState: z.string().nullable(),
  toState: z.string(),
  reason: z.string().nullable(),
  detail: z.record(z.string(), z.unknown()).nullable(),
})

export const negotiationView = (n: Negotiation) => ({
  id: n.id,
  role: n.role,
  state: n.state,
  providerPid: n.providerPid,
  consumerPid: n.consumerPid,
  counterpartyId: n.counterpartyId,
  counterpartyAddress: n.counterpartyAddress,
  datasetId: n.datasetId,
  offerId: n.offerId,
  offer: n.offer,
  agreementId: n.agreementId,
  mode: n.mode,
  pending: n.pending,
  reason: n.reason,
  createdAt: new Date(n.createdAt).toISOString(),
  updatedAt: new Date(n.updatedAt).toISOString(),
})

const timelineView = (e: NegotiationEvent) => ({
  seq: e.seq,
  at: new Date(e.at).toISOString(),
  kind: e.kind,
  direction: e.direction,
  actor: e.actor,
  fromState: e.fromState,
  toState: e.toState,
  reason: e.reason,
  detail: e.detail ?? null,
})

export function negotiationManagementRoutes(rt: NegotiationRuntime, identity: Identity, openapi?: OpenApiRegistry) {
  const app = new Hono<AppEnv>()
  const db = rt.ctx.store.db

  app.post('/negotiations', async (c) => {
    const input = await parseJsonBody(c, StartNegotiation)
    const offer = input.offer ?? (await offerFromPeerCatalog(rt, identity, input))
    if (input.offerId && !namesOffer(offer, input.offerId))
      throw new PasserelleError('bad_request', `body.offer has @id ${offer['@id']}, body.offerId is ${input.offerId}`)
    const negotiation = await startNegotiation({
      rt,
      input: { peerUrl: input.peerUrl, peerId: input.peerId, datasetId: input.datasetId, offer, mode: input.mode, declaredUse: input.declaredUse },
    })
    return c.json(negotiationView(negotiation), 201)
  })

  // Before /negotiations/:id, so that `counts` is not read as an id.
  app.get('/negotiations/counts', async (c) => {
    const counted = await rt.repo.countByState(db)
    return c.json({ byState: Object.fromEntries(negotiationStates.map((state) => [state, counted[state] ?? 0])) })
  })

  app.get('/negotiations', async (c) => {
    const query = parseQuery(c, ListQuery)
    const rows = await rt.repo.list(db, query)
    return c.json({ items: rows.map(negotiationView), limit: query.limit, offset: query.offset })
  })

  app.get('/negotiations/:id', async (c) => {
    const { id } = parseInput(IdParam, c.req.param(), 'path')
    const { after, wait = 0 } = parseQuery(c, FollowQuery)
    const deadline = Date.now() + wait * 1000
    let seen = after
    for (;;) {
      // Subscribe before reading: a change committed in between still wakes us.
      const next = wait > 0 ? rt.repo.changes.subscribe(id) : undefined
      const n = await rt.repo.find(db, id)
      if (!n) {
        next?.cancel()
        throw new PasserelleError('not_found', `no negotiation ${id}`)
      }
      seen ??= n.version
      const remaining = deadline - Date.now()
      if (!next || n.version > seen || isTerminal(n.state as NegotiationState) || remaining <= 0 || rt.ctx.stopping?.aborted) {
        next?.cancel()
        const timeline = await rt.repo.timeline(db, id)
        return c.json({ ...negotiationView(n), timeline: timeline.map(timelineView) })
      }
      await next.wait(remaining, rt.ctx.stopping)
    }
  })

  app.post('/negotiations/:id/terminate', async (c) => {
    const { id } = parseInput(IdParam, c.req.param(), 'path')
    const { reason } = await parseJsonBody(c, Reason)
    const n = await terminateNegotiation({ rt, id, reason: reason ?? 'terminated by a person through the management API' })
    return c.json(negotiationView(n))
  })

  app.post('/negotiations/:id/approve', async (c) => {
    const { id } = parseInput(IdParam, c.req.param(), 'path')
    return c.json(negotiationView(await approveNegotiation({ rt, id })))
  })

  app.post('/negotiations/:id/reject', async (c) => {
    const { id } = parseInput(IdParam, c.req.param(), 'path')
    const { reason } = await parseJsonBody(c, Reason)
    const current = await rt.repo.find(db, id)
    if (!current) throw new PasserelleError('not_found', `no negotiation ${id}`)
    if (!current.pending) throw new PasserelleError('conflict', `negotiation ${id} holds nothing for approval (state ${current.state})`)
    const n = await terminateNegotiation({ rt, id, reason: reason ?? 'rejected by a person' })
    return c.json(negotiationView(n))
  })

  app.get('/agreements', async (c) => {
    const query = parseQuery(c, AgreementQuery)
    const rows = await rt.repo.listAgreements(db, query)
    return c.json({
      items: rows.map((r) => ({
        ...r.agreement.body,
        negotiationId: r.negotiation.id,
        role: r.negotiation.role,
        counterpartyAddress: r.negotiation.counterpartyAddress,
      })),
      limit: query.limit,
      offset: query.offset,
    })
  })

  app.get('/agreements/:id', async (c) => {
    const { id } = parseInput(IdParam, c.req.param(), 'path')
    const row = await rt.repo.findAgreement(db, id)
    if (row?.state !== 'FINALIZED') throw new PasserelleError('not_found', `no agreement ${id}`)
    return c.json({ ...row.agreement.body, negotiationId: row.agreement.negotiationId })
  })

  if (openapi) {
    const tags = ['negotiation']
    const view = { description: 'the negotiation', schema: NegotiationView }
    openapi.add({
      method: 'post',
      path: '/negotiations',
      summary: 'Start a negotiation with a peer for a dataset offer',
      tags,
      body: StartNegotiation,
      responses: { 201: view },
    })
    openapi.add({
      method: 'get',
      path: '/negotiations',
      summary: 'List negotiations (filter by state, peer, dataset, role)',
      tags,
      query: ListQuery,
      responses: { 200: { description: 'negotiations', schema: z.object({ items: z.array(NegotiationView) }) } },
    })
    openapi.add({
      method: 'get',
      path: '/negotiations/counts',
      summary: 'How many negotiations are in each state (both roles)',
      tags: ['negotiations'],
      responses: { 200: { description: 'the count per state', schema: StateCounts } },
    })
    openapi.add({
      method: 'get',
      path: '/negotiations/{id}',
      summary:
        'One negotiation with its full timeline; with `wait`, answers once the timeline goes past `after` (default: as it is now) or the negotiation ends',
      tags,
      params: IdParam,
      query: FollowQuery,
      responses: { 200: { description: 'the negotiation', schema: NegotiationView.extend({ timeline: z.array(TimelineView) }) } },
    })
    openapi.add({
      method: 'post',
      path: '/negotiations/{id}/terminate',
      summary: 'Terminate a negotiation',
      tags,
      params: IdParam,
      body: Reason,
      responses: { 200: view },
    })
    openapi.add({
      method: 'post',
      path: '/negotiations/{id}/approve',
      summary: 'Approve the offer or agreement a manual-mode negotiation holds',
      tags,
      params: IdParam,
      responses: { 200: view },
    })
    openapi.add({
      method: 'post',
      path: '/negotiations/{id}/reject',
      summary: 'Reject what a manual-mode negotiation holds (terminates it)',
      tags,
      params: IdParam,
      body: Reason,
      responses: { 200: view },
    })
    openapi.add({
      method: 'get',
      path: '/agreements',
      summary: 'Agreements in force (of finalized negotiations)',
      tags: ['agreements'],
      query: AgreementQuery,
      responses: { 200: { description: 'agreements' } },
    })
    openapi.add({
      method: 'get',
      path: '/agreements/{id}',
      summary: 'One agreement',
      tags: ['agreements'],
      params: IdParam,
      responses: { 200: { description: 'the agreement' } },
    })
  }
  return app
}

/**
 * Reads the dataset from the provider's catalog (DSP `GET /catalog/datasets/:id`, in the version
 * both sides speak) and picks the offer.
 */
async function offerFromPeerCatalog(rt: NegotiationRuntime, identity: Identity, input: StartNegotiation) {
  const address = `${input.peerUrl.replace(/\/+$/, '')}/catalog/datasets/${encodeURIComponent(input.datasetId)}`
  let choice: VersionChoice
  try {
    choice = await peerVersions(rt.ctx.peers, rt.ctx.config.dsp.versions).resolve(address)
  } catch (error) {
    throw new PasserelleError('peer_failed', (error as Error).message)
  }
  const url = choice.url
  const authorization = await identity.tokenIssuer.authorizationFor({ dspUrl: input.peerUrl, ...(input.peerId ? { participantId: input.peerId } : {}) })
  // Through the one peer client: egress policy, size limit and tracing apply (no redirect is followed).
  let status: number
  let text: string
  try {
    const response = await rt.ctx.peers.request({ url, headers: { authorization }, timeout: 10_000 })
    status = response.status
    text = response.text
  } catch (error) {
    const reason = error instanceof PasserelleError ? error.message : (error as Error).message
    throw new PasserelleError('peer_failed', `the peer's catalog at ${url} could not be reached: ${reason}`)
  }
  if (status === 404) throw new PasserelleError('not_found', `the peer's catalog has no dataset ${input.datasetId}`)
  if (status !== 200) throw new PasserelleError('peer_failed', `the peer's catalog answered ${status} for dataset ${input.datasetId}: ${text.slice(0, 300)}`)
  let dataset: Record<string, unknown>
  try {
    dataset = parseBoundedJson(text, { maxBytes: 4 * 1024 * 1024, maxItems: peerAnswerMaxItems }) as Record<string, unknown>
    if (choice.version === '2024-1') dataset = from2024(dataset) as Record<string, unknown>
  } catch {
    throw new PasserelleError('peer_failed', `the peer's catalog answered for dataset ${input.datasetId} with a body that is not JSON`)
  }
  const policies = ([] as unknown[]).concat(dataset.hasPolicy ?? dataset['odrl:hasPolicy'] ?? []) as Array<Record<string, unknown>>
  const offers = policies.filter((p): p is Record<string, unknown> & { '@id': string } => typeof p === 'object' && p !== null && typeof p['@id'] === 'string')
  const offer = input.offerId ? offers.find((p) => namesOffer(p, input.offerId!)) : offers[0]
  if (!offer) {
    const listed = offers.length === 0 ? 'it lists none' : `its offers: ${offers.slice(0, 20).map(offerLine).join(', ')}`
    throw new PasserelleError(
      'not_found',
      input.offerId
        ? `dataset ${input.datasetId} has no offer ${input.offerId} in the peer's catalog; ${listed}`
        : `dataset ${input.datasetId} has no offer in the peer's catalog`,
    )
  }
  return offer as Record<string, unknown> & { '@id': string }
}

/** An offer is named by its `@id` or by the readable id of the provider's policy it carries. */
const namesOffer = (offer: Record<string, unknown>, name: string) => offer['@id'] === name || policyLabelOf(offer)?.id === name

/** One offer of a peer's list, as a person picks it: `three-downloads` (“title”) urn:uuid:…, or its `@id` alone. */
const offerLine = (offer: Record<string, unknown> & { '@id': string }) => {
  const label = policyLabelOf(offer)
  return label ? `${policyPhrase(label).replace(/^policy /, '')} ${offer['@id']}` : offer['@id']
}
