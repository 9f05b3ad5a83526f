import { z } from 'zod'
import type { Area } from '../area.ts'
import type { Dispatcher } from './dispatcher.ts'

export const PeerDeliveryState = z.object({
  peerAddress: z.string(),
  inFlight: z.number().int(),
  circuit: z.enum(['closed', 'open', 'half-open']),
  consecutiveFailures: z.number().int(),
  retryAt: z.string().optional(),
  lastError: z.string().optional(),
})
export type PeerDeliveryState = z.infer<typeof PeerDeliveryState>

export const OutboxPeers = z.object({ peers: z.array(PeerDeliveryState) })
export type OutboxPeers = z.infer<typeof OutboxPeers>

/**
 * `GET /management/v1/outbox/peers`: the peers this replica delivers protocol messages to, with
 * the messages in flight and the state of each one's circuit breaker (a peer that did not answer
 * in time several times in a row is left alone for a while, then probed). Read-only; each replica
 * answers for itself.
 */
export const outboxArea = (dispatcher: Dispatcher): Area => ({
  name: 'outbox',
  routes({ management, openapi }) {
    openapi.add({
      method: 'get',
      path: '/outbox/peers',
      summary: "The peers this replica delivers messages to: in flight, and each one's circuit breaker",
      tags: ['outbox'],
      responses: { 200: { description: 'the peers, in the order first delivered to', schema: OutboxPeers } },
    })
    management.get('/outbox/peers', (c) => c.json({ peers: dispatcher.peers() } satisfies OutboxPeers))
  },
})
