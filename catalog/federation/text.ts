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
 * "precipitations"), or as a whole word with `prefix: false`. Tokens are folded to letters and
 * digits, and quoted, so no FTS5 syntax can come from the user.
 */
export const fts5Query = (tokens: string[], prefix = true) => tokens.map((t) => `"${t}"${prefix ? '*' : ''}`).join(' ')

/** A `to_tsquery('simple', …)` expression with the same meaning as `fts5Query`. */
export const tsQuery = (tokens: string[], prefix = true) => tokens.map((t) => `${t}${prefix ? ':*' : ''}`).join(' & ')

/** `|a|b|`: list values in one text column, matched with `LIKE '%|a|%'`. */
export const listKey = (values: string[]) => (values.length === 0 ? '' : `|${values.map((v) => v.replaceAll('|', ' ')).join('|')}|`)

/** Escapes LIKE wildcards (the search uses `ESCAPE '\'`). */
export const likeEscape = (value: string) => value.replace(/[\\%_]/g, (c) => `\\${c}`)

/**
 * Relevance of candidate texts (folded title, keywords, description) to the query words, higher
 * is better: BM25F without the inverse document frequency (every word is required anyway, and
 * frequencies would mean reading every match of every word): for each word and field, weight ×
 * tf × 2.2 / (tf + 1.2 × (0.25 + 0.75 × length / average length)), weights 10 (title), 4 (keywords),
 * 1 (description). A word counts where a word of the text starts with it (`prefix`) or equals it.
 */
export function scoreTexts(tokens: string[], prefix: boolean, texts: ReadonlyArray<readonly [string, string, string]>): number[] {
  const weights = [10, 4, 1]
  const words = texts.map((fields) => fields.map((f) => (f.length === 0 ? [] : f.split(' '))))
  const average = weights.map((_, f) => Math.max(1, words.reduce((n, w) => n + w[f]!.length, 0) / Math.max(1, words.length)))
  return words.map((fields) => {
    let score = 0
    for (const token of tokens) {
      for (const [f, list] of fields.entries()) {
        let tf = 0
        for (const w of list) if (prefix ? w.startsWith(token) : w === token) tf++
        if (tf > 0) score += (weights[f]! * tf * 2.2) / (tf + 1.2 * (0.25 + (0.75 * list.length) / average[f]!))
      }
    }
    return score
  })
}
