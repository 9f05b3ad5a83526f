import { describe, expect, it } from 'vitest'
import { localName, permittedActions, summarizeOffer } from './offer-summary.ts'

describe('summarizeOffer', () => {
  it('says what is permitted, under which conditions and duties', () => {
    const text = summarizeOffer({
      '@id': 'o',
      permission: [
        {
          action: 'odrl:use',
          constraint: [
            { leftOperand: 'spatial', operator: 'isAnyOf', rightOperand: ['http://example.org/EU', 'http://example.org/CA'] },
            { leftOperand: 'dateTime', operator: 'lt', rightOperand: '2027-01-01' },
          ],
          duty: [{ action: 'attribute' }],
        } as never,
      ],
      prohibition: [{ action: 'http://www.w3.org/ns/odrl/2/commercialize' }],
    })
    expect(text).toBe(
      'You may use it if the location is one of EU, CA and the date is before or below 2027-01-01, provided you attribute the source. You may not commercialise it.',
    )
  })

  it('renders logical constraints and unknown operands readably', () => {
    const text = summarizeOffer({
      '@id': 'o',
      permission: [
        {
          action: 'read',
          constraint: [
            {
              or: [
                { leftOperand: 'purpose', operator: 'eq', rightOperand: 'research' },
                { leftOperand: 'ex:tier', operator: 'gteq', rightOperand: 'gold' },
              ],
            },
          ],
        },
      ],
    })
    expect(text).toBe('You may read it if either the purpose is research or "tier" is at least gold.')
  })

  it('lists permitted actions by local name, once', () => {
    expect(permittedActions({ '@id': 'o', permission: [{ action: 'odrl:use' }, { action: 'use' }, { action: 'http://www.w3.org/ns/odrl/2/read' }] })).toEqual([
      'use',
      'read',
    ])
    expect(localName('use')).toBe('use')
  })
})
