import { PasserelleError } from '../errors.ts'
import { dspContext, type DataAddress, type ProcessMessageType } from './messages.ts'
import type { TransferRecord, TransferRepository } from './repository.ts'
import { transition } from './state-machine.ts'
import { inboundDecision } from '../process/idempotency.ts'
import { messageDigest } from '../process/message-digest.ts'
import { pidMismatch } from '../process/pids.ts'
import { type Actor, enqueueActions, type LocalAction, notFound, other, pidsOf, repo, type TransferCtx } from './context.ts'

/*
 * What either role does to a running process: apply the other side's message, answer its GET, take
 * a local action (and tell the other side), end the process.
 */

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

/** The other side's message about an existing process (either role). */
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

/** A local action (management API, scripts, monitor, data plane): change state, then tell the other side. */
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

function reasonText(reason: unknown[] | undefined, code: string | undefined): string | undefined {
  const parts = (reason ?? []).map((r) => (typeof r === 'string' ? r : JSON.stringify(r)))
  const text = [code ? `[${code}]` : '', ...parts].filter(Boolean).join(' ').slice(0, 2000)
  return text || undefined
}
