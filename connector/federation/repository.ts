import { and, asc, eq, inArray, lte, or, sql, type SQL } from 'drizzle-orm'
import {
  type FacetValue,
  type PeerCatalogEntry as CatalogEntry,
  type SearchFacets,
  type SearchHit,
  type SearchPage,
  type SearchQuery,
  SearchQuery as SearchQuerySchema,
  fts5Query,
  likeEscape,
  listKey,
  queryTokens,
  tsQuery,
} from '../../catalog/index.ts'
import type { Db, Store } from '../store/store.ts'

export type PeerRow = Store['tables']['federationPeers']['$inferSelect']
export type PeerSource = 'config' | 'api' | 'registry'

export interface NewPeer {
  id: string
  dspUrl: string
  did?: string | null
  name?: string | null
  source: PeerSource
  paused?: boolean
}

/** A peer's last crawl failed after an earlier success or failure: its datasets are the last good copy. */
export const isStale = (peer: Pick<PeerRow, 'lastErrorAt' | 'lastSuccessAt'>) =>
  peer.lastErrorAt !== null && (peer.lastSuccessAt === null || peer.lastErrorAt > peer.lastSuccessAt)

/** Where rows of both tables are read and written. Raw SQL only where full-text search needs it. */
export function federationRepository(store: Store) {
  const { federationPeers: peers, federatedDatasets: datasets } = store.tables

  /**
   * The next crawl a finished crawl schedules, unless a crawl was asked for while it ran (the peer's
   * next crawl then lies after this one's start): that request stands, and is not lost.
   */
  const keepAsked = (input: { now: number; durationMs: number; nextCrawlAt: number }) =>
    sql`CASE WHEN ${peers.nextCrawlAt} > ${input.now - input.durationMs} THEN ${peers.nextCrawlAt} ELSE ${input.nextCrawlAt} END`

  /** Raw SQL rows on either database (FTS5 and tsvector queries have no query-builder form). */
  async function rows<T>(db: Db, query: SQL): Promise<T[]> {
    if (store.dialect === 'sqlite') return (db as unknown as { all(q: SQL): T[] }).all(query)
    const result = await (db as unknown as { execute(q: SQL): Promise<{ rows: T[] }> }).execute(query)
    return result.rows
  }

  function toRow(peerId: string, entry: CatalogEntry, crawledAt: number) {
    const { search, temporalStartMs, temporalEndMs, modifiedMs, ...hit } = entry
    const lower = (values: string[]) => listKey(values.map((v) => v.toLowerCase()))
    return {
      peerId,
      datasetId: entry.datasetId,
      searchTitle: search.title,
      searchKeywords: search.keywords,
      searchDescription: search.description,
      themes: lower(entry.themes),
      formats: lower(entry.formats),
      actions: lower([...new Set(entry.offers.flatMap((o) => o.actions))]),
      license: lower(entry.licenses),
      spatial: lower(entry.spatial),
      temporalStart: temporalStartMs,
      temporalEnd: temporalEndMs,
      modifiedAt: modifiedMs,
      entry: hit,
      crawledAt,
    }
  }

  /**
   * Facet counts over every match, in one statement: the matches' filter columns once, then one
   * GROUP BY per facet. List columns (`|a|b|`) are grouped by their whole value and split here:
   * distinct combinations are few next to the rows.
   */
  async function countFacets(
    matches: SQL,
    peerById: Map<string, { name: string | null; participantId: string | null; dspUrl: string }>,
  ): Promise<SearchFacets> {
    const decade =
      store.dialect === 'postgres'
        ? sql`((extract(year from to_timestamp(m.temporal_start / 1000.0))::int / 10) * 10)::text`
        : sql`CAST(CAST(strftime('%Y', m.temporal_start / 1000, 'unixepoch') AS INTEGER) / 10 * 10 AS TEXT)`
    const found = await rows<{ facet: string; value: string | null; n: number | string }>(
      store.db,
      sql`WITH m AS MATERIALIZED (SELECT d.peer_id, d.themes, d.license, d.spatial, d.temporal_start FROM ${matches})
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

  async function insertEntries(tx: Db, peerId: string, entries: CatalogEntry[], crawledAt: number) {
    // 15 columns × 500 rows stays well under both databases' bound-parameter limits.
    for (let i = 0; i < entries.length; i += 500) {
      await tx.insert(datasets).values(entries.slice(i, i + 500).map((e) => toRow(peerId, e, crawledAt)))
    }
  }

  async function countFor(tx: Db, peerId: string): Promise<number> {
    const [row] = await tx.select({ n: sql<number>`count(*)` }).from(datasets).where(eq(datasets.peerId, peerId))
    return Number(row?.n ?? 0)
  }

  /**
   * After a crawl is stored, on PostgreSQL. New rows wait in the GIN index's pending list (bulk
   * inserts stay fast), which every search then reads from end to end: merge it into the index now
   * rather than at the next autovacuum. And when a crawl changed a tenth of the catalog (a new peer,
   * say), refresh the planner's statistics (how common each word is), as autovacuum would, but
   * before the next search. Only an optimisation: a failure leaves that work to autovacuum.
   */
  async function tidySearchIndex(change: number) {
    if (store.dialect !== 'postgres') return
    try {
      await rows(store.db, sql`SELECT gin_clean_pending_list('federated_datasets_search_idx')`)
      const [held] = await store.db.select({ n: sql<number | string>`coalesce(sum(${peers.datasetCount}), 0)` }).from(peers)
      if (change > 0 && change * 10 >= Number(held?.n ?? 0)) await rows(store.db, sql`ANALYZE federated_datasets_search`)
    } catch {
      // autovacuum does the same work later
    }
  }

  return {
    async listPeers(): Promise<PeerRow[]> {
      return store.db.select().from(peers).orderBy(asc(peers.addedAt), asc(peers.id))
    },

    async getPeer(idOrUrl: string): Promise<PeerRow | undefined> {
      const [row] = await store.db.select().from(peers).where(sql`${peers.id} = ${idOrUrl} OR ${peers.dspUrl} = ${idOrUrl}`)
      return row
    },

    /**
     * Adds a peer; returns the existing one when its DSP URL is already known, unchanged but for
     * one thing: a peer the registry brought becomes the configuration's or the API's when they
     * name it too, so that the registry dropping it later does not remove it.
     */
    async addPeer(input: NewPeer, now: number): Promise<{ peer: PeerRow; created: boolean }> {
      return store.transaction(async (tx) => {
        const [existing] = await store.forUpdate(tx.select().from(peers).where(eq(peers.dspUrl, input.dspUrl)))
        if (existing && existing.source === 'registry' && input.source !== 'registry') {
          await tx.update(peers).set({ source: input.source }).where(eq(peers.id, existing.id))
          return { peer: { ...existing, source: input.source }, created: false }
        }
        if (existing) return { peer: existing, created: false }
        const row: PeerRow = {
          catalogEtag: null,
          id: input.id,
          dspUrl: input.dspUrl,
          did: input.did ?? null,
          name: input.name ?? null,
          source: input.source,
          paused: input.paused ?? false,
          addedAt: now,
          lastAttemptAt: null,
          lastSuccessAt: null,
          lastErrorAt: null,
          lastError: null,
          failures: 0,
          nextCrawlAt: now,
          lastDurationMs: null,
          datasetCount: 0,
          rejectedCount: 0,
          participantId: null,
          incremental: 'unknown',
          crawlsSinceFull: 0,
        }
        await tx.insert(peers).values(row)
        return { peer: row, created: true }
      })
    },

    async setPaused(id: string, paused: boolean, now: number): Promise<PeerRow | undefined> {
      await store.db
        .update(peers)
        .set({ paused, ...(paused ? {} : { nextCrawlAt: now }) })
        .where(eq(peers.id, id))
      const [row] = await store.db.select().from(peers).where(eq(peers.id, id))
      return row
    },

    /** Makes every active peer due now (the crawler starts them at its next tick); returns them. */
    async crawlAllNow(now: number): Promise<PeerRow[]> {
      await store.db.update(peers).set({ nextCrawlAt: now }).where(eq(peers.paused, false))
      return store.db.select().from(peers).where(eq(peers.paused, false)).orderBy(asc(peers.dspUrl))
    },

    /** Removes a peer and everything we hold from it; with `source`, only a peer that came from there. */
    async removePeer(id: string, options: { source?: PeerSource } = {}): Promise<boolean> {
      return store.transaction(async (tx) => {
        const [existing] = await store.forUpdate(tx.select().from(peers).where(eq(peers.id, id)))
        if (!existing || (options.source && existing.source !== options.source)) return false
        await tx.delete(datasets).where(eq(datasets.peerId, id))
        await tx.delete(peers).where(eq(peers.id, id))
        return true
      })
    },

    /** Active peers whose next crawl is due. */
    async duePeers(now: number): Promise<PeerRow[]> {
      return store.db
        .select()
        .from(peers)
        .where(and(eq(peers.paused, false), lte(peers.nextCrawlAt, now)))
        .orderBy(asc(peers.nextCrawlAt))
    },

    /**
     * Stores a successful crawl in one transaction: a full crawl replaces the peer's datasets as a
     * whole, an incremental one replaces only those it saw. Readers see the old set or the new one,
     * never an empty or half-written cache.
     */
    async recordSuccess(input: {
      peerId: string
      entries: CatalogEntry[]
      mode: 'full' | 'incremental'
      participantId: string
      rejected: number
      incremental: PeerRow['incremental']
      now: number
      durationMs: number
      nextCrawlAt: number
      /** The catalog's entity tag taken before the crawl ('' when the peer sends none). */
      catalogEtag?: string | null
    }): Promise<number> {
      const stored = await store.transaction(async (tx) => {
        const [peer] = await store.forUpdate(tx.select().from(peers).where(eq(peers.id, input.peerId)))
        if (!peer) return { datasetCount: 0, change: 0 } // removed while we crawled: keep nothing
        if (input.mode === 'full') {
          await tx.delete(datasets).where(eq(datasets.peerId, input.peerId))
        } else {
          const ids = input.entries.map((e) => e.datasetId)
          for (let i = 0; i < ids.length; i += 500) {
            await tx.delete(datasets).where(and(eq(datasets.peerId, input.peerId), inArray(datasets.datasetId, ids.slice(i, i + 500))))
          }
        }
        await insertEntries(tx, input.peerId, input.entries, input.now)
        const datasetCount = await countFor(tx, input.peerId)
        await tx
          .update(peers)
          .set({
            lastAttemptAt: input.now,
            lastSuccessAt: input.now,
            failures: 0,
            nextCrawlAt: keepAsked(input),
            lastDurationMs: input.durationMs,
            datasetCount,
            rejectedCount: input.rejected,
            participantId: input.participantId,
            incremental: input.incremental,
            crawlsSinceFull: input.mode === 'full' ? 0 : peer.crawlsSinceFull + 1,
            ...(input.catalogEtag !== undefined ? { catalogEtag: input.catalogEtag } : {}),
          })
          .where(eq(peers.id, input.peerId))
        return { datasetCount, change: Math.abs(datasetCount - peer.datasetCount) }
      })
      await tidySearchIndex(stored.change)
      return stored.datasetCount
    },

    /** The peer said its catalog has not changed since the last crawl: only its status moves. */
    async recordUnchanged(input: { peerId: string; now: number; durationMs: number; nextCrawlAt: number }) {
      await store.db
        .update(peers)
        .set({ lastAttemptAt: input.now, lastSuccessAt: input.now, failures: 0, nextCrawlAt: keepAsked(input), lastDurationMs: input.durationMs })
        .where(eq(peers.id, input.peerId))
    },

    /** A failed crawl touches only the peer's status: its datasets stay as the last good copy. */
    async recordFailure(input: { peerId: string; error: string; now: number; durationMs: number; nextCrawlAt: number; incremental?: PeerRow['incremental'] }) {
      await store.db
        .update(peers)
        .set({
          lastAttemptAt: input.now,
          lastErrorAt: input.now,
          lastError: input.error.slice(0, 1000),
          failures: sql`${peers.failures} + 1`,
          nextCrawlAt: keepAsked(input),
          lastDurationMs: input.durationMs,
          ...(input.incremental ? { incremental: input.incremental } : {}),
        })
        .where(eq(peers.id, input.peerId))
    },

    /**
     * Full-text search with filters, ranked and paged. Two steps: rank and page over the narrow
     * columns (the full-text index, filter columns), then read the stored hits of that page only.
     */
    async search(query: SearchQuery): Promise<SearchPage> {
      const q = SearchQuerySchema.parse(query)
      const tokens = q.q ? queryTokens(q.q) : []
      const peerRows = await store.db.select().from(peers)
      const peerById = new Map(peerRows.map((p) => [p.id, p]))
      const filters: SQL[] = []
      const contains = (column: SQL, value: string) => filters.push(sql`${column} LIKE ${`%${likeEscape(value.toLowerCase())}%`} ESCAPE '\\'`)
      if (q.peer) {
        const peer = peerRows.find((p) => p.id === q.peer || p.dspUrl === q.peer)
        if (!peer) return { total: 0, offset: q.offset, limit: q.limit, hits: [] }
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
      const and_ = (list: SQL[]) => (list.length > 0 ? sql.join(list, sql` AND `) : sql`1 = 1`)

      // The matches as a FROM clause over rows with the filter columns (for the facets).
      const matches =
        tokens.length > 0 && store.dialect === 'sqlite'
          ? sql`federated_datasets_fts JOIN federated_datasets d ON d.rowid = federated_datasets_fts.rowid WHERE federated_datasets_fts MATCH ${fts5Query(tokens)} AND ${and_(filters)}`
          : tokens.length > 0
            ? sql`federated_datasets_search d WHERE d.search @@ to_tsquery('simple', ${tsQuery(tokens)}) AND ${and_(filters)}`
            : sql`${store.dialect === 'postgres' ? sql`federated_datasets_search` : sql`federated_datasets`} d WHERE ${and_(filters)}`
      // Counted while the page is ranked (PostgreSQL runs both at once on two connections).
      const facets = q.facets ? countFacets(matches, peerById) : undefined
      // Awaited below; a failure of step 1 first must not leave it unhandled.
      facets?.catch(() => undefined)

      // Step 1: the keys of the page, and the total.
      type Key = { peer_id: string; dataset_id: string }
      let keys: Key[]
      let total: number
      if (tokens.length > 0 && store.dialect === 'sqlite') {
        const match = fts5Query(tokens)
        // bm25 is lower for better matches; weights: title, keywords, description.
        const score = sql`bm25(federated_datasets_fts, 10.0, 4.0, 1.0)`
        if (filters.length === 0) {
          // Ranked inside the full-text index alone: no table row is read until the page is known.
          const ranked = await rows<{ rid: number }>(
            store.db,
            sql`SELECT rowid AS rid FROM federated_datasets_fts WHERE federated_datasets_fts MATCH ${match} ORDER BY ${score}, rowid LIMIT ${q.limit} OFFSET ${q.offset}`,
          )
          const [counted] = await rows<{ n: number }>(
            store.db,
            sql`SELECT count(*) AS n FROM federated_datasets_fts WHERE federated_datasets_fts MATCH ${match}`,
          )
          total = Number(counted?.n ?? 0)
          keys =
            ranked.length === 0
              ? []
              : await rows<Key & { rid: number }>(
                  store.db,
                  sql`SELECT rowid AS rid, peer_id, dataset_id FROM federated_datasets WHERE rowid IN (${sql.join(
                    ranked.map((r) => sql`${r.rid}`),
                    sql`, `,
                  )})`,
                ).then((found) => {
                  const byRowid = new Map(found.map((k) => [Number(k.rid), k]))
                  return ranked.map((r) => byRowid.get(Number(r.rid))!).filter(Boolean)
                })
        } else {
          const from = sql`federated_datasets_fts JOIN federated_datasets d ON d.rowid = federated_datasets_fts.rowid WHERE federated_datasets_fts MATCH ${match} AND ${and_(filters)}`
          keys = await rows<Key>(
            store.db,
            sql`SELECT d.peer_id AS peer_id, d.dataset_id AS dataset_id FROM ${from} ORDER BY ${score}, d.rowid LIMIT ${q.limit} OFFSET ${q.offset}`,
          )
          const [counted] = await rows<{ n: number }>(store.db, sql`SELECT count(*) AS n FROM ${from}`)
          total = Number(counted?.n ?? 0)
        }
      } else if (tokens.length > 0) {
        // PostgreSQL reads the narrow search table (tsvector and filter columns, kept in step with
        // federated_datasets by triggers): it has everything step 1 needs, under the same names.
        // One pass over the matches: each is ranked once and kept as a small row (key and rank),
        // then counted, and only the best page is sorted (a top-N sort). Both come from the same
        // snapshot. `count(*) OVER ()` would carry each match's tsvector through the window instead;
        // a separate count statement would find every match a second time.
        const tsq = sql`to_tsquery('simple', ${tsQuery(tokens)})`
        const found = await rows<{ total: number | string; peer_id: string | null; dataset_id: string | null }>(
          store.db,
          sql`WITH matches AS MATERIALIZED (
                SELECT d.peer_id, d.dataset_id, ts_rank(d.search, ${tsq}) AS rank
                FROM federated_datasets_search d WHERE d.search @@ ${tsq} AND ${and_(filters)})
              SELECT total.n AS total, page.peer_id, page.dataset_id
              FROM (SELECT count(*) AS n FROM matches) total
              LEFT JOIN LATERAL (
                SELECT peer_id, dataset_id, rank FROM matches ORDER BY rank DESC, peer_id, dataset_id LIMIT ${q.limit} OFFSET ${q.offset}
              ) page ON true
              ORDER BY page.rank DESC, page.peer_id, page.dataset_id`,
        )
        total = Number(found[0]?.total ?? 0)
        keys = found.filter((k): k is Key & { total: number | string } => k.peer_id !== null && k.dataset_id !== null)
      } else {
        // No words: the most recently modified first, from the index on modified_at (PostgreSQL
        // keeps it on the search table, SQLite on the dataset table). Page and total apart, so the
        // page stops at its last row.
        const table = store.dialect === 'postgres' ? sql`federated_datasets_search` : sql`federated_datasets`
        const from = sql`FROM ${table} d WHERE ${and_(filters)}`
        const [found, counted] = await Promise.all([
          rows<Key>(
            store.db,
            sql`SELECT d.peer_id AS peer_id, d.dataset_id AS dataset_id ${from} ORDER BY d.modified_at DESC NULLS LAST, d.peer_id, d.dataset_id LIMIT ${q.limit} OFFSET ${q.offset}`,
          ),
          rows<{ n: number | string }>(store.db, sql`SELECT count(*) AS n ${from}`),
        ])
        keys = found
        total = Number(counted[0]?.n ?? 0)
      }

      const facetCounts = facets ? { facets: await facets } : {}
      // Step 2: the stored hits of this page, in rank order.
      if (keys.length === 0) return { total, offset: q.offset, limit: q.limit, hits: [], ...facetCounts }
      const stored = await store.db
        .select({ peerId: datasets.peerId, datasetId: datasets.datasetId, entry: datasets.entry, crawledAt: datasets.crawledAt })
        .from(datasets)
        .where(or(...keys.map((k) => and(eq(datasets.peerId, k.peer_id), eq(datasets.datasetId, k.dataset_id)))))
      const byKey = new Map(stored.map((r) => [`${r.peerId}\n${r.datasetId}`, r]))
      const hits: SearchHit[] = []
      for (const k of keys) {
        const r = byKey.get(`${k.peer_id}\n${k.dataset_id}`)
        const peer = peerById.get(k.peer_id)
        if (!r || !peer) continue
        const entry = r.entry as Omit<SearchHit, 'peer' | 'stale' | 'crawledAt'>
        hits.push({
          ...entry,
          peer: { id: peer.id, name: peer.name, participantId: peer.participantId ?? '', dspUrl: peer.dspUrl },
          crawledAt: new Date(r.crawledAt).toISOString(),
          stale: isStale(peer),
        })
      }
      return { total, offset: q.offset, limit: q.limit, hits, ...facetCounts }
    },
  }
}

export type FederationRepository = ReturnType<typeof federationRepository>
