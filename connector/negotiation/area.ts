import type { Area } from '../areas.ts'
import { dspPath } from '../config/config.ts'
import type { Ctx } from '../context.ts'
import { dispatcherFor } from '../dispatch/shared.ts'
import { concealProcessesFromStrangers, dspErrorRenderer } from '../dsp/errors.ts'
import type { OfferLookup, PolicyCheck } from './decision.ts'
import { negotiationDspRoutes } from './dsp-routes.ts'
import { identityOf, type Identity } from './identity.ts'
import { negotiationManagementRoutes } from './management-routes.ts'
import { enginePolicyCheck } from './policy-check.ts'
import { offerLookupFor } from '../catalog/offer-lookup.ts'
import { defaultReactions, type Reactions } from './reactions.ts'
import { createNegotiationRuntime, resumeReactions, type NegotiationRuntime } from './service.ts'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Hono } from 'hono'
import { loadTckNegotiationScripts, tckNegotiationTrigger, tckOffers, tckReactions, type TckNegotiationScripts } from './tck.ts'
import type { AppEnv } from '../http/env.ts'

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
    offersOf: async (datasetId) => {
      const own = await first.offersOf(datasetId)
      return own.length ? own : second.offersOf(datasetId)
    },
  }
}

/** The offers the catalog publishes. */
const defaultOffers = (ctx: Ctx): OfferLookup => offerLookupFor(ctx)

export function negotiationArea(options: NegotiationAreaOptions = {}): Area & { runtimeFor(ctx: Ctx): { rt: NegotiationRuntime; identity: Identity; scripted: boolean } } {
  const runtimes = new WeakMap<Ctx, { rt: NegotiationRuntime; identity: Identity; scripted: boolean }>()
  const runtimeFor = (ctx: Ctx) => {
    let entry = runtimes.get(ctx)
    if (!entry) {
      const identity = (options.identity ?? identityOf)(ctx)
      const scripts = options.scripts === false ? undefined : scriptsOf(ctx)
      const baseOffers = (options.offers ?? defaultOffers)(ctx)
      const offers = scripts ? withFallback(tckOffers(scripts), baseOffers) : baseOffers
      const defaults = defaultReactions({
        offers,
        check: options.check ?? enginePolicyCheck,
        participantId: ctx.config.participant.id,
        now: () => ctx.clock.now(),
      })
      const rt = createNegotiationRuntime({
        ctx,
        dispatcher: dispatcherFor(ctx, { tokenIssuer: identity.tokenIssuer }),
        reactions: withScripts(scripts, options.reactions ? options.reactions(ctx, defaults) : defaults),
        authenticator: identity.authenticator,
        consumerMode: options.consumerMode ?? 'auto',
      })
      entry = { rt, identity, scripted: scripts !== undefined }
      runtimes.set(ctx, entry)
    }
    return entry
  }

  return {
    name: 'negotiation',
    runtimeFor,
    routes({ root, dsp, management, openapi, errors }, ctx) {
      const { rt, identity } = runtimeFor(ctx)
      errors.register(`${dspPath}/negotiations`, dspErrorRenderer('ContractNegotiationError'), concealProcessesFromStrangers)
      dsp.route('/negotiations', negotiationDspRoutes(rt))
      management.route('/', negotiationManagementRoutes(rt, identity, openapi))
      if (runtimeFor(ctx).scripted) root.route('/', tckNegotiationTrigger(rt))
      options.rootRoutes?.(root, rt)
    },
    async start(ctx) {
      const { rt } = runtimeFor(ctx)
      rt.dispatcher.start()
      await resumeReactions(rt)
      return { stop: () => rt.dispatcher.stop() }
    },
  }
}

/** The area as the connector runs it by default. */
export const negotiation = negotiationArea()
