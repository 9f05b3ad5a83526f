import { PasserelleError } from '../errors.ts'
import { dspContext, transferFormats, type TransferRequestMessage } from './messages.ts'
import { s3PushFormat, type S3DestinationInput } from './s3-address.ts'
import type { TransferRecord } from './repository.ts'
import { enqueueActions, repo, stripSlash, type TransferCtx } from './context.ts'
import { terminateLocally } from './process-steps.ts'

/*
 * The consumer's side of a transfer: ask a provider for one, and take in its answer (the
 * provider's pid).
 */

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

/**
 * The provider answered our request (its delivery succeeded): its answer names its pid, and the
 * scripted actions that follow a request are stored as a step.
 */
export async function providerAnswered(ctx: TransferCtx, transfer: TransferRecord, body: unknown) {
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
}
