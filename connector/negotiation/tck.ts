import { readFileSync } from 'node:fs'
import { Hono } from 'hono'
import { z } from 'zod'
import { fromRoot } from '../paths.ts'
import type { AppEnv } from '../http/env.ts'
import { parseJsonBody } from '../http/validate.ts'
import type { OfferLookup } from './decision.ts'
import { staticOffers } from './policy-check.ts'
import type { Reaction, Reactions } from './reactions.ts'
import { startNegotiation, type NegotiationRuntime } from './service.ts'

/**
 * The TCK profile's negotiation part. The official TCK cannot configure the connector it tests, so
 * the connector holds the TCK's sample datasets and offers and scripts its own reaction per dataset
 * id (seeds/tck/negotiation/scripts.json). Datasets without a script get the normal decision.
 */
const Step = z.enum(['offer', 'agreement', 'finalized', 'termination', 'accepted', 'verification', 'counter-request', 'pause'])
type Step = z.infer<typeof Step>
const Steps = z.array(Step)

export const TckNegotiationScripts = z.object({
  provider: z.record(
    z.string(),
    z
      .object({
        offer: z.string(),
        onRequest: Steps.optional(),
        onCounterRequest: Steps.optional(),
        onAccepted: Steps.optional(),
        onVerified: Steps.optional(),
      })
      .strict(),
  ),
  consumer: z.record(z.string(), z.object({ onStart: Steps.optional(), onOffer: Steps.optional(), onAgreement: Steps.optional() }).strict()),
})
export type TckNegotiationScripts = z.infer<typeof TckNegotiationScripts>

export const tckScriptsFile = () => fromRoot('seeds/tck/negotiation/scripts.json')

export function loadTckNegotiationScripts(file = tckScriptsFile()): TckNegotiationScripts {
  return TckNegotiationScripts.parse(JSON.parse(readFileSync(file, 'utf8')))
}

/** The offer every TCK dataset publishes: use, no constraint (what the TCK itself sends). */
export const tckOffer = (id: string) => ({ '@id': id, '@type': 'Offer', permission: [{ action: 'use' }] })

export function tckOffers(scripts: TckNegotiationScripts): OfferLookup {
  return staticOffers(Object.fromEntries(Object.entries(scripts.provider).map(([dataset, script]) => [dataset, [{ offer: tckOffer(script.offer) }]])))
}

/** How long "pause" waits before the next step (the TCK's own pause between two messages). */
export const tckPauseMs = 500

const reason = (step: Step) => `scripted by the TCK profile (${step})`

function toReactions(steps: Step[], offer: Record<string, unknown>): Reaction[] {
  const reactions: Reaction[] = []
  let delayMs = 0
  for (const step of steps) {
    if (step === 'pause') {
      delayMs += tckPauseMs
      continue
    }
    const delay = delayMs ? { delayMs } : {}
    if (step === 'termination') reactions.push({ kind: 'termination', reason: reason(step), ...delay })
    else if (step === 'offer') reactions.push({ kind: 'counter-offer', offer, reason: reason(step), ...delay })
    else if (step === 'counter-request') reactions.push({ kind: 'counter-request', offer, reason: reason(step), ...delay })
    else reactions.push({ kind: step, reason: reason(step), ...delay })
  }
  return reactions
}

/** Scripted reactions for the TCK's dataset ids; everything else goes to `fallback`. */
export function tckReactions(scripts: TckNegotiationScripts, fallback: Reactions): Reactions {
  return {
    async react(input) {
      const { negotiation: n, trigger, received } = input
      if (n.role === 'provider') {
        const script = scripts.provider[n.datasetId]
        if (!script) return fallback.react(input)
        const offer = tckOffer(script.offer)
        const steps =
          trigger === 'request'
            ? script.onRequest
            : trigger === 'counter-request'
              ? script.onCounterRequest
              : trigger === 'accepted'
                ? script.onAccepted
                : trigger === 'verification'
                  ? script.onVerified
                  : undefined
        return toReactions(steps ?? [], offer)
      }
      const script = scripts.consumer[n.datasetId]
      if (!script) return fallback.react(input)
      const steps =
        trigger === 'start'
          ? script.onStart
          : trigger === 'offer' || trigger === 'counter-offer'
            ? script.onOffer
            : trigger === 'agreement'
              ? script.onAgreement
              : undefined
      return toReactions(steps ?? [], received ?? n.offer)
    },
  }
}

export const TckNegotiationTrigger = z.object({
  providerId: z.string().min(1),
  offerId: z.string().min(1),
  datasetId: z.string().min(1),
  connectorAddress: z.url({ protocol: /^https?$/ }),
})

/** `POST /tck/negotiations`: the TCK asks us, as consumer, to request one of its offers. Plain JSON. */
export function tckNegotiationTrigger(rt: NegotiationRuntime) {
  const app = new Hono<AppEnv>()
  app.post('/tck/negotiations', async (c) => {
    const input = await parseJsonBody(c, TckNegotiationTrigger)
    // The TCK's callbacks authenticate with its static token, whose participant id need not be
    // `providerId`: the provider is bound from its first message.
    const negotiation = await startNegotiation({
      rt,
      input: { peerUrl: input.connectorAddress, datasetId: input.datasetId, offer: tckOffer(input.offerId), mode: 'auto' },
      actor: 'tck',
    })
    return c.json({ id: negotiation.id, consumerPid: negotiation.consumerPid, state: negotiation.state }, 201)
  })
  return app
}
