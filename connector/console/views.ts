import type { z } from 'zod'
import type { AuditHistoryView } from '../audit/area.ts'
import type { PeerDeliveryState } from '../dispatch/routes.ts'
import type { PeerStatus } from '../federation/peers.ts'
import type { NegotiationView, TimelineView } from '../negotiation/management-routes.ts'
import type { ObligationView } from '../transfer/obligation-routes.ts'
import type { TransferView } from '../transfer/management-routes.ts'

/** What the console reads from the management API: the API's own response types. */
export type Negotiation = z.infer<typeof NegotiationView>
export type TimelineEntry = z.infer<typeof TimelineView>
export type NegotiationDetail = Negotiation & { timeline: TimelineEntry[] }
export type Transfer = z.infer<typeof TransferView>
export type TransferDetail = Transfer & {
  timeline: TimelineEntry[]
  accesses: Array<{ at: string; status: string; bytes: number | null; range: string | null; reason: string | null }>
}
export type Obligation = z.infer<typeof ObligationView>
export interface Obligations {
  agreementId: string
  policy: string
  accessCount: number
  items: Obligation[]
  timeline: Array<{ at: string; obligationId: string; fromStatus: string | null; toStatus: string; actor: string; reason: string | null }>
}
/** An ODRL agreement as the API lists it (its body, and which negotiation made it). */
export type Agreement = {
  '@id': string
  target: string
  assigner: string
  assignee: string
  timestamp?: string
  negotiationId: string
  role?: 'provider' | 'consumer'
} & Record<string, unknown>
export type AuditHistory = z.infer<typeof AuditHistoryView>
export type AuditRecord = AuditHistory['items'][number]
export type Peer = PeerStatus
export type OutboxPeer = PeerDeliveryState
export type { SearchHit } from '../../catalog/index.ts'
export type { CatalogPreview, EvaluateAnswer, LintProblem, PolicyDetail, PolicyList, PolicyTestRun, TraceNodeView } from '../management/policy-views.ts'
