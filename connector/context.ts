import { randomUUID } from 'node:crypto'
import type { Logger } from './telemetry/logger.ts'
import type { Store } from './store/store.ts'
import type { Config } from './config/config.ts'
import type { PeerClient } from './http/peer-client.ts'
import type { Identity } from './identity/identity.ts'

/** Time is injected so that expiry and timelines are deterministic in tests. */
export interface Clock {
  now(): Date
}

/** Identifiers are injected so that pids are deterministic in tests. */
export interface IdSource {
  /** A new `urn:uuid:` identifier. */
  next(): string
}

export const systemClock: Clock = { now: () => new Date() }
export const randomIds: IdSource = { next: () => `urn:uuid:${randomUUID()}` }

/**
 * What every operation needs from the world. Operations take `{ ctx, input }`; nothing reads
 * module-level singletons. Later areas (identity, policies, catalog) add their own members.
 */
export interface Ctx {
  config: Config
  store: Store
  clock: Clock
  ids: IdSource
  logger: Logger
  /** Outbound HTTP to peers and upstream sources. */
  peers: PeerClient
  /**
   * Who we are and who is asking: `identity.authenticator` verifies inbound DSP requests,
   * `identity.tokenIssuer` signs outbound ones. Created at start-up with `createIdentity`.
   */
  identity?: Identity
  /** Aborted when the connector starts to stop: long-running answers (long polls) end at once. */
  stopping?: AbortSignal
}
