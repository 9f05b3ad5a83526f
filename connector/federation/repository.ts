import { and, asc, eq, inArray, lte, sql, type SQL } from 'drizzle-orm'
import { type PeerCatalogEntry as CatalogEntry, listKey } from '../../catalog/index.ts'
import type { Db, Store } from '../store/store.ts'
import { federatedSearch, type SearchBounds } from './search-repository.ts'

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

export { isStale } from './search-repository.ts'

// Every request that names a callback reads the registry's address for its requester: prepared once per store.
const registered = new WeakMap<Store, ReturnType<typeof prepareRegisteredAddresses>>()
const prepareRegisteredAddresses = (store: Store) => {
  const peers = store.tables.federationPeers
  return store.db
    .select({ dspUrl: peers.dspUrl })
    .from(peers)
    .where(eq(peers.did, sql.placeholder('did')))
    .prepare()
}
function registeredAddresses(store: Store) {
  let statement = registered.get(store)
  if (!statement) registered.set(store, (statement = prepareRegisteredAddresses(store)))
  return statement
}

/** Where rows of both tables are read and written. Raw SQL only where full-text search needs it. */
export function federationRepository(store: Store, options: { searchBounds?: SearchBounds } = {}) {
  const { federationPeers: peers, federatedDatasets: datasets } = store.tables

  /**
   * The next crawl a finished crawl schedules, unless a crawl was asked for while it ran (the peer was
   * made due at a moment between this crawl's start and its end): that request stands, and is not lost.
   * A schedule still in the future (a crawl started outside the schedule) is replaced as usual.
   */
  const keepAsked = (input: { now: number; durationMs: number; nextCrawlAt: number }) =>
    sql`CASE WHEN ${peers.nextCrawlAt} > ${input.now - input.durationMs} AND ${peers.nextCrawlAt} <= ${input.now} THEN ${peers.nextCrawlAt} ELSE ${input.nextCrawlAt} END`

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
    /** The DSP addresses known for a participant from the data space's peers (a callback there is theirs). */
    async dspUrlsOf(did: string): Promise<string[]> {
      return (await registeredAddresses(store).execute({ did })).map((row) => row.dspUrl)
    },
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
          changeToken: null,
          changeFeedNote: null,
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
     * whole, an incremental one replaces only those it saw and deletes those the peer's change feed
     * says are gone (this peer's only: the ids are matched within its own entries). Readers see the old set or the new one,
     * never an empty or half-written cache.
     */
    async recordSuccess(input: {
      peerId: string
      entries: CatalogEntry[]
      /** Dataset ids the peer's change feed says are gone (incremental crawls only). */
      removed?: string[]
      mode: 'full' | 'incremental'
      participantId: string
      rejected: number
      incremental: PeerRow['incremental']
      now: number
      durationMs: number
      nextCrawlAt: number
      /** The catalog's entity tag taken before the crawl ('' when the peer sends none). */
      catalogEtag?: string | null
      /** The peer's change token for the next crawl (null: none), and why the feed is not used. */
      changeToken?: string | null
      changeFeedNote?: string | null
    }): Promise<number> {
      const stored = await store.transaction(async (tx) => {
        const [peer] = await store.forUpdate(tx.select().from(peers).where(eq(peers.id, input.peerId)))
        if (!peer) return { datasetCount: 0, change: 0 } // removed while we crawled: keep nothing
        if (input.mode === 'full') {
          await tx.delete(datasets).where(eq(datasets.peerId, input.peerId))
        } else {
          const ids = [...input.entries.map((e) => e.datasetId), ...(input.removed ?? [])]
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
            ...(input.changeToken !== undefined ? { changeToken: input.changeToken } : {}),
            ...(input.changeFeedNote !== undefined ? { changeFeedNote: input.changeFeedNote?.slice(0, 1000) ?? null } : {}),
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
    async recordFailure(input: {
      peerId: string
      error: string
      now: number
      durationMs: number
      nextCrawlAt: number
      incremental?: PeerRow['incremental']
      /** A change feed that could not be read: its token is dropped (the next crawl is a full one), with this reason. */
      changeFeedNote?: string
    }) {
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
          ...(input.changeFeedNote !== undefined ? { changeToken: null, changeFeedNote: input.changeFeedNote.slice(0, 1000) } : {}),
        })
        .where(eq(peers.id, input.peerId))
    },

    /** Full-text search with filters, ranked and paged, with bounded work (see search-repository.ts). */
    search: federatedSearch(store, options.searchBounds),
  }
}

export type FederationRepository = ReturnType<typeof federationRepository>
