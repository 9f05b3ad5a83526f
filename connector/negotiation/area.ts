import type { Area } from '../area.ts'
import type { Ctx } from '../context.ts'
import type { Dispatcher } from '../dispatch/dispatcher.ts'
import { registerDspErrors } from '../dsp/errors.ts'
import type { OfferLookup, PolicyCheck } from './decision.ts'
import { negotiationDspRoutes } from './dsp-routes.ts'
import { identityOf, type Identity } from './identity.ts'
import { negotiationManagementRoutes } from './management-routes.ts'
import { enginePolicyCheck } from './policy-check.ts'
import type { CatalogService } from '../catalog/catalog-service.ts'
import { catalogOfferLookup } from '../catalog/offer-lookup.ts'
import { defaultReactions, type Reactions } from './reactions.ts'
import { createNegotiationRuntime, type NegotiationRuntime } from './service.ts'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Hono } from 'hono'
import { loadTckNegotiationScripts, tckNegotiationTrigger, tckOffers, tckReactions, type TckNegotiationScripts } from './tck.ts'
import type { AppEnv } from '../http/env.ts'
import { agreementDuties } from '../transfer/agreement-duties.ts'

/**
 * The negotiation area: DSP endpoints under `<dspUrl>/negotiations`, management endpoints, and the
 * outbox worker. Its collaborators can be replaced (the TCK profile scripts its reactions, tests
 * bring their own offers and policy check).
 */
export interface NegotiationAreaOptions {
  offers?: (ctx: Ctx) => OfferLookup
  check?: PolicyCheck
  /** Replaces (or wraps) the default decision and acceptance steps. */
  reactions?: (ctx: Ctx, defaults: Reactions) => Reactions
  identity?: (ctx: Ctx) => Identity
  consumerMode?: 'auto' | 'manual'
  /** More routes at the server root. */
  rootRoutes?: (root: Hono<AppEnv>, rt: NegotiationRuntime) => void
  /**
   * Scripted reactions (the TCK profile): by default read from `negotiation/scripts.json` in the
   * participant folder when that file exists; `false` never scripts.
   */
  scripts?: false
}

/** A participant folder holding `negotiation/scripts.json` runs the scripted (TCK) profile. */
function scriptsOf(ctx: Ctx): TckNegotiationScripts | undefined {
  const file = join(ctx.config.root, 'negotiation', 'scripts.json')
  return existsSync(file) ? loadTckNegotiationScripts(file) : undefined
}

const withScripts = (scripts: TckNegotiationScripts | undefined, reactions: Reactions) => (scripts ? tckReactions(scripts, reactions) : reactions)

function withFallback(first: OfferLookup, second: OfferLookup): OfferLookup {
  return {
    find: async (input) => (await first.find(input)) ?? second.find(input),
    offersOf: async (input) => {
      const own = await first.offersOf(input)
      return own.length ? own : second.offersOf(input)
    },
  }
}

/** What the composition root hands the area: built once, shared with the other areas. */
export interface NegotiationParts {
  ctx: Ctx
  /** The connector's one outbox. */
  dispatcher: Dispatcher
  /** The catalog area's service: the published offers, the stewards' operand registry, the credential types its policies name. */
  catalog?: CatalogService
}

export interface NegotiationAreaRuntime {
  rt: NegotiationRuntime
  identity: Identity
  scripted: boolean
}

/** No catalog: nothing is offered. */
const noOffers: OfferLookup = { find: async () => undefined, offersOf: async () => [] }

export function negotiationArea(parts: NegotiationParts, options: NegotiationAreaOptions = {}): Area & { runtime: NegotiationAreaRuntime } {
  const { ctx, catalog } = parts
  const identity = options.identity ? options.identity(ctx) : identityOf(ctx, catalog)
  const scripts = options.scripts === false ? undefined : scriptsOf(ctx)
  // The offers the catalog publishes, unless the caller brings its own.
  const baseOffers = options.offers ? options.offers(ctx) : catalog ? catalogOfferLookup(catalog) : noOffers
  const offers = scripts ? withFallback(tckOffers(scripts), baseOffers) : baseOffers
  // Peers' offers and agreements are read with the participant's own operand registry.
  const registry = async () => catalog?.policies.registry
  const defaults = defaultReactions({
    registry,
    offers,
    check: options.check ?? enginePolicyCheck,
    participantId: ctx.config.participant.id,
    now: () => ctx.clock.now(),
  })
  const rt = createNegotiationRuntime({
    ctx,
    dispatcher: parts.dispatcher,
    reactions: withScripts(scripts, options.reactions ? options.reactions(ctx, defaults) : defaults),
    authenticator: identity.authenticator,
    offers,
    consumerMode: options.consumerMode ?? 'auto',
    duties: agreementDuties(ctx),
    registry,
  })
  const runtime: NegotiationAreaRuntime = { rt, identity, scripted: scripts !== undefined }

  return {
    name: 'negotiation',
    runtime,
    routes({ root, dsp, management, openapi, errors }) {
      registerDspErrors(errors, 'ContractNegotiationError')
      dsp.route('/negotiations', negotiationDspRoutes(rt))
      management.route('/', negotiationManagementRoutes(rt, identity, openapi))
      if (runtime.scripted) root.route('/', tckNegotiationTrigger(rt))
      options.rootRoutes?.(root, rt)
    },
    async start() {
      // Follow-up steps are outbox rows: starting the outbox resumes those a stop left behind.
      rt.dispatcher.start()
      return { stop: () => rt.dispatcher.stop() }
    },
  }
}
