import { describe, expect, it } from 'vitest'
import { loadSuite } from './adapter.ts'
import { evaluate } from '../evaluate.ts'

const cases = await loadSuite()

describe('the public ODRL test suite', () => {
  it('has all 68 cases, 27 allowing and 41 denying', () => {
    expect(cases).toHaveLength(68)
    expect(cases.filter((c) => c.expected === 'allow')).toHaveLength(27)
  })

  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const decision = evaluate(c.policy, c.context)
    expect({ title: c.title, decision: decision.allowed ? 'allow' : 'deny', reason: decision.reason }).toMatchObject({ title: c.title, decision: c.expected })
    expect(decision.reason).toMatch(/^(Allowed|Refused): /)
  })
})
