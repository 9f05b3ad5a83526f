import { PasserelleError } from '../errors.ts'
import type { DispatchHandler } from '../dispatch/dispatcher.ts'
import { isPushFormat, type TransferRequestMessage } from './messages.ts'
import { s3DataAddress, type S3DestinationInput } from './s3-address.ts'
import { failpoint } from '../process/failpoint.ts'
import { repo, transferTopic, type TransferCtx, type TransferStepRow } from './context.ts'
import { act, terminateAndTell } from './process-steps.ts'
import { pushAndComplete } from './provider.ts'
import { providerAnswered } from './consumer.ts'

/*
 * The transfer area's service: the outbox's handler and the steps it runs, over the roles
 * (provider.ts, consumer.ts) and what either side does (process-steps.ts). What other modules use
 * is exported from here.
 */

export {
  dispatcherOutbox,
  gate,
  repo,
  transferTopic,
  type Actor,
  type LocalAction,
  type TransferCtx,
  type TransferOutbox,
  type TransferStepRow,
} from './context.ts'
export { act, readTransferForPeer, receiveTransferMessage, terminateAndTell, terminateLocally } from './process-steps.ts'
export { pushAndComplete, receiveTransferRequest } from './provider.ts'
export { requestTransfer } from './consumer.ts'

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
      if (type === 'TransferRequestMessage') return providerAnswered(ctx, transfer, body)
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
