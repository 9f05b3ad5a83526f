import { describe, expect, it } from 'vitest'
import { canonicalJson, chainChecker, genesisHash, recordHash, sealRecord, sha256Hex } from './chain.ts'

describe('audit chain arithmetic', () => {
  it('hashes a record over the canonical JSON of its fields, whatever its ids and subjects hold', () => {
    const odd = ['plain', 'with "quotes" and \\ back', 'ünïcödé ✓', 'line\nbreak', '\u2028', '']
    for (const actor of odd)
      for (const subjects of [{}, { z: actor, a: 'x', '10': 'y', '9': 'w' }, { agreement: actor }] as Record<string, string>[]) {
        const fields = { seq: 7, at: 1_765_000_000_123, kind: actor, actor, payloadDigest: 'a'.repeat(64), prevHash: genesisHash }
        expect(recordHash(fields, subjects)).toBe(sha256Hex(canonicalJson({ ...fields, subjects })))
      }
  })

  it('accepts a payload stored in another spelling of the same JSON, and names one with other content', () => {
    const record = sealRecord({ kind: 'k', subjects: { agreement: 'a' }, actor: 'x', payload: { '10': 1, '9': 2, b: { y: 1, x: 2 } } }, 1, 0, genesisHash)
    const { payload: _payload, subjects, ...rest } = record
    const check = (payloadText: string) => chainChecker({ seq: 0, hash: genesisHash }).check({ ...rest, payloadText, subjectsText: JSON.stringify(subjects) })
    expect(check('{"9":2,"10":1,"b":{"x":2,"y":1}}')).toBeUndefined()
    expect(check('{ "b": { "y": 1, "x": 2 }, "10": 1, "9": 2 }')).toBeUndefined()
    expect(check('{"9":2,"10":1,"b":{"x":2,"y":2}}')?.reason).toBe('record 1 was changed: its payload does not match its digest')
    expect(check('{"9":2,"10":1,"b":{"x":2,"y":1}')?.reason).toBe('record 1 was changed: its payload does not match its digest')
  })
})
