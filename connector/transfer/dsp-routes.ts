import type { ServerResponse } from 'node:http'
import { Hono, type Context } from 'hono'
import { dspEndpoints as endpoints, serveDsp, type DspEndpoint } from '../dsp/endpoints.ts'
import type { AppEnv } from '../http/env.ts'
import type { Authenticator } from '../identity/types.ts'
import { transferProcessBody, type ProcessMessageType } from './messages.ts'
import { readTransferForPeer, receiveTransferMessage, receiveTransferRequest, type TransferCtx } from './service.ts'
import type { TransferRecord } from './repository.ts'

const processBody = (t: TransferRecord) => transferProcessBody({ providerPid: t.providerPid ?? '', consumerPid: t.consumerPid, state: t.state })

/**
 * DSP 2025-1 transfer endpoints, mounted under the DSP base. The same paths serve both roles: the
 * pid in the path is ours, so it names a process where we provide or one where we consume.
 * Messages and their schemas: `dsp/endpoints.ts`; errors are answered by the app's one handler.
 */
export function transferDspRoutes(deps: { ctx: TransferCtx; authenticator: Authenticator }) {
  const { ctx, authenticator } = deps
  const app = new Hono<AppEnv>()

  const requesterOf = async (c: Context) => {
    const requester = await authenticator.authenticate({ authorization: c.req.header('authorization') })
    return requester.participantId
  }

  serveDsp(app, '', endpoints.transferRequest, async (c, read) => {
    const requester = await requesterOf(c)
    const message = await read()
    const { transfer } = await receiveTransferRequest({ ctx, input: { requester, message } })
    answered(c, ctx, transfer.id)
    return c.json(processBody(transfer), 201)
  })

  serveDsp(app, '', endpoints.transfer, async (c) => {
    const requester = await requesterOf(c)
    const transfer = await readTransferForPeer({ ctx, input: { requester, pid: c.req.param('pid')! } })
    return c.json(processBody(transfer), 200)
  })

  const processMessage = (type: ProcessMessageType, e: DspEndpoint) =>
    serveDsp(app, '', e, async (c, read) => {
      const requester = await requesterOf(c)
      const message = await read()
      const transfer = await receiveTransferMessage({
        ctx,
        input: { requester, pid: c.req.param('pid')!, type, message: message as Parameters<typeof receiveTransferMessage>[0]['input']['message'] },
      })
      answered(c, ctx, transfer.id)
      return c.json(processBody(transfer), 200)
    })
  processMessage('TransferStartMessage', endpoints.transferStart)
  processMessage('TransferCompletionMessage', endpoints.transferCompletion)
  processMessage('TransferSuspensionMessage', endpoints.transferSuspension)
  processMessage('TransferTerminationMessage', endpoints.transferTermination)

  return app
}

/** The steps a message caused were stored with it; they wait only until this answer has gone out. */
function answered(c: Context, ctx: TransferCtx, id: string) {
  if (!ctx.answers) return
  const release = () => ctx.answers?.release(id)
  const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing
  if (outgoing && typeof outgoing.once === 'function' && !outgoing.writableFinished) {
    outgoing.once('finish', release)
    outgoing.once('close', release)
  } else setImmediate(release)
}
