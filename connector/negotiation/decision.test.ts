import { describe, expect, it } from 'vitest'
import { decideRequest, type PolicyCheck } from './decision.ts'

const requester = { participantId: 'did:web:lab.example', credentials: [] }
const offer = (id: string, action = 'use') => ({ '@id': id, '@type': 'Offer', permission: [{ action }] })
const base = { datasetId: 'd', offerId: 'o1', alternatives: [], requester, providerId: 'did:web:me', now: new Date('2026-01-01T00:00:00Z') }
const allow: PolicyCheck = () => ({ allowed: true, reason: 'Allowed: open' })
const refuse: PolicyCheck = () => ({ allowed: false, reason: 'Refused: membership `none` is not `active`' })

describe('provider decision', () => {
  it('happy: a published offer whose policy is met is agreed on that published offer, named by its policy id', () => {
    const published = { offer: offer('o1'), name: 'open-data' }
    expect(decideRequest({ ...base, published, check: allow })).toEqual({ action: 'agree', published, reason: 'policy `open-data` met: open' })
  })

  it('error: an offer not published for this requester is terminated; a refused policy says why, by its id', () => {
    expect(decideRequest({ ...base, offerId: 'o9', published: undefined, check: allow })).toEqual({
      action: 'terminate',
      reason: 'offer o9 is not one of the offers published for dataset d',
    })
    expect(decideRequest({ ...base, published: { offer: offer('o1'), name: 'members-only' }, check: refuse })).toEqual({
      action: 'terminate',
      reason: 'policy `members-only` not met: membership `none` is not `active`',
    })
  })

  it('happy: a refused offer with another one the requester meets becomes a counter offer of that published offer', () => {
    const check: PolicyCheck = ({ published }) =>
      published.offer['@id'] === 'o2' ? { allowed: true, reason: 'ok' } : { allowed: false, reason: 'Refused: members only' }
    const o2 = { offer: offer('o2'), name: 'open-data' }
    const decision = decideRequest({ ...base, published: { offer: offer('o1'), name: 'members-only' }, alternatives: [{ offer: offer('o1') }, o2], check })
    expect(decision).toEqual({
      action: 'counter-offer',
      published: o2,
      reason: 'policy `members-only` is not met (members only); offer `open-data` is open to you instead',
    })
  })

  it('happy: refusals name the policy by its readable id and the title its offer carries', () => {
    const titled = { ...offer('o1'), 'https://w3id.org/passerelle/ns#policyId': 'members-only', 'https://w3id.org/passerelle/ns#policyTitle': 'Members only' }
    expect(decideRequest({ ...base, published: { offer: titled, name: 'members-only' }, check: refuse })).toMatchObject({
      action: 'terminate',
      reason: 'policy `members-only` (“Members only”) not met: membership `none` is not `active`',
    })
  })

  it('error: with no alternative the requester meets, the request is terminated', () => {
    const decision = decideRequest({ ...base, published: { offer: offer('o1') }, alternatives: [{ offer: offer('o2') }], check: refuse })
    expect(decision.action).toBe('terminate')
  })
})
