import { describe, expect, it } from 'vitest'
import type { SearchHit } from './search-hit.ts'
import { formatSearchTable } from './search-table.ts'

const hit = (i: number, extra: Partial<SearchHit> = {}): SearchHit => ({
  peer: { id: 'p', name: 'Observatoire climatique du Saint-Laurent', participantId: 'did:web:a', dspUrl: 'http://a/dsp' },
  datasetId: `urn:uuid:0f3cee7e-e077-4be0-9365-3a791567f7${String(i).padStart(2, '0')}`,
  title: 'A very long title '.repeat(10),
  description: null,
  keywords: [],
  themes: [],
  licenses: [],
  spatial: [],
  temporal: null,
  modified: null,
  formats: [],
  offers: [
    { id: 'o1', actions: ['use'], summary: 'You may use it if the purpose is research.', policy: {} },
    { id: 'o2', actions: ['use'], summary: 'You may use it.', policy: {} },
  ],
  crawledAt: '2026-01-01T00:00:00.000Z',
  stale: false,
  ...extra,
})

describe('formatSearchTable', () => {
  it('prints one line per hit with whole dataset ids, cut titles and the first offer in plain language', () => {
    const text = formatSearchTable({ total: 3, totalExact: true, offset: 0, limit: 2, hits: [hit(1), hit(2, { stale: true })] }, { width: 120 })
    const lines = text.split('\n')
    expect(lines[0]).toMatch(/^#\s+PEER\s+DATASET\s+TITLE\s+TERMS$/)
    expect(lines[1]).toContain('urn:uuid:0f3cee7e-e077-4be0-9365-3a791567f701')
    expect(lines[1]).toContain('…')
    expect(lines[2]).toContain('(stale)')
    for (const line of lines.slice(0, 3)) expect([...line].length).toBeLessThanOrEqual(120)
    expect(text).toContain('1–2 of 3')
    expect(formatSearchTable({ total: 1, totalExact: true, offset: 0, limit: 20, hits: [hit(1)] }, { width: 400 })).toContain(
      'You may use it if the purpose is research. (+1 more offer)',
    )
  })

  it('says when nothing is found', () => {
    expect(formatSearchTable({ total: 0, totalExact: true, offset: 0, limit: 20, hits: [] })).toBe('No dataset found.')
    expect(formatSearchTable({ total: 4, totalExact: true, offset: 20, limit: 20, hits: [] })).toBe('No more results (4 in all).')
  })

  it('says when the total is a lower bound, and how to ask for the next page', () => {
    const text = formatSearchTable({ total: 10000, totalExact: false, offset: 0, limit: 1, next: 'abc', hits: [hit(1)] })
    expect(text).toContain('1–1 of more than 10000.')
    expect(text).toContain('Next page: --cursor abc')
  })
})
