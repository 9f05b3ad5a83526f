import { PasserelleError } from '../errors.ts'
import { readHttpDataAddress, transferFormats, type DataAddress, type TransferRequestMessage } from './messages.ts'
import { readS3DataAddress, redactDataAddress, s3EndpointUrl, s3PushFormat } from './s3-address.ts'
import type { TransferStep } from './ports.ts'
import type { TransferRecord } from './repository.ts'
import { enqueueActions, gate, pidsOf, repo, stripSlash, type TransferCtx } from './context.ts'
import { act } from './process-steps.ts'

/*
 * The provider's side of a transfer: a consumer asks for one (the usage gate decides whether it
 * starts), and a push sends the data and completes.
 */

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
