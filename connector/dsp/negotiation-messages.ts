import { z } from 'zod'
import { DspContext, Pid } from './context.ts'

/**
 * Contract negotiation messages, derived from the published schemas in spec/dsp-2025-1/negotiation/,
 * read in their canonical compact form (terms bare, `@context` an array holding the DSP context; see
 * `json-ld.ts` for the other spellings). Unknown members are kept (peers add extension properties).
 *
 * Where we differ from the published schemas, on purpose:
 * - A rule array may be empty (`"permission": []`, how Eclipse EDC writes a policy without rules of
 *   that kind), as long as the offer or agreement has at least one permission or prohibition. The
 *   policy reader still refuses a rule spelled twice, empty or not.
 * - A ContractRequestMessage may carry both `providerPid` and `callbackAddress` (EDC sends its
 *   callback address on every message), a ContractOfferMessage both `consumerPid` and
 *   `callbackAddress`; the schemas' `oneOf` refuses that. The endpoint decides: the first message
 *   of a process must not name our pid, a later one is read without its callbackAddress.
 * - Bounded lengths, http(s) callback addresses, an `xsd:dateTime` agreement timestamp (required by
 *   the specification's text, not by its schema), a `target` on every offer inside a message (the
 *   provider needs to know which dataset is asked for).
 * - Inside a rule, only `action` is checked here (a name, or an ODRL refined action object): the
 *   constraints, operators and operands are read by the strict ODRL reader (`policies/odrl-read.ts`),
 *   which refuses whatever it does not understand, including what these schemas would refuse.
 */
export { DspContext }
const url = z
  .string()
  .max(2048)
  .regex(/^https?:\/\//, 'expected an http(s) URL')

const Rule = z.looseObject({ action: z.union([z.string().min(1), z.looseObject({})]) })

const hasRules = (policy: { permission?: unknown[] | undefined; prohibition?: unknown[] | undefined }) =>
  (policy.permission?.length ?? 0) + (policy.prohibition?.length ?? 0) > 0

/** An ODRL offer inside a message: it names its dataset in `target`. */
export const MessageOffer = z
  .looseObject({
    '@id': z.string().min(1).max(512),
    '@type': z.literal('Offer'),
    target: z.string().min(1).max(512),
    permission: z.array(Rule).optional(),
    prohibition: z.array(Rule).optional(),
    obligation: z.array(Rule).optional(),
  })
  .refine(hasRules, { message: 'an offer needs at least one permission or prohibition' })
export type MessageOffer = z.infer<typeof MessageOffer>

export const Agreement = z
  .looseObject({
    '@id': z.string().min(1).max(512),
    '@type': z.literal('Agreement'),
    target: z.string().min(1).max(512),
    assigner: z.string().min(1),
    assignee: z.string().min(1),
    timestamp: z.string().regex(/^-?\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$/, 'expected an xsd:dateTime'),
    permission: z.array(Rule).optional(),
    prohibition: z.array(Rule).optional(),
    obligation: z.array(Rule).optional(),
  })
  .refine(hasRules, { message: 'an agreement needs at least one permission or prohibition' })
export type Agreement = z.infer<typeof Agreement>

export const ContractRequestMessage = z
  .looseObject({
    '@context': DspContext,
    '@type': z.literal('ContractRequestMessage'),
    consumerPid: Pid,
    providerPid: Pid.optional(),
    offer: MessageOffer,
    callbackAddress: url.optional(),
  })
  .refine((m) => m.callbackAddress !== undefined || m.providerPid !== undefined, {
    message: 'a ContractRequestMessage carries callbackAddress (first request) or providerPid (counter request)',
  })
export type ContractRequestMessage = z.infer<typeof ContractRequestMessage>

export const ContractOfferMessage = z
  .looseObject({
    '@context': DspContext,
    '@type': z.literal('ContractOfferMessage'),
    providerPid: Pid,
    consumerPid: Pid.optional(),
    offer: MessageOffer,
    callbackAddress: url.optional(),
  })
  .refine((m) => m.callbackAddress !== undefined || m.consumerPid !== undefined, {
    message: 'a ContractOfferMessage carries callbackAddress (first offer) or consumerPid (counter offer)',
  })
export type ContractOfferMessage = z.infer<typeof ContractOfferMessage>

export const ContractAgreementMessage = z.looseObject({
  '@context': DspContext,
  '@type': z.literal('ContractAgreementMessage'),
  providerPid: Pid,
  consumerPid: Pid,
  agreement: Agreement,
})
export type ContractAgreementMessage = z.infer<typeof ContractAgreementMessage>

export const ContractAgreementVerificationMessage = z.looseObject({
  '@context': DspContext,
  '@type': z.literal('ContractAgreementVerificationMessage'),
  providerPid: Pid,
  consumerPid: Pid,
})
export type ContractAgreementVerificationMessage = z.infer<typeof ContractAgreementVerificationMessage>

export const ContractNegotiationEventMessage = z.looseObject({
  '@context': DspContext,
  '@type': z.literal('ContractNegotiationEventMessage'),
  providerPid: Pid,
  consumerPid: Pid,
  eventType: z.enum(['ACCEPTED', 'FINALIZED']),
})
export type ContractNegotiationEventMessage = z.infer<typeof ContractNegotiationEventMessage>

export const ContractNegotiationTerminationMessage = z.looseObject({
  '@context': DspContext,
  '@type': z.literal('ContractNegotiationTerminationMessage'),
  providerPid: Pid,
  consumerPid: Pid,
  code: z.string().max(256).optional(),
  reason: z.array(z.unknown()).min(1).max(64).optional(),
})
export type ContractNegotiationTerminationMessage = z.infer<typeof ContractNegotiationTerminationMessage>

export const negotiationStates = ['REQUESTED', 'OFFERED', 'ACCEPTED', 'AGREED', 'VERIFIED', 'FINALIZED', 'TERMINATED'] as const
export const NegotiationState = z.enum(negotiationStates)
export type NegotiationState = z.infer<typeof NegotiationState>

export const ContractNegotiation = z.looseObject({
  '@context': DspContext,
  '@type': z.literal('ContractNegotiation'),
  providerPid: Pid,
  consumerPid: Pid,
  state: NegotiationState,
})
export type ContractNegotiation = z.infer<typeof ContractNegotiation>

export const ContractNegotiationError = z.looseObject({
  '@context': DspContext,
  '@type': z.literal('ContractNegotiationError'),
  providerPid: z.string(),
  consumerPid: z.string(),
  code: z.string().optional(),
  reason: z.array(z.unknown()).min(1).optional(),
})
export type ContractNegotiationError = z.infer<typeof ContractNegotiationError>

/** Turns termination or error `reason` entries (strings, `{message}` objects, …) into readable text. */
export function reasonText(reason: unknown[] | undefined): string | undefined {
  if (!reason || reason.length === 0) return undefined
  return reason
    .map((entry) => {
      if (typeof entry === 'string') return entry
      if (entry && typeof entry === 'object') {
        const record = entry as Record<string, unknown>
        for (const key of ['message', '@value', 'reason', 'description']) {
          if (typeof record[key] === 'string') return record[key] as string
        }
      }
      return JSON.stringify(entry)
    })
    .join('; ')
    .slice(0, 2000)
}
