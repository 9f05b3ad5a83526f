/**
 * What a test store costs to open and close (create, migrate, close, drop), on both dialects: the
 * database migrated from scratch (`createTestDatabase` then `openStore`, what every test store did
 * before) against a copy of a database migrated once (`createTestStore`: a PostgreSQL template, a
 * SQLite file), alternated in the same run. Medians of N runs (default 9):
 * `node --import tsx bench/test-stores.ts [N]`.
 */
import { openStore } from '../connector/store/store.ts'
import { createTestDatabase, createTestStore, dialects } from '../test/support/stores.ts'
import { median, printTable } from './stats.ts'

const runs = Number(process.argv[2] ?? 9)

async function migratedFromScratch(dialect: (typeof dialects)[number]) {
  const database = await createTestDatabase(dialect)
  const store = await openStore({ url: database.url, poolSize: 4 })
  await store.close()
  await database.drop()
}

async function copied(dialect: (typeof dialects)[number]) {
  const store = await createTestStore(dialect)
  await store.close()
}

const timed = async (fn: () => Promise<void>) => {
  const started = performance.now()
  await fn()
  return performance.now() - started
}

const rows = [['dialect', 'migrated from scratch (ms)', 'copy of a migrated database (ms)', 'ratio']]
for (const dialect of dialects) {
  // One of each first: the template is built, modules are loaded.
  await migratedFromScratch(dialect)
  await copied(dialect)
  const scratch: number[] = []
  const copy: number[] = []
  for (let i = 0; i < runs; i++) {
    scratch.push(await timed(() => migratedFromScratch(dialect)))
    copy.push(await timed(() => copied(dialect)))
  }
  rows.push([dialect, median(scratch).toFixed(0), median(copy).toFixed(0), (median(copy) / median(scratch)).toFixed(2)])
}
printTable(`a test store, opened and closed (medians of ${runs}, load average ${(await import('node:os')).loadavg()[0]!.toFixed(1)})`, rows)
