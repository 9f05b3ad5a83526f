import type { ServerResponse } from 'node:http'
import { Hono, type Context } from 'hono'
import type { AppEnv } from '../http/env.ts'
import { dspEndpoints as endpoints, serveDsp } from '../dsp/endpoints.ts'
import { declaredUseOf } from '../dsp/declared-use.ts'
import { PasserelleError } from '../errors.ts'
import type { Requester } from '../identity/types.ts'
import { negotiationBody } from './messages.ts'
import { ownOfferFor, receiveInitialOffer, receiveMessage, receiveRequest, type NegotiationRuntime } from './service.ts'
import type { MessageKind } from './state-machine.ts'

/**
 * The DSP contract negotiation endpoints, mounted under the DSP base. The same `/negotiations/:pid`
 * paths serve our provider processes (providerPid) and, as our callback address, our consumer
 * processes (consumerPid): the pid says which. Messages and their schemas: `dsp/endpoints.ts`.
 */
export function negotiationDspRoutes(rt: NegotiationRuntime) {
  const app = new Hono<AppEnv>()
  const authenticate = (c: Context): Promise<Requester> => rt.authenticator.authenticate({ authorization: c.req.header('authorization') })

  /**
   * The step that follows was stored with the message; it only waits for this answer to go out
   * (the gate lets it run after at most a short wait even when the socket closed unseen).
   */
  const answered = (c: Context, id: string) => {
    const release = () => rt.answers.release(id)
    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing
    if (outgoing && typeof outgoing.once === 'function' && !outgoing.writableFinished) {
      outgoing.once('finish', release)
      outgoing.once('close', release)
    } else setImmediate(release)
  }

  const mount = '/negotiations'
  serveDsp(app, mount, endpoints.negotiation, async (c) => {
    const requester = await authenticate(c)
    const pid = c.req.param('pid')!
    const n = await rt.repo.find(rt.ctx.store.db, pid)
    if (!n || (n.counterpartyId !== null && n.counterpartyId !== requester.participantId)) {
      throw new PasserelleError('not_found', `no negotiation ${pid}`, n?.role === 'consumer' ? { consumerPid: pid } : { providerPid: pid })
    }
    return c.json(negotiationBody(n))
  })

  serveDsp(app, mount, endpoints.contractRequest, async (c, read) => {
    const authenticated = await authenticate(c)
    const message = await read()
    opening(message, 'providerPid', '/negotiations/:providerPid/request')
    const declared = declaredUseOf(message)
    const requester: Requester = declared ? { ...authenticated, declared } : authenticated
    const { negotiation, created } = await receiveRequest({ rt, requester, message })
    if (created) answered(c, negotiation.id)
    return c.json(negotiationBody(negotiation), 201)
  })

  serveDsp(app, mount, endpoints.contractOffer, async (c, read) => {
    const requester = await authenticate(c)
    const message = await read()
    opening(message, 'consumerPid', '/negotiations/:consumerPid/offers')
    const { negotiation, created } = await receiveInitialOffer({ rt, requester, message })
    if (created) answered(c, negotiation.id)
    return c.json(negotiationBody(negotiation), 201)
  })

  const handle = async (
    c: Context,
    kind: MessageKind | ((message: Record<string, unknown>) => MessageKind),
    body: { read: () => Promise<Record<string, unknown>> } | { authenticated: Requester; message: Record<string, unknown> },
    received?: (m: Record<string, unknown>) => Record<string, unknown>,
  ) => {
    const requester = 'authenticated' in body ? body.authenticated : await authenticate(c)
    const message = 'message' in body ? body.message : await body.read()
    const messageKind = typeof kind === 'function' ? kind(message) : kind
    const carried = received?.(message)
    const { negotiation, repeated } = await receiveMessage({ rt, pid: c.req.param('pid')!, kind: messageKind, requester, message, received: carried })
    if (!repeated) answered(c, negotiation.id)
    return c.json(negotiationBody(negotiation), 200)
  }

  // A counter request goes on with our own published offer, once its terms were found unchanged.
  // A callbackAddress it carries is not read: the process keeps the address it was opened with.
  serveDsp(app, mount, endpoints.counterRequest, async (c, read) => {
    const authenticated = await authenticate(c)
    const message = await read()
    const own = await ownOfferFor({ rt, pid: c.req.param('pid')!, requester: authenticated, message })
    return handle(c, 'counter-request', { authenticated, message }, () => own)
  })
  serveDsp(app, mount, endpoints.counterOffer, (c, read) => handle(c, 'counter-offer', { read }, (m) => m.offer as Record<string, unknown>))
  serveDsp(app, mount, endpoints.negotiationEvent, (c, read) => handle(c, (m) => (m.eventType === 'ACCEPTED' ? 'accepted' : 'finalized'), { read }))
  serveDsp(app, mount, endpoints.agreement, (c, read) => handle(c, 'agreement', { read }, (m) => m.agreement as Record<string, unknown>))
  serveDsp(app, mount, endpoints.verification, (c, read) => handle(c, 'verification', { read }))
  serveDsp(app, mount, endpoints.negotiationTermination, (c, read) => handle(c, 'termination', { read }))

  return app
}

/**
 * A message that opens a process names no pid of ours yet: one that does belongs on the process's
 * own path (the schema lets both pids and `callbackAddress` through; the state machine decides).
 */
function opening(message: { providerPid?: string | undefined; consumerPid?: string | undefined }, ours: 'providerPid' | 'consumerPid', path: string) {
  const pid = message[ours]
  if (pid !== undefined) {
    throw new PasserelleError('bad_request', `a message naming ${ours} ${pid} continues that process: send it to ${path}`, {
      providerPid: message.providerPid,
      consumerPid: message.consumerPid,
    })
  }
}
