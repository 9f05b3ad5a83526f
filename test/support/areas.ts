import type { Ctx } from '../../connector/context.ts'
import type { Dispatcher } from '../../connector/dispatch/dispatcher.ts'
import { createSharedDispatcher } from '../../connector/dispatch/shared.ts'
import { identityOf } from '../../connector/negotiation/identity.ts'

/**
 * The outbox as the composition root builds it for a context (its identity's token on every
 * message), for tests that build one area by hand.
 */
export const sharedDispatcher = (ctx: Ctx): Dispatcher => createSharedDispatcher(ctx, { tokenIssuer: identityOf(ctx).tokenIssuer })
