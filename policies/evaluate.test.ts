import { describe, expect, it } from 'vitest'
import { evaluate, compare } from './evaluate.ts'
import type { AtomicConstraint, Constraint, EvaluationContext, PolicyModel, Rule } from './types.ts'

const now = new Date('2026-06-01T12:00:00Z')
const base: EvaluationContext = { scope: 'negotiation', action: 'use', assignee: 'did:web:lab.example', credentials: [], now }
const atom = (leftOperand: string, operator: AtomicConstraint['operator'], rightOperand: AtomicConstraint['rightOperand']): Constraint => ({
  kind: 'atomic',
  leftOperand,
  operator,
  rightOperand,
})
const rule = (action: string, constraints: Constraint[] = [], duties: Rule[] = []): Rule => ({ action, constraints, duties })
const policy = (parts: Partial<PolicyModel>): PolicyModel => ({ uid: 'urn:test', type: 'Offer', permissions: [], prohibitions: [], obligations: [], ...parts })
const permit = (...constraints: Constraint[]) => policy({ permissions: [rule('use', constraints)] })
const decide = (p: PolicyModel, context: Partial<EvaluationContext> = {}) => evaluate(p, { ...base, ...context })

describe('operators', () => {
  it.each([
    ['eq', ['a'], ['a'], true],
    ['eq', ['a'], ['b'], false],
    ['neq', ['a'], ['b'], true],
    ['neq', ['a'], ['a'], false],
    ['gt', [5], [4], true],
    ['gt', [4], [4], false],
    ['gteq', [4], [4], true],
    ['gteq', [3], [4], false],
    ['lt', [3], [4], true],
    ['lt', [4], [4], false],
    ['lteq', [4], [4], true],
    ['lteq', [5], [4], false],
    ['isAnyOf', ['b'], ['a', 'b'], true],
    ['isAnyOf', ['c'], ['a', 'b'], false],
    ['isNoneOf', ['c'], ['a', 'b'], true],
    ['isNoneOf', ['a'], ['a', 'b'], false],
    ['isAllOf', ['a', 'b', 'c'], ['a', 'b'], true],
    ['isAllOf', ['a'], ['a', 'b'], false],
    ['hasPart', ['a', 'b'], ['b'], true],
    ['hasPart', ['a'], ['b'], false],
    ['isPartOf', ['a'], ['a', 'b'], true],
    ['isPartOf', ['a', 'c'], ['a', 'b'], false],
    ['isA', ['a'], ['a'], true],
    ['isA', ['a'], ['b'], false],
  ] as const)('%s %j against %j is %s', (operator, actual, right, expected) => {
    expect(compare(operator, [...actual], [...right])).toBe(expected)
  })

  it('isA follows the purpose taxonomy from narrower to broader, never the other way', () => {
    expect(decide(permit(atom('purpose', 'isA', 'research')), { purpose: 'climate-research' }).allowed).toBe(true)
    expect(decide(permit(atom('purpose', 'isA', 'climate-research')), { purpose: 'research' }).allowed).toBe(false)
    const refused = decide(permit(atom('purpose', 'isA', 'research')), { purpose: 'marketing' })
    expect(refused.reason).toBe('Refused: purpose `marketing` is not a kind of `research`; required by permission 1 (use) of policy `urn:test`.')
  })

  it('isPartOf follows places: subdivisions, countries and groupings', () => {
    const p = permit(atom('spatial', 'isPartOf', 'EU'))
    expect(decide(p, { spatial: 'DE' }).allowed).toBe(true)
    expect(decide(p, { spatial: 'de-by' }).allowed).toBe(true)
    expect(decide(p, { spatial: 'CH' }).allowed).toBe(false)
    expect(decide(permit(atom('spatial', 'isPartOf', 'CA')), { spatial: 'CA-QC' }).allowed).toBe(true)
    expect(decide(permit(atom('spatial', 'eq', 'CA')), { spatial: 'CA-QC' }).allowed).toBe(false)
  })

  it('set operators match narrower values of a taxonomy', () => {
    expect(decide(permit(atom('purpose', 'isAnyOf', ['education', 'research'])), { purpose: 'climate-research' }).allowed).toBe(true)
    expect(decide(permit(atom('purpose', 'isNoneOf', ['marketing'])), { purpose: 'targeted-advertising' }).allowed).toBe(false)
    expect(decide(permit(atom('purpose', 'isNoneOf', ['marketing'])), { purpose: 'climate-research' }).allowed).toBe(true)
  })

  it('dateTime compares instants whatever the time zone', () => {
    const p = permit(atom('dateTime', 'gteq', '2026-06-01T08:00:00-04:00'))
    expect(decide(p, { scope: 'transfer' }).allowed).toBe(true)
    expect(decide(p, { scope: 'transfer', now: new Date('2026-06-01T11:59:59Z') }).allowed).toBe(false)
  })

  it('elapsedTime counts from the agreement; count includes the access being decided', () => {
    const p = permit(atom('elapsedTime', 'lteq', 'P30D'), atom('count', 'lteq', 3))
    const agreement = { signedAt: new Date('2026-05-15T12:00:00Z') }
    expect(decide(p, { scope: 'transfer', agreement, usage: { count: 2 } }).allowed).toBe(true)
    expect(decide(p, { scope: 'transfer', agreement, usage: { count: 3 } }).reason).toContain('number of accesses `4` (including this access) is more than `3`')
    expect(decide(p, { scope: 'monitor', agreement, usage: { count: 3 } }).allowed).toBe(true)
    expect(decide(p, { scope: 'transfer', agreement: { signedAt: new Date('2026-04-01T00:00:00Z') }, usage: { count: 0 } }).reason).toContain(
      'time since the agreement `61.5 days` is more than `P30D`',
    )
  })

  it('credential claims can be constrained by credential.<Type>.<claim>', () => {
    const p = permit(atom('credential.ResearcherCredential.role', 'isAnyOf', ['principal-investigator']))
    const credential = {
      types: ['VerifiableCredential', 'ResearcherCredential'],
      issuer: 'did:web:university.example',
      claims: { role: 'principal-investigator' },
    }
    expect(decide(p, { credentials: [credential] }).allowed).toBe(true)
    expect(decide(p, { credentials: [{ ...credential, claims: { role: 'student' } }] }).allowed).toBe(false)
    expect(decide(p, { credentials: [{ ...credential, expiresAt: now.getTime() - 1 }] }).reason).toContain('does not say')
  })
})

describe('logical constraints', () => {
  const a = atom('purpose', 'isA', 'research')
  const b = atom('spatial', 'isPartOf', 'EU')
  const request = { purpose: 'climate-research', spatial: 'CA' } // a holds, b does not
  it.each([
    ['and', false],
    ['andSequence', false],
    ['or', true],
    ['xone', true],
  ] as const)('%s over one true and one false constraint is %s', (operator, expected) => {
    expect(decide(permit({ kind: 'logical', operator, constraints: [a, b] }), request).allowed).toBe(expected)
  })

  it('xone refuses when both alternatives hold', () => {
    const d = decide(permit({ kind: 'logical', operator: 'xone', constraints: [a, b] }), { purpose: 'research', spatial: 'FR' })
    expect(d.allowed).toBe(false)
    expect(d.reason).toContain('exactly one of the 2 alternatives')
  })
})

describe('rules', () => {
  it('a permission to use covers read; a permission to read does not cover use', () => {
    expect(decide(policy({ permissions: [rule('use')] }), { action: 'read' }).allowed).toBe(true)
    const d = decide(policy({ permissions: [rule('read')] }), { action: 'use' })
    expect(d.allowed).toBe(false)
    expect(d.explanation).toContain('Permission 1 (read) does not apply: it is about `read`, not `use`.')
  })

  it('a prohibition overrides a permission by default, and says which rule refused', () => {
    const p = policy({ permissions: [rule('use')], prohibitions: [rule('distribute')] })
    expect(decide(p, { action: 'read' }).allowed).toBe(true)
    const d = decide(p, { action: 'distribute' })
    expect(d.allowed).toBe(false)
    expect(d.reason).toContain('conflict strategy `invalid`')
  })

  it.each([
    ['perm', true],
    ['prohibit', false],
    ['invalid', false],
  ] as const)('conflict strategy %s gives allowed=%s', (conflict, allowed) => {
    const p = policy({ conflict, permissions: [rule('use')], prohibitions: [rule('use', [atom('purpose', 'isA', 'commercial')])] })
    expect(decide(p, { purpose: 'marketing' }).allowed).toBe(allowed)
    expect(decide(p, { purpose: 'research' }).allowed).toBe(true)
  })

  it('an unknown value triggers a prohibition (fail closed)', () => {
    const p = policy({ conflict: 'prohibit', permissions: [rule('use')], prohibitions: [rule('use', [atom('purpose', 'isA', 'commercial')])] })
    const d = decide(p)
    expect(d.allowed).toBe(false)
    expect(d.reason).toContain('does not say what the purpose is')
  })

  it('an xone with an undecided member is undecided: never allowed by a permission, never escaped in a prohibition', () => {
    const xone: Constraint = { kind: 'logical', operator: 'xone', constraints: [atom('purpose', 'isA', 'research'), atom('spatial', 'isPartOf', 'EU')] }
    const asPermission = decide(permit(xone), { spatial: 'FR' })
    expect(asPermission.allowed).toBe(false)
    expect(asPermission.reason).toContain('constraint 1 (xone) cannot be decided: the request does not say what the purpose is')
    const asProhibition = policy({ permissions: [rule('use')], prohibitions: [rule('use', [xone])], conflict: 'prohibit' })
    expect(decide(asProhibition, { spatial: 'FR' }).allowed).toBe(false)
    expect(decide(asProhibition, { spatial: 'FR', purpose: 'research' }).allowed).toBe(true)
  })

  it('an unknown operand makes the policy invalid, and the trace says so', () => {
    const d = decide(permit(atom('http://example.org/shoeSize', 'eq', '42')))
    expect(d.allowed).toBe(false)
    expect(d.invalid).toEqual([expect.stringContaining('unknown left operand `http://example.org/shoeSize`')])
    expect(d.trace[0]).toMatchObject({ outcome: 'unknown', leftOperand: '(invalid)', note: 'unknown left operand `http://example.org/shoeSize`' })
  })

  it('an operand that does not decide at the scope is deferred, not refused, and the trace says so', () => {
    const p = permit(atom('count', 'lteq', 10), atom('purpose', 'isA', 'research'))
    const d = decide(p, { scope: 'catalog' })
    expect(d.allowed).toBe(true)
    expect(d.trace.map((t) => t.outcome)).toEqual(['deferred', 'deferred'])
    expect(d.explanation.at(-1)).toBe('Not checked at catalog time: number of accesses, purpose.')
  })

  it('a deferred constraint does not trigger a prohibition', () => {
    const p = policy({ permissions: [rule('use')], prohibitions: [rule('use', [atom('count', 'gt', 5)])] })
    expect(decide(p, { scope: 'negotiation' }).allowed).toBe(true)
    expect(decide(p, { scope: 'transfer', usage: { count: 5 } }).allowed).toBe(false)
  })

  it('duties of the permission become obligations; a violated duty voids the permission', () => {
    const duty: Rule = { uid: 'urn:duty:1', action: 'attribute', constraints: [], duties: [] }
    const p = policy({ permissions: [rule('use', [], [duty])] })
    expect(decide(p).obligations).toMatchObject([{ action: 'attribute', text: 'credit the provider (attribution)' }])
    expect(decide(p, { duties: { 'urn:duty:1': 'violated' } }).allowed).toBe(false)
  })

  it('an agreement binds its assignee and target', () => {
    const agreement = policy({
      type: 'Agreement',
      assigner: 'did:web:provider.example',
      assignee: 'did:web:lab.example',
      target: ['urn:dataset:1'],
      permissions: [rule('use')],
    })
    expect(decide(agreement, { target: 'urn:dataset:1' }).allowed).toBe(true)
    expect(decide(agreement, { target: 'urn:dataset:2' }).allowed).toBe(false)
    expect(decide(agreement, { target: 'urn:dataset:1', assignee: 'did:web:other.example' }).allowed).toBe(false)
  })

  it('a party collection refined by constraints admits the parties that satisfy them', () => {
    const members = { refinement: [atom('membership', 'eq', 'active')] }
    const p = policy({ permissions: [{ ...rule('use'), assignee: members }] })
    expect(decide(p).allowed).toBe(false)
    expect(decide(p, { credentials: [{ types: ['MembershipCredential'], issuer: 'did:web:a', claims: {} }] }).allowed).toBe(true)
  })

  it('a policy without permissions refuses, with a reason', () => {
    const d = decide(policy({}))
    expect(d).toMatchObject({ allowed: false, reason: 'Refused: policy `urn:test` grants no permission to `use`.' })
  })

  it('is pure: the same input gives the same decision and the context is not changed', () => {
    const p = permit(atom('purpose', 'isA', 'research'), atom('dateTime', 'lt', '2030-01-01T00:00:00Z'))
    const context = { ...base, purpose: 'climate-research' }
    const copy = structuredClone(context)
    expect(evaluate(p, context)).toEqual(evaluate(p, context))
    expect(context).toEqual(copy)
  })
})

describe('requests with several values', () => {
  it('every declared purpose must qualify', () => {
    const p = permit(atom('purpose', 'isA', 'research'))
    expect(decide(p, { purpose: ['climate-research', 'academic-research'] }).allowed).toBe(true)
    expect(decide(p, { purpose: ['climate-research', 'marketing'] }).allowed).toBe(false)
    expect(decide(permit(atom('purpose', 'isAnyOf', ['research', 'education'])), { purpose: ['teaching', 'climate-research'] }).allowed).toBe(true)
    expect(decide(permit(atom('purpose', 'isAnyOf', ['research', 'education'])), { purpose: ['teaching', 'marketing'] }).allowed).toBe(false)
  })

  it('set operators over a claim that lists values', () => {
    const credential = (roles: string[]) => [{ types: ['ResearcherCredential'], issuer: 'did:web:u', claims: { roles } }]
    const all = permit(atom('credential.ResearcherCredential.roles', 'isAllOf', ['researcher', 'data-steward']))
    expect(decide(all, { credentials: credential(['researcher', 'data-steward', 'admin']) }).allowed).toBe(true)
    expect(decide(all, { credentials: credential(['researcher']) }).allowed).toBe(false)
    const part = permit(atom('credential.ResearcherCredential.roles', 'hasPart', 'admin'))
    expect(decide(part, { credentials: credential(['researcher', 'admin']) }).allowed).toBe(true)
    const eq = permit(atom('credential.ResearcherCredential.roles', 'eq', ['admin', 'researcher']))
    expect(decide(eq, { credentials: credential(['researcher', 'admin']) }).allowed).toBe(true)
    expect(decide(eq, { credentials: credential(['researcher']) }).allowed).toBe(false)
  })
})

describe('operands outside the scopes where they must decide', () => {
  const member = { types: ['MembershipCredential'], issuer: 'did:web:a', claims: {}, expiresAt: Date.parse('2026-07-01T00:00:00Z') }
  const p = permit(atom('membership', 'eq', 'active'), atom('purpose', 'isA', 'research'))
  const transfer = { scope: 'transfer' as const }

  it('are deferred when the request does not carry them (a download has no declarations)', () => {
    const d = decide(p, transfer)
    expect(d.allowed).toBe(true)
    expect(d.explanation.at(-1)).toBe('Not checked at transfer time: data-space membership, purpose.')
  })

  it('decide when the request carries them', () => {
    expect(decide(p, { ...transfer, purpose: 'marketing' }).allowed).toBe(false)
    expect(decide(p, { ...transfer, credentials: [member], purpose: 'research' }).allowed).toBe(true)
    expect(decide(p, { scope: 'monitor', credentials: [member], now: new Date('2026-08-01T00:00:00Z') }).reason).toContain(
      'data-space membership `none` is not `active`',
    )
  })

  it('must decide where they belong: a missing declaration at negotiation refuses', () => {
    expect(decide(p, { credentials: [member] }).reason).toBe(
      'Refused: the request does not say what the purpose is; required by permission 1 (use) of policy `urn:test`.',
    )
  })
})

describe('incomplete requests', () => {
  it('deny instead of throwing', () => {
    const p = permit(atom('membership', 'eq', 'active'))
    expect(evaluate(p, { ...base, now: undefined } as unknown as EvaluationContext)).toMatchObject({
      allowed: false,
      reason: expect.stringContaining('incomplete'),
    })
    expect(evaluate(p, { ...base, credentials: undefined } as unknown as EvaluationContext)).toMatchObject({ allowed: false })
    expect(evaluate(p, { ...base, now: new Date('not a date') })).toMatchObject({ allowed: false })
  })
})

describe('action refinements', () => {
  const refined = policy({
    profile: ['https://w3id.org/dspace/2025/1/odrl-profile'],
    permissions: [{ ...rule('use'), actionRefinement: [atom('count', 'lteq', 3)] }],
  })

  it('decide: the refined action is permitted only where the refinement holds', () => {
    expect(decide(refined, { scope: 'transfer', usage: { count: 2 } }).allowed).toBe(true)
    const refused = decide(refined, { scope: 'transfer', usage: { count: 3 } })
    expect(refused.allowed).toBe(false)
    expect(refused.trace[0]).toMatchObject({ constraint: 'action refinement 1', leftOperand: 'count', outcome: 'violated' })
    expect(refused.reason).toMatch(/^Refused: number of accesses `4`.*required by permission 1 \(use\)/)
  })

  it('are said in plain language, with the profile', async () => {
    const { explainPolicy } = await import('./explain.ts')
    const text = explainPolicy(refined)
    expect(text).toContain('Permitted: `use` (only where the number of accesses')
    expect(text).toContain('It follows the ODRL profile `https://w3id.org/dspace/2025/1/odrl-profile`.')
  })
})

describe('embargo: a start date not reached yet', () => {
  const embargo = atom('dateTime', 'gteq', '2027-01-01T00:00:00Z')
  const agreement = { signedAt: now }

  it('does not block signing: at negotiation it is deferred to the accesses, and the trace says so', () => {
    const d = decide(permit(embargo))
    expect(d.allowed).toBe(true)
    expect(d.trace[0]).toMatchObject({ leftOperand: 'dateTime', outcome: 'deferred' })
    expect(d.trace[0]!.note).toContain('decided at each access')
  })

  it('refuses every access before the date, and the monitor too, naming the date', () => {
    const p = permit(embargo)
    for (const scope of ['transfer', 'monitor'] as const) {
      const d = decide(p, { scope, agreement, usage: { count: 0 } })
      expect(d.allowed).toBe(false)
      expect(d.reason).toContain('2027-01-01')
    }
    expect(decide(p, { scope: 'transfer', agreement, usage: { count: 0 }, now: new Date('2027-01-02T00:00:00Z') }).allowed).toBe(true)
  })

  it('opens nothing else: the other conditions of the permission still decide at negotiation', () => {
    const d = decide(permit(embargo, atom('purpose', 'isA', 'research')), { purpose: 'marketing' })
    expect(d.allowed).toBe(false)
    expect(d.reason).toContain('marketing')
  })

  it('never stands in for another alternative: inside `or` a date not reached is not met', () => {
    const either: Constraint = { kind: 'logical', operator: 'or', constraints: [embargo, atom('purpose', 'isA', 'research')] }
    expect(decide(permit(either), { purpose: 'marketing' }).allowed).toBe(false)
  })

  it('is still refused in the catalog (visibility) and when the bound is an end date', () => {
    expect(decide(permit(embargo), { scope: 'catalog' }).allowed).toBe(false)
    expect(decide(permit(atom('dateTime', 'lt', '2026-01-01T00:00:00Z'))).allowed).toBe(false)
  })

  it('a prohibition from a later date forbids nothing yet, and forbids at access once the date is reached', () => {
    const p = policy({ permissions: [rule('use')], prohibitions: [rule('use', [embargo])] })
    expect(decide(p).allowed).toBe(true)
    expect(decide(p, { scope: 'transfer', agreement, usage: { count: 0 }, now: new Date('2027-02-01T00:00:00Z') }).allowed).toBe(false)
  })
})
