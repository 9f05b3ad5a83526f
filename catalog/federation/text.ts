/**
 * Text folding and query building shared by the indexer and the search: both databases index
 * folded text and receive folded tokens, so results agree on SQLite and PostgreSQL.
 */

/** Lower case, diacritics removed, anything but letters and digits turned into spaces. */
export function fold(text: string): string {
  return text
    .normalize('NFD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim()
}

/** The words of a query, folded; at most `max` (a query is a few words, not a document). */
export function queryTokens(q: string, max = 12): string[] {
  const tokens = fold(q)
    .split(' ')
    .filter((t) => t.length > 0)
  return [...new Set(tokens)].slice(0, max)
}

/**
 * An FTS5 MATCH expression: every word must appear, as a prefix ("precip" finds
 * "precipitations"). Tokens are folded to letters and digits, and quoted, so no FTS5 syntax
 * can come from the user.
 */
export const fts5Query = (tokens: string[]) => tokens.map((t) => `"${t}"*`).join(' ')

/** A `to_tsquery('simple', …)` expression with the same meaning as `fts5Query`. */
export const tsQuery = (tokens: string[]) => tokens.map((t) => `${t}:*`).join(' & ')

/** `|a|b|`: list values in one text column, matched with `LIKE '%|a|%'`. */
export const listKey = (values: string[]) => (values.length === 0 ? '' : `|${values.map((v) => v.replaceAll('|', ' ')).join('|')}|`)

/** Escapes LIKE wildcards (the search uses `ESCAPE '\'`). */
export const likeEscape = (value: string) => value.replace(/[\\%_]/g, (c) => `\\${c}`)
