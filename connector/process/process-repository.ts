import { and, asc, count, desc, eq, sql, type SQL } from 'drizzle-orm'
import type { SQLiteColumn, SQLiteTable } from 'drizzle-orm/sqlite-core'
import type { Db, Store } from '../store/store.ts'
import { lazy, rowPlaceholders } from '../store/prepared.ts'

/**
 * Process rows and their timelines, for negotiation and transfer alike, on both databases. The one
 * rule of a change:
 *
 * 1. In the transaction of the change, read the process with `lock` (PostgreSQL: `FOR UPDATE`, so
 *    a second writer of the same process waits for the first one's commit; SQLite: transactions
 *    are serialised, the read is the lock).
 * 2. Write it with `change`, in the same transaction: the row is updated only if it is still as it
 *    was read (its `version` where the table keeps one, its state otherwise), else `ConcurrentChange`
 *    is thrown and nothing is written; the timeline entry is appended at the next position.
 *
 * A change from an unlocked read (a step decided outside its transaction) is safe only on a table
 * with a version: the guard then refuses it if anything changed meanwhile. Positions count a
 * process's entries from 0; a table with a version keeps the count in it (`version` = entries so
 * far), one without counts its timeline. The area maps a position to its timeline's key.
 */
export interface ProcessTables<Entry> {
  /** What a process is called in errors (`negotiation`, `transfer`). */
  noun: string
  /** One row per process, keyed by our pid; it has `state` and `updatedAt` columns. */
  table: SQLiteTable
  id: SQLiteColumn
  state: SQLiteColumn
  /** Counts the row's changes (the timeline's length), where the table keeps one. */
  version?: SQLiteColumn | undefined
  /**
   * The columns a process's usual change sets. Such a change is saved with one prepared statement
   * that sets exactly these (an indexed column in the list would make SQLite rewrite that index entry
   * on every save); any other is built for its patch. Only for a table with a version.
   */
  stepColumns?: readonly string[] | undefined
  timeline: {
    table: SQLiteTable
    /** The column naming the entry's process. */
    processId: SQLiteColumn
    /** The column that orders a process's entries. */
    order: SQLiteColumn
    /** The timeline row of entry number `position` (0 for a process's first) at time `at`. */
    row(processId: string, position: number, at: number, entry: Entry): Record<string, unknown>
  }
}

/** What every process row has. */
export interface ProcessRow {
  id: string
  state: string
  updatedAt: number
  version?: number
}

export function processRepository<Row extends ProcessRow, Event, Entry>(store: Store, tables: ProcessTables<Entry>) {
  const { table, id, state, version, timeline } = tables
  const stepColumns = version ? (tables.stepColumns ?? []) : []
  // Hot statements are prepared once (see store/prepared.ts); they run on the store's own handle.
  const prepared = lazy(() => ({
    find: store.db
      .select()
      .from(table)
      .where(eq(id, sql.placeholder('id')))
      .prepare(),
    insert: store.db
      .insert(table)
      .values(rowPlaceholders(table) as never)
      .prepare(),
    update: stepColumns.length
      ? store.db
          .update(table)
          .set(Object.fromEntries(stepColumns.map((key) => [key, sql.placeholder(key)])) as never)
          .where(and(eq(id, sql.placeholder('id')), eq(version!, sql.placeholder('expected'))))
          .returning({ id })
          .prepare()
      : undefined,
    append: store.db
      .insert(timeline.table)
      .values(rowPlaceholders(timeline.table) as never)
      .prepare(),
    entries: store.db
      .select()
      .from(timeline.table)
      .where(eq(timeline.processId, sql.placeholder('id')))
      .orderBy(asc(timeline.order))
      .prepare(),
    length: store.db
      .select({ n: count() })
      .from(timeline.table)
      .where(eq(timeline.processId, sql.placeholder('id')))
      .prepare(),
  }))
  const own = (db: Db) => db === store.db
  // A change that sets other columns too (a consumer's first message from its provider names the
  // counterparty) is prepared for exactly its columns (those given a value, as drizzle's set() takes
  // them), once per set of columns met (a few; past 32 sets the rest are built per call).
  const otherUpdates = new Map<string, ReturnType<typeof prepareUpdate>>()
  const prepareUpdate = (keys: string[]) =>
    store.db
      .update(table)
      .set(Object.fromEntries([...keys, 'version'].map((key) => [key, sql.placeholder(key)])) as never)
      .where(and(eq(id, sql.placeholder('id')), eq(version!, sql.placeholder('expected'))))
      .returning({ id })
      .prepare()
  const otherUpdate = (patchKeys: string[]) => {
    const keys = patchKeys.filter((key) => key !== 'version').sort()
    const name = keys.join(',')
    let statement = otherUpdates.get(name)
    if (!statement) {
      if (otherUpdates.size >= 32) return undefined
      otherUpdates.set(name, (statement = prepareUpdate(keys)))
    }
    return statement
  }

  /** Runs a read, locking what it reads when asked (a prepared read on SQLite, whose transactions are serialised). */
  async function read(db: Db, where: SQL, options: { lock?: boolean | undefined; prepared?: () => Promise<unknown[]> }): Promise<Row | undefined> {
    if (options.prepared && own(db) && (!options.lock || store.dialect === 'sqlite')) {
      const [row] = await options.prepared()
      return row as Row | undefined
    }
    const query = db.select().from(table).where(where)
    const [row] = await (options.lock ? store.forUpdate(query) : query)
    return row as Row | undefined
  }

  async function append(db: Db, processId: string, position: number, at: number, entry: Entry) {
    const values = timeline.row(processId, position, at, entry)
    if (own(db)) await prepared().append.execute(values)
    else await db.insert(timeline.table).values(values as never)
  }

  async function length(db: Db, processId: string): Promise<number> {
    const [counted] = own(db)
      ? await prepared().length.execute({ id: processId })
      : await db.select({ n: count() }).from(timeline.table).where(eq(timeline.processId, processId))
    return Number(counted?.n ?? 0)
  }

  return {
    /** Reads a process (`lock`: and locks it until the transaction ends, the read of a change). */
    find(db: Db, processId: string, options: { lock?: boolean } = {}): Promise<Row | undefined> {
      return read(db, eq(id, processId), { lock: options.lock, prepared: () => prepared().find.execute({ id: processId }) })
    },

    /** Reads a process for a change: locked until the transaction ends. */
    lock(tx: Db, processId: string): Promise<Row | undefined> {
      return read(tx, eq(id, processId), { lock: true, prepared: () => prepared().find.execute({ id: processId }) })
    },

    /**
     * Reads the process another key names (`where`), locked when asked as `lock` does; `prepared`
     * is the area's prepared form of the same read, used on the store's own handle.
     */
    findWhere(db: Db, where: SQL, options: { lock?: boolean; prepared?: () => Promise<unknown[]> } = {}): Promise<Row | undefined> {
      return read(db, where, options)
    },

    /** Creates a process with its first timeline entry (position 0), in the caller's transaction. */
    async create(db: Db, row: Row, at: number, entry: Entry): Promise<void> {
      if (own(db)) await prepared().insert.execute(row as never)
      else await db.insert(table).values(row as never)
      await append(db, row.id, 0, at, entry)
    },

    /**
     * Changes a process read with `lock` (or, on a table with a version, read earlier) and appends its
     * timeline entry at `at`, in the caller's transaction. Throws `ConcurrentChange` when the row is
     * no longer as read. Returns the row as written.
     */
    async change(db: Db, current: Row, patch: Partial<Row>, at: number, entry: Entry): Promise<Row> {
      const next = { ...current, ...patch } as Row
      let position: number
      let updated: unknown[]
      if (version) {
        position = current.version!
        next.version = position + 1
        const stepOnly = Object.keys(patch).every((key) => stepColumns.includes(key))
        const update = own(db)
          ? stepOnly
            ? prepared().update
            : otherUpdate(Object.keys(patch).filter((key) => patch[key as keyof Row] !== undefined))
          : undefined
        updated = update
          ? await update.execute({ ...next, expected: current.version } as never)
          : await db
              .update(table)
              .set({ ...patch, version: next.version } as never)
              .where(and(eq(id, current.id), eq(version, current.version!)))
              .returning({ id })
      } else {
        updated = await db
          .update(table)
          .set(patch as never)
          .where(and(eq(id, current.id), eq(state, current.state)))
          .returning({ id })
        position = await length(db, current.id)
      }
      if (updated.length !== 1) throw new ConcurrentChange(tables.noun, current.id)
      await append(db, current.id, position, at, entry)
      return next
    },

    /** A process's timeline, oldest first. */
    async timeline(db: Db, processId: string): Promise<Event[]> {
      if (own(db)) return (await prepared().entries.execute({ id: processId })) as Event[]
      return (await db.select().from(timeline.table).where(eq(timeline.processId, processId)).orderBy(asc(timeline.order))) as Event[]
    },

    /** A process's newest timeline entry. */
    async lastEntry(db: Db, processId: string): Promise<Event | undefined> {
      const [row] = await db.select().from(timeline.table).where(eq(timeline.processId, processId)).orderBy(desc(timeline.order)).limit(1)
      return row as Event | undefined
    },
  }
}

/** A change lost against another change of the same process (it is no longer as it was read). */
export class ConcurrentChange extends Error {
  constructor(noun: string, id: string) {
    super(`${noun} ${id} changed concurrently`)
    this.name = 'ConcurrentChange'
  }
}
