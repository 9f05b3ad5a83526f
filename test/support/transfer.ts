/**
 * Test doubles for the transfer area (clocks and ids are context.ts's `testClock` and `testIds`): a
 * static authenticator, an in-memory agreement book, a recording messenger, and a `later` queue tests drain explicitly.
 */
import { PasserelleError } from '../../connector/errors.ts'
import type { Authenticator } from '../../connector/identity/types.ts'
import type { Store } from '../../connector/store/store.ts'
import { createLogger } from '../../connector/telemetry/logger.ts'
import { httpDataAddress, type DataAddress } from '../../connector/transfer/messages.ts'
import { createDispatcher, type Send } from '../../connector/dispatch/dispatcher.ts'
import type { Agreement, AgreementLookup, DataPlaneControl, TransferScripts, UsagePolicy } from '../../connector/transfer/ports.ts'
import type { TransferRecord } from '../../connector/transfer/repository.ts'
import { assertTransferAddresses } from '../../connector/dispatch/callback-address.ts'
import { fixtureEgress, testClock, testIds } from './context.ts'
import { dispatcherOutbox, transferDispatchHandler, transferTopic, type TransferCtx } from '../../connector/transfer/service.ts'

/** The day the transfer tests' clocks start on. */
export const transferDay = Date.parse('2026-11-28T12:00:00Z')

/** `Authorization: Bearer as:<participantId>` authenticates as that participant; anything else is refused. */
export const staticAuthenticator: Authenticator = {
  async authenticate({ authorization }) {
    const match = /^Bearer as:(.+)$/.exec(authorization ?? '')
    if (!match) throw new PasserelleError('unauthorized', 'missing or unknown token')
    return { participantId: match[1]!, credentials: [] }
  },
}
export const bearerFor = (participantId: string) => ({ authorization: `Bearer as:${participantId}` })

export function agreementBook(agreements: Agreement[]): AgreementLookup & { add(a: Agreement): void } {
  const byId = new Map(agreements.map((a) => [a.id, a]))
  return { find: async (id) => byId.get(id), add: (a) => void byId.set(a.id, a) }
}

export const agreement = (id: string, over: Partial<Agreement> = {}): Agreement => ({
  id,
  state: 'FINALIZED',
  assigner: 'did:web:provider.test',
  assignee: 'did:web:consumer.test',
  target: 'urn:dataset:weather',
  signedAt: new Date('2026-11-01T00:00:00Z'),
  policy: {},
  ...over,
})

export const allowAll: UsagePolicy = { check: () => ({ allowed: true, reason: 'allowed' }) }

export interface SentMessage {
  url: string
  body: Record<string, unknown>
}

/**
 * A peer as the dispatcher sees it: records what is sent; `answer` gives the reply body (200), or a
 * `{ status, body }` via `answerWith`, or throws to simulate an unreachable peer.
 */
export function recordingPeer(answer: (m: SentMessage) => unknown = () => ({})) {
  const sent: SentMessage[] = []
  const send: Send = async ({ url, body }) => {
    const m = { url, body: body as Record<string, unknown> }
    sent.push(m)
    const reply = answer(m)
    if (reply && typeof reply === 'object' && statusMark in reply) return reply as unknown as { status: number; body: unknown }
    return { status: 200, body: reply }
  }
  return { sent, send }
}
const statusMark = 'status'
export const answerWith = (status: number, body: unknown = {}) => ({ status, body })
/** Kept for readability in tests: the recording peer. */
export const recordingMessenger = recordingPeer

export const fakeDataPlane: DataPlaneControl = {
  pullAddress: async (t: TransferRecord) => httpDataAddress(`http://127.0.0.1:1/data/transfers/${t.id}`, `token-for-${t.id}`),
  receiveAddress: async (t) => httpDataAddress(`http://127.0.0.1:1/data/incoming/${t.id}`, `receive-${t.id}`),
  push: async (_t: TransferRecord, _a: DataAddress) => ({ bytes: 3, sha256: 'abc' }),
}

export function laterQueue() {
  const tasks: Array<() => Promise<void>> = []
  return {
    later: (task: () => Promise<void>) => void tasks.push(task),
    /** Runs queued work, including work queued by that work. */
    async settle() {
      while (tasks.length > 0) await tasks.shift()!()
    },
    get pending() {
      return tasks.length
    },
  }
}

/** Every dispatcher the helpers started; tests stop them between cases so none picks up another's messages. */
const running = new Set<{ stop(): Promise<void> }>()
export async function stopTestDispatchers() {
  const all = [...running]
  running.clear()
  await Promise.all(all.map((d) => d.stop()))
}

export function transferTestCtx(options: {
  store: Store
  participantId: string
  dspUrl?: string
  agreements?: AgreementLookup
  usage?: UsagePolicy
  messenger?: ReturnType<typeof recordingPeer>
  /** Dispatcher attempts per message (1: a failure is final at once). */
  maxAttempts?: number
  dataPlane?: DataPlaneControl
  scripts?: TransferScripts
  clock?: ReturnType<typeof testClock>
}) {
  const queue = laterQueue()
  const clock = options.clock ?? testClock(transferDay)
  const logger = createLogger({ level: 'error', write: () => {} })
  const peer = options.messenger ?? recordingPeer()
  const dispatcher = createDispatcher({ store: options.store, clock, logger, send: peer.send, maxAttempts: options.maxAttempts ?? 1, baseDelayMs: 1 })
  const ctx: TransferCtx = {
    store: options.store,
    clock,
    ids: testIds(`urn:uuid:${options.participantId.length.toString(16).padStart(8, '0')}-0000-4000-8000-`),
    logger,
    self: { participantId: options.participantId, dspUrl: options.dspUrl ?? 'http://127.0.0.1:1/dsp' },
    agreements: options.agreements ?? agreementBook([]),
    usage: options.usage ?? allowAll,
    outbox: dispatcherOutbox(dispatcher),
    dataPlane: options.dataPlane ?? fakeDataPlane,
    scripts: options.scripts,
    later: queue.later,
    checkAddresses: (input) => assertTransferAddresses({ egress: fixtureEgress, store: options.store, logger }, input),
  }
  dispatcher.handle(transferTopic, transferDispatchHandler(ctx))
  dispatcher.start()
  running.add(dispatcher)
  /** Runs follow-up work and delivers every due message until nothing is left. */
  const settle = async () => {
    for (let round = 0; round < 50; round++) {
      await queue.settle()
      dispatcher.kick()
      await dispatcher.idle()
      if (queue.pending === 0) return
    }
    throw new Error('transfer work did not settle')
  }
  return { ctx, queue: { ...queue, settle }, clock, dispatcher, sent: peer.sent }
}
