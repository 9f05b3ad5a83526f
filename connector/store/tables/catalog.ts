import type { Builders } from '../dialect.ts'

/**
 * The published catalog. Every dataset is a row: those created through the management API (source
 * `api`, their source of truth) and those described in the stewards' files (source `file`, mirrored
 * here at each read of the folder; the files stay their source). The catalog answers from these rows
 * (keyset pages in id order), so nothing is rebuilt in memory at start.
 *
 * The columns after `description` are derived from it when the row is written, for paging and filters:
 * - `visibility`: the dataset's visibility group (its visibility policies, `''` = none), `gate` the same as JSON;
 * - `search`, `keywords`, `themes`: lower-case text for the catalog filters (`keywords`/`themes` are
 *   `\n`-delimited with a `\n` at each end, so that one entry matches exactly);
 * - `published` is false while a policy it names is unknown (the names are in `catalog_policy_refs`);
 * - `seq`: the catalog version of its last change (see `catalog_state`).
 */
export const catalogTables = (b: Builders) => ({
  catalogDatasets: b.table(
    'catalog_datasets',
    {
      id: b.text('id').primaryKey(),
      /** The dataset description, as validated (the same shape as a dataset file). */
      description: b.json<unknown>('description').notNull(),
      createdAt: b.bigint('created_at').notNull(),
      updatedAt: b.bigint('updated_at').notNull(),
      /** api | file */
      source: b.text('source').notNull().default('api'),
      /** For file datasets: the file, relative to the participant folder. */
      file: b.text('file'),
      published: b.boolean('published').notNull().default(true),
      visibility: b.text('visibility').notNull().default(''),
      gate: b.json<unknown>('gate'),
      search: b.text('search').notNull().default(''),
      keywords: b.text('keywords').notNull().default(''),
      themes: b.text('themes').notNull().default(''),
      /** Lowercase titles and publisher (IRI, names), delimited like keywords: an EDC query's criteria. '' until derived. */
      titles: b.text('titles').notNull().default(''),
      publishers: b.text('publishers').notNull().default(''),
      modified: b.bigint('modified').notNull().default(0),
      seq: b.bigint('seq').notNull().default(0),
    },
    // No index leads with `published`: pages must walk the primary key in id order, never sort.
    (t) => [b.index('catalog_datasets_seq').on(t.seq), b.index('catalog_datasets_file').on(t.source, t.file)],
  ),
  /**
   * Every policy each dataset names (offers, visibility), one row per pair, written in the transaction
   * that writes or removes the dataset: which datasets use a policy, and how many, is a range of the
   * policy's index, never a pass over the descriptions.
   */
  catalogPolicyRefs: b.table(
    'catalog_policy_refs',
    {
      datasetId: b.text('dataset_id').notNull(),
      policyId: b.text('policy_id').notNull(),
    },
    (t) => [b.primaryKey({ columns: [t.datasetId, t.policyId] }), b.index('catalog_policy_refs_policy').on(t.policyId, t.datasetId)],
  ),
  /** How many datasets name each policy, kept with the references: a policy list reads one row per policy. */
  catalogPolicyCounts: b.table('catalog_policy_counts', {
    policyId: b.text('policy_id').primaryKey(),
    count: b.bigint('count').notNull(),
  }),
  /**
   * Every local file or folder each dataset's distributions name (the path as written, relative to
   * the participant folder), kept like the policy references: a file is not removed while a dataset
   * names it.
   */
  catalogFileRefs: b.table(
    'catalog_file_refs',
    {
      datasetId: b.text('dataset_id').notNull(),
      path: b.text('path').notNull(),
    },
    (t) => [b.primaryKey({ columns: [t.datasetId, t.path] }), b.index('catalog_file_refs_path').on(t.path)],
  ),
  /**
   * Published datasets per visibility group, kept in the transaction of every change, so that the
   * counts a page needs are a few rows whatever the catalog's size.
   */
  catalogGroups: b.table('catalog_groups', {
    visibility: b.text('visibility').primaryKey(),
    gate: b.json<unknown>('gate'),
    count: b.bigint('count').notNull(),
  }),
  /**
   * Published datasets that left their visibility group (deleted, withdrawn, or moved to another),
   * at the catalog version of the change, with the gate of the group they left: the change feed
   * tells a requester which datasets it could see are gone since its token. Kept 30 days.
   */
  catalogDepartures: b.table(
    'catalog_departures',
    {
      seq: b.bigint('seq').notNull(),
      id: b.text('id').notNull(),
      visibility: b.text('visibility').notNull(),
      gate: b.json<unknown>('gate'),
      /** Epoch ms: old rows are pruned. */
      leftAt: b.bigint('left_at').notNull(),
    },
    (t) => [b.primaryKey({ columns: [t.seq, t.id] }), b.index('catalog_departures_left_at').on(t.leftAt)],
  ),
  /**
   * One row (`id = 'catalog'`): `version` is bumped in the transaction of every catalog change, so a
   * replica knows with one cheap read whether what it cached is still current; `policies` is the
   * fingerprint of the policy ids the `published` flags were last computed with.
   */
  catalogState: b.table('catalog_state', {
    id: b.text('id').primaryKey(),
    version: b.bigint('version').notNull(),
    policies: b.text('policies').notNull(),
  }),
})
