import type { Area } from './area.ts'
import { auditArea, composeAuditTrail } from './audit/area.ts'
import { createCatalog, createCatalogArea, type CatalogParts } from './catalog/routes.ts'
import { consoleArea } from './console/area.ts'
import type { Config } from './config/config.ts'
import { systemClock } from './clock.ts'
import type { Ctx } from './context.ts'
import type { Dispatcher } from './dispatch/dispatcher.ts'
import { createSharedDispatcher } from './dispatch/shared.ts'
import { outboxArea } from './dispatch/routes.ts'
import { federationArea } from './federation/area.ts'
import { egressPolicy } from './http/egress.ts'
import { createPeerClient } from './http/peer-client.ts'
import { randomIds } from './ids.ts'
import { withIdentity } from './identity/identity.ts'
import { identityArea } from './identity/routes.ts'
import { participantArea } from './management/participant-routes.ts'
import { policyArea } from './management/policy-routes.ts'
import { negotiationArea } from './negotiation/area.ts'
import { identityOf } from './negotiation/identity.ts'
import { openStore } from './store/store.ts'
import type { Logger } from './telemetry/logger.ts'
import { transferArea } from './transfer/area.ts'
import { metricsArea } from './telemetry/metrics-area.ts'

/**
 * The composition root: the one place that builds the connector's services, each once, and hands
 * them down. The store, clock, ids, logger, HTTP client and identity go on the context; the outbox
 * and the catalog service are shared by the areas that need them; every area is built here with
 * its collaborators. Nothing else creates a service on first use.
 */
export interface ConnectorParts {
  ctx: Ctx
  /** The one outbox, shared by negotiation and transfer. */
  dispatcher: Dispatcher
  /** The catalog service and the data space's vocabularies; negotiation and transfer read offers, policies and distributions through it. */
  catalog: CatalogParts
}

export interface ComposedConnector extends ConnectorParts {
  areas: Area[]
  /** Closes what the root opened (HTTP client, database); background work is stopped by the runtime first. */
  close(): Promise<void>
}

export interface ComposeOptions {
  logger: Logger
  /** Aborted when the connector starts to stop. */
  stopping?: AbortSignal
  /** Replaces the areas (tests); by default `defaultAreas`. */
  areas?: (parts: ConnectorParts) => Area[]
}

/** The areas the connector runs, in the order their routes are mounted and their work is started. */
export function defaultAreas(parts: ConnectorParts): Area[] {
  const { ctx, dispatcher, catalog } = parts
  return [
    participantArea,
    identityArea,
    createCatalogArea(catalog),
    policyArea(catalog.service),
    federationArea,
    negotiationArea({ ctx, dispatcher, catalog: catalog.service }),
    transferArea({ ctx, dispatcher, catalog: catalog.service }),
    outboxArea(dispatcher),
    consoleArea,
    auditArea,
    metricsArea,
  ]
}

export async function composeConnector(config: Config, options: ComposeOptions): Promise<ComposedConnector> {
  const { logger } = options
  const store = await openStore({
    url: config.database.url,
    poolSize: config.database.poolSize,
    exclusive: true,
    onConnectionError: (error) => logger.warn('database connection lost; requests answer 503 until it is back', { error: error.message }),
  })
  const peers = createPeerClient({ egress: egressPolicy(config.egress), logger: logger.child({ area: 'egress' }) })
  const close = async () => {
    await peers.close()
    await store.close()
  }
  try {
    const ctx: Ctx = await withIdentity({
      config,
      store,
      clock: systemClock,
      ids: randomIds,
      logger,
      peers,
      ...(options.stopping ? { stopping: options.stopping } : {}),
    })
    // The audit trail signs with the participant's key; the areas append through ctx.audit.
    ctx.audit = await composeAuditTrail(ctx)
    const catalog = await createCatalog(ctx)
    // Outbound DSP messages carry our token: the identity's issuer (static tokens when there is no identity area).
    const dispatcher = createSharedDispatcher(ctx, { tokenIssuer: identityOf(ctx, catalog.service).tokenIssuer })
    const parts: ConnectorParts = { ctx, dispatcher, catalog }
    return { ...parts, areas: (options.areas ?? defaultAreas)(parts), close }
  } catch (error) {
    await close()
    throw error
  }
}
