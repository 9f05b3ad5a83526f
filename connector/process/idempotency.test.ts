import { describe, expect, it } from 'vitest'
import { inboundDecision } from './idempotency.ts'
import { messageDigest } from './message-digest.ts'

const refused = { ok: false as const, reason: 'a ContractAgreementMessage is not allowed in state VERIFIED' }
const agreement = {
  '@type': 'ContractAgreementMessage',
  providerPid: 'p',
  consumerPid: 'c',
  agreement: { '@id': 'a-1', target: 'd', permission: [{ action: 'use' }] },
}
const digest = messageDigest(agreement)!

describe('message digest: what "the same message" is', () => {
  it('the same content with its keys in another order is the same message', () => {
    const reordered = {
      agreement: { permission: [{ action: 'use' }], target: 'd', '@id': 'a-1' },
      consumerPid: 'c',
      providerPid: 'p',
      '@type': 'ContractAgreementMessage',
    }
    expect(messageDigest(reordered)).toBe(digest)
  })

  it('another value anywhere (another agreement, other terms) is another message', () => {
    expect(messageDigest({ ...agreement, agreement: { ...agreement.agreement, '@id': 'a-2' } })).not.toBe(digest)
    expect(messageDigest({ ...agreement, agreement: { ...agreement.agreement, permission: [{ action: 'read' }] } })).not.toBe(digest)
  })

  it('array order counts (a list is not a set in JSON)', () => {
    expect(messageDigest({ reason: ['a', 'b'] })).not.toBe(messageDigest({ reason: ['b', 'a'] }))
  })
})

describe('inbound decision: apply, acknowledge or refuse', () => {
  it('a message the state machine allows is applied, even if an identical one came before', () => {
    expect(
      inboundDecision({ allowed: { ok: true }, kind: 'agreement', digest, applied: [{ kind: 'agreement', digest }], terminated: false, termination: false }),
    ).toEqual({ action: 'apply' })
  })

  it('a repeat of an applied message is acknowledged after the process moved on', () => {
    expect(
      inboundDecision({
        allowed: refused,
        kind: 'agreement',
        digest,
        applied: [
          { kind: 'request', digest: 'x' },
          { kind: 'agreement', digest },
        ],
        terminated: false,
        termination: false,
      }),
    ).toEqual({ action: 'acknowledge', why: 'repeat' })
  })

  it('the same kind with other content (another agreement, other terms) is a conflict: refused with the reason', () => {
    expect(
      inboundDecision({
        allowed: refused,
        kind: 'agreement',
        digest: 'other',
        applied: [{ kind: 'agreement', digest }],
        terminated: false,
        termination: false,
      }),
    ).toEqual({ action: 'refuse', reason: refused.reason })
  })

  it('a message never applied and not allowed is refused', () => {
    expect(
      inboundDecision({ allowed: refused, kind: 'verification', digest, applied: [{ kind: 'agreement', digest }], terminated: false, termination: false }),
    ).toEqual({ action: 'refuse', reason: refused.reason })
  })

  it('once TERMINATED, a termination is acknowledged and any other repeat refused', () => {
    const ended = { ok: false as const, reason: 'the negotiation is TERMINATED and accepts no further messages' }
    expect(inboundDecision({ allowed: ended, kind: 'termination', digest: 'new', applied: [], terminated: true, termination: true })).toEqual({
      action: 'acknowledge',
      why: 'already-terminated',
    })
    expect(
      inboundDecision({ allowed: ended, kind: 'agreement', digest, applied: [{ kind: 'agreement', digest }], terminated: true, termination: false }),
    ).toEqual({ action: 'refuse', reason: ended.reason })
  })
})
