import type { Builders } from '../dialect.ts'

/**
 * Datasets created through the management API. Datasets described in the stewards' files are not
 * stored here: the files are their source, and the API shows them read-only.
 */
export const catalogTables = (b: Builders) => ({
  catalogDatasets: b.table('catalog_datasets', {
    id: b.text('id').primaryKey(),
    /** The dataset description, as validated (the same shape as a dataset file). */
    description: b.json<unknown>('description').notNull(),
    createdAt: b.bigint('created_at').notNull(),
    updatedAt: b.bigint('updated_at').notNull(),
  }),
})
