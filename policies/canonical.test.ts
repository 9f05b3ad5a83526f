import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { canonicalKey, evaluate, odrlFromModel, policyProblems, readPolicy, samePolicy, defaultRegistry, type PolicyModel } from './index.ts'
import { policyArb } from '../test/support/policy-arbitrary.ts'

const identity = ['uid', 'type', 'target', 'assigner', 'assignee', 'timestamp'] as const
const errorsOf = (json: unknown, expect?: 'Offer' | 'Agreement' | 'Set') => {
  const read = readPolicy(json, { expect })
  return read.errors ?? []
}
const modelOf = (json: unknown, expect?: 'Offer' | 'Agreement' | 'Set'): PolicyModel => {
  const read = readPolicy(json, { expect })
  if (!read.model) throw new Error(read.errors.join('; '))
  return read.model
}
const offer = (rules: Record<string, unknown>) => ({ '@id': 'urn:uuid:offer', '@type': 'Offer', ...rules })
const limited = [{ action: 'use', constraint: [{ leftOperand: 'count', operator: 'lteq', rightOperand: 10 }] }]

describe('readPolicy refuses a term spelled twice', () => {
  it.each([
    ['bare and odrl:', { constraint: [], 'odrl:constraint': [{ leftOperand: 'count', operator: 'lteq', rightOperand: 10 }] }, 'constraint'],
    [
      'bare and full IRI',
      { constraint: [{ leftOperand: 'count', operator: 'lteq', rightOperand: 10 }], 'http://www.w3.org/ns/odrl/2/constraint': [] },
      'constraint',
    ],
    ['odrl: and full IRI action', { 'odrl:action': 'use', 'http://www.w3.org/ns/odrl/2/action': 'odrl:read' }, 'action'],
    ['@type and type', { action: 'use', '@type': 'Permission', type: 'Prohibition' }, '@type'],
  ])('on a rule: %s', (_name, rule, term) => {
    const errors = errorsOf(offer({ permission: [rule] }))
    expect(errors.join('\n')).toContain(`\`${term}\` is given twice`)
  })

  it('on the policy: an empty `permission` beside `odrl:permission` (the smuggled limit)', () => {
    const errors = errorsOf(offer({ permission: [], 'odrl:permission': limited }))
    expect(errors).toEqual([expect.stringContaining('`permission` is given twice (as `permission` and `odrl:permission`)')])
  })

  it('on the policy: `@id` and `uid` naming different policies', () => {
    expect(errorsOf({ ...offer({ permission: limited }), uid: 'urn:uuid:other' }).join()).toContain('`@id` is given twice')
  })

  it('inside a logical constraint and a literal', () => {
    const twice = { and: [{ leftOperand: 'count', operator: 'lteq', rightOperand: 10 }], 'odrl:and': [] }
    expect(errorsOf(offer({ permission: [{ action: 'use', constraint: [twice] }] })).join()).toContain('`and` is given twice')
    const literal = { leftOperand: 'count', operator: 'lteq', rightOperand: { '@value': '10', '@type': 'xsd:integer', '@id': 'x' } }
    expect(errorsOf(offer({ permission: [{ action: 'use', constraint: [literal] }] })).join()).toContain('a literal has only')
  })
})

describe('readPolicy reads what real peers send', () => {
  it('an Eclipse EDC-style offer: @context, odrl: terms, empty arrays, dct: annotations', () => {
    const model = modelOf(
      {
        '@context': ['https://w3id.org/dspace/2025/1/context.jsonld'],
        '@id': 'urn:uuid:edc',
        '@type': 'odrl:Offer',
        'dct:title': 'Open data',
        'http://purl.org/dc/terms/description': 'x',
        'odrl:permission': [{ 'odrl:action': { '@id': 'odrl:use' }, 'odrl:constraint': [] }],
        'odrl:prohibition': [],
        'odrl:obligation': [],
      },
      'Offer',
    )
    expect(model.permissions).toEqual([{ action: 'use', constraints: [], duties: [] }])
    expect(model.prohibitions).toEqual([])
  })

  it('values as plain, { @id }, { @value, @type } and @list', () => {
    const model = modelOf(
      offer({
        permission: [
          {
            action: 'use',
            constraint: [
              { leftOperand: { '@id': 'odrl:purpose' }, operator: { '@id': 'odrl:isAnyOf' }, rightOperand: { '@list': [{ '@id': 'research' }, 'education'] } },
              { leftOperand: 'odrl:dateTime', operator: 'lt', rightOperand: { '@value': '2030-01-01T00:00:00Z', '@type': 'xsd:dateTime' } },
            ],
          },
        ],
      }),
    )
    expect(model.permissions[0]!.constraints).toEqual([
      { kind: 'atomic', leftOperand: 'purpose', operator: 'isAnyOf', rightOperand: ['research', 'education'], ordered: true },
      { kind: 'atomic', leftOperand: 'dateTime', operator: 'lt', rightOperand: '2030-01-01T00:00:00Z', dataType: 'xsd:dateTime' },
    ])
  })

  it('refuses properties it does not understand, naming them', () => {
    expect(errorsOf(offer({ permission: [{ action: 'use', 'edc:inForceDate': 'x' }] })).join()).toContain(
      '`edc:inForceDate` is not a term this connector understands',
    )
    expect(errorsOf(offer({ permission: limited, inheritFrom: 'urn:uuid:base' })).join()).toContain('`inheritFrom`')
    expect(
      errorsOf(offer({ permission: [{ action: 'use', constraint: [{ leftOperand: 'count', operator: 'lteq', rightOperand: 1, status: 3 }] }] })).join(),
    ).toContain('`status`')
  })

  it('applies a compact policy: action, target, assigner and assignee given once, for every rule', () => {
    const compact = modelOf(
      {
        '@id': 'urn:uuid:a',
        '@type': 'Agreement',
        action: 'use',
        target: 'urn:dataset:1',
        assigner: 'did:web:p.example',
        assignee: 'did:web:c.example',
        timestamp: '2026-01-01T00:00:00Z',
        permission: [{ constraint: [{ leftOperand: 'count', operator: 'lteq', rightOperand: 3 }] }],
        prohibition: [{}],
      },
      'Agreement',
    )
    expect(compact.permissions[0]).toMatchObject({ action: 'use', target: ['urn:dataset:1'], assigner: 'did:web:p.example', assignee: 'did:web:c.example' })
    expect(compact.permissions[0]!.inherited).toEqual(['action', 'target', 'assigner', 'assignee'])
    const expanded = modelOf(
      {
        '@id': 'urn:uuid:b',
        '@type': 'Agreement',
        target: 'urn:dataset:1',
        assigner: 'did:web:p.example',
        assignee: 'did:web:c.example',
        timestamp: '2026-01-01T00:00:00Z',
        permission: [{ action: 'use', target: 'urn:dataset:1', constraint: [{ leftOperand: 'count', operator: 'lteq', rightOperand: 3 }] }],
        prohibition: [{ action: 'use' }],
      },
      'Agreement',
    )
    expect(samePolicy(compact, expanded, { ignore: ['uid'] })).toBe(true)
  })

  it('applies a compact policy through an @list of rules with nested logical constraints', () => {
    const model = modelOf({
      '@id': 'urn:uuid:l',
      '@type': 'Set',
      action: 'odrl:read',
      target: { '@id': 'urn:dataset:1' },
      permission: {
        '@list': [
          {
            constraint: [
              {
                xone: {
                  '@list': [
                    { and: [{ leftOperand: 'count', operator: 'lteq', rightOperand: 3 }] },
                    { leftOperand: 'purpose', operator: 'eq', rightOperand: 'research' },
                  ],
                },
              },
            ],
          },
        ],
      },
    })
    expect(model.permissions).toEqual([expect.objectContaining({ action: 'read', target: ['urn:dataset:1'], inherited: ['action', 'target'] })])
    expect(model.permissions[0]!.constraints[0]).toMatchObject({
      kind: 'logical',
      operator: 'xone',
      constraints: [
        { kind: 'logical', operator: 'and' },
        { kind: 'atomic', leftOperand: 'purpose' },
      ],
    })
  })

  it('a refusal names the value a rule inherited, in its reason and its trace', () => {
    const model = modelOf(offer({ action: 'use', assignee: 'did:web:lab.example', permission: [{}] }))
    const base = { scope: 'negotiation' as const, credentials: [], now: new Date('2026-06-01T00:00:00Z') }
    const sell = evaluate(model, { ...base, action: 'sell', assignee: 'did:web:lab.example' })
    expect(sell.allowed).toBe(false)
    expect(sell.explanation.join(' ')).toContain('it is about `use` (given by the policy for all its rules), not `sell`')
    expect(sell.trace).toEqual([
      expect.objectContaining({ rule: 'permission 1 (use)', constraint: 'applies', operator: 'action', expected: 'use', actual: 'sell', outcome: 'violated' }),
    ])
    const other = evaluate(model, { ...base, action: 'use', assignee: 'did:web:other.example' })
    expect(other.trace[0]).toMatchObject({
      operator: 'assignee',
      expected: 'did:web:lab.example',
      actual: 'did:web:other.example',
      note: expect.stringContaining('(given by the policy for all its rules)'),
    })
  })

  it('refuses a rule that gives another value than its compact policy', () => {
    expect(errorsOf(offer({ action: 'use', permission: [{ action: 'odrl:sell' }] })).join()).toContain("differs from the policy's action")
    expect(errorsOf(offer({ target: 'urn:a', permission: [{ action: 'use', target: 'urn:b' }] })).join()).toContain('target differs')
  })

  it('checks the type the caller expects, and what an Agreement needs', () => {
    expect(errorsOf(offer({ permission: limited }), 'Agreement').join()).toContain('expected an Agreement, found an Offer')
    expect(errorsOf({ '@id': 'urn:a', '@type': 'Agreement', permission: limited }, 'Agreement').join()).toMatch(/needs an assigner.*needs an assignee/)
  })

  it('refuses what it does not understand at the meaning level too', () => {
    expect(
      errorsOf(offer({ permission: [{ action: 'use', constraint: [{ leftOperand: 'odrl:fileFormat', operator: 'eq', rightOperand: 'csv' }] }] })).join(),
    ).toContain('unknown left operand')
    expect(
      errorsOf(offer({ permission: [{ action: 'use', constraint: [{ leftOperand: 'dateTime', operator: 'lt', rightOperand: 'soon' }] }] })).join(),
    ).toContain('not a date-time')
    expect(errorsOf(offer({ profile: 'https://example.org/profile', permission: limited })).join()).toContain('profile `https://example.org/profile`')
    expect(errorsOf(offer({ permission: [{ action: 'odrl:frobnicate' }] })).join()).toContain('unknown action')
  })
})

describe('samePolicy compares meaning, not JSON', () => {
  it('is order-insensitive for sets, order-sensitive for andSequence and @list', () => {
    const a = (members: unknown[], list: unknown) =>
      modelOf(
        offer({ permission: [{ action: 'use', constraint: [{ andSequence: members }, { leftOperand: 'purpose', operator: 'isAnyOf', rightOperand: list }] }] }),
      )
    const x = { leftOperand: 'count', operator: 'lteq', rightOperand: 3 }
    const y = { leftOperand: 'dateTime', operator: 'lt', rightOperand: '2030-01-01T00:00:00Z' }
    expect(samePolicy(a([x, y], ['research', 'education']), a([x, y], ['education', 'research']))).toBe(true)
    expect(samePolicy(a([x, y], ['research']), a([y, x], ['research']))).toBe(false)
    expect(samePolicy(a([x], { '@list': ['research', 'education'] }), a([x], { '@list': ['education', 'research'] }))).toBe(false)
    const two = (order: unknown[]) => modelOf(offer({ permission: order }))
    expect(samePolicy(two([{ action: 'use' }, { action: 'odrl:read' }]), two([{ action: 'http://www.w3.org/ns/odrl/2/read' }, { action: 'use' }]))).toBe(true)
  })

  it('ignores only the identity fields the caller names', () => {
    const published = modelOf(offer({ permission: limited }))
    const requested = modelOf({ ...offer({ permission: limited }), '@id': 'urn:uuid:other', target: 'urn:dataset:1' })
    expect(samePolicy(published, requested)).toBe(false)
    expect(samePolicy(published, requested, { ignore: ['uid', 'target'] })).toBe(true)
    const loosened = modelOf(offer({ permission: [{ action: 'use', constraint: [{ leftOperand: 'count', operator: 'lteq', rightOperand: 11 }] }] }))
    expect(samePolicy(published, loosened, { ignore: identity })).toBe(false)
  })

  it("treats a missing conflict as ODRL's default, invalid", () => {
    expect(canonicalKey(modelOf(offer({ permission: limited })))).toBe(
      canonicalKey(modelOf(offer({ permission: limited, 'odrl:conflict': { '@id': 'odrl:invalid' } }))),
    )
  })
})

describe('odrlFromModel and readPolicy', () => {
  it('round-trip: the wire form reads back to the same policy (property)', () => {
    fc.assert(
      fc.property(policyArb, (model) => {
        expect(policyProblems(model, defaultRegistry())).toEqual([])
        // A rule for one assignee cannot sit in an agreement with another: only Offers and Sets then.
        const ruleAssignee = [...model.permissions, ...model.prohibitions].some((r) => r.assignee !== undefined)
        for (const type of ['Offer', 'Set', ...(ruleAssignee ? [] : ['Agreement' as const])] as const) {
          const wire = odrlFromModel(model, {
            type,
            uid: 'urn:uuid:wire',
            target: 'urn:dataset:1',
            assigner: 'did:web:p.example',
            timestamp: new Date('2026-01-01T00:00:00Z'),
            ...(ruleAssignee ? {} : { assignee: 'did:web:c.example' }),
          })
          const back = readPolicy(JSON.parse(JSON.stringify(wire)), { expect: type })
          expect(back.errors, JSON.stringify(wire)).toBeUndefined()
          expect(samePolicy(model, back.model!, { ignore: identity })).toBe(true)
        }
      }),
      { numRuns: 300 },
    )
  })

  it('puts the identity the caller gives on the wire, and only that', () => {
    const model = modelOf({ ...offer({ permission: limited }), target: 'urn:dataset:consumer-chose', assigner: 'did:web:someone' })
    const agreement = odrlFromModel(model, {
      type: 'Agreement',
      uid: 'urn:uuid:agreement',
      target: 'urn:dataset:1',
      assigner: 'did:web:p.example',
      assignee: 'did:web:c.example',
      timestamp: new Date('2026-01-01T00:00:00Z'),
    })
    expect(agreement).toMatchObject({
      '@id': 'urn:uuid:agreement',
      '@type': 'Agreement',
      target: 'urn:dataset:1',
      assigner: 'did:web:p.example',
      timestamp: '2026-01-01T00:00:00.000Z',
    })
    expect(JSON.stringify(agreement)).not.toContain('consumer-chose')
    const catalogOffer = odrlFromModel(model, { type: 'Offer', uid: 'urn:uuid:o' })
    expect(catalogOffer).not.toHaveProperty('target')
  })
})

describe('readPolicy on hostile input', () => {
  it('never throws, whatever JSON it is given (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (json) => {
        const read = readPolicy(json)
        expect(read.model !== undefined || read.errors!.length > 0).toBe(true)
      }),
      { numRuns: 300 },
    )
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.constantFrom('permission', 'odrl:permission', 'constraint', 'action', '@id', 'uid', 'target', '__proto__', 'and', '@list'),
          fc.jsonValue({ maxDepth: 4 }),
        ),
        (rule) => {
          expect(() => readPolicy(offer({ permission: [rule] }))).not.toThrow()
        },
      ),
      { numRuns: 300 },
    )
  })

  it('refuses deep nesting and prototype keys with a reason', () => {
    let deep: Record<string, unknown> = { leftOperand: 'count', operator: 'lteq', rightOperand: 1 }
    for (let i = 0; i < 5000; i++) deep = { and: [deep] }
    expect(errorsOf(offer({ permission: [{ action: 'use', constraint: [deep] }] })).join()).toContain('nested more than 16 deep')
    const proto = JSON.parse('{"@id":"urn:p","@type":"Offer","permission":[{"action":"use","__proto__":{"constraint":[]}}]}')
    expect(errorsOf(proto).join()).toContain('`__proto__` is not a term')
    expect(errorsOf(offer({ permission: [{ action: 'constructor' }] })).join()).toContain('unknown action')
  })
})
