import { describe, expect, it } from 'vitest'
import { fold, fts5Query, listKey, queryTokens, scoreTexts, tsQuery } from './text.ts'

describe('query text', () => {
  it('folds case and diacritics so Québec matches quebec', () => {
    expect(fold('Précipitations — QUÉBEC, 2024!')).toBe('precipitations quebec 2024')
  })
  it('keeps no query syntax from the user', () => {
    const tokens = queryTokens('precip* OR "quebec" NEAR(a b) -x :* & | !')
    expect(tokens).toEqual(['precip', 'or', 'quebec', 'near', 'a', 'b', 'x'])
    expect(fts5Query(tokens)).toBe('"precip"* "or"* "quebec"* "near"* "a"* "b"* "x"*')
    expect(tsQuery(['precip', 'quebec'])).toBe('precip:* & quebec:*')
  })
  it('caps the number of words', () => {
    expect(queryTokens(Array.from({ length: 40 }, (_, i) => `w${i}`).join(' '))).toHaveLength(12)
  })
  it('stores lists with delimiters', () => {
    expect(listKey(['a', 'b|c'])).toBe('|a|b c|')
    expect(listKey([])).toBe('')
  })

  it('scores title words above keywords above descriptions, and whole words only when asked', () => {
    const texts = [
      ['ice cores', 'glaciology', 'mentions zanzibarite once'],
      ['zanzibarite survey', 'minerals', 'nothing else'],
      ['other', 'zanzibarite', 'nothing'],
    ] as const
    const [inDescription, inTitle, inKeywords] = scoreTexts(['zanzibarite'], false, texts)
    expect(inTitle).toBeGreaterThan(inKeywords!)
    expect(inKeywords).toBeGreaterThan(inDescription!)
    expect(scoreTexts(['zanzib'], false, texts)).toEqual([0, 0, 0])
    expect(scoreTexts(['zanzib'], true, texts)).toEqual(scoreTexts(['zanzibarite'], false, texts))
  })
})
