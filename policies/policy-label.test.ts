import { describe, expect, it } from 'vitest'
import { compilePolicyText } from './loader.ts'
import { readPolicy } from './odrl-read.ts'
import { labelTerms, policyIdTerm, policyLabelOf, policyPhrase, policyTitleTerm } from './policy-label.ts'
import { canonicalKey } from './canonical.ts'

const text = `id: members-only
title: Members of the data space
permissions:
  - action: use
    constraints:
      - { leftOperand: membership, operator: eq, rightOperand: active }
`

describe('policy labels on offers', () => {
  it('an offer carries its policy id and title; the strict reader reads the same terms with or without them', async () => {
    const { policy } = await compilePolicyText(text, 'members-only.yaml')
    expect(policyLabelOf(policy!.odrl)).toEqual({ id: 'members-only', title: 'Members of the data space' })
    const { [policyIdTerm]: _id, [policyTitleTerm]: _title, ...bare } = policy!.odrl
    const withLabel = readPolicy(policy!.odrl, { expect: 'Offer' })
    const without = readPolicy(bare, { expect: 'Offer' })
    expect(withLabel.errors).toBeUndefined()
    expect(canonicalKey(withLabel.model!)).toBe(canonicalKey(without.model!))
  })

  it('hostile: a label that is not one short line of text is cut, cleaned or ignored', () => {
    expect(policyLabelOf({ [policyIdTerm]: { nested: true } })).toBeUndefined()
    expect(policyLabelOf({ [policyIdTerm]: ['a', 'b'] })).toBeUndefined()
    expect(policyLabelOf({ [policyIdTerm]: '   ' })).toBeUndefined()
    expect(policyLabelOf({ [policyIdTerm]: 'x', [policyTitleTerm]: 'line\nbreak\u0007' })).toEqual({ id: 'x', title: 'line break' })
    expect(policyLabelOf({ [policyIdTerm]: 'x'.repeat(10_000) })!.id).toHaveLength(200)
    expect(policyLabelOf({ [policyIdTerm]: { '@value': 'typed' } })).toEqual({ id: 'typed' })
  })

  it('refusals name a policy by id and title, a title equal to the id once', () => {
    expect(policyPhrase({ id: 'a', title: 'A title' })).toBe('policy `a` (“A title”)')
    expect(policyPhrase({ id: 'a', title: 'a' })).toBe('policy `a`')
    expect(labelTerms({ id: 'a', title: 'a' })).toEqual({ [policyIdTerm]: 'a' })
  })

  it('other terms of our namespace are still refused: only the two labels are annotations', () => {
    const read = readPolicy(
      { '@id': 'urn:o', '@type': 'Offer', 'https://w3id.org/passerelle/ns#grantsEverything': true, permission: [{ action: 'use' }] },
      { expect: 'Offer' },
    )
    expect(read.errors?.join(' ')).toContain('is not a term this connector understands')
  })
})
