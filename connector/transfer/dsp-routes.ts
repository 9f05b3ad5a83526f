import { Hono, type Context } from 'hono'
import { concealProcessesFromStrangers, dspErrorHandler } from '../dsp/errors.ts'
import { toPasserelleError } from '../http/error-response.ts'
import { readText } from '../http/validate.ts'
import { PasserelleError } from '../errors.ts'
import type { Authenticator } from '../identity/types.ts'
import {
  processMessages,
  TransferRequestMessage,
  transferProcessBody,
  type ProcessMessageType,
} from './messages.ts'
import { readTransferForPeer, receiveTransferMessage, receiveTransferRequest, type TransferCtx } from './service.ts'
import type { TransferRecord } from './repository.ts'

/** Largest DSP transfer message we read; they are small JSON objects. */
const maxBodyBytes = 256 * 1024

const pathMessage: Record<string, ProcessMessageType> = {
  start: 'TransferStartMessage',
  completion: 'TransferCompletionMessage',
  suspension: 'TransferSuspensionMessage',
  termination: 'TransferTerminationMessage',
}

/** The body of every failed transfer request: a TransferError with both pids (empty when unknown). */
export const renderTransferError = dspErrorHandler('TransferError')

const processBody = (t: TransferRecord) =>
  transferProcessBody({ providerPid: t.providerPid ?? '', consumerPid: t.consumerPid, state: t.state })

/**
 * DSP 2025-1 transfer endpoints, mounted under the DSP base. The same paths serve both roles: the
 * pid in the path is ours, so it names a process where we provide or one where we consume.
 */
export function transferDspRoutes(deps: { ctx: TransferCtx; authenticator: Authenticator }) {
  const { ctx, authenticator } = deps
  const app = new Hono()
  app.onError((error, c) => {
    const known = toPasserelleError(error)
    if (known.code === 'unauthorized') ctx.logger.info('request refused', { method: c.req.method, path: c.req.path, status: 404, reason: known.message })
    return renderTransferError(concealProcessesFromStrangers(known, c), c)
  })

  const requesterOf = async (c: Context) => {
    const requester = await authenticator.authenticate({ authorization: c.req.header('authorization') })
    return requester.participantId
  }

  app.post('/transfers/request', async (c) => {
    const requester = await requesterOf(c)
    const message = parse(TransferRequestMessage, await readMessage(c))
    const { transfer } = await receiveTransferRequest({ ctx, input: { requester, message } })
    return c.json(processBody(transfer), 201)
  })

  app.get('/transfers/:pid', async (c) => {
    const requester = await requesterOf(c)
    const transfer = await readTransferForPeer({ ctx, input: { requester, pid: c.req.param('pid') } })
    return c.json(processBody(transfer), 200)
  })

  app.post('/transfers/:pid/:action', async (c) => {
    const type = pathMessage[c.req.param('action')]
    if (!type) throw new PasserelleError('not_found', 'no such transfer endpoint')
    const requester = await requesterOf(c)
    const raw = await readMessage(c)
    const message = parse(processMessages[type] as unknown as typeof processMessages.TransferStartMessage, raw) as { '@type': string }
    if (message['@type'] !== type) throw new PasserelleError('bad_request', `expected a ${type}`, pidsIn(raw))
    const transfer = await receiveTransferMessage({
      ctx,
      input: { requester, pid: c.req.param('pid'), type, message: message as unknown as Parameters<typeof receiveTransferMessage>[0]['input']['message'] },
    })
    return c.json(processBody(transfer), 200)
  })

  return app
}

/** Transfer messages are read whatever their declared type (some peers send none). */
async function readMessage(c: Context): Promise<unknown> {
  const text = await readText(c, maxBodyBytes)
  try {
    return JSON.parse(text)
  } catch {
    throw new PasserelleError('bad_request', 'the body is not JSON')
  }
}

function pidsIn(raw: unknown) {
  const r = (raw ?? {}) as Record<string, unknown>
  return {
    providerPid: typeof r.providerPid === 'string' ? r.providerPid : '',
    consumerPid: typeof r.consumerPid === 'string' ? r.consumerPid : '',
  }
}

function parse<T>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: Array<{ path: PropertyKey[]; message: string }> } } }, raw: unknown): T {
  const result = schema.safeParse(raw)
  if (result.success) return result.data
  const issue = result.error.issues[0]
  const where = issue?.path.length ? issue.path.map(String).join('.') : 'body'
  throw new PasserelleError('bad_request', `invalid message: ${where}: ${issue?.message ?? 'invalid'}`, pidsIn(raw))
}
