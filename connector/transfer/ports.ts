import type { Registry } from '../../policies/index.ts'
import type { DataAddress } from './messages.ts'
import type { TransferRecord } from './repository.ts'

/**
 * What the transfer area needs from other areas, as small interfaces. The real implementations
 * (negotiation's agreements, the policy engine, the catalog's distributions, the dispatcher) are
 * wired in `wiring.ts`; tests use doubles.
 */

/** An agreement as the negotiation area stores it. */
export interface Agreement {
  id: string
  /** The negotiation's state; only FINALIZED agreements allow transfers. */
  state: string
  /** Provider participant id. */
  assigner: string
  /** Consumer participant id. */
  assignee: string
  /** Dataset id. */
  target: string
  /** When the agreement was signed. */
  signedAt: Date
  /** The ODRL Agreement body. */
  policy: unknown
  /** The offer it was agreed from, when known: how a data steward knows the policy in refusals. */
  offerId?: string | undefined
  /** The operand registry to evaluate its policy with (the built-in one when absent). */
  registry?: Registry | undefined
}

export interface AgreementLookup {
  find(agreementId: string): Promise<Agreement | undefined>
}

export interface UsageInput {
  agreement: Agreement
  /** `transfer` at start and at every data access; `monitor` for the policy monitor. */
  scope: 'transfer' | 'monitor'
  /** The participant using the data. */
  requester: string
  now: Date
  /** Granted accesses so far (the engine adds the one being decided at transfer scope). */
  accessCount: number
}

export interface UsageDecision {
  allowed: boolean
  /** One plain sentence, carried into the DSP reason and the timeline. */
  reason: string
}

export interface UsagePolicy {
  check(input: UsageInput): UsageDecision
}

/** Where a dataset's bytes are. */
export type DataSource =
  | {
      kind: 'file'
      /** The folder the file must stay within (the participant folder). */
      root: string
      /** The path relative to root, as the distribution names it. */
      path: string
      mediaType?: string
    }
  | {
      kind: 'http'
      url: string
      /** Headers to send upstream, with secrets already resolved (e.g. an Authorization header). */
      headers?: Record<string, string>
      mediaType?: string
    }

export interface DistributionSource {
  resolve(datasetId: string): Promise<DataSource | undefined>
}

/** The data plane, as the control plane sees it. */
export interface DataPlaneControl {
  /** Provider, pull: the DataAddress (endpoint + fresh token) for a started transfer. */
  pullAddress(transfer: TransferRecord): Promise<DataAddress>
  /** Consumer, push: the DataAddress of our receiving endpoint for this transfer. */
  receiveAddress(transfer: Pick<TransferRecord, 'id' | 'agreementId'>): Promise<DataAddress>
  /** Provider, push: streams the data to the consumer's address; resolves with what was sent. */
  push(transfer: TransferRecord, address: DataAddress): Promise<{ bytes: number; sha256: string }>
}

/**
 * Scripted reactions per agreement (the TCK profile uses them: the TCK cannot tell the connector
 * what to do). Without a script a provider starts every accepted request and a consumer waits.
 */
export type TransferStep = 'start' | 'complete' | 'suspend' | 'terminate'
export interface TransferScripts {
  /** Provider: what to do once a request for this agreement is accepted. */
  provider(agreementId: string): TransferStep[] | undefined
  /** Consumer: what to do once the provider answered the request, and once it first started the transfer. */
  consumer(agreementId: string): { onRequested?: TransferStep[]; onStarted?: TransferStep[] } | undefined
}
