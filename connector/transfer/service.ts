import type { Clock, IdSource } from '../context.ts'
import { PasserelleError } from '../errors.ts'
import type { Db, Store } from '../store/store.ts'
import type { DispatchHandler, Dispatcher } from '../dispatch/dispatcher.ts'
import type { Logger } from '../telemetry/logger.ts'
import {
  dspContext,
  readHttpDataAddress,
  transferFormats,
  type DataAddress,
  type ProcessMessageType,
  type TransferRequestMessage,
} from './messages.ts'
import type {
  AgreementLookup,
  DataPlaneControl,
  TransferScripts,
  TransferStep,
  UsagePolicy,
} from './ports.ts'
import { transferRepository, type TransferRecord, type TransferRepository } from './repository.ts'
import { transition, type Role } from './state-machine.ts'

/** What transfer operations need. */
export interface TransferCtx {
  store: Store
  clock: Clock
  ids: IdSource
  logger: Logger
  self: { participantId: string; dspUrl: string }
  agreements: AgreementLookup
  usage: UsagePolicy
  /** Outbound DSP messages: written in the transaction of the state change, delivered with bounded retries. */
  outbox: TransferOutbox
  dataPlane: DataPlaneControl
  scripts?: TransferScripts
  /** Runs follow-up work once the current answer has gone out (the next message of a flow never overtakes it). */
  later(task: () => Promise<void>): void
}

/** The part of the shared dispatcher transfers use. */
export interface TransferOutbox {
  enqueue(tx: Db, message: { transfer: TransferRecord; url: string; body: object }): Promise<void>
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
    kick: () => dispatcher.kick(),
  }
}

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
export function repo(ctx: Pick<TransferCtx, 'store' | 'clock' | 'ids'>): TransferRepository {
  let r = repositories.get(ctx.store)
  if (!r) {
    r = transferRepository(ctx.store, { clock: ctx.clock, ids: ctx.ids })
    repositories.set(ctx.store, r)
  }
  return r
}

const pidsOf = (t: TransferRecord) => ({ providerPid: t.providerPid ?? '', consumerPid: t.consumerPid })
const other = (role: Role): Role => (role === 'provider' ? 'consumer' : 'provider')

/** Unknown, or somebody else's: the same answer, so that pids cannot be probed. */
const notFound = (pid: string, consumerPid = '') =>
  new PasserelleError('not_found', 'no such transfer process', { providerPid: pid, consumerPid })

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
  if (message.format === 'HttpData-PUSH') {
    const target = readHttpDataAddress(message.dataAddress)
    if (!target) throw new PasserelleError('bad_request', 'a push transfer needs an HTTP dataAddress with a bearer authorization', pids)
    // We send data there: only to the consumer's own host, never to a place it merely names (our
    // own network, a metadata service…).
    if (!sameHost(target.endpoint, message.callbackAddress)) {
      throw new PasserelleError('bad_request', "the push endpoint must be an http(s) URL on the same host as the consumer's callbackAddress", pids)
    }
  }
  const providerPid = ctx.ids.next()
  const transfer = await ctx.store.transaction((tx) =>
    r.insert(
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
    ),
  )
  const decision = ctx.usage.check({ agreement, scope: 'transfer', requester, now: ctx.clock.now(), accessCount: 0 })
  const steps: TransferStep[] = decision.allowed ? (ctx.scripts?.provider(agreement.id) ?? ['start']) : ['terminate']
  runSteps(ctx, providerPid, steps, decision.allowed ? { actor: 'local' } : { actor: 'policy', reason: decision.reason })
  return { transfer, created: true }
}

/** Runs scripted steps one after the other, after the current answer has gone out. */
function runSteps(ctx: TransferCtx, id: string, steps: TransferStep[], how: { actor: Actor; reason?: string }) {
  if (steps.length === 0) return
  ctx.later(async () => {
    for (const step of steps) {
      const current = await repo(ctx).get(ctx.store.db, id)
      if (!current || current.state === 'COMPLETED' || current.state === 'TERMINATED') return
      try {
        await act({ ctx, input: { id, action: step, actor: how.actor, reason: how.reason } })
      } catch (error) {
        ctx.logger.warn('transfer step failed', { transferId: id, step, error })
        return
      }
    }
  })
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
  const result = await ctx.store.transaction(async (tx) => {
    const current = await r.lock(tx, pid)
    if (!current || current.counterpartyId !== requester) throw notFound(pid, message.consumerPid)
    // The body must name this very process: our pid must match, and the peer's pid too once we know it.
    const ours = current.role === 'provider' ? message.providerPid : message.consumerPid
    const theirs = current.role === 'provider' ? message.consumerPid : message.providerPid
    const knownTheirs = current.role === 'provider' ? current.consumerPid : current.providerPid
    if (ours !== current.id || (knownTheirs && theirs !== knownTheirs)) throw notFound(pid, message.consumerPid)
    const sender = other(current.role)
    const next = transition(current.state, sender, type)
    if (!next.ok) {
      // The same message again (the peer retried because our answer was lost): answer it again.
      const [last] = (await r.timeline(tx, current.id)).slice(-1)
      if (last && last.actor === 'peer' && last.cause === type && last.toState === current.state) return { updated: current, firstStart: false }
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
    const updated = await r.setState(tx, current, next.to, { cause: type, actor: 'peer', reason }, patch)
    return { updated, firstStart: current.role === 'consumer' && current.state === 'REQUESTED' && next.to === 'STARTED' }
  })
  if (result.firstStart) runSteps(ctx, result.updated.id, ctx.scripts?.consumer(result.updated.agreementId)?.onStarted ?? [], { actor: 'local' })
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
  const updated = await ctx.store.transaction(async (tx) => {
    const current = await r.lock(tx, input.id)
    if (!current) throw new PasserelleError('not_found', `no transfer ${input.id}`)
    if (!current.providerPid) throw new PasserelleError('invalid_state', 'the provider has not answered this request yet', pidsOf(current))
    const next = transition(current.state, current.role, type)
    if (!next.ok) throw new PasserelleError('invalid_state', next.reason, pidsOf(current))
    const changed = await r.setState(tx, current, next.to, { cause: type, actor: input.actor, reason: input.reason }, input.reason ? { reason: input.reason } : {})
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
        if (!transfer.providerPid) await repo(ctx).update(ctx.store.db, transfer.id, { providerPid })
        runSteps(ctx, transfer.id, ctx.scripts?.consumer(transfer.agreementId)?.onRequested ?? [], { actor: 'local' })
        return
      }
      if (type === 'TransferStartMessage' && transfer.role === 'provider' && transfer.format === 'HttpData-PUSH') {
        ctx.later(() => pushAndComplete(ctx, transfer))
      }
    },
    async failed({ item, reason }) {
      const type = (item.body as { '@type'?: string })['@type']
      if (type === 'TransferTerminationMessage') return
      await terminateLocally(ctx, item.processId, reason)
    },
  }
}

/** Ends a process without telling the other side (it could not be reached, or told us first). */
export async function terminateLocally(ctx: TransferCtx, id: string, reason: string, actor: Actor = 'local') {
  const r = repo(ctx)
  await ctx.store.transaction(async (tx) => {
    const current = await r.lock(tx, id)
    if (!current || current.state === 'TERMINATED' || current.state === 'COMPLETED') return
    await r.setState(tx, current, 'TERMINATED', { cause: 'local-termination', actor, reason }, { reason })
  })
}

/** Provider, push: sends the data, then completes; a failure terminates with the reason. */
export async function pushAndComplete(ctx: TransferCtx, transfer: TransferRecord) {
  const address = transfer.dataAddress as DataAddress | null
  try {
    if (!address) throw new Error('no data address to push to')
    const sent = await ctx.dataPlane.push(transfer, address)
    await repo(ctx).update(ctx.store.db, transfer.id, { size: sent.bytes, sha256: sent.sha256 })
    await act({ ctx, input: { id: transfer.id, action: 'complete', actor: 'data-plane' } })
  } catch (error) {
    const current = await repo(ctx).get(ctx.store.db, transfer.id)
    if (current?.state !== 'STARTED' && current?.state !== 'SUSPENDED') return
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
  input: { agreementId: string; providerId: string; providerAddress: string; format: string; datasetId?: string | null }
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
    await ctx.outbox.enqueue(tx, { transfer: row, url: `${row.counterpartyAddress}/transfers/request`, body })
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
