import { z } from 'zod'
import { isQuerySpec, parseQuerySpec, type PropertyCondition } from './query-spec.ts'

/**
 * The catalog filter: the `filter` array of a CatalogRequestMessage (and the management API's query
 * string). Each entry is an object with exactly one of these keys; entries combine with AND.
 *
 * - `{ "keyword": "precipitation" }`: datasets with this keyword (any language, case-insensitive)
 * - `{ "theme": "http://publications.europa.eu/resource/authority/data-theme/ENVI" }`: with this theme
 * - `{ "text": "sea ice" }`: every word appears in the id, titles, descriptions or keywords
 * - `{ "modifiedSince": "2025-01-01" }`: modified on or after this date
 * - `{ "changedSince": "<token>" }`: the change feed between Passerelle connectors: the datasets
 *   changed since the catalog answer that gave this token (its `Passerelle-Change-Token` header),
 *   and, on the first page, the ids of those the requester could see then and no longer can
 *
 * An Eclipse EDC query (`QuerySpec`: offset, limit, filterExpression; see query-spec.ts) is taken
 * too, as the whole `filter` or as one entry of the array. Anything else is refused (400
 * CatalogError), never silently ignored.
 */
export const FilterEntry = z.union([
  z.object({ keyword: z.string().trim().min(1).max(200) }).strict(),
  z.object({ theme: z.string().min(1).max(500) }).strict(),
  z.object({ text: z.string().trim().min(1).max(500) }).strict(),
  z.object({ modifiedSince: z.string().refine((v) => !Number.isNaN(Date.parse(v)), 'expected a date') }).strict(),
  z.object({ changedSince: z.string().min(1).max(200) }).strict(),
])
export type FilterEntry = z.infer<typeof FilterEntry>

export interface CatalogFilter {
  keywords: string[]
  themes: string[]
  words: string[]
  modifiedSince?: number
  /** Criteria from an EDC query (`=`, `in`, `like` on id, title, keyword, theme, publisher). */
  conditions?: PropertyCondition[]
  /** A change token, as the requester sent it (the catalog checks it and turns it into `seqAfter`). */
  changedSince?: string
  /** Rows changed after this catalog version only (from a checked change token). */
  seqAfter?: number
}

export const emptyFilter: CatalogFilter = { keywords: [], themes: [], words: [] }

export const isEmptyFilter = (f: CatalogFilter) =>
  f.keywords.length + f.themes.length + f.words.length + (f.conditions?.length ?? 0) === 0 &&
  f.modifiedSince === undefined &&
  f.changedSince === undefined &&
  f.seqAfter === undefined

/** `paging`: the offset and limit an EDC query asked for (the request's query string, when it has them, wins). */
export type FilterResult = { ok: true; filter: CatalogFilter; paging: { offset?: number; limit?: number } } | { ok: false; message: string }

/** Validates a DSP `filter`: an array of entries, or an EDC query alone. */
export function parseFilter(value: unknown): FilterResult {
  if (value === undefined || value === null) return { ok: true, filter: emptyFilter, paging: {} }
  const entries = Array.isArray(value) ? value : isQuerySpec(value) ? [value] : undefined
  if (!entries) return { ok: false, message: 'filter must be an array (of filter entries or one EDC QuerySpec)' }
  if (entries.length > 20) return { ok: false, message: 'at most 20 filter entries' }
  const filter: CatalogFilter = { keywords: [], themes: [], words: [] }
  const paging: { offset?: number; limit?: number } = {}
  let specs = 0
  for (const [i, entry] of entries.entries()) {
    if (isQuerySpec(entry)) {
      if (++specs > 1) return { ok: false, message: 'at most one QuerySpec in filter' }
      const spec = parseQuerySpec(entry)
      if (!spec.ok) return spec
      if (spec.query.offset !== undefined) paging.offset = spec.query.offset
      if (spec.query.limit !== undefined) paging.limit = spec.query.limit
      if (spec.query.conditions.length > 0) filter.conditions = spec.query.conditions
      continue
    }
    const parsed = FilterEntry.safeParse(entry)
    if (!parsed.success) {
      const keys = entry && typeof entry === 'object' ? Object.keys(entry).join(', ') : JSON.stringify(entry)
      return {
        ok: false,
        message: `unsupported filter entry ${i} (${keys.slice(0, 200)}): supported filters are keyword, theme, text, modifiedSince, changedSince and an EDC QuerySpec`,
      }
    }
    const e = parsed.data
    if ('keyword' in e) filter.keywords.push(e.keyword.toLowerCase())
    else if ('theme' in e) filter.themes.push(e.theme)
    else if ('text' in e) filter.words.push(...e.text.toLowerCase().split(/\s+/).filter(Boolean))
    else if ('changedSince' in e) {
      if (filter.changedSince !== undefined) return { ok: false, message: 'at most one changedSince in filter' }
      filter.changedSince = e.changedSince
    } else {
      const since = Date.parse(e.modifiedSince)
      filter.modifiedSince = Math.max(filter.modifiedSince ?? since, since)
    }
  }
  return { ok: true, filter, paging }
}
