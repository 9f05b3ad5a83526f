import { createHash } from 'node:crypto'
import type { DeclaredUse } from '../dsp/declared-use.ts'
import type { Ctx } from '../context.ts'
import type { Dispatcher, DispatchHandler } from '../dispatch/dispatcher.ts'
import {
  ContractNegotiation,
  type ContractOfferMessage,
  type ContractRequestMessage,
  type NegotiationState,
} from '../dsp/negotiation-messages.ts'
import { PasserelleError } from '../errors.ts'
import type { Authenticator, Requester } from '../identity/types.ts'
import { withTarget } from './decision.ts'
import { buildMessage, unknownPid, withProviderPid } from './messages.ts'
import type { Reaction, Reactions } from './reactions.ts'
import { ConcurrentChange, negotiationRepository, type Negotiation, type NegotiationRepository } from './repository.ts'
import { isTerminal, transition, type MessageKind } from './state-machine.ts'

/**
 * Negotiation operations. Each inbound message is checked against the state machine and stored
 * with its timeline entry in one transaction before it is answered; what this side does next
 * (`react`) runs once the answer has gone out, and its messages leave through the outbox.
 */
export interface NegotiationRuntime {
  ctx: Ctx
  repo: NegotiationRepository
  dispatcher: Dispatcher
  reactions: Reactions
  authenticator: Authenticator
  /** How negotiations we start treat offers and agreements: decide alone, or hold for a person. */
  consumerMode: 'auto' | 'manual'
}

export const negotiationTopic = 'negotiation'

export function createNegotiationRuntime(input: Omit<NegotiationRuntime, 'repo'>): NegotiationRuntime {
  const rt: NegotiationRuntime = { ...input, repo: negotiationRepository(input.ctx.store) }
  rt.dispatcher.handle(negotiationTopic, dispatchHandler(rt))
  return rt
}

const notFound = (pid: string, pids: { providerPid?: string | undefined; consumerPid?: string | undefined }) =>
  new PasserelleError('not_found', `no negotiation ${pid}`, pids)

const pidsOf = (n: Negotiation) => ({ providerPid: n.providerPid ?? '', consumerPid: n.consumerPid ?? '' })
const now = (rt: NegotiationRuntime) => rt.ctx.clock.now().getTime()

/** `POST /negotiations/request`: a consumer opens a negotiation with us (we are the provider). */
export async function receiveRequest({ rt, requester, message }: { rt: NegotiationRuntime; requester: Requester; message: ContractRequestMessage }) {
  if (!message.callbackAddress) {
    throw new PasserelleError('bad_request', 'the first ContractRequestMessage needs a callbackAddress (a counter offer goes to /negotiations/:providerPid/request)', {
      consumerPid: message.consumerPid,
      providerPid: message.providerPid,
    })
  }
  const callbackAddress = message.callbackAddress
  return rt.ctx.store.transaction(async (tx) => {
    const existing = await rt.repo.findByConsumerPid(tx, requester.participantId, message.consumerPid, { lock: true })
    if (existing) {
      // A repeated request (the answer got lost): the same process, unchanged.
      if (existing.offerId === message.offer['@id'] && existing.datasetId === message.offer.target) return { negotiation: existing, created: false }
      throw new PasserelleError('invalid_state', `consumerPid ${message.consumerPid} already names a negotiation for offer ${existing.offerId}`, pidsOf(existing))
    }
    const step = transition({ role: 'provider', state: null, kind: 'request', direction: 'inbound' })
    if (!step.ok) throw new PasserelleError('invalid_state', step.reason, { consumerPid: message.consumerPid })
    const id = rt.ctx.ids.next()
    const at = now(rt)
    const negotiation = await rt.repo.create(
      tx,
      {
        id,
        role: 'provider',
        providerPid: id,
        consumerPid: message.consumerPid,
        state: step.to,
        counterpartyId: requester.participantId,
        counterpartyAddress: callbackAddress,
        datasetId: message.offer.target,
        offerId: message.offer['@id'],
        offer: message.offer,
        agreementId: null,
        mode: 'auto',
        pending: null,
        reason: null,
        createdAt: at,
        updatedAt: at,
      },
      {
        kind: 'request',
        direction: 'inbound',
        actor: requester.participantId,
        fromState: null,
        toState: step.to,
        detail: { offerId: message.offer['@id'], datasetId: message.offer.target, requester: requesterDetail(requester) },
      },
    )
    return { negotiation, created: true }
  })
}

/** `POST /negotiations/offers`: a provider opens a negotiation with us (we are the consumer). */
export async function receiveInitialOffer({ rt, requester, message }: { rt: NegotiationRuntime; requester: Requester; message: ContractOfferMessage }) {
  if (!message.callbackAddress) {
    throw new PasserelleError('bad_request', 'the first ContractOfferMessage needs a callbackAddress (a counter offer goes to /negotiations/:consumerPid/offers)', {
      providerPid: message.providerPid,
      consumerPid: message.consumerPid,
    })
  }
  const callbackAddress = message.callbackAddress
  return rt.ctx.store.transaction(async (tx) => {
    const existing = await rt.repo.findByProviderPid(tx, requester.participantId, message.providerPid)
    if (existing) return { negotiation: existing, created: false }
    const step = transition({ role: 'consumer', state: null, kind: 'offer', direction: 'inbound' })
    if (!step.ok) throw new PasserelleError('invalid_state', step.reason, { providerPid: message.providerPid })
    const id = rt.ctx.ids.next()
    const at = now(rt)
    const negotiation = await rt.repo.create(
      tx,
      {
        id,
        role: 'consumer',
        providerPid: message.providerPid,
        consumerPid: id,
        state: step.to,
        counterpartyId: requester.participantId,
        counterpartyAddress: callbackAddress,
        datasetId: message.offer.target,
        offerId: message.offer['@id'],
        offer: message.offer,
        agreementId: null,
        mode: rt.consumerMode,
        pending: null,
        reason: null,
        createdAt: at,
        updatedAt: at,
      },
      { kind: 'offer', direction: 'inbound', actor: requester.participantId, fromState: null, toState: step.to, detail: { offer: message.offer } },
    )
    return { negotiation, created: true }
  })
}

export interface ReceiveInput {
  rt: NegotiationRuntime
  /** Our pid, from the path. */
  pid: string
  kind: MessageKind
  requester: Requester
  message: { providerPid?: string | undefined; consumerPid?: string | undefined; [key: string]: unknown }
  /** The offer or agreement the message carries. */
  received?: Record<string, unknown> | undefined
}

/** Every message about an existing process, either role. */
export async function receiveMessage({ rt, pid, kind, requester, message, received }: ReceiveInput) {
  const messagePids = { providerPid: message.providerPid, consumerPid: message.consumerPid }
  return rt.ctx.store.transaction(async (tx) => {
    const n = await rt.repo.find(tx, pid, { lock: true })
    // Another participant's process is as unknown to the sender as one that does not exist.
    if (!n || (n.counterpartyId !== null && n.counterpartyId !== requester.participantId)) throw notFound(pid, messagePids)
    const ownPid = n.role === 'provider' ? message.providerPid : message.consumerPid
    if (ownPid !== n.id) {
      throw new PasserelleError('bad_request', `the message names ${n.role === 'provider' ? 'providerPid' : 'consumerPid'} ${ownPid ?? '(none)'} but was sent to ${pid}`, pidsOf(n))
    }
    const otherPid = n.role === 'provider' ? message.consumerPid : message.providerPid
    const storedOther = n.role === 'provider' ? n.consumerPid : n.providerPid
    if (storedOther !== null && otherPid !== undefined && otherPid !== storedOther) {
      throw new PasserelleError('bad_request', `the message names ${n.role === 'provider' ? 'consumerPid' : 'providerPid'} ${otherPid}, this negotiation's is ${storedOther}`, pidsOf(n))
    }
    const step = transition({ role: n.role, state: n.state as NegotiationState, kind, direction: 'inbound' })
    const hash = messageHash(message)
    if (!step.ok) {
      if (await isRepeat(rt, tx, n, kind, hash)) return { negotiation: n, repeated: true }
      throw new PasserelleError('invalid_state', step.reason, pidsOf(n))
    }
    const at = now(rt)
    const patch: Partial<Negotiation> = { state: step.to, updatedAt: at, pending: null }
    if (n.counterpartyId === null) patch.counterpartyId = requester.participantId
    if (n.role === 'consumer' && n.providerPid === null && message.providerPid) patch.providerPid = message.providerPid
    const detail: Record<string, unknown> = { hash }
    let reason: string | undefined
    if (kind === 'counter-request' && received) {
      // The consumer's new ask replaces the offer under negotiation.
      patch.offer = received
      patch.offerId = String(received['@id'])
      detail.offer = received
      detail.requester = requesterDetail(requester)
    }
    if (kind === 'counter-offer' && received) detail.offer = received
    if (kind === 'accepted' || kind === 'verification') detail.requester = requesterDetail(requester)
    if (kind === 'agreement' && received) {
      patch.agreementId = String(received['@id'])
      detail.agreement = received
      await rt.repo.insertAgreement(tx, {
        id: String(received['@id']),
        negotiationId: n.id,
        role: n.role,
        datasetId: n.datasetId,
        assigner: String(received.assigner),
        assignee: String(received.assignee),
        body: received,
        signedAt: at,
      })
    }
    if (kind === 'termination') {
      reason = terminationReason(message, requester.participantId)
      patch.reason = reason
      await rt.dispatcher.cancel(tx, n.id)
    }
    const saved = await rt.repo.save(tx, n, patch, {
      kind,
      direction: 'inbound',
      actor: requester.participantId,
      fromState: n.state as NegotiationState,
      toState: step.to,
      reason,
      detail,
    })
    return { negotiation: saved, repeated: false }
  })
}

/**
 * A message that repeats the last one taken, before this side answered it with a message of its
 * own (its answer was lost and the peer retried), gets the same answer again instead of an error.
 * Once we have moved on, a repeat is out of order and refused like any other.
 */
async function isRepeat(rt: NegotiationRuntime, tx: Parameters<NegotiationRepository['find']>[0], n: Negotiation, kind: MessageKind, hash: string) {
  if (isTerminal(n.state as NegotiationState)) return false
  const timeline = await rt.repo.timeline(tx, n.id)
  for (let i = timeline.length - 1; i >= 0; i--) {
    const event = timeline[i]!
    // Only the very same message is a repeat: a second counter offer is a new message (TCK CN:03-04).
    if (event.direction !== 'local') return event.direction === 'inbound' && event.kind === kind && event.detail?.hash === hash
  }
  return false
}

/** Identifies a message by its content, to tell a retried message from a new one. */
function messageHash(message: unknown) {
  return createHash('sha256').update(JSON.stringify(message)).digest('base64url').slice(0, 22)
}

function terminationReason(message: Record<string, unknown>, sender: string) {
  const reason = Array.isArray(message.reason) ? reasonEntries(message.reason) : undefined
  const code = typeof message.code === 'string' ? ` (code ${message.code})` : ''
  return `terminated by ${sender}${code}${reason ? `: ${reason}` : ''}`
}

function reasonEntries(reason: unknown[]) {
  return reason
    .map((entry) => (typeof entry === 'string' ? entry : typeof (entry as { message?: unknown })?.message === 'string' ? (entry as { message: string }).message : JSON.stringify(entry)))
    .join('; ')
    .slice(0, 2000)
}

const requesterDetail = (requester: Requester) => ({ participantId: requester.participantId, credentials: requester.credentials })

/**
 * What this side does next; run once the answer to the triggering message has gone out. `known`
 * is the process as the triggering operation stored it (saves reading it again).
 */
export async function react({ rt, id, trigger, requester, received, known }: { rt: NegotiationRuntime; id: string; trigger: MessageKind | 'start'; requester?: Requester | undefined; received?: Record<string, unknown> | undefined; known?: Negotiation | undefined }) {
  try {
    // Decide outside the transaction; most steps of a flow need no answer (no write at all then).
    const current = known ?? (await rt.repo.find(rt.ctx.store.db, id))
    if (!current || isTerminal(current.state as NegotiationState)) return
    const planned = await rt.reactions.react({ negotiation: current, trigger, requester, received })
    if (planned.length === 0) return
    for (let attempt = 1; ; attempt++) {
      try {
        await rt.ctx.store.transaction(async (tx) => {
          // The first try trusts what we know: `save` checks the version, so a process that
          // changed meanwhile makes it fail and we decide again on what it is now.
          let n = attempt === 1 ? current : await rt.repo.find(tx, id, { lock: true })
          if (!n || isTerminal(n.state as NegotiationState)) return
          const reactions = attempt === 1 ? planned : await rt.reactions.react({ negotiation: n, trigger, requester, received })
          for (const reaction of reactions) n = await applyReaction(rt, tx, n, reaction, 'local')
        })
        break
      } catch (error) {
        if (!(error instanceof ConcurrentChange) || attempt >= 3) throw error
      }
    }
  } catch (error) {
    rt.ctx.logger.error('negotiation reaction failed', { id, trigger, error })
  }
  rt.dispatcher.kick()
}

type Tx = Parameters<NegotiationRepository['find']>[0]

/** One step this side takes: a message to send (through the outbox) or a hold for approval. */
export async function applyReaction(rt: NegotiationRuntime, tx: Tx, n: Negotiation, reaction: Reaction, actor: string): Promise<Negotiation> {
  const at = now(rt)
  const state = n.state as NegotiationState
  if (reaction.kind === 'hold') {
    return rt.repo.save(tx, n, { pending: reaction.reason, updatedAt: at }, { kind: 'hold', direction: 'local', actor, fromState: state, toState: state, reason: reaction.reason })
  }
  const step = transition({ role: n.role, state, kind: reaction.kind, direction: 'outbound' })
  if (!step.ok) {
    rt.ctx.logger.warn('negotiation step skipped', { id: n.id, kind: reaction.kind, reason: step.reason })
    return n
  }
  const patch: Partial<Negotiation> = { state: step.to, updatedAt: at, pending: null }
  const detail: Record<string, unknown> = {}
  const extras: Parameters<typeof buildMessage>[2] = { ownDspUrl: rt.ctx.config.dspUrl }
  if (reaction.kind === 'offer' || reaction.kind === 'counter-offer' || reaction.kind === 'counter-request') {
    const offer = withTarget(reaction.offer, n.datasetId)
    extras.offer = offer
    patch.offer = offer
    patch.offerId = String(offer['@id'])
    detail.offer = offer
  }
  if (reaction.kind === 'agreement') {
    const agreement = buildAgreement(rt, n)
    extras.agreement = agreement
    patch.agreementId = agreement['@id']
    detail.agreementId = agreement['@id']
    await rt.repo.insertAgreement(tx, {
      id: agreement['@id'],
      negotiationId: n.id,
      role: n.role,
      datasetId: n.datasetId,
      assigner: agreement.assigner,
      assignee: agreement.assignee,
      body: agreement,
      signedAt: at,
    })
  }
  if (reaction.kind === 'termination') {
    patch.reason = reaction.reason
    extras.reason = reaction.reason
    if (reaction.code) extras.code = reaction.code
  }
  const saved = await rt.repo.save(tx, n, patch, {
    kind: reaction.kind,
    direction: 'outbound',
    actor,
    fromState: state,
    toState: step.to,
    reason: reaction.reason,
    detail: Object.keys(detail).length ? detail : undefined,
  })
  const message = buildMessage(reaction.kind, saved, extras)
  await rt.dispatcher.enqueue(tx, {
    topic: negotiationTopic,
    processId: n.id,
    url: message.url,
    body: message.body,
    peer: { dspUrl: n.counterpartyAddress, ...(n.counterpartyId ? { participantId: n.counterpartyId } : {}) },
    ...(reaction.delayMs ? { delayMs: reaction.delayMs } : {}),
  })
  return saved
}

/** The agreement the provider signs: the offer's rules, bound to both parties and a time. */
export function buildAgreement(rt: NegotiationRuntime, n: Negotiation) {
  const { '@id': _id, '@type': _type, '@context': _context, target: _target, assigner: _assigner, assignee: _assignee, ...rules } = n.offer
  return {
    '@id': rt.ctx.ids.next(),
    '@type': 'Agreement' as const,
    ...rules,
    target: n.datasetId,
    assigner: rt.ctx.config.participant.id,
    assignee: n.counterpartyId ?? '',
    timestamp: rt.ctx.clock.now().toISOString(),
  }
}

export interface StartInput {
  /** The provider's DSP base URL. */
  peerUrl: string
  /** The provider's participant id, when known; otherwise bound from its first message. */
  peerId?: string | undefined
  datasetId: string
  offer: Record<string, unknown> & { '@id': string }
  mode?: 'auto' | 'manual' | undefined
  /** What we declare about our intended use (sent with the request, kept in the timeline). */
  declaredUse?: DeclaredUse | undefined
}

/** We open a negotiation as consumer: the request goes out at once. */
export async function startNegotiation({ rt, input, actor = 'management' }: { rt: NegotiationRuntime; input: StartInput; actor?: string }) {
  const negotiation = await rt.ctx.store.transaction(async (tx) => {
    const step = transition({ role: 'consumer', state: null, kind: 'request', direction: 'outbound' })
    if (!step.ok) throw new PasserelleError('internal', step.reason)
    const id = rt.ctx.ids.next()
    const at = now(rt)
    const offer = withTarget(input.offer, input.datasetId)
    const created = await rt.repo.create(
      tx,
      {
        id,
        role: 'consumer',
        providerPid: null,
        consumerPid: id,
        state: step.to,
        counterpartyId: input.peerId ?? null,
        counterpartyAddress: input.peerUrl,
        datasetId: input.datasetId,
        offerId: input.offer['@id'],
        offer,
        agreementId: null,
        mode: input.mode ?? rt.consumerMode,
        pending: null,
        reason: null,
        createdAt: at,
        updatedAt: at,
      },
      { kind: 'request', direction: 'outbound', actor, fromState: null, toState: step.to, detail: { offer, ...(input.declaredUse ? { declaredUse: input.declaredUse } : {}) } },
    )
    const message = buildMessage('request', created, { ownDspUrl: rt.ctx.config.dspUrl, offer, declaredUse: input.declaredUse })
    await rt.dispatcher.enqueue(tx, {
      topic: negotiationTopic,
      processId: id,
      url: message.url,
      body: message.body,
      peer: { dspUrl: input.peerUrl, ...(input.peerId ? { participantId: input.peerId } : {}) },
    })
    return created
  })
  rt.dispatcher.kick()
  await react({ rt, id: negotiation.id, trigger: 'start', known: negotiation })
  return negotiation
}

/** A person (or the CLI) ends a negotiation. */
export async function terminateNegotiation({ rt, id, reason, actor = 'management' }: { rt: NegotiationRuntime; id: string; reason: string; actor?: string }) {
  const saved = await rt.ctx.store.transaction(async (tx) => {
    const n = await rt.repo.find(tx, id, { lock: true })
    if (!n) throw new PasserelleError('not_found', `no negotiation ${id}`)
    if (isTerminal(n.state as NegotiationState)) throw new PasserelleError('conflict', `negotiation ${id} is already ${n.state}`)
    return applyReaction(rt, tx, n, { kind: 'termination', reason }, actor)
  })
  rt.dispatcher.kick()
  return saved
}

/** A person approves what a manual-mode negotiation holds: the offer (accept) or the agreement (verify). */
export async function approveNegotiation({ rt, id, actor = 'management' }: { rt: NegotiationRuntime; id: string; actor?: string }) {
  const saved = await rt.ctx.store.transaction(async (tx) => {
    let n = await rt.repo.find(tx, id, { lock: true })
    if (!n) throw new PasserelleError('not_found', `no negotiation ${id}`)
    if (!n.pending) throw new PasserelleError('conflict', `negotiation ${id} holds nothing for approval (state ${n.state})`)
    if (n.state === 'OFFERED') {
      // What we accept is what was offered: keep it, so the agreement is checked against it.
      const timeline = await rt.repo.timeline(tx, id)
      const offered = [...timeline].reverse().find((e) => e.direction === 'inbound' && (e.kind === 'offer' || e.kind === 'counter-offer'))
      const offer = offered?.detail?.offer as Record<string, unknown> | undefined
      if (offer) n = await rt.repo.save(tx, n, { offer, offerId: String(offer['@id']), updatedAt: now(rt) }, { kind: 'approved', direction: 'local', actor, fromState: 'OFFERED', toState: 'OFFERED', reason: 'offer approved' })
      return applyReaction(rt, tx, n, { kind: 'accepted', reason: 'approved by a person' }, actor)
    }
    if (n.state === 'AGREED') return applyReaction(rt, tx, n, { kind: 'verification', reason: 'approved by a person' }, actor)
    throw new PasserelleError('conflict', `negotiation ${id} is ${n.state}: nothing to approve`)
  })
  rt.dispatcher.kick()
  return saved
}

/** The outbox's report on negotiation messages. */
function dispatchHandler(rt: NegotiationRuntime): DispatchHandler {
  return {
    async prepare(item) {
      if (!item.url.includes(unknownPid)) return { url: item.url, body: item.body }
      const n = await rt.repo.find(rt.ctx.store.db, item.processId)
      if (!n?.providerPid) throw new Error("the provider's pid is not known yet")
      return withProviderPid(item, n.providerPid)
    },
    async delivered({ item, body }) {
      const type = (item.body as { '@type'?: string })['@type']
      if (type !== 'ContractRequestMessage') return
      const answer = ContractNegotiation.safeParse(body)
      if (answer.success) await rt.ctx.store.transaction((tx) => rt.repo.setProviderPid(tx, item.processId, answer.data.providerPid))
      else rt.ctx.logger.warn('the provider answered our request without a valid ContractNegotiation', { id: item.processId })
    },
    async failed({ item, reason }) {
      const type = (item.body as { '@type'?: string })['@type'] ?? 'message'
      await rt.ctx.store.transaction(async (tx) => {
        const n = await rt.repo.find(tx, item.processId, { lock: true })
        if (!n || isTerminal(n.state as NegotiationState)) return
        const text = `our ${type} could not be delivered: ${reason}`
        await rt.repo.save(tx, n, { state: 'TERMINATED', reason: text, pending: null, updatedAt: now(rt) }, {
          kind: 'dispatch-failed',
          direction: 'local',
          actor: 'local',
          fromState: n.state as NegotiationState,
          toState: 'TERMINATED',
          reason: text,
        })
        await rt.dispatcher.cancel(tx, n.id)
      })
    },
  }
}

/** After a restart: processes whose last step was a message we took but had not reacted to yet. */
export async function resumeReactions(rt: NegotiationRuntime) {
  const owing = await rt.repo.owing(rt.ctx.store.db)
  for (const n of owing) {
    if (n.pending) continue
    const last = await rt.repo.lastEvent(rt.ctx.store.db, n.id)
    if (!last || last.direction !== 'inbound') continue
    const detail = (last.detail ?? {}) as { requester?: Requester; offer?: Record<string, unknown>; agreement?: Record<string, unknown> }
    await react({ rt, id: n.id, trigger: last.kind as MessageKind, requester: detail.requester, received: detail.offer ?? detail.agreement, known: n })
  }
}
