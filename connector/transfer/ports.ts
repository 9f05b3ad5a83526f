import type { DutyState, Registry } from '../../policies/index.ts'
import type { Db } from '../store/store.ts'
import type { DataAddress } from './messages.ts'
import type { TransferRecord } from './repository.ts'
import type { FilesRoot, HttpApi } from '../../catalog/index.ts'
import type { S3Access } from './data-plane/s3-client.ts'

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
  /** The offer it was agreed from, when known. */
  offerId?: string | undefined
  /** The readable id of the steward's policy file the offer came from, when known: how refusals name the policy. */
  policyId?: string | undefined
  /** That policy's title, when known. */
  policyTitle?: string | undefined
  /** The operand registry to evaluate its policy with (the built-in one when absent). */
  registry?: Registry | undefined
}

export interface AgreementLookup {
  /** `db`: the transaction to read through when the caller holds one (never the pool meanwhile). */
  find(agreementId: string, db?: Db): Promise<Agreement | undefined>
}

export interface UsageInput {
  agreement: Agreement
  /** `transfer` at start and at every data access; `monitor` for the policy monitor. */
  scope: 'transfer' | 'monitor'
  /** The participant using the data. */
  requester: string
  now: Date
  /** Accesses counted under the agreement so far, over all its transfers. */
  accessCount: number
  /**
   * Transfer scope: whether the access being decided counts as a new one (the engine then decides
   * on accessCount + 1). A continuation of a download already counted is decided on accessCount.
   */
  counts?: boolean
  /**
   * The status of the agreement's obligations, by obligation id: a permission permits only while
   * each of its duties is fulfilled or acknowledged (not overdue); pending, violated or absent blocks.
   */
  obligations?: Record<string, DutyState>
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
      /** Where distributions may point (files root, private places); without it, anywhere within root. */
      files?: FilesRoot
      mediaType?: string
    }
  | {
      kind: 'http'
      url: string
      /** Headers to send upstream, with secrets already resolved (e.g. an Authorization header). */
      headers?: Record<string, string>
      mediaType?: string
      /** What a consumer may pass (query parameters, path suffixes) and the limits of an answer. */
      api?: HttpApi
    }
  | {
      /** One object in S3-compatible storage. */
      kind: 's3'
      access: S3Access
      bucket: string
      key: string
      mediaType?: string
      /** Seconds a presigned GET lives, when the steward allows one; undefined when not allowed. */
      presignTtl?: number
      /** The object's sha256 as the distribution declares it (stated to consumers, who check it). */
      sha256?: string
    }
  | {
      /** A folder under the files root, delivered as an archive. */
      kind: 'folder'
      root: string
      path: string
      files?: FilesRoot
      mediaType?: string
    }
  | {
      /** The objects under a prefix in S3-compatible storage, delivered as an archive. */
      kind: 's3-prefix'
      access: S3Access
      bucket: string
      prefix: string
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
