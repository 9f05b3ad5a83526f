import { z } from 'zod'

/**
 * The catalog filter: the `filter` array of a CatalogRequestMessage (and the management API's query
 * string). Each entry is an object with exactly one of these keys; entries combine with AND.
 *
 * - `{ "keyword": "precipitation" }`: datasets with this keyword (any language, case-insensitive)
 * - `{ "theme": "http://publications.europa.eu/resource/authority/data-theme/ENVI" }`: with this theme
 * - `{ "text": "sea ice" }`: every word appears in the id, titles, descriptions or keywords
 * - `{ "modifiedSince": "2025-01-01" }`: modified on or after this date
 *
 * Anything else is refused (400 CatalogError), never silently ignored.
 */
export const FilterEntry = z.union([
  z.object({ keyword: z.string().trim().min(1).max(200) }).strict(),
  z.object({ theme: z.string().min(1).max(500) }).strict(),
  z.object({ text: z.string().trim().min(1).max(500) }).strict(),
  z.object({ modifiedSince: z.string().refine((v) => !Number.isNaN(Date.parse(v)), 'expected a date') }).strict(),
])
export type FilterEntry = z.infer<typeof FilterEntry>

export interface CatalogFilter {
  keywords: string[]
  themes: string[]
  words: string[]
  modifiedSince?: number
}

export const emptyFilter: CatalogFilter = { keywords: [], themes: [], words: [] }

export const isEmptyFilter = (f: CatalogFilter) => f.keywords.length + f.themes.length + f.words.length === 0 && f.modifiedSince === undefined

export type FilterResult = { ok: true; filter: CatalogFilter } | { ok: false; message: string }

/** Validates a DSP `filter` array. */
export function parseFilter(entries: unknown): FilterResult {
  if (entries === undefined) return { ok: true, filter: emptyFilter }
  if (!Array.isArray(entries)) return { ok: false, message: 'filter must be an array' }
  if (entries.length > 20) return { ok: false, message: 'at most 20 filter entries' }
  const filter: CatalogFilter = { keywords: [], themes: [], words: [] }
  for (const [i, entry] of entries.entries()) {
    const parsed = FilterEntry.safeParse(entry)
    if (!parsed.success) {
      const keys = entry && typeof entry === 'object' ? Object.keys(entry).join(', ') : JSON.stringify(entry)
      return { ok: false, message: `unsupported filter entry ${i} (${keys}): supported filters are keyword, theme, text and modifiedSince` }
    }
    const e = parsed.data
    if ('keyword' in e) filter.keywords.push(e.keyword.toLowerCase())
    else if ('theme' in e) filter.themes.push(e.theme)
    else if ('text' in e) filter.words.push(...e.text.toLowerCase().split(/\s+/).filter(Boolean))
    else {
      const since = Date.parse(e.modifiedSince)
      filter.modifiedSince = Math.max(filter.modifiedSince ?? since, since)
    }
  }
  return { ok: true, filter }
}
