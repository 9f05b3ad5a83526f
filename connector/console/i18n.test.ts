import { describe, expect, it } from 'vitest'
import { chooseLanguage, wordsFor } from './i18n.ts'

describe('console language', () => {
  it('happy: the reader’s choice wins over Accept-Language', () => {
    expect(chooseLanguage('fr', 'en-US,en;q=0.9')).toBe('fr')
  })

  it('happy: the first language we speak by weight, else English', () => {
    expect(chooseLanguage(undefined, 'de-DE,fr-CA;q=0.8,en;q=0.5')).toBe('fr')
    expect(chooseLanguage(undefined, 'en;q=0.4,fr;q=0.9')).toBe('fr')
    expect(chooseLanguage(undefined, 'de,es')).toBe('en')
    expect(chooseLanguage(undefined, undefined)).toBe('en')
  })

  it('error: an unknown choice or a weight of zero is ignored', () => {
    expect(chooseLanguage('xx', 'fr;q=0,en')).toBe('en')
    expect(chooseLanguage('../en', 'fr')).toBe('fr')
  })

  it('happy: numbers, sizes and dates follow the language', () => {
    const en = wordsFor('en')
    const fr = wordsFor('fr')
    expect(en.number(12345.5)).toBe('12,345.5')
    expect(fr.number(12345.5)).toMatch(/^12\s345,5$/)
    expect(fr.bytes(1_500_000)).toMatch(/^1,5\sMo$/)
    expect(en.bytes(1_500_000)).toBe('1.5 MB')
    expect(en.date('2026-03-04T05:06:07Z')).toContain('UTC')
    expect(fr.date('2026-03-04T05:06:07Z')).toMatch(/4 mars 2026/)
    expect(en.t('paging.range', { from: 1, to: 20 })).toBe('Items 1 to 20')
    expect(fr.t('paging.range', { from: 1, to: 20 })).toBe('Éléments 1 à 20')
  })
})
