import { describe, expect, it } from 'vitest'
import { negotiationStates } from '../dsp/negotiation-messages.ts'
import { messageKinds, roleTable, transition, type From, type MessageKind, type Role } from './state-machine.ts'

/**
 * The expected outcome of every (state, message, role, direction), written out by hand from
 * DSP 2025-1 §"Contract Negotiation Protocol" so that the table in state-machine.ts is checked
 * against an independent statement of it.
 */
const consumerSends: Partial<Record<MessageKind, Partial<Record<string, string>>>> = {
  request: { none: 'REQUESTED' },
  'counter-request': { OFFERED: 'REQUESTED' },
  accepted: { OFFERED: 'ACCEPTED' },
  verification: { AGREED: 'VERIFIED' },
}
const providerSends: Partial<Record<MessageKind, Partial<Record<string, string>>>> = {
  offer: { none: 'OFFERED' },
  'counter-offer': { REQUESTED: 'OFFERED' },
  agreement: { REQUESTED: 'AGREED', ACCEPTED: 'AGREED' },
  finalized: { VERIFIED: 'FINALIZED' },
}
const termination = { REQUESTED: 'TERMINATED', OFFERED: 'TERMINATED', ACCEPTED: 'TERMINATED', AGREED: 'TERMINATED', VERIFIED: 'TERMINATED' }

function expected(role: Role, direction: 'inbound' | 'outbound', state: From, kind: MessageKind): string | undefined {
  const sender: Role = direction === 'outbound' ? role : role === 'provider' ? 'consumer' : 'provider'
  const table = kind === 'termination' ? termination : (sender === 'consumer' ? consumerSends : providerSends)[kind]
  return (table as Record<string, string> | undefined)?.[state ?? 'none']
}

const states: From[] = [null, ...negotiationStates]
const cases = (['provider', 'consumer'] as const).flatMap((role) =>
  (['inbound', 'outbound'] as const).flatMap((direction) => states.flatMap((state) => messageKinds.map((kind) => ({ role, direction, state, kind })))),
)

describe('negotiation state machine', () => {
  it('walks every (state, message, role, direction): 2 × 2 × 8 × 9 pairs', () => {
    expect(cases).toHaveLength(288)
    for (const c of cases) {
      const result = transition(c)
      const want = expected(c.role, c.direction, c.state, c.kind)
      const label = `${c.role} ${c.direction} ${c.kind} in ${c.state ?? 'none'}`
      if (want) expect(result, label).toEqual({ ok: true, from: c.state, to: want })
      else {
        expect(result.ok, label).toBe(false)
        if (!result.ok) expect(result.reason.length, label).toBeGreaterThan(10)
      }
    }
  })

  it('error: terminal states accept nothing, termination included', () => {
    for (const state of ['FINALIZED', 'TERMINATED'] as const) {
      const result = transition({ role: 'provider', state, kind: 'termination', direction: 'inbound' })
      expect(result).toEqual({ ok: false, reason: `the negotiation is ${state} and accepts no further messages` })
    }
  })

  it('error: a provider cannot receive what only a provider sends', () => {
    const result = transition({ role: 'provider', state: 'VERIFIED', kind: 'finalized', direction: 'inbound' })
    expect(result).toEqual({ ok: false, reason: 'a provider cannot receive a FINALIZED event' })
  })

  it('error: a second counter offer while REQUESTED is refused (TCK CN:03-04)', () => {
    const result = transition({ role: 'provider', state: 'REQUESTED', kind: 'counter-request', direction: 'inbound' })
    expect(result).toEqual({ ok: false, reason: 'a ContractRequestMessage (counter offer) is not allowed in state REQUESTED' })
  })

  it('per-role tables: what each role receives and sends', () => {
    expect(roleTable('provider')).toEqual({
      receives: ['request', 'counter-request', 'accepted', 'verification', 'termination'],
      sends: ['offer', 'counter-offer', 'agreement', 'finalized', 'termination'],
    })
    expect(roleTable('consumer').receives).toEqual(['offer', 'counter-offer', 'agreement', 'finalized', 'termination'])
  })
})
