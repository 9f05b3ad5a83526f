import { and, asc, eq, inArray, lte, sql, type SQL } from 'drizzle-orm'
import type { CatalogEntry } from '../../catalog/federation/read-catalog-page.ts'
import type { SearchHit, SearchPage, SearchQuery } from '../../catalog/federation/search-hit.ts'
import { SearchQuery as SearchQuerySchema } from '../../catalog/federation/search-hit.ts'
import { fts5Query, likeEscape, listKey, queryTokens, tsQuery } from '../../catalog/federation/text.ts'
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

  return {
    async listPeers(): Promise<PeerRow[]> {
      return store.db.select().from(peers).orderBy(asc(peers.addedAt), asc(peers.id))
    },

    async getPeer(idOrUrl: string): Promise<PeerRow | undefined> {
      const [row] = await store.db.select().from(peers).where(sql`${peers.id} = ${idOrUrl} OR ${peers.dspUrl} = ${idOrUrl}`)
      return row
    },

    /** Adds a peer; returns the existing one (unchanged) when its DSP URL is already known. */
    async addPeer(input: NewPeer, now: number): Promise<{ peer: PeerRow; created: boolean }> {
      return store.transaction(async (tx) => {
        const [existing] = await store.forUpdate(tx.select().from(peers).where(eq(peers.dspUrl, input.dspUrl)))
        if (existing) return { peer: existing, created: false }
        const row: PeerRow = {
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
      await store.db.update(peers).set({ paused, ...(paused ? {} : { nextCrawlAt: now }) }).where(eq(peers.id, id))
      const [row] = await store.db.select().from(peers).where(eq(peers.id, id))
      return row
    },

    /** Removes a peer and everything we hold from it. */
    async removePeer(id: string): Promise<boolean> {
      return store.transaction(async (tx) => {
        const [existing] = await store.forUpdate(tx.select().from(peers).where(eq(peers.id, id)))
        if (!existing) return false
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
    }): Promise<number> {
      return store.transaction(async (tx) => {
        const [peer] = await store.forUpdate(tx.select().from(peers).where(eq(peers.id, input.peerId)))
        if (!peer) return 0 // removed while we crawled: keep nothing
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
            nextCrawlAt: input.nextCrawlAt,
            lastDurationMs: input.durationMs,
            datasetCount,
            rejectedCount: input.rejected,
            participantId: input.participantId,
            incremental: input.incremental,
            crawlsSinceFull: input.mode === 'full' ? 0 : peer.crawlsSinceFull + 1,
          })
          .where(eq(peers.id, input.peerId))
        return datasetCount
      })
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
          nextCrawlAt: input.nextCrawlAt,
          lastDurationMs: input.durationMs,
          ...(input.incremental ? { incremental: input.incremental } : {}),
        })
        .where(eq(peers.id, input.peerId))
    },

    async search(query: SearchQuery): Promise<SearchPage> {
      const q = SearchQuerySchema.parse(query)
      const tokens = q.q ? queryTokens(q.q) : []
      const filters: SQL[] = []
      const contains = (column: SQL, value: string) => filters.push(sql`${column} LIKE ${`%${likeEscape(value.toLowerCase())}%`} ESCAPE '\\'`)
      if (q.peer) filters.push(sql`(p.id = ${q.peer} OR p.dsp_url = ${q.peer})`)
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

      const columns = sql`d.entry AS entry, d.crawled_at AS crawled_at, p.id AS peer_id, p.name AS peer_name, p.dsp_url AS dsp_url, p.participant_id AS participant_id, p.last_error_at AS last_error_at, p.last_success_at AS last_success_at`
      let from: SQL
      let score: SQL
      let order: SQL
      if (tokens.length > 0 && store.dialect === 'sqlite') {
        from = sql`federated_datasets_fts f JOIN federated_datasets d ON d.rowid = f.rowid JOIN federation_peers p ON p.id = d.peer_id`
        filters.unshift(sql`federated_datasets_fts MATCH ${fts5Query(tokens)}`)
        // bm25 is lower for better matches; weights: title, keywords, description.
        score = sql`bm25(federated_datasets_fts, 10.0, 4.0, 1.0)`
        order = sql`score ASC, d.peer_id, d.dataset_id`
      } else if (tokens.length > 0) {
        from = sql`federated_datasets d JOIN federation_peers p ON p.id = d.peer_id`
        filters.unshift(sql`d.search @@ to_tsquery('simple', ${tsQuery(tokens)})`)
        score = sql`ts_rank(d.search, to_tsquery('simple', ${tsQuery(tokens)}))`
        order = sql`score DESC, d.peer_id, d.dataset_id`
      } else {
        from = sql`federated_datasets d JOIN federation_peers p ON p.id = d.peer_id`
        score = sql`0`
        order = sql`d.modified_at DESC NULLS LAST, d.peer_id, d.dataset_id`
      }
      const where = filters.length > 0 ? sql`WHERE ${sql.join(filters, sql` AND `)}` : sql``
      type Row = { entry: unknown; crawled_at: number | string; peer_id: string; peer_name: string | null; dsp_url: string; participant_id: string | null; last_error_at: number | string | null; last_success_at: number | string | null }
      const [found, counted] = await Promise.all([
        rows<Row>(store.db, sql`SELECT ${columns}, ${score} AS score FROM ${from} ${where} ORDER BY ${order} LIMIT ${q.limit} OFFSET ${q.offset}`),
        rows<{ n: number | string }>(store.db, sql`SELECT count(*) AS n FROM ${from} ${where}`),
      ])
      const num = (v: number | string | null) => (v === null ? null : Number(v))
      const hits: SearchHit[] = found.map((r) => {
        const entry = (typeof r.entry === 'string' ? JSON.parse(r.entry) : r.entry) as Omit<SearchHit, 'peer' | 'stale' | 'crawledAt'>
        return {
          ...entry,
          peer: { id: r.peer_id, name: r.peer_name, participantId: r.participant_id ?? '', dspUrl: r.dsp_url },
          crawledAt: new Date(Number(r.crawled_at)).toISOString(),
          stale: isStale({ lastErrorAt: num(r.last_error_at), lastSuccessAt: num(r.last_success_at) }),
        }
      })
      return { total: Number(counted[0]?.n ?? 0), offset: q.offset, limit: q.limit, hits }
    },
  }
}

export type FederationRepository = ReturnType<typeof federationRepository>
