import type { ServerResponse } from 'node:http'
import { Hono, type Context } from 'hono'
import type { AppEnv } from '../http/env.ts'
import { parseJsonBody } from '../http/validate.ts'
import {
  ContractAgreementMessage,
  ContractAgreementVerificationMessage,
  ContractNegotiationEventMessage,
  ContractNegotiationTerminationMessage,
  ContractOfferMessage,
  ContractRequestMessage,
} from '../dsp/negotiation-messages.ts'
import { declaredUseOf } from '../dsp/declared-use.ts'
import { PasserelleError } from '../errors.ts'
import type { Requester } from '../identity/types.ts'
import { negotiationBody } from './messages.ts'
import { react, receiveInitialOffer, receiveMessage, receiveRequest, type NegotiationRuntime } from './service.ts'
import type { MessageKind } from './state-machine.ts'

/**
 * The DSP contract negotiation endpoints, mounted under the DSP base. The same `/negotiations/:pid`
 * paths serve our provider processes (providerPid) and, as our callback address, our consumer
 * processes (consumerPid): the pid says which.
 */
export function negotiationDspRoutes(rt: NegotiationRuntime) {
  const app = new Hono<AppEnv>()
  const authenticate = (c: Context): Promise<Requester> => rt.authenticator.authenticate({ authorization: c.req.header('authorization') })

  /** The next step waits until our answer has gone out. */
  const afterAnswer = (c: Context, step: () => Promise<void>) => {
    let done = false
    const run = () => {
      if (done) return
      done = true
      step().catch((error) => rt.ctx.logger.error('negotiation follow-up failed', { error }))
    }
    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing
    if (outgoing && typeof outgoing.once === 'function' && !outgoing.writableFinished) {
      outgoing.once('finish', run)
      outgoing.once('close', run)
    } else setTimeout(run, 0)
  }

  app.get('/:pid', async (c) => {
    const requester = await authenticate(c)
    const pid = c.req.param('pid')
    const n = await rt.repo.find(rt.ctx.store.db, pid)
    if (!n || (n.counterpartyId !== null && n.counterpartyId !== requester.participantId)) {
      throw new PasserelleError('not_found', `no negotiation ${pid}`, n?.role === 'consumer' ? { consumerPid: pid } : { providerPid: pid })
    }
    return c.json(negotiationBody(n))
  })

  app.post('/request', async (c) => {
    const authenticated = await authenticate(c)
    const message = await parseJsonBody(c, ContractRequestMessage)
    const declared = declaredUseOf(message)
    const requester: Requester = declared ? { ...authenticated, declared } : authenticated
    const { negotiation, created } = await receiveRequest({ rt, requester, message })
    if (created) afterAnswer(c, () => react({ rt, id: negotiation.id, trigger: 'request', requester, known: negotiation }))
    return c.json(negotiationBody(negotiation), 201)
  })

  app.post('/offers', async (c) => {
    const requester = await authenticate(c)
    const message = await parseJsonBody(c, ContractOfferMessage)
    const { negotiation, created } = await receiveInitialOffer({ rt, requester, message })
    if (created) afterAnswer(c, () => react({ rt, id: negotiation.id, trigger: 'offer', requester, received: message.offer, known: negotiation }))
    return c.json(negotiationBody(negotiation), 201)
  })

  const handle = async (c: Context, kind: MessageKind | ((message: Record<string, unknown>) => MessageKind), body: { parse: unknown }, received?: (m: Record<string, unknown>) => Record<string, unknown>) => {
    const requester = await authenticate(c)
    const message = (await parseJsonBody(c, body.parse as never)) as Record<string, unknown>
    const messageKind = typeof kind === 'function' ? kind(message) : kind
    const carried = received?.(message)
    const { negotiation, repeated } = await receiveMessage({ rt, pid: c.req.param('pid')!, kind: messageKind, requester, message, received: carried })
    if (!repeated) afterAnswer(c, () => react({ rt, id: negotiation.id, trigger: messageKind, requester, received: carried, known: negotiation }))
    return c.json(negotiationBody(negotiation), 200)
  }

  app.post('/:pid/request', (c) =>
    handle(c, 'counter-request', { parse: ContractRequestMessage }, (m) => m.offer as Record<string, unknown>),
  )
  app.post('/:pid/offers', (c) => handle(c, 'counter-offer', { parse: ContractOfferMessage }, (m) => m.offer as Record<string, unknown>))
  app.post('/:pid/events', (c) =>
    handle(c, (m) => (m.eventType === 'ACCEPTED' ? 'accepted' : 'finalized'), { parse: ContractNegotiationEventMessage }),
  )
  app.post('/:pid/agreement', (c) => handle(c, 'agreement', { parse: ContractAgreementMessage }, (m) => m.agreement as Record<string, unknown>))
  app.post('/:pid/agreement/verification', (c) => handle(c, 'verification', { parse: ContractAgreementVerificationMessage }))
  app.post('/:pid/termination', (c) => handle(c, 'termination', { parse: ContractNegotiationTerminationMessage }))

  return app
}
