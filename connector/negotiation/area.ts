import type { Area } from '../areas.ts'
import { dspPath } from '../config/config.ts'
import type { Ctx } from '../context.ts'
import { dispatcherFor } from '../dispatch/shared.ts'
import { dspErrorRenderer } from '../dsp/errors.ts'
import type { OfferLookup, PolicyCheck } from './decision.ts'
import { negotiationDspRoutes } from './dsp-routes.ts'
import { identityOf, type Identity } from './identity.ts'
import { negotiationManagementRoutes } from './management-routes.ts'
import { enginePolicyCheck, noOffers } from './policy-check.ts'
import { defaultReactions, type Reactions } from './reactions.ts'
import { createNegotiationRuntime, resumeReactions, type NegotiationRuntime } from './service.ts'
import type { Hono } from 'hono'
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
  /** More routes at the server root (e.g. the TCK trigger). */
  rootRoutes?: (root: Hono<AppEnv>, rt: NegotiationRuntime) => void
}

export function negotiationArea(options: NegotiationAreaOptions = {}): Area & { runtimeFor(ctx: Ctx): { rt: NegotiationRuntime; identity: Identity } } {
  const runtimes = new WeakMap<Ctx, { rt: NegotiationRuntime; identity: Identity }>()
  const runtimeFor = (ctx: Ctx) => {
    let entry = runtimes.get(ctx)
    if (!entry) {
      const identity = (options.identity ?? identityOf)(ctx)
      const defaults = defaultReactions({
        offers: (options.offers ?? (() => noOffers))(ctx),
        check: options.check ?? enginePolicyCheck,
        participantId: ctx.config.participant.id,
        now: () => ctx.clock.now(),
      })
      const rt = createNegotiationRuntime({
        ctx,
        dispatcher: dispatcherFor(ctx, { tokenIssuer: identity.tokenIssuer }),
        reactions: options.reactions ? options.reactions(ctx, defaults) : defaults,
        authenticator: identity.authenticator,
        consumerMode: options.consumerMode ?? 'auto',
      })
      entry = { rt, identity }
      runtimes.set(ctx, entry)
    }
    return entry
  }

  return {
    name: 'negotiation',
    runtimeFor,
    routes({ root, dsp, management, openapi, errors }, ctx) {
      const { rt, identity } = runtimeFor(ctx)
      errors.register(`${dspPath}/negotiations`, dspErrorRenderer('ContractNegotiationError'))
      dsp.route('/negotiations', negotiationDspRoutes(rt))
      management.route('/', negotiationManagementRoutes(rt, identity, openapi))
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
