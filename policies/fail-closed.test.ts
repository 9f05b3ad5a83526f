import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { evaluate, odrlFromModel, readPolicy, type AtomicConstraint, type Constraint, type EvaluationContext, type PolicyModel, type Rule } from './index.ts'
import { policyArb } from '../test/support/policy-arbitrary.ts'

/**
 * Fail closed, as a property: take any valid policy, break one element anywhere in its tree (deep
 * inside `or`/`xone`/`andSequence`, in duties, remedies, refinements, prohibitions), and no request
 * is ever allowed; read from the wire, the broken policy is refused with a reason.
 */

type Site = { kind: 'rule'; rule: Rule } | { kind: 'constraint'; constraint: AtomicConstraint } | { kind: 'policy' }

function sites(model: PolicyModel): Site[] {
  const out: Site[] = [{ kind: 'policy' }]
  const constraint = (c: Constraint) => {
    if (c.kind === 'logical') c.constraints.forEach(constraint)
    else out.push({ kind: 'constraint', constraint: c })
  }
  const rule = (r: Rule) => {
    out.push({ kind: 'rule', rule: r })
    r.actionRefinement?.forEach(constraint)
    r.constraints.forEach(constraint)
    r.duties.forEach(rule)
  }
  ;[...model.permissions, ...model.prohibitions, ...model.obligations].forEach(rule)
  return out
}

const ruleBreaks: ((r: Rule) => void)[] = [
  (r) => {
    r.action = 'http://example.org/frobnicate'
  },
  (r) => {
    r.action = ''
  },
  (r) => {
    r.action = 'write'
  }, // deprecated
  (r) => {
    r.actionRefinement = [{ kind: 'atomic', leftOperand: 'http://example.org/shoeSize', operator: 'eq', rightOperand: '42' }]
  },
  (r) => {
    r.constraints.push({
      kind: 'logical',
      operator: 'or',
      constraints: [
        { kind: 'atomic', leftOperand: 'odrl:fileFormat', operator: 'eq', rightOperand: 'csv' },
        { kind: 'atomic', leftOperand: 'dateTime', operator: 'gt', rightOperand: '2000-01-01T00:00:00Z' },
      ],
    })
  },
]
const constraintBreaks: ((c: AtomicConstraint) => void)[] = [
  (c) => {
    c.leftOperand = 'http://example.org/unknownOperand'
  },
  (c) => {
    c.operator = 'isSimilarTo' as AtomicConstraint['operator']
  },
  (c) => {
    c.dataType = 'http://example.org/myType'
  },
  (c) => {
    c.unit = 'http://example.org/furlong'
  },
  (c) => {
    const bad: Record<string, AtomicConstraint['rightOperand']> = {
      dateTime: 'soon',
      count: 'many',
      elapsedTime: 'a while',
      spatial: 'Atlantis',
      purpose: 'world-domination',
    }
    c.rightOperand = bad[c.leftOperand] ?? []
  },
]
const policyBreaks: ((m: PolicyModel) => void)[] = [
  (m) => {
    m.profile = ['https://example.org/unknown-profile']
  },
  (m) => {
    m.type = 'Agreement'
  }, // without assigner and assignee
]

const brokenPolicy = fc.tuple(policyArb, fc.nat(), fc.nat()).map(([model, where, how]) => {
  const copy = structuredClone(model)
  const all = sites(copy)
  const site = all[where % all.length]!
  if (site.kind === 'rule') ruleBreaks[how % ruleBreaks.length]!(site.rule)
  else if (site.kind === 'constraint') constraintBreaks[how % constraintBreaks.length]!(site.constraint)
  else policyBreaks[how % policyBreaks.length]!(copy)
  return copy
})

const contextArb: fc.Arbitrary<EvaluationContext> = fc.record({
  scope: fc.constantFrom('catalog', 'negotiation', 'transfer', 'monitor' as const),
  action: fc.constantFrom('use', 'read', 'distribute', 'display', 'sell'),
  assignee: fc.constantFrom('did:web:lab.example', 'did:web:other.example'),
  assigner: fc.constant('did:web:p.example'),
  purpose: fc.constantFrom('research', 'climate-research', 'marketing'),
  spatial: fc.constantFrom('FR', 'CA-QC'),
  credentials: fc.constant([{ types: ['MembershipCredential'], issuer: 'did:web:authority.example', claims: { role: 'researcher' } }]),
  now: fc.integer({ min: Date.UTC(2020, 0, 1), max: Date.UTC(2030, 0, 1) }).map((ms) => new Date(ms)),
  agreement: fc.constant({ signedAt: new Date('2024-01-01T00:00:00Z') }),
  usage: fc.record({ count: fc.nat(50) }),
  duties: fc.constant({}),
})

describe('fail closed', () => {
  it('a policy with one unknown or malformed element anywhere never allows, and says why (property)', () => {
    fc.assert(
      fc.property(brokenPolicy, contextArb, (model, context) => {
        const decision = evaluate(model, context)
        expect(decision.allowed).toBe(false)
        expect(decision.invalid?.length).toBeGreaterThan(0)
        expect(decision.reason).toMatch(/is invalid, so it permits nothing/)
      }),
      { numRuns: 300 },
    )
  })

  it('the same broken policy, read from the wire, is refused with a reason (property)', () => {
    fc.assert(
      fc.property(brokenPolicy, (model) => {
        const wire = JSON.parse(
          JSON.stringify(odrlFromModel(model, { type: model.type === 'Agreement' ? 'Agreement' : 'Offer', uid: 'urn:uuid:x', target: 'urn:dataset:1' })),
        )
        if (model.profile) wire.profile = model.profile
        const read = readPolicy(wire)
        expect(read.model).toBeUndefined()
        expect(read.errors?.length).toBeGreaterThan(0)
      }),
      { numRuns: 300 },
    )
  })

  it('an unknown operand inside an `or` invalidates the policy instead of counting as false', () => {
    const model: PolicyModel = {
      uid: 'urn:p',
      type: 'Set',
      prohibitions: [],
      obligations: [],
      permissions: [
        {
          action: 'use',
          duties: [],
          constraints: [
            {
              kind: 'logical',
              operator: 'or',
              constraints: [
                { kind: 'atomic', leftOperand: 'odrl:shoeSize', operator: 'eq', rightOperand: '42' },
                { kind: 'atomic', leftOperand: 'purpose', operator: 'isA', rightOperand: 'research' },
              ],
            },
          ],
        },
      ],
    }
    const decision = evaluate(model, { scope: 'negotiation', action: 'use', assignee: 'did:web:a', purpose: 'research', credentials: [], now: new Date() })
    expect(decision).toMatchObject({
      allowed: false,
      invalid: [expect.stringContaining('permission[0].constraint[0].or[0].leftOperand: unknown left operand `odrl:shoeSize`')],
    })
  })
})
