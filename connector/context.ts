import type { Clock } from './clock.ts'
import type { IdSource } from './ids.ts'
import type { Logger } from './telemetry/logger.ts'
import type { Store } from './store/store.ts'
import type { Config } from './config/config.ts'
import type { PeerClient } from './http/peer-client.ts'
import type { Identity } from './identity/identity.ts'
import type { AuditTrail } from './audit/audit-trail.ts'

// Re-exported for modules that take their time and ids with the context.
export { type Clock, systemClock } from './clock.ts'
export { type IdSource, randomIds } from './ids.ts'

/**
 * What every operation needs from the world. Operations take `{ ctx, input }`; nothing reads
 * module-level singletons. The composition root (`composition.ts`) builds it once, identity included.
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
  /** The audit trail: decisions that matter are appended to it in the transaction of their state change. */
  audit?: AuditTrail
  /** Aborted when the connector starts to stop: long-running answers (long polls) end at once. */
  stopping?: AbortSignal
}
