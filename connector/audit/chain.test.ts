import { describe, expect, it } from 'vitest'
import { canonicalJson, chainChecker, genesisHash, recordHash, sealRecord, sha256Hex, type StoredRow } from './chain.ts'

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

  describe('a stored row, as audit verify reads it', () => {
    const sealed = sealRecord(
      {
        kind: 'negotiation.agreement',
        subjects: { participant: 'did:web:p', negotiation: 'n-1', agreement: 'a-1' },
        actor: 'did:web:x',
        payload: { b: 1, a: 'é "q"' },
      },
      1,
      1_765_000_000_000,
      genesisHash,
    )
    const row = (change: Partial<Record<'subjectsText' | 'agreementId' | 'kind' | 'payloadText' | 'prevHash', string | null>> = {}): StoredRow => [
      sealed.seq,
      sealed.at,
      (change.kind ?? sealed.kind) as string,
      (change.subjectsText ?? JSON.stringify(sealed.subjects)) as string,
      change.agreementId === undefined ? sealed.agreementId : change.agreementId,
      sealed.actor,
      (change.payloadText ?? JSON.stringify(sealed.payload)) as string,
      sealed.payloadDigest,
      (change.prevHash ?? sealed.prevHash) as string,
      sealed.hash,
    ]
    const check = (r: StoredRow, anchor = { seq: 0, hash: genesisHash }) => chainChecker(anchor).checkStored(r)?.reason

    it('stores the subjects in canonical order, and the row holds as stored', () => {
      expect(JSON.stringify(sealed.subjects)).toBe('{"agreement":"a-1","negotiation":"n-1","participant":"did:web:p"}')
      expect(check(row())).toBeUndefined()
    })

    it('accepts subjects stored in another spelling (records sealed before they were put in order)', () => {
      expect(check(row({ subjectsText: '{"participant":"did:web:p","negotiation":"n-1","agreement":"a-1"}' }))).toBeUndefined()
      expect(check(row({ subjectsText: '{ "agreement": "a-1", "negotiation": "n-1", "participant": "did:web:p" }' }))).toBeUndefined()
    })

    it('checks a chain of rows sealed before and after the subjects were stored in order, and names a change among them', () => {
      const rows: StoredRow[] = []
      let previous = genesisHash
      for (let seq = 1; seq <= 3000; seq++) {
        const record = sealRecord({ kind: 'k', subjects: { z: `z-${seq}`, agreement: `a-${seq}` }, actor: 'x', payload: { n: seq } }, seq, 0, previous)
        previous = record.hash
        // The first 2,000 as they were stored before: in the order the ids were written.
        const subjectsText = seq <= 2000 ? JSON.stringify({ z: `z-${seq}`, agreement: `a-${seq}` }) : JSON.stringify(record.subjects)
        rows.push([seq, 0, 'k', subjectsText, record.agreementId, 'x', JSON.stringify(record.payload), record.payloadDigest, record.prevHash, record.hash])
      }
      const all = (changed?: (r: StoredRow) => void) => {
        const checker = chainChecker({ seq: 0, hash: genesisHash })
        for (const r of rows) {
          const copy = [...r] as StoredRow
          changed?.(copy)
          const problem = checker.checkStored(copy)
          if (problem) return problem
        }
        return undefined
      }
      expect(all()).toBeUndefined()
      for (const seq of [5, 1500, 2500])
        expect(all((r) => r[0] === seq && (r[3] = r[3].replace(`a-${seq}`, 'a-0'))))?.toEqual({
          seq,
          reason: `record ${seq} was changed: its hash does not match its content`,
        })
    })

    it('names a row whose subjects, agreement id, kind, payload or link were changed', () => {
      expect(check(row({ subjectsText: '{"agreement":"a-2","negotiation":"n-1","participant":"did:web:p"}' }))).toBe(
        'record 1 was changed: its hash does not match its content',
      )
      expect(check(row({ subjectsText: '{"agreement":"a-1"}x' }))).toBe('record 1 was changed: its subjects are not a JSON object')
      expect(check(row({ agreementId: 'a-2' }))).toBe('record 1 was changed: its agreement id does not match its subjects')
      expect(check(row({ agreementId: null }))).toBe('record 1 was changed: its agreement id does not match its subjects')
      expect(check(row({ kind: 'negotiation.refusal' }))).toBe('record 1 was changed: its hash does not match its content')
      expect(check(row({ payloadText: '{"a":"é \\"q\\"","b":2}' }))).toBe('record 1 was changed: its payload does not match its digest')
      expect(check(row(), { seq: 0, hash: 'f'.repeat(64) })).toMatch(/^record 1 does not follow record 0/)
    })

    it('checks a row after an anchor that is not a hash the way it checks an object', () => {
      const odd = '"},"seq":1'
      const after = sealRecord({ kind: 'k', subjects: {}, actor: 'x', payload: {} }, 5, 0, odd)
      const stored: StoredRow = [5, 0, 'k', '{}', null, 'x', '{}', after.payloadDigest, odd, after.hash]
      expect(check(stored, { seq: 4, hash: odd })).toBeUndefined()
      // A hash made over the previous hash spliced in unescaped is not the record's hash.
      const spliced = sha256Hex(`{"actor":"x","at":0,"kind":"k","payloadDigest":"${after.payloadDigest}","prevHash":"${odd}","seq":5,"subjects":{}}`)
      expect(check([...stored.slice(0, 9), spliced] as StoredRow, { seq: 4, hash: odd })).toBe('record 5 was changed: its hash does not match its content')
    })
  })
})
