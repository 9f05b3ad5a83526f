import type { Builders } from '../dialect.ts'

/**
 * The federated catalog: the peers this connector crawls and the datasets their catalogs showed us.
 *
 * Full-text search needs SQL that drizzle-kit does not generate, so it lives in custom migrations
 * (`drizzle-kit generate --custom`, one per dialect), next to the generated ones:
 * - SQLite: an FTS5 table `federated_datasets_fts` over `search_title`, `search_keywords` and
 *   `search_description`, whose rowid is the dataset row's rowid, kept in step by triggers.
 * - PostgreSQL: a narrow table `federated_datasets_search` with a `tsvector` (weights A/B/C for the
 *   same three columns, GIN index) and copies of the filter columns, kept in step by statement
 *   triggers, so that ranking every match reads small rows rather than the stored hits.
 * The `search_*` columns hold text already folded by the connector (lower case, no diacritics), so
 * that both databases tokenise the same words and "Québec" matches "quebec" on either.
 */
export const federationTables = (b: Builders) => ({
  federationPeers: b.table(
    'federation_peers',
    {
      id: b.text('id').primaryKey(),
      /** The peer's DSP base URL (resolved from its DID document when added by DID). */
      dspUrl: b.text('dsp_url').notNull(),
      did: b.text('did'),
      name: b.text('name'),
      /** config | api | registry */
      source: b.text('source').notNull(),
      paused: b.boolean('paused').notNull(),
      addedAt: b.bigint('added_at').notNull(),
      lastAttemptAt: b.bigint('last_attempt_at'),
      lastSuccessAt: b.bigint('last_success_at'),
      lastErrorAt: b.bigint('last_error_at'),
      lastError: b.text('last_error'),
      /** Consecutive failed crawls; drives the backoff. */
      failures: b.integer('failures').notNull(),
      nextCrawlAt: b.bigint('next_crawl_at').notNull(),
      lastDurationMs: b.integer('last_duration_ms'),
      datasetCount: b.integer('dataset_count').notNull(),
      rejectedCount: b.integer('rejected_count').notNull(),
      /** The participant id the peer's catalog names. */
      participantId: b.text('participant_id'),
      /** Whether the peer honours our modified-since filter: unknown | yes | no. */
      incremental: b.text('incremental').notNull(),
      /** Crawls since the last full one (incremental crawls cannot see deletions). */
      crawlsSinceFull: b.integer('crawls_since_full').notNull(),
      /**
       * The entity tag of the peer's catalog as of the last successful crawl (null: not known yet;
       * '': the peer sends none, so no conditional probe is made).
       */
      catalogEtag: b.text('catalog_etag'),
      /**
       * The change token of the peer's catalog as of the last successful crawl (a Passerelle peer
       * gives one): the next crawl asks for the changes since it, deletions included. Null: none.
       */
      changeToken: b.text('change_token'),
      /** Why the change feed is not used or was not, in a sentence (null while it works or was never offered). */
      changeFeedNote: b.text('change_feed_note'),
    },
    (t) => [b.uniqueIndex('federation_peers_dsp_url_idx').on(t.dspUrl)],
  ),
  federatedDatasets: b.table(
    'federated_datasets',
    {
      peerId: b.text('peer_id').notNull(),
      datasetId: b.text('dataset_id').notNull(),
      /** Folded text the full-text index reads (see above). */
      searchTitle: b.text('search_title').notNull(),
      searchKeywords: b.text('search_keywords').notNull(),
      searchDescription: b.text('search_description').notNull(),
      /** Filter columns; list values are stored as `|a|b|` so one LIKE works on both databases. */
      themes: b.text('themes').notNull(),
      formats: b.text('formats').notNull(),
      actions: b.text('actions').notNull(),
      license: b.text('license'),
      spatial: b.text('spatial'),
      /** Epoch milliseconds. */
      temporalStart: b.bigint('temporal_start'),
      temporalEnd: b.bigint('temporal_end'),
      modifiedAt: b.bigint('modified_at'),
      /** The search hit as the API returns it (everything needed to negotiate). */
      entry: b.json<unknown>('entry').notNull(),
      crawledAt: b.bigint('crawled_at').notNull(),
    },
    // Searches without words list the most recently modified first; the key breaks ties, so a page
    // is read from the index even when many datasets share one modification date.
    (t) => [b.primaryKey({ columns: [t.peerId, t.datasetId] }), b.index('federated_datasets_modified_key_idx').on(t.modifiedAt, t.peerId, t.datasetId)],
  ),
})
