import type { Builders } from '../dialect.ts'

/** Small key/value facts the connector keeps about itself (e.g. when it first started). */
export const settingsTables = (b: Builders) => ({
  settings: b.table('settings', {
    key: b.text('key').primaryKey(),
    value: b.json<unknown>('value').notNull(),
    updatedAt: b.bigint('updated_at').notNull(),
  }),
})
