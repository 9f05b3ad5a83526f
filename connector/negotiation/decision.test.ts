import { describe, expect, it } from 'vitest'
import { decideRequest, sameTerms, type PolicyCheck } from './decision.ts'

const requester = { participantId: 'did:web:lab.example', credentials: [] }
const offer = (id: string, action = 'use') => ({ '@id': id, '@type': 'Offer', permission: [{ action }] })
const base = { datasetId: 'd', alternatives: [], requester, providerId: 'did:web:me', now: new Date('2026-01-01T00:00:00Z') }
const allow: PolicyCheck = () => ({ allowed: true, reason: 'Allowed: open' })
const refuse: PolicyCheck = () => ({ allowed: false, reason: 'Refused: membership `none` is not `active`' })

describe('provider decision', () => {
  it('happy: a published offer whose policy is met is agreed, with the published rules and the target', () => {
    const decision = decideRequest({ ...base, requested: { ...offer('o1'), target: 'd', permission: [{ action: 'use', constraint: [] }] }, published: { offer: offer('o1') }, check: allow })
    expect(decision).toEqual({ action: 'agree', offer: { ...offer('o1'), target: 'd' }, reason: 'policy met: Allowed: open' })
  })

  it('error: unknown and changed offers are terminated with the reason; a refused policy says why', () => {
    expect(decideRequest({ ...base, requested: { ...offer('o9'), target: 'd' }, published: undefined, check: allow })).toEqual({
      action: 'terminate',
      reason: 'offer o9 is not one of the offers published for dataset d',
    })
    expect(decideRequest({ ...base, requested: { ...offer('o1', 'distribute'), target: 'd' }, published: { offer: offer('o1') }, check: allow }).action).toBe('terminate')
    expect(decideRequest({ ...base, requested: { ...offer('o1'), target: 'd' }, published: { offer: offer('o1') }, check: refuse })).toEqual({
      action: 'terminate',
      reason: 'policy not met: membership `none` is not `active`',
    })
  })

  it('happy: a refused offer with another one the requester meets becomes a counter offer', () => {
    const check: PolicyCheck = ({ published }) => (published.offer['@id'] === 'o2' ? { allowed: true, reason: 'ok' } : { allowed: false, reason: 'Refused: members only' })
    const decision = decideRequest({ ...base, requested: { ...offer('o1'), target: 'd' }, published: { offer: offer('o1') }, alternatives: [{ offer: offer('o1') }, { offer: offer('o2') }], check })
    expect(decision).toEqual({ action: 'counter-offer', offer: { ...offer('o2'), target: 'd' }, reason: "the requested offer's policy is not met (members only); offer o2 is open to you instead" })
  })

  it('terms compare rules only: ids, parties, empty lists and odrl: prefixes aside', () => {
    expect(sameTerms({ '@id': 'a', assigner: 'x', permission: [{ action: 'use', constraint: [] }] }, { '@id': 'b', 'odrl:permission': [{ 'odrl:action': 'use' }] })).toBe(true)
    expect(sameTerms(offer('a'), offer('a', 'read'))).toBe(false)
  })
})
