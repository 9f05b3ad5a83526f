import { and, eq, or, sql, type SQL } from 'drizzle-orm'
import { z } from 'zod'
import {
  type FacetValue,
  type SearchFacets,
  type SearchHit,
  type SearchPage,
  type SearchQuery,
  SearchQuery as SearchQuerySchema,
  fts5Query,
  likeEscape,
  queryTokens,
  scoreTexts,
  tsQuery,
} from '../../catalog/index.ts'
import { PasserelleError } from '../errors.ts'
import type { Db, Store } from '../store/store.ts'

type PeerRow = Store['tables']['federationPeers']['$inferSelect']

/** A peer's last crawl failed after an earlier success or failure: its datasets are the last good copy. */
export const isStale = (peer: Pick<PeerRow, 'lastErrorAt' | 'lastSuccessAt'>) =>
  peer.lastErrorAt !== null && (peer.lastSuccessAt === null || peer.lastErrorAt > peer.lastSuccessAt)

/**
 * How much work one search may do, whatever the number of matches: a word found in every entry
 * of a million costs what a word found in 10,000 does.
 */
export interface SearchBounds {
  /**
   * Matches ranked and faceted: above it, only that many are (on SQLite the most recently stored),
   * and `facetsExact` is false.
   */
  ranked: number
  /** Matches counted: above it, `total` is this bound and `totalExact` false. */
  counted: number
}
export const defaultSearchBounds: SearchBounds = { ranked: 1000, counted: 1000 }

/**
 * Where the next page starts: the last hit's sort value (its rank, or its modification time
 * when there are no words) and key. Opaque to clients (base64url JSON).
 */
const Cursor = z
  .object({
    k: z.enum(['rank', 'modified']),
    s: z.number().finite().nullable(),
    p: z.string().max(2000),
    d: z.string().max(2000),
  })
  .strict()
type Cursor = z.infer<typeof Cursor>

const encodeCursor = (cursor: Cursor) => Buffer.from(JSON.stringify(cursor)).toString('base64url')

function decodeCursor(text: string, kind: Cursor['k']): Cursor {
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'))
  } catch {
    parsed = undefined
  }
  const cursor = Cursor.safeParse(parsed)
  if (!cursor.success) throw new PasserelleError('bad_request', 'cursor: not a cursor this search gave (pass the "next" of the previous page unchanged)')
  if (cursor.data.k !== kind) throw new PasserelleError('bad_request', 'cursor: it belongs to a search with other words (start again without a cursor)')
  return cursor.data
}

type Key = { peer_id: string; dataset_id: string; score: number | string | null }

const compareKeys = (a: Omit<Key, 'score'>, b: Omit<Key, 'score'>) =>
  a.peer_id < b.peer_id ? -1 : a.peer_id > b.peer_id ? 1 : a.dataset_id < b.dataset_id ? -1 : a.dataset_id > b.dataset_id ? 1 : 0

/**
 * Full-text search with filters over the federated catalog, ranked and paged, with bounded work
 * (`SearchBounds`). Step 1 finds the page's keys from the narrow columns (the full-text index and
 * filter columns); step 2 reads the stored hits of that page only.
 */
export function federatedSearch(store: Store, bounds: SearchBounds = defaultSearchBounds) {
  const { federationPeers: peers, federatedDatasets: datasets } = store.tables
  const postgres = store.dialect === 'postgres'

  /** Raw SQL rows on either database (FTS5 and tsvector queries have no query-builder form). */
  async function rows<T>(db: Db, query: SQL): Promise<T[]> {
    if (!postgres) return (db as unknown as { all(q: SQL): T[] }).all(query)
    const result = await (db as unknown as { execute(q: SQL): Promise<{ rows: T[] }> }).execute(query)
    return result.rows
  }

  /**
   * Facet counts over `window` (the matches' peer_id, themes, license, spatial, temporal_start),
   * in one statement: the window once, then one GROUP BY per facet. List columns (`|a|b|`) are grouped
   * by their whole value and split here: distinct combinations are few next to the rows.
   */
  async function countFacets(db: Db, window: SQL, peerById: Map<string, PeerRow>): Promise<SearchFacets> {
    const decade = postgres
      ? sql`((extract(year from to_timestamp(m.temporal_start / 1000.0))::int / 10) * 10)::text`
      : sql`CAST(CAST(strftime('%Y', m.temporal_start / 1000, 'unixepoch') AS INTEGER) / 10 * 10 AS TEXT)`
    const found = await rows<{ facet: string; value: string | null; n: number | string }>(
      db,
      sql`WITH m AS MATERIALIZED (${window})
          SELECT 'publisher' AS facet, m.peer_id AS value, count(*) AS n FROM m GROUP BY m.peer_id
          UNION ALL SELECT 'theme', m.themes, count(*) FROM m GROUP BY m.themes
          UNION ALL SELECT 'license', m.license, count(*) FROM m GROUP BY m.license
          UNION ALL SELECT 'spatial', m.spatial, count(*) FROM m GROUP BY m.spatial
          UNION ALL SELECT 'temporal', ${decade}, count(*) FROM m WHERE m.temporal_start IS NOT NULL GROUP BY 2`,
    )
    const counts = {
      publisher: new Map<string, number>(),
      theme: new Map<string, number>(),
      license: new Map<string, number>(),
      spatial: new Map<string, number>(),
      temporal: new Map<string, number>(),
    }
    for (const r of found) {
      const into = counts[r.facet as keyof typeof counts]
      if (!into || r.value === null) continue
      const values = r.facet === 'theme' || r.facet === 'license' || r.facet === 'spatial' ? r.value.split('|').filter(Boolean) : [r.value]
      for (const v of values) into.set(v, (into.get(v) ?? 0) + Number(r.n))
    }
    const top = (m: Map<string, number>, label?: (v: string) => string | undefined): FacetValue[] =>
      [...m]
        .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
        .slice(0, 20)
        .map(([value, count]) => {
          const l = label?.(value)
          return l === undefined ? { value, count } : { value, label: l, count }
        })
    return {
      publisher: top(counts.publisher, (id) => {
        const peer = peerById.get(id)
        return peer ? (peer.name ?? peer.participantId ?? peer.dspUrl) : undefined
      }),
      theme: top(counts.theme),
      license: top(counts.license),
      spatial: top(counts.spatial),
      temporal: top(counts.temporal),
    }
  }

  /** Matches counted up to one more than the bound, so that "more than the bound" is known. */
  async function countUpTo(db: Db, from: SQL): Promise<number> {
    const [counted] = await rows<{ n: number | string }>(db, sql`SELECT count(*) AS n FROM (SELECT 1 FROM ${from} LIMIT ${bounds.counted + 1}) c`)
    return Number(counted?.n ?? 0)
  }

  return async function search(query: SearchQuery): Promise<SearchPage> {
    const q = SearchQuerySchema.parse(query)
    const tokens = q.q ? queryTokens(q.q) : []
    const ranked = tokens.length > 0
    if (q.cursor !== undefined && q.offset > 0) throw new PasserelleError('bad_request', 'give either a cursor or an offset, not both')
    const cursor = q.cursor === undefined ? undefined : decodeCursor(q.cursor, ranked ? 'rank' : 'modified')
    const peerRows = await store.db.select().from(peers)
    const peerById = new Map(peerRows.map((p) => [p.id, p]))
    const empty = { total: 0, totalExact: true, offset: q.offset, limit: q.limit, hits: [] }

    const filters: SQL[] = []
    const contains = (column: SQL, value: string) => filters.push(sql`${column} LIKE ${`%${likeEscape(value.toLowerCase())}%`} ESCAPE '\\'`)
    let peer: PeerRow | undefined
    if (q.peer) {
      peer = peerRows.find((p) => p.id === q.peer || p.dspUrl === q.peer)
      if (!peer) return q.facets ? { ...empty, facets: { publisher: [], theme: [], license: [], spatial: [], temporal: [] }, facetsExact: true } : empty
      filters.push(sql`d.peer_id = ${peer.id}`)
    }
    if (q.theme) contains(sql`d.themes`, q.theme)
    if (q.license) contains(sql`d.license`, q.license)
    if (q.spatial) contains(sql`d.spatial`, q.spatial)
    if (q.format) contains(sql`d.formats`, q.format)
    if (q.action) contains(sql`d.actions`, `|${q.action}|`)
    if (q.temporalFrom !== undefined || q.temporalTo !== undefined) {
      filters.push(sql`(d.temporal_start IS NOT NULL OR d.temporal_end IS NOT NULL)`)
      if (q.temporalFrom !== undefined) filters.push(sql`(d.temporal_end IS NULL OR d.temporal_end >= ${q.temporalFrom})`)
      if (q.temporalTo !== undefined) filters.push(sql`(d.temporal_start IS NULL OR d.temporal_start <= ${q.temporalTo})`)
    }
    if (q.modifiedSince !== undefined) filters.push(sql`d.modified_at >= ${q.modifiedSince}`)
    const onlyPeer = filters.length === (peer ? 1 : 0)
    const where = (list: SQL[]) => (list.length > 0 ? sql.join(list, sql` AND `) : sql`1 = 1`)

    // PostgreSQL keeps the tsvector and copies of the filter columns in a narrow table, under the
    // same names; SQLite has its FTS5 table beside the dataset table.
    const table = postgres ? sql`federated_datasets_search` : sql`federated_datasets`
    /**
     * The matches as a FROM clause over rows with the filter columns, as `d`; `keys`: the same
     * matches where only keys are needed (without filters, SQLite needs nothing but its FTS5 table).
     * `prefix: false`: every word whole.
     */
    const clauses = (prefix: boolean) => {
      const fts = fts5Query(tokens, prefix)
      const tsq = sql`to_tsquery('simple', ${tsQuery(tokens, prefix)})`
      const rows = !ranked
        ? sql`${table} d WHERE ${where(filters)}`
        : postgres
          ? sql`federated_datasets_search d WHERE d.search @@ ${tsq} AND ${where(filters)}`
          : sql`federated_datasets_fts JOIN federated_datasets d ON d.rowid = federated_datasets_fts.rowid WHERE federated_datasets_fts MATCH ${fts} AND ${where(filters)}`
      const keys = ranked && !postgres && filters.length === 0 ? sql`federated_datasets_fts WHERE federated_datasets_fts MATCH ${fts}` : rows
      return { rows, keys, tsq }
    }

    /** After the cursor, in the page's order: `sort` then the key (descending on SQLite without words). */
    const after = (order: 'asc' | 'desc', sort: SQL, c: Cursor | undefined): SQL[] => {
      if (!c) return []
      const key = !ranked && !postgres ? sql`(d.peer_id, d.dataset_id) < (${c.p}, ${c.d})` : sql`(d.peer_id, d.dataset_id) > (${c.p}, ${c.d})`
      if (c.s === null) return [sql`(${sort} IS NULL AND ${key})`]
      const beyond = order === 'asc' ? sql`${sort} > ${c.s}` : sql`${sort} < ${c.s}`
      return [sql`(${beyond} OR (${sort} = ${c.s} AND ${key})${order === 'desc' ? sql` OR ${sort} IS NULL` : sql``})`]
    }

    /** Step 1: one more key than the page (to know whether a next page exists), the total, the facets. */
    async function page(db: Db) {
      let keys: Key[]
      let found: number
      let matches = clauses(true)
      if (ranked) {
        // Whole words first: both indexes read a word's postings in order and stop at a bound,
        // whereas a prefix merges the postings of every word it starts, to the end. When whole
        // words already match more than the bound, their matches (a part of the prefix matches)
        // are what is ranked, counted and faceted.
        const whole = clauses(false)
        const wholeFound = await countUpTo(db, whole.keys)
        if (wholeFound > bounds.counted) {
          matches = whole
          found = wholeFound
        } else found = await countUpTo(db, matches.keys)
        // The best of at most `bounds.ranked` candidates, each ranked once, best first. PostgreSQL
        // ranks in the database (ts_rank, weights 1 / 0.4 / 0.2 for title, keywords, description);
        // SQLite's bm25 would first count every match of every word, so its candidates (the most
        // recently stored matches) are ranked here, from their folded text (`scoreTexts`).
        if (postgres) {
          keys = await rows<Key>(
            db,
            sql`WITH c AS MATERIALIZED (SELECT d.peer_id, d.dataset_id, ts_rank(d.search, ${matches.tsq})::float8 AS score FROM ${matches.rows} LIMIT ${bounds.ranked})
                SELECT d.peer_id, d.dataset_id, d.score FROM c d WHERE ${where(after('desc', sql`d.score`, cursor))}
                ORDER BY d.score DESC, d.peer_id, d.dataset_id LIMIT ${q.limit + 1} OFFSET ${q.offset}`,
          )
        } else {
          const candidates = await rows<Key & { t: string; k: string; s: string }>(
            db,
            sql`SELECT d.peer_id, d.dataset_id, d.search_title AS t, d.search_keywords AS k, d.search_description AS s FROM ${matches.rows}
                ORDER BY federated_datasets_fts.rowid DESC LIMIT ${bounds.ranked}`,
          )
          const scores = scoreTexts(
            tokens,
            matches !== whole,
            candidates.map((c) => [c.t, c.k, c.s] as const),
          )
          const list = candidates
            .map((c, i) => ({ peer_id: c.peer_id, dataset_id: c.dataset_id, score: scores[i]! }))
            .sort((a, b) => b.score - a.score || compareKeys(a, b))
            .filter((k) => !cursor || k.score < cursor.s! || (k.score === cursor.s && compareKeys(k, { peer_id: cursor.p, dataset_id: cursor.d }) > 0))
          keys = list.slice(q.offset, q.offset + q.limit + 1)
        }
      } else {
        // No words: the most recently modified first, from an index on (modified_at, key): read
        // backwards on SQLite (ties broken by the key descending), forwards on PostgreSQL.
        const order = postgres ? sql`d.modified_at DESC NULLS LAST, d.peer_id, d.dataset_id` : sql`d.modified_at DESC, d.peer_id DESC, d.dataset_id DESC`
        keys = await rows<Key>(
          db,
          sql`SELECT d.peer_id, d.dataset_id, d.modified_at AS score FROM ${table} d WHERE ${where([...filters, ...after('desc', sql`d.modified_at`, cursor)])}
              ORDER BY ${order} LIMIT ${q.limit + 1} OFFSET ${q.offset}`,
        )
        // With no filter but the peer, the peers' dataset counts are the total.
        found = onlyPeer ? (peer ? peer.datasetCount : peerRows.reduce((n, p) => n + p.datasetCount, 0)) : await countUpTo(db, matches.keys)
      }
      const exact = (!ranked && onlyPeer) || found <= bounds.counted
      // Facets count the matches that could be ranked: every match up to the bound.
      const columns = sql`d.peer_id, d.themes, d.license, d.spatial, d.temporal_start`
      const window =
        ranked && !postgres
          ? sql`SELECT ${columns} FROM ${matches.rows} ORDER BY federated_datasets_fts.rowid DESC LIMIT ${bounds.ranked}`
          : sql`SELECT ${columns} FROM ${matches.rows} LIMIT ${bounds.ranked}`
      const facets = q.facets ? await countFacets(db, window, peerById) : undefined
      return { keys, total: exact ? found : bounds.counted, totalExact: exact, facets, facetsExact: found <= bounds.ranked }
    }

    // On PostgreSQL a scan that stops at a bound must start at the table's beginning each time, or
    // two pages of one search could rank different candidates: synchronised scans start where
    // another scan of the same table is.
    const found = postgres
      ? await store.transaction(async (tx) => {
          await rows(tx, sql`SET LOCAL synchronize_seqscans = off`)
          return page(tx)
        })
      : await page(store.db)
    const more = found.keys.length > q.limit
    const keys = found.keys.slice(0, q.limit)
    const last = keys.at(-1)
    const answer = {
      total: found.total,
      totalExact: found.totalExact,
      offset: q.offset,
      limit: q.limit,
      ...(more && last
        ? { next: encodeCursor({ k: ranked ? 'rank' : 'modified', s: last.score === null ? null : Number(last.score), p: last.peer_id, d: last.dataset_id }) }
        : {}),
      ...(found.facets ? { facets: found.facets, facetsExact: found.facetsExact } : {}),
    }

    // Step 2: the stored hits of this page, in rank order.
    if (keys.length === 0) return { ...answer, hits: [] }
    const stored = await store.db
      .select({ peerId: datasets.peerId, datasetId: datasets.datasetId, entry: datasets.entry, crawledAt: datasets.crawledAt })
      .from(datasets)
      .where(or(...keys.map((k) => and(eq(datasets.peerId, k.peer_id), eq(datasets.datasetId, k.dataset_id)))))
    const byKey = new Map(stored.map((r) => [`${r.peerId}\n${r.datasetId}`, r]))
    const hits: SearchHit[] = []
    for (const k of keys) {
      const r = byKey.get(`${k.peer_id}\n${k.dataset_id}`)
      const p = peerById.get(k.peer_id)
      if (!r || !p) continue
      const entry = r.entry as Omit<SearchHit, 'peer' | 'stale' | 'crawledAt'>
      hits.push({
        ...entry,
        peer: { id: p.id, name: p.name, participantId: p.participantId ?? '', dspUrl: p.dspUrl },
        crawledAt: new Date(r.crawledAt).toISOString(),
        stale: isStale(p),
      })
    }
    return { ...answer, hits }
  }
}
