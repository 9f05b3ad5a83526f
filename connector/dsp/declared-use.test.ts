import { describe, expect, it } from 'vitest'
import { PasserelleError } from '../errors.ts'
import { declaredUseKey, declaredUseOf } from './declared-use.ts'

const message = (declared: unknown) => ({ '@type': 'ContractRequestMessage', [declaredUseKey]: declared })

describe("a consumer's declared use", () => {
  it('takes short names, prefixed names and IRIs, alone or as lists', () => {
    expect(
      declaredUseOf(message({ purpose: 'https://w3id.org/dpv#ScientificResearch', spatial: 'https://w3id.org/dpv/loc#CA-QC', industry: 'research' })),
    ).toEqual({ purpose: 'https://w3id.org/dpv#ScientificResearch', spatial: 'https://w3id.org/dpv/loc#CA-QC', industry: 'research' })
    expect(declaredUseOf(message({ purpose: ['climate-research', 'dpv:AcademicResearch'] }))).toEqual({ purpose: ['climate-research', 'dpv:AcademicResearch'] })
    expect(declaredUseOf({ '@type': 'ContractRequestMessage' })).toBeUndefined()
    expect(declaredUseOf(message({}))).toBeUndefined()
  })

  it.each([
    ['a number', { purpose: 42 }, `${declaredUseKey}.purpose`],
    ['an empty list', { purpose: [] }, 'expected at least one value'],
    ['the same value twice', { purpose: ['research', 'research'] }, 'the same value is given twice'],
    ['too many values', { purpose: Array.from({ length: 9 }, (_, i) => `p${i}`) }, 'expected at most 8 values'],
    ['spaces inside', { spatial: 'CA QC' }, 'without spaces'],
    ['a control character', { industry: 'research\u0000' }, 'without spaces'],
    ['a huge value', { purpose: `https://x.example/${'a'.repeat(600)}` }, `${declaredUseKey}.purpose`],
    ['an unknown field', { purpose: 'research', reason: 'trust me' }, 'reason'],
  ])('refuses %s as a bad request naming the field', (_name, declared, text) => {
    let error: unknown
    try {
      declaredUseOf(message(declared))
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(PasserelleError)
    expect((error as PasserelleError).code).toBe('bad_request')
    expect((error as Error).message).toContain(text)
  })
})
