import type { DeclaredUse } from '../dsp/declared-use.ts'
import type { Ctx } from '../context.ts'
import { addressCheckDeps, assertCallbackAllowed } from '../dispatch/callback-address.ts'
import type { Dispatcher, DispatchHandler } from '../dispatch/dispatcher.ts'
import { ContractNegotiation, type ContractOfferMessage, type ContractRequestMessage, type NegotiationState } from '../dsp/negotiation-messages.ts'
import { PasserelleError } from '../errors.ts'
import type { Authenticator, Requester } from '../identity/types.ts'
import type { AgreementDuties } from '../transfer/agreement-duties.ts'
import { labelTerms, odrlFromModel, policyLabelOf, type Registry } from '../../policies/index.ts'
import { ownSpelling, readTerms, termsProblems } from './offer-terms.ts'
import type { OfferLookup, PublishedOffer } from './decision.ts'
import { buildMessage, unknownPid, withProviderPid } from './messages.ts'
import { checkCountersignature } from './countersignature.ts'
import { agreementDigest } from '../audit/audit-trail.ts'
import { agreementProblem, type Reaction, type Reactions } from './reactions.ts'
import { ConcurrentChange, negotiationRepository, type Negotiation, type NegotiationRepository } from './repository.ts'
import { compiledOf, requestedOffer } from './requested-offer.ts'
import { isTerminal, transition, type MessageKind } from './state-machine.ts'
import { answerGate, type AnswerGate } from '../process/answer-gate.ts'
import { failpoint } from '../process/failpoint.ts'
import { inboundDecision } from '../process/idempotency.ts'
import { messageDigest } from '../process/message-digest.ts'
import { pidMismatch } from '../process/pids.ts'

/**
 * Negotiation operations. Each inbound message is checked against the state machine and stored
 * with its timeline entry in one transaction before it is answered; what this side does next (its
 * reaction: the provider's decision, the consumer's acceptance or verification) is a step written
 * to the outbox in that same transaction, and a worker runs it (`runReaction`) once the answer has
 * gone out, or after a restart. Its messages leave through the outbox too.
 */
export interface NegotiationRuntime {
  ctx: Ctx
  repo: NegotiationRepository
  dispatcher: Dispatcher
  /** Holds a process's reaction until our answer to the message that caused it has gone out. */
  answers: AnswerGate
  reactions: Reactions
  authenticator: Authenticator
  /** Our published offers, as each requester may see them. */
  offers: OfferLookup
  /** How negotiations we start treat offers and agreements: decide alone, or hold for a person. */
  consumerMode: 'auto' | 'manual'
  /** The agreement's duty records: recorded when it is made, acknowledged when the consumer verifies it. */
  duties?: AgreementDuties
  /** The participant's operand registry (its registry.yaml included): peers' offers and agreements are read with it. */
  registry?: () => Promise<Registry | undefined>
}

export const negotiationTopic = 'negotiation'

export function createNegotiationRuntime(input: Omit<NegotiationRuntime, 'repo' | 'answers'>): NegotiationRuntime {
  const rt: NegotiationRuntime = { ...input, repo: negotiationRepository(input.ctx.store, input.ctx.audit), answers: answerGate(() => input.dispatcher.kick()) }
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
    throw new PasserelleError(
      'bad_request',
      'the first ContractRequestMessage needs a callbackAddress (a counter offer goes to /negotiations/:providerPid/request)',
      {
        consumerPid: message.consumerPid,
        providerPid: message.providerPid,
      },
    )
  }
  const callbackAddress = message.callbackAddress
  await assertCallbackAllowed(addressCheckDeps(rt.ctx), {
    requester: requester.participantId,
    url: callbackAddress,
    pids: { consumerPid: message.consumerPid, providerPid: message.providerPid },
  })
  const pids = { consumerPid: message.consumerPid }
  const published = await refusalLogged(
    rt,
    requester,
    requestedOffer({ offers: rt.offers, requested: message.offer, requester, now: rt.ctx.clock.now(), pids }),
  )
  // What we store, decide on and sign is our own published offer, never the consumer's bytes.
  const offer = withTarget(published.offer, message.offer.target)
  return rt.ctx.store.transaction(async (tx) => {
    const existing = await rt.repo.findByConsumerPid(tx, requester.participantId, message.consumerPid, { lock: true })
    if (existing) {
      // A repeated request (the answer got lost): the same process, unchanged.
      if (existing.offerId === message.offer['@id'] && existing.datasetId === message.offer.target) return { negotiation: existing, created: false }
      throw new PasserelleError(
        'invalid_state',
        `consumerPid ${message.consumerPid} already names a negotiation for offer ${existing.offerId}`,
        pidsOf(existing),
      )
    }
    await assertPeerHasRoom(rt, tx, requester, { consumerPid: message.consumerPid })
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
        datasetId: offer.target,
        offerId: published.offer['@id'],
        offer,
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
    await enqueueReaction(rt, tx, negotiation, { trigger: 'request', requester }, { answering: true })
    return { negotiation, created: true }
  })
}

/**
 * A peer may hold at most `negotiation.maxOpenPerPeer` open negotiations with us: every one is rows,
 * steps and messages, and a peer that opens them without end must not fill our database or starve
 * the others. A repeat of a message already applied is answered before this check.
 */
async function assertPeerHasRoom(rt: NegotiationRuntime, tx: Tx, requester: Requester, pids: { consumerPid?: string; providerPid?: string }) {
  const limit = rt.ctx.config.negotiation.maxOpenPerPeer
  const open = await rt.repo.countOpenWith(tx, requester.participantId, limit)
  if (open < limit) return
  throw new PasserelleError(
    'too_many_requests',
    `${requester.participantId} already has ${limit} open negotiations with this connector (negotiation.maxOpenPerPeer); finish or terminate some before starting another`,
    { ...pids, retryAfterSeconds: 60 },
  )
}

/** A refused offer is logged for the stewards with the reason the requester gets. */
async function refusalLogged<T>(rt: NegotiationRuntime, requester: Requester, work: Promise<T>): Promise<T> {
  try {
    return await work
  } catch (error) {
    if (error instanceof PasserelleError && error.code === 'bad_request')
      rt.ctx.logger.warn('contract request refused', { requester: requester.participantId, reason: error.message })
    throw error
  }
}

/**
 * A consumer's counter request names an offer anew: like a first request, it must be one of our
 * published offers with its terms unchanged, and we go on with our own offer.
 */
export async function ownOfferFor({
  rt,
  pid,
  requester,
  message,
}: {
  rt: NegotiationRuntime
  pid: string
  requester: Requester
  message: ContractRequestMessage
}) {
  const pids = { consumerPid: message.consumerPid, providerPid: message.providerPid }
  try {
    const published = await refusalLogged(
      rt,
      requester,
      requestedOffer({ offers: rt.offers, requested: message.offer, requester, now: rt.ctx.clock.now(), pids }),
    )
    return withTarget(published.offer, message.offer.target)
  } catch (error) {
    if (error instanceof PasserelleError) await noteRefusal(rt, pid, requester, error.message)
    throw error
  }
}

/** A refused message about one of the requester's processes goes into its timeline; its state stays. */
async function noteRefusal(rt: NegotiationRuntime, pid: string, requester: Requester, reason: string) {
  await rt.ctx.store.transactionFor(pid, async (tx) => {
    const n = await rt.repo.find(tx, pid, { lock: true })
    if (n?.role !== 'provider' || n.counterpartyId !== requester.participantId || isTerminal(n.state as NegotiationState)) return
    const state = n.state as NegotiationState
    await rt.repo.save(
      tx,
      n,
      { updatedAt: now(rt) },
      { kind: 'refused', direction: 'local', actor: requester.participantId, fromState: state, toState: state, reason },
    )
  })
}

/** `POST /negotiations/offers`: a provider opens a negotiation with us (we are the consumer). */
export async function receiveInitialOffer({ rt, requester, message }: { rt: NegotiationRuntime; requester: Requester; message: ContractOfferMessage }) {
  if (!message.callbackAddress) {
    throw new PasserelleError(
      'bad_request',
      'the first ContractOfferMessage needs a callbackAddress (a counter offer goes to /negotiations/:consumerPid/offers)',
      {
        providerPid: message.providerPid,
        consumerPid: message.consumerPid,
      },
    )
  }
  const callbackAddress = message.callbackAddress
  await assertCallbackAllowed(addressCheckDeps(rt.ctx), {
    requester: requester.participantId,
    url: callbackAddress,
    pids: { providerPid: message.providerPid, consumerPid: message.consumerPid },
  })
  // Kept in our own spelling, never as the provider's bytes.
  const registry = await rt.registry?.()
  const offer = ownSpelling(message.offer, 'Offer', registry)
  if (!offer) {
    const read = readTerms(message.offer, { expect: 'Offer', registry })
    throw new PasserelleError('bad_request', `the offer ${message.offer['@id']} is not a policy this connector accepts: ${termsProblems(read.errors ?? [])}`, {
      providerPid: message.providerPid,
    })
  }
  return rt.ctx.store.transaction(async (tx) => {
    const existing = await rt.repo.findByProviderPid(tx, requester.participantId, message.providerPid)
    if (existing) return { negotiation: existing, created: false }
    await assertPeerHasRoom(rt, tx, requester, { providerPid: message.providerPid })
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
        offer,
        agreementId: null,
        mode: rt.consumerMode,
        pending: null,
        reason: null,
        createdAt: at,
        updatedAt: at,
      },
      { kind: 'offer', direction: 'inbound', actor: requester.participantId, fromState: null, toState: step.to, detail: { offer } },
    )
    await enqueueReaction(rt, tx, negotiation, { trigger: 'offer', requester, received: message.offer }, { answering: true })
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
  const registry = await rt.registry?.()
  const countersignature = kind === 'verification' && rt.ctx.audit?.enabled ? await checkCountersignature(rt, pid, requester, message) : undefined
  return rt.ctx.store.transactionFor(pid, async (tx) => {
    const n = await rt.repo.find(tx, pid, { lock: true })
    // Another participant's process is as unknown to the sender as one that does not exist.
    if (!n || (n.counterpartyId !== null && n.counterpartyId !== requester.participantId)) throw notFound(pid, messagePids)
    const mismatch = pidMismatch({ role: n.role, process: n, message })
    if (mismatch?.side === 'ours')
      throw new PasserelleError('bad_request', `the message names ${mismatch.field} ${mismatch.named ?? '(none)'} but was sent to ${pid}`, pidsOf(n))
    if (mismatch)
      throw new PasserelleError('bad_request', `the message names ${mismatch.field} ${mismatch.named}, this negotiation's is ${mismatch.expected}`, pidsOf(n))
    const step = transition({ role: n.role, state: n.state as NegotiationState, kind, direction: 'inbound' })
    const hash = messageDigest(message)
    if (hash === undefined) throw new PasserelleError('bad_request', 'the message is nested too deeply', pidsOf(n))
    if (!step.ok) {
      const decision = inboundDecision({
        allowed: step,
        kind,
        digest: hash,
        applied: appliedMessages(await rt.repo.timeline(tx, n.id), kind),
        terminated: n.state === 'TERMINATED',
        termination: kind === 'termination',
      })
      if (decision.action === 'acknowledge') return { negotiation: n, repeated: true }
      throw new PasserelleError('invalid_state', step.reason, pidsOf(n))
    }
    const at = now(rt)
    const patch: Partial<Negotiation> = { state: step.to, updatedAt: at, pending: null }
    if (n.counterpartyId === null) patch.counterpartyId = requester.participantId
    if (n.role === 'consumer' && n.providerPid === null && message.providerPid) patch.providerPid = message.providerPid
    const detail: Record<string, unknown> = { hash }
    let reason: string | undefined
    if (kind === 'counter-request' && received) {
      if (received.target !== n.datasetId)
        throw new PasserelleError(
          'bad_request',
          `the counter request is for dataset ${String(received.target)}, this negotiation is for ${n.datasetId}`,
          pidsOf(n),
        )
      // The consumer's new ask (already our own published offer) replaces the offer under negotiation.
      patch.offer = received
      patch.offerId = String(received['@id'])
      detail.offer = received
      detail.requester = requesterDetail(requester)
    }
    if (kind === 'counter-offer' && received) {
      // Kept in our own spelling; an offer we cannot read is not kept (the reaction terminates).
      const own = ownSpelling(received, 'Offer', registry)
      if (own) detail.offer = own
      else detail.refused = `the offer ${String(received['@id'])} is not a policy we accept`
    }
    if (kind === 'accepted' || kind === 'verification') detail.requester = requesterDetail(requester)
    // An agreement that is not the offer we asked for is never kept: the reaction terminates.
    const refused = kind === 'agreement' && received ? agreementProblem(received, n, rt.ctx.config.participant.id, registry) : undefined
    if (refused) detail.refused = refused
    const agreement = kind === 'agreement' && received && !refused ? ownSpelling(received, 'Agreement', registry) : undefined
    if (agreement) {
      patch.agreementId = agreement['@id']
      detail.agreement = agreement
      await rt.repo.insertAgreement(tx, {
        id: agreement['@id'],
        negotiationId: n.id,
        role: n.role,
        datasetId: n.datasetId,
        assigner: String(agreement.assigner),
        assignee: String(agreement.assignee),
        body: agreement,
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
    if (agreement) await rt.duties?.agreed(tx, agreement['@id'])
    if (kind === 'verification' && saved.agreementId) await rt.duties?.verified(tx, saved.agreementId, requester.participantId)
    if (kind === 'verification' && saved.agreementId && countersignature)
      await rt.ctx.audit?.append(tx, {
        kind: 'agreement.countersigned',
        subjects: { negotiation: n.id, agreement: saved.agreementId, participant: requester.participantId },
        actor: requester.participantId,
        payload: { ...countersignature },
      })
    if (!isTerminal(saved.state as NegotiationState)) await enqueueReaction(rt, tx, saved, { trigger: kind, requester, received }, { answering: true })
    return { negotiation: saved, repeated: false }
  })
}

/**
 * The peer's messages applied to a process that a message of `kind` may repeat, from the timeline:
 * all of them, except for the bargaining messages (offers and counter requests). Those open a new
 * round: once we answered one, the same offer again is a new, out-of-order round and refused (DSP
 * TCK CN:03-04, CN_C:03-05); only while it is still the last message exchanged is it a repeat.
 */
function appliedMessages(timeline: Array<{ direction: string; kind: string; detail: Record<string, unknown> | null }>, kind: MessageKind) {
  const exchanged = timeline.filter((event) => event.direction !== 'local')
  const inbound = bargaining.has(kind)
    ? exchanged.slice(-1).filter((event) => event.direction === 'inbound')
    : exchanged.filter((event) => event.direction === 'inbound')
  return inbound.map((event) => ({ kind: event.kind, digest: event.detail?.hash as string | undefined }))
}

const bargaining = new Set<MessageKind>(['offer', 'counter-offer', 'counter-request'])

function terminationReason(message: Record<string, unknown>, sender: string) {
  const reason = Array.isArray(message.reason) ? reasonEntries(message.reason) : undefined
  const code = typeof message.code === 'string' ? ` (code ${message.code})` : ''
  return `terminated by ${sender}${code}${reason ? `: ${reason}` : ''}`
}

function reasonEntries(reason: unknown[]) {
  return reason
    .map((entry) =>
      typeof entry === 'string'
        ? entry
        : typeof (entry as { message?: unknown })?.message === 'string'
          ? (entry as { message: string }).message
          : JSON.stringify(entry),
    )
    .join('; ')
    .slice(0, 2000)
}

const requesterDetail = (requester: Requester) => ({ participantId: requester.participantId, credentials: requester.credentials })

type Tx = Parameters<NegotiationRepository['find']>[0]

/**
 * What a reaction step needs to run after a restart: the message that triggered it (the offer or
 * agreement it carried), who sent it with the claims verified for it and its declared use, and the
 * version the process had once that message was stored.
 */
export interface ReactionStep {
  trigger: MessageKind | 'start'
  requester?: Requester | undefined
  received?: Record<string, unknown> | undefined
  atVersion: number
}

/** Writes the step that follows a stored change, in its transaction. */
async function enqueueReaction(rt: NegotiationRuntime, tx: Tx, n: Negotiation, step: Omit<ReactionStep, 'atVersion'>, options: { answering?: boolean } = {}) {
  if (rt.reactions.reactsTo && !rt.reactions.reactsTo(n.role, step.trigger)) return
  const input: ReactionStep = { ...step, atVersion: n.version }
  // Before the commit makes the step visible to the worker: it waits for our answer.
  if (options.answering) rt.answers.hold(n.id)
  await rt.dispatcher.enqueueStep(tx, { topic: negotiationTopic, processId: n.id, step: 'react', input })
}

/**
 * Runs a reaction step: decides what this side does next and stores it (messages to the outbox, a
 * hold for approval) in one transaction. The step is bound to the version it was written at: run
 * again (a crash before the outbox marked it done) or overtaken by another change (a termination),
 * it finds the process moved on and does nothing. Throwing retries it later.
 */
export async function runReaction(rt: NegotiationRuntime, id: string, step: ReactionStep) {
  await rt.answers.settled(id)
  failpoint(`step:${negotiationTopic}:${step.trigger}`)
  const { trigger, requester, received, atVersion } = step
  // Decide outside the transaction; most steps of a flow need no answer (no write at all then).
  const current = await rt.repo.find(rt.ctx.store.db, id)
  if (!current || isTerminal(current.state as NegotiationState) || current.version !== atVersion) return
  const planned = await rt.reactions.react({ negotiation: current, trigger, requester, received })
  if (planned.length === 0) return
  for (let attempt = 1; ; attempt++) {
    try {
      await rt.ctx.store.transactionFor(id, async (tx) => {
        // The first try trusts what we read: `save` checks the version, so a process that changed
        // meanwhile makes it fail, and the next try finds it moved on.
        let n = attempt === 1 ? current : await rt.repo.find(tx, id, { lock: true })
        if (!n || isTerminal(n.state as NegotiationState) || n.version !== atVersion) return
        for (const reaction of planned) n = await applyReaction(rt, tx, n, reaction, 'local')
      })
      break
    } catch (error) {
      if (!(error instanceof ConcurrentChange) || attempt >= 3) throw error
    }
  }
  // No kick: the outbox runs this step, and delivers what it enqueued once the step is done.
}

/** One step this side takes: a message to send (through the outbox) or a hold for approval. */
export async function applyReaction(rt: NegotiationRuntime, tx: Tx, n: Negotiation, reaction: Reaction, actor: string): Promise<Negotiation> {
  const at = now(rt)
  const state = n.state as NegotiationState
  if (reaction.kind === 'hold') {
    return rt.repo.save(
      tx,
      n,
      { pending: reaction.reason, updatedAt: at },
      { kind: 'hold', direction: 'local', actor, fromState: state, toState: state, reason: reaction.reason },
    )
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
    const agreement = buildAgreement(rt, n, reaction.published)
    extras.agreement = agreement
    patch.agreementId = agreement['@id']
    detail.agreementId = agreement['@id']
  }
  if (reaction.kind === 'verification' && n.agreementId && rt.ctx.audit?.enabled) {
    const [stored] = (await rt.repo.agreementsOf(tx, n.id)).filter((a) => a.id === n.agreementId)
    if (stored) extras.agreementSignature = await rt.ctx.audit.signDigest(agreementDigest(stored.body))
  }
  if (reaction.kind === 'termination') {
    rt.ctx.logger.info('negotiation terminated by us', { id: n.id, role: n.role, datasetId: n.datasetId, offerId: n.offerId, reason: reaction.reason })
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
  // Stored after the process row is saved (and so locked). The audit chain's head is taken last, at
  // the end of the transaction (its appends are held until then), never before a process's row.
  if (reaction.kind === 'agreement' && extras.agreement) {
    const agreement = extras.agreement
    await rt.repo.insertAgreement(tx, {
      id: String(agreement['@id']),
      negotiationId: n.id,
      role: n.role,
      datasetId: n.datasetId,
      assigner: String(agreement.assigner),
      assignee: String(agreement.assignee),
      body: agreement,
      signedAt: at,
    })
  }
  if (reaction.kind === 'agreement' && saved.agreementId) await rt.duties?.agreed(tx, saved.agreementId)
  if (reaction.kind === 'verification' && saved.agreementId) await rt.duties?.verified(tx, saved.agreementId, rt.ctx.config.participant.id)
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

/**
 * The agreement the provider signs: our own published policy (the compiled one the decision was
 * made on, else the offer we stored, which is ours too), bound to both parties and a time.
 */
export function buildAgreement(rt: NegotiationRuntime, n: Negotiation, published?: PublishedOffer) {
  const compiled = compiledOf(published)
  const model = compiled?.model ?? ownTerms(published?.offer ?? n.offer)
  const parties = { assigner: rt.ctx.config.participant.id, assignee: n.counterpartyId ?? '' }
  const body = odrlFromModel(model, {
    type: 'Agreement',
    uid: rt.ctx.ids.next(),
    target: n.datasetId,
    ...parties,
    timestamp: rt.ctx.clock.now(),
    ...(compiled ? { registry: compiled.registry } : {}),
  })
  // The steward's policy id and title travel with what is signed, so both sides name it in refusals.
  const label = compiled ? { id: compiled.id, title: compiled.title } : policyLabelOf(published?.offer ?? n.offer)
  return { ...body, ...(label ? labelTerms(label) : {}), ...parties }
}

/** Our own offer (published, or the one we stored) always reads; if it ever did not, we sign nothing. */
function ownTerms(offer: Record<string, unknown>) {
  const read = readTerms(offer, { expect: 'Offer' })
  if (read.errors) throw new Error(`our own offer ${String(offer['@id'])} cannot be read: ${termsProblems(read.errors)}`)
  return read.model
}

/** An offer as DSP messages carry it: the catalog's Offer body with its dataset as `target`. */
export const withTarget = (offer: Record<string, unknown>, target: string): Record<string, unknown> & { target: string } => {
  const { '@context': _context, ...rest } = offer
  return { '@type': 'Offer', ...rest, target }
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
  // We only ask for an offer we can read: the provider's answer is compared with it.
  const read = readTerms(withTarget(input.offer, input.datasetId), { expect: 'Offer', registry: await rt.registry?.() })
  if (read.errors) throw new PasserelleError('bad_request', `offer: ${termsProblems(read.errors)}`)
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
      {
        kind: 'request',
        direction: 'outbound',
        actor,
        fromState: null,
        toState: step.to,
        detail: { offer, ...(input.declaredUse ? { declaredUse: input.declaredUse } : {}) },
      },
    )
    const message = buildMessage('request', created, { ownDspUrl: rt.ctx.config.dspUrl, offer, declaredUse: input.declaredUse })
    await rt.dispatcher.enqueue(tx, {
      topic: negotiationTopic,
      processId: id,
      url: message.url,
      body: message.body,
      peer: { dspUrl: input.peerUrl, ...(input.peerId ? { participantId: input.peerId } : {}) },
    })
    await enqueueReaction(rt, tx, created, { trigger: 'start' })
    return created
  })
  rt.dispatcher.kick()
  return negotiation
}

/** A person (or the CLI) ends a negotiation. */
export async function terminateNegotiation({ rt, id, reason, actor = 'management' }: { rt: NegotiationRuntime; id: string; reason: string; actor?: string }) {
  const saved = await rt.ctx.store.transactionFor(id, async (tx) => {
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
  const saved = await rt.ctx.store.transactionFor(id, async (tx) => {
    let n = await rt.repo.find(tx, id, { lock: true })
    if (!n) throw new PasserelleError('not_found', `no negotiation ${id}`)
    if (!n.pending) throw new PasserelleError('conflict', `negotiation ${id} holds nothing for approval (state ${n.state})`)
    if (n.state === 'OFFERED') {
      // What we accept is what was offered: keep it, so the agreement is checked against it.
      const timeline = await rt.repo.timeline(tx, id)
      const offered = [...timeline].reverse().find((e) => e.direction === 'inbound' && (e.kind === 'offer' || e.kind === 'counter-offer'))
      const offer = offered?.detail?.offer as Record<string, unknown> | undefined
      if (offer)
        n = await rt.repo.save(
          tx,
          n,
          { offer, offerId: String(offer['@id']), updatedAt: now(rt) },
          { kind: 'approved', direction: 'local', actor, fromState: 'OFFERED', toState: 'OFFERED', reason: 'offer approved' },
        )
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
      if (answer.success) await rt.ctx.store.transactionFor(item.processId, (tx) => rt.repo.setProviderPid(tx, item.processId, answer.data.providerPid))
      else rt.ctx.logger.warn('the provider answered our request without a valid ContractNegotiation', { id: item.processId })
    },
    async run(item) {
      if (item.body.step === 'react') await runReaction(rt, item.processId, item.body.input as ReactionStep)
      else rt.ctx.logger.warn('unknown negotiation step', { id: item.processId, step: item.body.step })
    },
    async failed({ item, reason }) {
      const what =
        item.kind === 'step'
          ? `our ${String((item.body as { step?: unknown }).step)} step could not run`
          : `our ${(item.body as { '@type'?: string })['@type'] ?? 'message'} could not be delivered`
      const told = (item.body as { '@type'?: string })['@type'] === 'ContractNegotiationTerminationMessage'
      await rt.ctx.store.transactionFor(item.processId, async (tx) => {
        const n = await rt.repo.find(tx, item.processId, { lock: true })
        if (!n || isTerminal(n.state as NegotiationState)) return
        const text = `${what}: ${reason}`
        const saved = await rt.repo.save(
          tx,
          n,
          { state: 'TERMINATED', reason: text, pending: null, updatedAt: now(rt) },
          {
            kind: 'dispatch-failed',
            direction: 'local',
            actor: 'local',
            fromState: n.state as NegotiationState,
            toState: 'TERMINATED',
            reason: text,
          },
        )
        await rt.dispatcher.cancel(tx, n.id)
        // The peer is told, so both sides end in the same state (best effort: its own attempts; a
        // peer that cannot be reached at all learns it when it asks).
        if (!told) await enqueueTermination(rt, tx, saved, text)
      })
      rt.dispatcher.kick()
    },
  }
}

/** A termination message about a process we ended, when the peer can be addressed at all. */
async function enqueueTermination(rt: NegotiationRuntime, tx: Tx, n: Negotiation, reason: string) {
  if (n.role === 'consumer' && !n.providerPid) return
  const message = buildMessage('termination', n, { ownDspUrl: rt.ctx.config.dspUrl, reason, code: 'dispatch-failed' })
  await rt.dispatcher.enqueue(tx, {
    topic: negotiationTopic,
    processId: n.id,
    url: message.url,
    body: message.body,
    peer: { dspUrl: n.counterpartyAddress, ...(n.counterpartyId ? { participantId: n.counterpartyId } : {}) },
  })
}
