import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { defaultJsonLimits, JsonLimitError, parseBoundedJson, type JsonLimit } from './bounded-json.ts'

const nested = (depth: number, inner = '0') => '['.repeat(depth) + inner + ']'.repeat(depth)

function refusal(text: string, options?: Parameters<typeof parseBoundedJson>[1]): JsonLimitError {
  try {
    parseBoundedJson(text, options)
  } catch (error) {
    expect(error).toBeInstanceOf(JsonLimitError)
    return error as JsonLimitError
  }
  throw new Error(`accepted: ${text.slice(0, 80)}`)
}

describe('bounded JSON parser', () => {
  it('parses any JSON within the limits exactly as JSON.parse does', () => {
    fc.assert(
      fc.property(fc.json({ maxDepth: 8 }), (text) => {
        expect(parseBoundedJson(text)).toStrictEqual(JSON.parse(text))
      }),
      { numRuns: 2000 },
    )
  })

  it('parses pretty-printed JSON with escaped keys and unicode exactly as JSON.parse does', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), fc.constantFrom(0, 2, '\t'), (value, indent) => {
        const text = JSON.stringify(value, null, indent)
        expect(parseBoundedJson(text)).toStrictEqual(JSON.parse(text))
      }),
      { numRuns: 1000 },
    )
  })

  it('reads strings and keys full of quotes and backslashes exactly as JSON.parse does', () => {
    const tricky = fc.string({ unit: fc.constantFrom('\\', '"', 'a', '\n', 'é', '\u2028', '/', 'u'), maxLength: 12 })
    const value = fc.letrec((tie) => ({
      node: fc.oneof({ depthSize: 'small' }, tricky, fc.array(tie('node'), { maxLength: 4 }), fc.dictionary(tricky, tie('node'), { maxKeys: 4 })),
    })).node
    fc.assert(
      fc.property(value, (v) => {
        const text = JSON.stringify(v)
        expect(parseBoundedJson(text)).toStrictEqual(JSON.parse(text))
      }),
      { numRuns: 2000 },
    )
  })

  it('refuses any nesting deeper than the limit with a depth error, for arrays and objects alike', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 200 }), fc.boolean(), (limit, extra, objects) => {
        const depth = limit + 1 + extra
        const text = objects ? `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}` : nested(depth)
        const error = refusal(text, { maxDepth: limit })
        expect(error.limit).toBe('depth')
        expect(error.code).toBe('bad_request')
        // Exactly at the limit is accepted.
        const atLimit = objects ? `${'{"a":'.repeat(limit)}1${'}'.repeat(limit)}` : nested(limit)
        expect(parseBoundedJson(atLimit, { maxDepth: limit })).toStrictEqual(JSON.parse(atLimit))
      }),
    )
  })

  it('refuses a million nested arrays with a depth error, not a stack overflow', () => {
    const error = refusal(nested(1_000_000), { maxBytes: 4_000_000 })
    expect(error.limit).toBe('depth')
    expect(error.message).toMatch(/nested deeper than 32 levels/)
  })

  it('refuses a text over the byte limit as too large (413), counting UTF-8 bytes', () => {
    const error = refusal(JSON.stringify('é'.repeat(600)), { maxBytes: 1000 })
    expect(error.limit).toBe('size')
    expect(error.code).toBe('payload_too_large')
    expect(parseBoundedJson(JSON.stringify('e'.repeat(600)), { maxBytes: 1000 })).toBe('e'.repeat(600))
  })

  it('refuses a long identifier and names where it is', () => {
    const text = JSON.stringify({ '@context': ['x'], consumerPid: `urn:uuid:${'a'.repeat(5000)}` })
    const error = refusal(text)
    expect(error.limit).toBe('identifier')
    expect(error.details).toMatchObject({ path: 'consumerPid' })
    // The same text is fine as a description.
    expect(parseBoundedJson(JSON.stringify({ description: 'a'.repeat(5000) }))).toEqual({ description: 'a'.repeat(5000) })
  })

  it('refuses a nested @id that is too long, with its path', () => {
    const text = JSON.stringify({ offer: { permission: [{ target: 'x' }, { '@id': 'y'.repeat(defaultJsonLimits.maxIdLength + 1) }] } })
    const error = refusal(text)
    expect(error.limit).toBe('identifier')
    expect(error.details).toMatchObject({ path: 'offer.permission.1.@id' })
  })

  it('refuses texts and keys longer than the string limit', () => {
    expect(refusal(JSON.stringify(['x'.repeat(101)]), { maxStringLength: 100 }).limit).toBe('string')
    expect(refusal(JSON.stringify({ ['k'.repeat(101)]: 1 }), { maxStringLength: 100 }).limit).toBe('string')
  })

  it('refuses arrays and objects with more items than the limit', () => {
    expect(refusal(JSON.stringify(Array.from({ length: 11 }, () => 0)), { maxItems: 10 }).limit).toBe('items')
    expect(refusal(JSON.stringify(Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, i]))), { maxItems: 10 }).limit).toBe('items')
    expect(parseBoundedJson(JSON.stringify(Array.from({ length: 10 }, () => [])), { maxItems: 10 })).toHaveLength(10)
  })

  it('refuses numbers that JSON.parse would turn into Infinity', () => {
    for (const text of ['1e999', '[-1e999]', '{"count": 1e400}', `{"n": 1${'0'.repeat(400)}}`]) expect(refusal(text).limit).toBe('number')
    expect(parseBoundedJson('[1e308, -0, 5e-324]')).toStrictEqual([1e308, -0, 5e-324])
  })

  it('refuses a key spelled twice in one object, even through an escape', () => {
    expect(refusal('{"consumerPid":"a","consumerPid":"b"}').limit).toBe('duplicate')
    const error = refusal('{"offer":{"@id":"a","\\u0040id":"b"}}')
    expect(error.limit).toBe('duplicate')
    expect(error.details).toMatchObject({ path: 'offer.@id' })
    // The same key in two objects is fine.
    expect(parseBoundedJson('[{"a":1},{"a":2}]')).toEqual([{ a: 1 }, { a: 2 }])
  })

  it('refuses a NUL character or a lone surrogate written as an escape, in keys and texts, and keeps surrogate pairs', () => {
    for (const text of ['{"a":"x\\u0000"}', '{"a\\u0000":1}', '["\\ud800"]', '{"a":"\\udc00x"}', '{"a":"\\ude00\\ud83d"}']) {
      expect(refusal(text).limit, text).toBe<JsonLimit>('character')
    }
    expect(parseBoundedJson('{"a":"\\ud83d\\ude00 \\\\u0000"}')).toEqual({ a: '\u{1f600} \\u0000' })
  })

  it('reports malformed JSON as a syntax error, whatever the garbage', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (text) => {
        let expected: unknown
        try {
          expected = JSON.parse(text)
        } catch {
          expect(refusal(text).limit satisfies JsonLimit).toBe('syntax')
          return
        }
        expect(parseBoundedJson(text)).toStrictEqual(expected)
      }),
      { numRuns: 2000 },
    )
    for (const text of ['{"a":', '"unterminated', '[1,2', '{"a\\', '}', ']]', '-', '{"a" 1}']) expect(refusal(text).limit).toBe('syntax')
  })
})
