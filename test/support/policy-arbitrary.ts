import fc from 'fast-check'
import type { AtomicConstraint, Constraint, Operator, PolicyModel, Rule } from '../../policies/types.ts'
import { supportedProfiles } from '../../policies/validate.ts'

/**
 * fast-check generators of valid policy models over the built-in operands: every operand kind,
 * logical constraints (`and`, `or`, `xone`, `andSequence`) nested, ordered (`@list`) values, duties,
 * remedies, obligations, uids, profiles and conflict strategies.
 */
const purposes = ['research', 'climate-research', 'scientific-research', 'commercial', 'marketing', 'education']
const places = ['FR', 'CA', 'CA-QC', 'EU', 'DE']
const id = fc.constantFrom('urn:uuid:1', 'urn:uuid:2', 'https://example.org/rule/a', 'https://example.org/rule/b')

const atomic: fc.Arbitrary<AtomicConstraint> = fc
  .oneof(
    fc.record({ leftOperand: fc.constant('purpose'), operator: fc.constantFrom<Operator>('eq', 'neq', 'isA'), rightOperand: fc.constantFrom(...purposes) }),
    fc.record({
      leftOperand: fc.constant('purpose'),
      operator: fc.constantFrom<Operator>('isAnyOf', 'isNoneOf'),
      rightOperand: fc.uniqueArray(fc.constantFrom(...purposes), { minLength: 1, maxLength: 3 }),
      ordered: fc.option(fc.constant(true as const), { nil: undefined }),
    }),
    fc.record({ leftOperand: fc.constant('spatial'), operator: fc.constantFrom<Operator>('eq', 'isPartOf'), rightOperand: fc.constantFrom(...places) }),
    fc.record({
      leftOperand: fc.constant('dateTime'),
      operator: fc.constantFrom<Operator>('gt', 'gteq', 'lt', 'lteq'),
      rightOperand: fc.integer({ min: Date.UTC(2020, 0, 1), max: Date.UTC(2030, 0, 1) }).map((ms) => new Date(ms).toISOString()),
    }),
    fc.record({ leftOperand: fc.constant('count'), operator: fc.constantFrom<Operator>('lt', 'lteq', 'eq'), rightOperand: fc.integer({ min: 0, max: 1000 }) }),
    fc.record({
      leftOperand: fc.constant('elapsedTime'),
      operator: fc.constantFrom<Operator>('lt', 'lteq'),
      rightOperand: fc.constantFrom('P30D', 'PT12H', 'P1Y'),
    }),
    fc.record({
      leftOperand: fc.constant('recipient'),
      operator: fc.constantFrom<Operator>('eq', 'neq'),
      rightOperand: fc.constantFrom('did:web:a.example', 'did:web:b.example'),
    }),
    fc.record({
      leftOperand: fc.constant('credential.MembershipCredential.role'),
      operator: fc.constantFrom<Operator>('eq', 'isAnyOf'),
      rightOperand: fc.constantFrom('researcher', 'steward'),
    }),
  )
  .chain((c) => fc.option(id, { nil: undefined }).map((uid) => ({ kind: 'atomic' as const, ...c, ...(uid ? { uid } : {}) }) as AtomicConstraint))
  .map((c) => {
    const { ordered, ...rest } = c as AtomicConstraint & { ordered?: true }
    return ordered ? { ...rest, ordered } : rest
  })

export const constraintArb: fc.Arbitrary<Constraint> = fc.letrec<{ c: Constraint }>((tie) => ({
  c: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    atomic,
    fc.record({
      kind: fc.constant('logical' as const),
      operator: fc.constantFrom('and', 'or', 'xone', 'andSequence' as const),
      constraints: fc.array(tie('c'), { minLength: 1, maxLength: 3 }),
    }),
  ),
})).c

const duty = (actions: string[]): fc.Arbitrary<Rule> =>
  fc
    .record({
      action: fc.constantFrom(...actions),
      constraints: fc.array(constraintArb, { maxLength: 2 }),
      duties: fc.constant([] as Rule[]),
      uid: fc.option(id, { nil: undefined }),
    })
    .map(({ uid, ...r }) => (uid ? { uid, ...r } : r))

const ruleArb = (actions: string[], duties: fc.Arbitrary<Rule[]>): fc.Arbitrary<Rule> =>
  fc
    .record({
      action: fc.constantFrom(...actions),
      constraints: fc.array(constraintArb, { maxLength: 4 }),
      duties,
      uid: fc.option(id, { nil: undefined }),
      assignee: fc.option(fc.constantFrom('did:web:lab.example', 'did:web:other.example'), { nil: undefined }),
    })
    .map(({ uid, assignee, ...r }) => ({ ...(uid ? { uid } : {}), ...(assignee ? { assignee } : {}), ...r }))

export const policyArb: fc.Arbitrary<PolicyModel> = fc
  .record({
    permissions: fc.array(
      ruleArb(['use', 'read', 'distribute', 'aggregate', 'display'], fc.array(duty(['attribute', 'delete', 'inform', 'compensate']), { maxLength: 2 })),
      { minLength: 1, maxLength: 3 },
    ),
    prohibitions: fc.array(ruleArb(['distribute', 'sell', 'modify', 'extract'], fc.array(duty(['delete', 'inform']), { maxLength: 1 })), { maxLength: 2 }),
    obligations: fc.array(duty(['delete', 'inform', 'attribute']), { maxLength: 2 }),
    profile: fc.option(fc.subarray([...supportedProfiles], { minLength: 1 }), { nil: undefined }),
    conflict: fc.option(fc.constantFrom('perm', 'prohibit', 'invalid' as const), { nil: undefined }),
  })
  .map(({ profile, conflict, ...rules }) => ({
    uid: 'urn:uuid:policy',
    type: 'Offer' as const,
    ...(profile ? { profile } : {}),
    ...(conflict ? { conflict } : {}),
    ...rules,
  }))
