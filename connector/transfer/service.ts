import type { Clock } from '../clock.ts'
import type { AuditTrail } from '../audit/audit-trail.ts'
import type { IdSource } from '../ids.ts'
import { PasserelleError } from '../errors.ts'
import type { Db, Store } from '../store/store.ts'
import type { DispatchHandler, Dispatcher } from '../dispatch/dispatcher.ts'
import type { Logger } from '../telemetry/logger.ts'
import type { S3Credentials } from '../data-plane/s3-client.ts'
import {
  dspContext,
  isPushFormat,
  readHttpDataAddress,
  transferFormats,
  type DataAddress,
  type ProcessMessageType,
  type TransferRequestMessage,
} from './messages.ts'
import { readS3DataAddress, redactDataAddress, s3DataAddress, s3EndpointUrl, s3PushFormat, type S3DestinationInput } from './s3-address.ts'
import type { AgreementLookup, DataPlaneControl, TransferScripts, TransferStep, UsagePolicy } from './ports.ts'
import { transferRepository, type TransferRecord, type TransferRepository } from './repository.ts'
import { transition, type Role } from './state-machine.ts'
import { inboundDecision } from '../process/idempotency.ts'
import type { AnswerGate } from '../process/answer-gate.ts'
import { failpoint } from '../process/failpoint.ts'
import { messageDigest } from '../process/message-digest.ts'
import { pidMismatch } from '../process/pids.ts'
import { usageGate, type UsageGate } from './usage-gate.ts'

/** What transfer operations need. */
export interface TransferCtx {
  store: Store
  clock: Clock
  ids: IdSource
  logger: Logger
  /** Transfer starts, state changes and data accesses are appended to it with their change. */
  audit?: AuditTrail | undefined
  self: { participantId: string; dspUrl: string }
  agreements: AgreementLookup
  usage: UsagePolicy
  /** Outbound DSP messages: written in the transaction of the state change, delivered with bounded retries. */
  outbox: TransferOutbox
  dataPlane: DataPlaneControl
  scripts?: TransferScripts
  /** Runs work that is not a step of a process (and so need not survive a restart). */
  later(task: () => Promise<void>): void
  /** Holds a process's steps until our answer to the message that caused them has gone out. */
  answers?: AnswerGate
  /** The access key a secret names (a push into our S3 storage); throws when it is not set. */
  s3Credentials?(secret: string): S3Credentials
  /** Refuses (400, nothing stored) a callback or push destination the egress policy does not allow. */
  checkAddresses?(input: {
    requester: string
    callbackAddress: string
    pushEndpoint?: string | undefined
    pids: { providerPid: string; consumerPid: string }
  }): Promise<void>
}

/** The part of the shared dispatcher transfers use. */
export interface TransferOutbox {
  enqueue(tx: Db, message: { transfer: TransferRecord; url: string; body: object }): Promise<void>
  /** A step of the process, run by the outbox worker in order with its messages (see `runStep`). */
  enqueueStep(tx: Db, step: { transfer: TransferRecord; step: TransferStepRow }): Promise<void>
  /** Drops the pending messages and steps of a process. */
  cancel(tx: Db, id: string): Promise<void>
  /** Delivers what is due; call once the answer that caused the messages has gone out. */
  kick(): void
}

export const transferTopic = 'transfer'

/** Adapts the connector's dispatcher to the transfer area. */
export function dispatcherOutbox(dispatcher: Dispatcher): TransferOutbox {
  return {
    async enqueue(tx, { transfer, url, body }) {
      await dispatcher.enqueue(tx, {
        topic: transferTopic,
        processId: transfer.id,
        url,
        body,
        peer: { participantId: transfer.counterpartyId, dspUrl: transfer.counterpartyAddress },
      })
    },
    async enqueueStep(tx, { transfer, step }) {
      await dispatcher.enqueueStep(tx, { topic: transferTopic, processId: transfer.id, step: step.step, input: step })
    },
    cancel: (tx, id) => dispatcher.cancel(tx, id),
    kick: () => dispatcher.kick(),
  }
}

/**
 * The steps a transfer process takes after a stored change, as outbox rows: `actions` (local
 * actions one after the other: the provider's start, the TCK's scripted steps) and `push` (the
 * provider pushes the data once its start message was delivered, then completes).
 */
export type TransferStepRow = { step: 'actions'; actions: TransferStep[]; actor: Actor; reason?: string | undefined } | { step: 'push' }

export type LocalAction = 'start' | 'complete' | 'suspend' | 'terminate'
export type Actor = 'peer' | 'local' | 'monitor' | 'policy' | 'data-plane'

const actionMessage: Record<LocalAction, ProcessMessageType> = {
  start: 'TransferStartMessage',
  complete: 'TransferCompletionMessage',
  suspend: 'TransferSuspensionMessage',
  terminate: 'TransferTerminationMessage',
}
const messagePath: Record<ProcessMessageType, string> = {
  TransferStartMessage: 'start',
  TransferCompletionMessage: 'completion',
  TransferSuspensionMessage: 'suspension',
  TransferTerminationMessage: 'termination',
}

const repositories = new WeakMap<Store, TransferRepository>()
export function repo(ctx: Pick<TransferCtx, 'store' | 'clock' | 'ids' | 'audit'>): TransferRepository {
  let r = repositories.get(ctx.store)
  if (!r) {
    r = transferRepository(ctx.store, { clock: ctx.clock, ids: ctx.ids, audit: ctx.audit })
    repositories.set(ctx.store, r)
  }
  return r
}

const gates = new WeakMap<TransferCtx, UsageGate>()
/** The usage gate of a transfer context (the agreement's counter, obligations and policy). */
export function gate(ctx: TransferCtx): UsageGate {
  let g = gates.get(ctx)
  if (!g) {
    g = usageGate(ctx)
    gates.set(ctx, g)
  }
  return g
}

const pidsOf = (t: TransferRecord) => ({ providerPid: t.providerPid ?? '', consumerPid: t.consumerPid })
const other = (role: Role): Role => (role === 'provider' ? 'consumer' : 'provider')

/** Unknown, or somebody else's: the same answer, so that pids cannot be probed. */
const notFound = (pid: string, consumerPid = '') => new PasserelleError('not_found', 'no such transfer process', { providerPid: pid, consumerPid })

// ---------------------------------------------------------------------------------------------
// Provider side: a consumer asks for a transfer.

export async function receiveTransferRequest({
  ctx,
  input,
}: {
  ctx: TransferCtx
  input: { requester: string; message: TransferRequestMessage }
}): Promise<{ transfer: TransferRecord; created: boolean }> {
  const { requester, message } = input
  const r = repo(ctx)
  // A repeated request (same consumer, same consumerPid) returns the process it created.
  const existing = await r.findProviderSideByConsumerPid(ctx.store.db, requester, message.consumerPid)
  if (existing) {
    if (existing.agreementId !== message.agreementId) {
      throw new PasserelleError('bad_request', 'consumerPid already used for another agreement', pidsOf(existing))
    }
    return { transfer: existing, created: false }
  }
  const pids = { providerPid: '', consumerPid: message.consumerPid }
  if (!(transferFormats as readonly string[]).includes(message.format)) {
    throw new PasserelleError('bad_request', `unsupported format ${message.format}; supported: ${transferFormats.join(', ')}`, pids)
  }
  const agreement = await ctx.agreements.find(message.agreementId)
  // An agreement we do not know, or one made with somebody else, is not revealed.
  if (!agreement || agreement.assignee !== requester || agreement.assigner !== ctx.self.participantId) {
    throw new PasserelleError('not_found', `no agreement ${message.agreementId} for this participant`, pids)
  }
  if (agreement.state !== 'FINALIZED') {
    throw new PasserelleError('bad_request', `agreement ${message.agreementId} is ${agreement.state}, not FINALIZED`, pids)
  }
  let pushEndpoint: string | undefined
  if (message.format === 'HttpData-PUSH') {
    const target = readHttpDataAddress(message.dataAddress)
    if (!target) throw new PasserelleError('bad_request', 'a push transfer needs an HTTP dataAddress with a bearer authorization', pids)
    pushEndpoint = target.endpoint
  } else if (message.format === s3PushFormat) {
    const read = readS3DataAddress(message.dataAddress)
    if ('problem' in read) throw new PasserelleError('bad_request', `a push into S3 storage: ${read.problem}`, pids)
    pushEndpoint = s3EndpointUrl(read.destination)
  }
  // We send messages and data there: never to our own network or a metadata service.
  await ctx.checkAddresses?.({ requester, callbackAddress: message.callbackAddress, pushEndpoint, pids })
  const providerPid = ctx.ids.next()
  const { transfer, decision } = await ctx.store.transaction(async (tx) => {
    // Would one more access under the agreement be allowed, counted over all its transfers?
    const decision = await gate(ctx).decide(tx, { agreementId: agreement.id, requester, counts: true, dryRun: true })
    const transfer = await r.insert(
      tx,
      {
        id: providerPid,
        role: 'provider',
        providerPid,
        consumerPid: message.consumerPid,
        agreementId: agreement.id,
        datasetId: agreement.target,
        counterpartyId: requester,
        counterpartyAddress: stripSlash(message.callbackAddress),
        format: message.format,
        state: 'REQUESTED',
        dataAddress: message.dataAddress ?? null,
      },
      { cause: 'TransferRequestMessage', actor: 'peer' },
    )
    const actions: TransferStep[] = decision.allowed ? (ctx.scripts?.provider(agreement.id) ?? ['start']) : ['terminate']
    await enqueueActions(ctx, tx, transfer, actions, decision.allowed ? { actor: 'local' } : { actor: 'policy', reason: decision.reason }, { answering: true })
    return { transfer, decision }
  })
  if (!decision.allowed) ctx.logger.info('transfer request refused by policy', { transferId: providerPid, agreementId: agreement.id, reason: decision.reason })
  return { transfer, created: true }
}

/** Writes the local actions that follow a stored change as one step, in its transaction. */
async function enqueueActions(
  ctx: TransferCtx,
  tx: Db,
  transfer: TransferRecord,
  actions: TransferStep[],
  how: { actor: Actor; reason?: string | undefined },
  options: { answering?: boolean } = {},
) {
  if (actions.length === 0) return
  if (options.answering) ctx.answers?.hold(transfer.id)
  await ctx.outbox.enqueueStep(tx, { transfer, step: { step: 'actions', actions, actor: how.actor, ...(how.reason ? { reason: how.reason } : {}) } })
}

/**
 * Runs a transfer step (the outbox worker calls it). Run again after a crash, an action the process
 * has moved past is refused by the state machine and ends the step: it was applied already, or
 * another change overtook it. Any other failure throws, and the step is retried.
 */
export async function runStep(ctx: TransferCtx, id: string, step: TransferStepRow) {
  await ctx.answers?.settled(id)
  failpoint(`step:${transferTopic}:${step.step}`)
  if (step.step === 'push') {
    const current = await repo(ctx).get(ctx.store.db, id)
    if (current?.state === 'STARTED' && current.role === 'provider') await pushAndComplete(ctx, current)
    return
  }
  for (const action of step.actions) {
    const current = await repo(ctx).get(ctx.store.db, id)
    if (!current || current.state === 'COMPLETED' || current.state === 'TERMINATED') return
    try {
      await act({ ctx, input: { id, action, actor: step.actor, reason: step.reason } })
    } catch (error) {
      if (error instanceof PasserelleError && error.code === 'invalid_state') {
        ctx.logger.info('transfer step skipped: the process moved on', { transferId: id, action, reason: error.message })
        return
      }
      throw error
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Either side: the other side moves an existing process.

export async function receiveTransferMessage({
  ctx,
  input,
}: {
  ctx: TransferCtx
  input: {
    requester: string
    /** The pid from the path: ours. */
    pid: string
    type: ProcessMessageType
    message: { providerPid: string; consumerPid: string; dataAddress?: DataAddress; code?: string; reason?: unknown[] }
  }
}): Promise<TransferRecord> {
  const { requester, pid, type, message } = input
  const r = repo(ctx)
  const result = await ctx.store.transactionFor(pid, async (tx) => {
    const current = await r.lock(tx, pid)
    if (!current || current.counterpartyId !== requester) throw notFound(pid, message.consumerPid)
    // The body must name this very process: our pid must match, and the peer's pid too once we know it.
    if (pidMismatch({ role: current.role, process: current, message })) throw notFound(pid, message.consumerPid)
    const sender = other(current.role)
    const next = transition(current.state, sender, type)
    const digest = messageDigest(message)
    if (digest === undefined) throw new PasserelleError('bad_request', 'the message is nested too deeply', pidsOf(current))
    if (!next.ok) {
      // A repeat of a message already applied (the peer's outbox retried after its answer or its
      // delivered mark was lost) is acknowledged with the current state, however far we moved on.
      const applied = (await r.timeline(tx, current.id)).filter((e) => e.actor === 'peer').map((e) => ({ kind: e.cause, digest: e.digest }))
      const decision = inboundDecision({
        allowed: next,
        kind: type,
        digest,
        applied,
        terminated: current.state === 'TERMINATED',
        termination: type === 'TransferTerminationMessage',
      })
      if (decision.action === 'acknowledge') return { updated: current }
      throw new PasserelleError('invalid_state', next.reason, {
        providerPid: current.providerPid ?? message.providerPid,
        consumerPid: current.consumerPid,
      })
    }
    const reason = type === 'TransferTerminationMessage' || type === 'TransferSuspensionMessage' ? reasonText(message.reason, message.code) : undefined
    const patch: Parameters<TransferRepository['setState']>[4] = {}
    if (current.role === 'consumer' && !current.providerPid) patch.providerPid = message.providerPid
    if (current.role === 'consumer' && type === 'TransferStartMessage' && message.dataAddress) patch.dataAddress = message.dataAddress
    if (reason) patch.reason = reason
    const updated = await r.setState(tx, current, next.to, { cause: type, actor: 'peer', reason, digest }, patch)
    if (current.role === 'consumer' && current.state === 'REQUESTED' && next.to === 'STARTED') {
      await enqueueActions(ctx, tx, updated, ctx.scripts?.consumer(updated.agreementId)?.onStarted ?? [], { actor: 'local' }, { answering: true })
    }
    return { updated }
  })
  return result.updated
}

/** GET of a process by the other side (and by the TCK). */
export async function readTransferForPeer({ ctx, input }: { ctx: TransferCtx; input: { requester: string; pid: string } }) {
  const transfer = await repo(ctx).get(ctx.store.db, input.pid)
  if (!transfer || transfer.counterpartyId !== input.requester) throw notFound(input.pid)
  return transfer
}

// ---------------------------------------------------------------------------------------------
// Local actions (management API, scripts, monitor, data plane): change state, then tell the other side.

export async function act({
  ctx,
  input,
}: {
  ctx: TransferCtx
  input: { id: string; action: LocalAction; actor: Actor; reason?: string | undefined }
}): Promise<TransferRecord> {
  const r = repo(ctx)
  const type = actionMessage[input.action]
  const known = await r.get(ctx.store.db, input.id)
  if (!known) throw new PasserelleError('not_found', `no transfer ${input.id}`)
  // The pull address carries a fresh token; it is signed before the transaction (no I/O inside).
  const dataAddress =
    type === 'TransferStartMessage' && known.role === 'provider' && known.format === 'HttpData-PULL'
      ? await ctx.dataPlane.pullAddress({ ...known, state: 'STARTED' })
      : undefined
  const updated = await ctx.store.transactionFor(input.id, async (tx) => {
    const current = await r.lock(tx, input.id)
    if (!current) throw new PasserelleError('not_found', `no transfer ${input.id}`)
    if (!current.providerPid) throw new PasserelleError('invalid_state', 'the provider has not answered this request yet', pidsOf(current))
    const next = transition(current.state, current.role, type)
    if (!next.ok) throw new PasserelleError('invalid_state', next.reason, pidsOf(current))
    const changed = await r.setState(
      tx,
      current,
      next.to,
      { cause: type, actor: input.actor, reason: input.reason },
      input.reason ? { reason: input.reason } : {},
    )
    const body: Record<string, unknown> = { '@context': [...dspContext], '@type': type, ...pidsOf(changed) }
    if (dataAddress) body.dataAddress = dataAddress
    if (input.reason && (type === 'TransferTerminationMessage' || type === 'TransferSuspensionMessage')) {
      body.code = input.actor
      body.reason = [input.reason]
    }
    const peerPid = changed.role === 'provider' ? changed.consumerPid : changed.providerPid!
    const url = `${changed.counterpartyAddress}/transfers/${encodeURIComponent(peerPid).replace(/%3A/gi, ':')}/${messagePath[type]}`
    await ctx.outbox.enqueue(tx, { transfer: changed, url, body })
    return changed
  })
  ctx.outbox.kick()
  return updated
}

/**
 * What happens once the dispatcher delivered a transfer message or gave up on it: the provider's
 * answer to our request names its pid; a delivered push start begins the push; a message that
 * could not be delivered ends the process with the reason.
 */
export function transferDispatchHandler(ctx: TransferCtx): DispatchHandler {
  return {
    async prepare(item) {
      const { destination, ...message } = item.body as TransferRequestMessage & { destination?: S3DestinationInput }
      if (!destination) return { url: item.url, body: item.body }
      if (!ctx.s3Credentials) throw new Error('this connector reads no storage credentials')
      return { url: item.url, body: { ...message, dataAddress: s3DataAddress(destination, ctx.s3Credentials(destination.credentials)) } }
    },
    async delivered({ item, body }) {
      const type = (item.body as { '@type'?: string })['@type']
      const transfer = await repo(ctx).get(ctx.store.db, item.processId)
      if (!transfer) return
      if (type === 'TransferRequestMessage') {
        const providerPid = (body as { providerPid?: unknown } | null)?.providerPid
        if (typeof providerPid !== 'string' || !providerPid) {
          await terminateLocally(ctx, transfer.id, 'the provider answered the request without a providerPid')
          return
        }
        const onRequested = ctx.scripts?.consumer(transfer.agreementId)?.onRequested ?? []
        await ctx.store.transaction(async (tx) => {
          if (!transfer.providerPid) await repo(ctx).update(tx, transfer.id, { providerPid })
          await enqueueActions(ctx, tx, { ...transfer, providerPid: transfer.providerPid ?? providerPid }, onRequested, { actor: 'local' })
        })
        ctx.outbox.kick()
        return
      }
      if (type === 'TransferStartMessage' && transfer.role === 'provider' && isPushFormat(transfer.format)) {
        await ctx.store.transaction((tx) => ctx.outbox.enqueueStep(tx, { transfer, step: { step: 'push' } }))
        ctx.outbox.kick()
      }
    },
    async run(item) {
      await runStep(ctx, item.processId, item.body.input as TransferStepRow)
    },
    async failed({ item, reason }) {
      const type = (item.body as { '@type'?: string })['@type']
      if (type === 'TransferTerminationMessage') return
      const what = item.kind === 'step' ? `our ${String((item.body as { step?: unknown }).step)} step could not run: ${reason}` : reason
      await terminateAndTell(ctx, item.processId, what)
    },
  }
}

/**
 * Ends a process because our message could not be delivered (or our step could not run), and
 * tells the peer with a termination message of its own attempts (best effort), so that both sides
 * end in the same state.
 */
export async function terminateAndTell(ctx: TransferCtx, id: string, reason: string) {
  const r = repo(ctx)
  await ctx.store.transactionFor(id, async (tx) => {
    const current = await r.lock(tx, id)
    if (!current || current.state === 'TERMINATED' || current.state === 'COMPLETED') return
    const ended = await r.setState(tx, current, 'TERMINATED', { cause: 'local-termination', actor: 'local', reason }, { reason })
    await ctx.outbox.cancel(tx, id)
    // A consumer whose request never reached the provider has no providerPid to address.
    if (!ended.providerPid) return
    const peerPid = ended.role === 'provider' ? ended.consumerPid : ended.providerPid
    const url = `${ended.counterpartyAddress}/transfers/${encodeURIComponent(peerPid).replace(/%3A/gi, ':')}/termination`
    const body = { '@context': [...dspContext], '@type': 'TransferTerminationMessage', ...pidsOf(ended), code: 'dispatch-failed', reason: [reason] }
    await ctx.outbox.enqueue(tx, { transfer: ended, url, body })
  })
  ctx.outbox.kick()
}

/** Ends a process without telling the other side (it could not be reached, or told us first). */
export async function terminateLocally(ctx: TransferCtx, id: string, reason: string, actor: Actor = 'local') {
  const r = repo(ctx)
  await ctx.store.transactionFor(id, async (tx) => {
    const current = await r.lock(tx, id)
    if (!current || current.state === 'TERMINATED' || current.state === 'COMPLETED') return
    await r.setState(tx, current, 'TERMINATED', { cause: 'local-termination', actor, reason }, { reason })
  })
}

/**
 * Provider, push: sends the data, then completes; a failure terminates with the reason. Either way
 * the destination's secrets (a storage's access key) are then erased from the stored address.
 */
export async function pushAndComplete(ctx: TransferCtx, transfer: TransferRecord) {
  const address = transfer.dataAddress as DataAddress | null
  try {
    if (!address) throw new Error('no data address to push to')
    const sent = await ctx.dataPlane.push(transfer, address)
    await repo(ctx).update(ctx.store.db, transfer.id, { size: sent.bytes, sha256: sent.sha256, dataAddress: redactDataAddress(address) })
    await act({ ctx, input: { id: transfer.id, action: 'complete', actor: 'data-plane' } })
  } catch (error) {
    const current = await repo(ctx).get(ctx.store.db, transfer.id)
    if (current?.state !== 'STARTED' && current?.state !== 'SUSPENDED') return
    if (address) await repo(ctx).update(ctx.store.db, transfer.id, { dataAddress: redactDataAddress(address) })
    await act({ ctx, input: { id: transfer.id, action: 'terminate', actor: 'data-plane', reason: `push failed: ${(error as Error).message}` } }).catch(() => {})
  }
}

// ---------------------------------------------------------------------------------------------
// Consumer side: ask a provider for a transfer.

export async function requestTransfer({
  ctx,
  input,
}: {
  ctx: TransferCtx
  input: {
    agreementId: string
    providerId: string
    providerAddress: string
    format: string
    datasetId?: string | null
    /** `AmazonS3-PUSH`: the object the provider writes, with the access key it writes with. */
    destination?: S3DestinationInput
  }
}): Promise<TransferRecord> {
  if (!(transferFormats as readonly string[]).includes(input.format)) {
    throw new PasserelleError('bad_request', `unsupported format ${input.format}; supported: ${transferFormats.join(', ')}`)
  }
  const r = repo(ctx)
  const consumerPid = ctx.ids.next()
  const body: TransferRequestMessage = {
    '@context': [...dspContext],
    '@type': 'TransferRequestMessage',
    consumerPid,
    agreementId: input.agreementId,
    format: input.format,
    callbackAddress: ctx.self.dspUrl,
  }
  if (input.format === 'HttpData-PUSH') body.dataAddress = await ctx.dataPlane.receiveAddress({ id: consumerPid, agreementId: input.agreementId })
  // The destination's access key is added when the message is sent (`prepare`): the outbox keeps only the secret's name.
  let queued: TransferRequestMessage | (TransferRequestMessage & { destination: S3DestinationInput }) = body
  if (input.format === s3PushFormat) {
    if (!input.destination) throw new PasserelleError('bad_request', `an ${s3PushFormat} transfer needs a destination`)
    queued = { ...body, destination: input.destination }
  }
  const created = await ctx.store.transaction(async (tx) => {
    const row = await r.insert(
      tx,
      {
        id: consumerPid,
        role: 'consumer',
        providerPid: null,
        consumerPid,
        agreementId: input.agreementId,
        datasetId: input.datasetId ?? null,
        counterpartyId: input.providerId,
        counterpartyAddress: stripSlash(input.providerAddress),
        format: input.format,
        state: 'REQUESTED',
      },
      { cause: 'TransferRequestMessage', actor: 'local' },
    )
    await ctx.outbox.enqueue(tx, { transfer: row, url: `${row.counterpartyAddress}/transfers/request`, body: queued })
    return row
  })
  ctx.outbox.kick()
  return created
}

function reasonText(reason: unknown[] | undefined, code: string | undefined): string | undefined {
  const parts = (reason ?? []).map((r) => (typeof r === 'string' ? r : JSON.stringify(r)))
  const text = [code ? `[${code}]` : '', ...parts].filter(Boolean).join(' ').slice(0, 2000)
  return text || undefined
}

const stripSlash = (url: string) => url.replace(/\/+$/, '')

/** Both http(s) URLs on the same host name. */
export function sameHost(a: string, b: string): boolean {
  try {
    const x = new URL(a)
    const y = new URL(b)
    return /^https?:$/.test(x.protocol) && /^https?:$/.test(y.protocol) && x.hostname.toLowerCase() === y.hostname.toLowerCase()
  } catch {
    return false
  }
}
