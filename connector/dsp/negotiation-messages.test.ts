import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { fromRoot } from '../paths.ts'
import { expectDspValid } from '../../test/support/dsp-schemas.ts'
import * as m from './negotiation-messages.ts'
import { dspErrorBody } from './errors.ts'

const example = (name: string) => JSON.parse(readFileSync(fromRoot('spec/dsp-2025-1/negotiation/example', name), 'utf8'))

describe('negotiation message schemas', () => {
  it.each([
    ['contract-request-message.json', m.ContractRequestMessage],
    ['contract-request-message_initial.json', m.ContractRequestMessage],
    ['contract-offer-message.json', m.ContractOfferMessage],
    ['contract-offer-message_initial.json', m.ContractOfferMessage],
    ['contract-agreement-message.json', m.ContractAgreementMessage],
    ['contract-agreement-message-full.json', m.ContractAgreementMessage],
    ['contract-agreement-verification-message.json', m.ContractAgreementVerificationMessage],
    ['contract-negotiation-event-message.json', m.ContractNegotiationEventMessage],
    ['contract-negotiation-termination-message.json', m.ContractNegotiationTerminationMessage],
    ['contract-negotiation.json', m.ContractNegotiation],
    ['contract-negotiation-error.json', m.ContractNegotiationError],
  ] as const)('happy: accepts the published example %s', (name, schema) => {
    expect(schema.safeParse(example(name)).success).toBe(true)
  })

  it('happy: a request with both callbackAddress and providerPid is read (Eclipse EDC sends its callback address every time)', () => {
    const message = { ...example('contract-request-message.json'), callbackAddress: 'https://example.com/cb' }
    expect(m.ContractRequestMessage.safeParse(message).success).toBe(true)
  })

  it('error: a request with neither callbackAddress nor providerPid is refused', () => {
    const { providerPid: _p, ...message } = example('contract-request-message.json') as Record<string, unknown>
    const parsed = m.ContractRequestMessage.safeParse(message)
    expect(parsed.success).toBe(false)
    expect(parsed.error!.issues[0]!.message).toMatch(/callbackAddress .* or providerPid/)
  })

  it('happy: empty rule arrays are read beside a rule (how EDC writes a policy without prohibitions); no rule at all is refused', () => {
    const base = example('contract-request-message.json') as Record<string, any>
    const withEmpty = { ...base, offer: { ...base.offer, prohibition: [], obligation: [] } }
    expect(m.ContractRequestMessage.safeParse(withEmpty).success).toBe(true)
    const onlyEmpty = { ...base, offer: { ...base.offer, permission: [], prohibition: [] } }
    expect(m.ContractRequestMessage.safeParse(onlyEmpty).success).toBe(false)
  })

  it('error: an offer without target, a prefixed type or a plain-string context are refused', () => {
    const base = example('contract-request-message_initial.json')
    const { target: _target, ...offer } = base.offer
    expect(m.ContractRequestMessage.safeParse({ ...base, offer }).success).toBe(false)
    expect(m.ContractRequestMessage.safeParse({ ...base, '@type': 'dspace:ContractRequestMessage' }).success).toBe(false)
    expect(m.ContractRequestMessage.safeParse({ ...base, '@context': 'https://w3id.org/dspace/2025/1/context.jsonld' }).success).toBe(false)
    expect(m.ContractRequestMessage.safeParse({ ...base, '@context': ['https://example.com/other'] }).success).toBe(false)
  })

  it('happy: reasons read from strings and {message} objects', () => {
    expect(m.reasonText(['a', { message: 'b' }, { x: 1 }])).toBe('a; b; {"x":1}')
    expect(m.reasonText(undefined)).toBeUndefined()
  })

  it('happy: error bodies validate against the published schema, even with an unknown pid', () => {
    expectDspValid('negotiation/contract-negotiation-error-schema.json', dspErrorBody('ContractNegotiationError', { providerPid: 'p', reason: 'no' }))
  })
})
