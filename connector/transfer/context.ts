import type { Clock } from '../clock.ts'
import type { AuditTrail } from '../audit/audit-trail.ts'
import type { IdSource } from '../ids.ts'
import { PasserelleError } from '../errors.ts'
import type { Db, Store } from '../store/store.ts'
import type { Dispatcher } from '../dispatch/dispatcher.ts'
import type { Logger } from '../telemetry/logger.ts'
import type { S3Credentials } from './data-plane/s3-client.ts'
import type { AgreementLookup, DataPlaneControl, TransferScripts, TransferStep, UsagePolicy } from './ports.ts'
import { transferRepository, type TransferRecord, type TransferRepository } from './repository.ts'
import type { Role } from './state-machine.ts'
import type { AnswerGate } from '../process/answer-gate.ts'
import { usageGate, type UsageGate } from './usage-gate.ts'

/*
 * What both roles of a transfer share: the context every operation takes, the outbox it writes
 * to, the steps it stores, its repository and usage gate. The roles are in provider.ts and
 * consumer.ts, what either side does to a running process in process-steps.ts.
 */

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
  /** Whether a message or step of a process still waits to be delivered. */
  hasPending(db: Db, id: string): Promise<boolean>
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
    hasPending: (db, id) => dispatcher.hasPending(db, id),
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

export const pidsOf = (t: TransferRecord) => ({ providerPid: t.providerPid ?? '', consumerPid: t.consumerPid })
export const other = (role: Role): Role => (role === 'provider' ? 'consumer' : 'provider')

/** Unknown, or somebody else's: the same answer, so that pids cannot be probed. */
export const notFound = (pid: string, consumerPid = '') => new PasserelleError('not_found', 'no such transfer process', { providerPid: pid, consumerPid })

/** Writes the local actions that follow a stored change as one step, in its transaction. */
export async function enqueueActions(
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

export const stripSlash = (url: string) => url.replace(/\/+$/, '')
