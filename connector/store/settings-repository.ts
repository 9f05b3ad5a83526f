import { eq } from 'drizzle-orm'
import type { Store } from './store.ts'

/** The connector's own key-value settings (secrets it generates for itself, for instance). */
export function settingsRepository(store: Store) {
  const { settings } = store.tables
  return {
    /**
     * The value under `key`, written first with `create()` if there is none. When two processes
     * race, the first write wins and both read it back.
     */
    async getOrCreate(key: string, create: () => string, at: number): Promise<string> {
      const [row] = await store.db.select().from(settings).where(eq(settings.key, key))
      if (row && typeof row.value === 'string') return row.value
      await store.db.insert(settings).values({ key, value: create(), updatedAt: at }).onConflictDoNothing()
      const [stored] = await store.db.select().from(settings).where(eq(settings.key, key))
      return String(stored!.value)
    },
  }
}
