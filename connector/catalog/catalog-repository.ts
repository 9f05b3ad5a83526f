import { and, asc, eq, gt, inArray, notExists, notInArray, or, sql, type SQL } from 'drizzle-orm'
import {
  changeTokenRetentionMs,
  conditionColumn,
  DatasetDescription,
  type CatalogEntry,
  type CatalogFilter,
  type CatalogRows,
  type DatasetSource,
  type EntryFields,
  type Gate,
  type Group,
  type PolicyUsage,
  type PropertyCondition,
  type RowsQuery,
} from '../../catalog/index.ts'
import { lazy } from '../store/prepared.ts'
import type { Db, Store } from '../store/store.ts'

const stateId = 'catalog'

/**
 * The catalog's rows in the database (`catalog_datasets`, `catalog_state`). Pages are keyset queries
 * on the primary key; the version read is one row by primary key, so every request can afford it and
 * a change made by another replica is seen by the next request.
 */
export function databaseCatalogRows(
  store: Store,
  options: { onInvalid?: (id: string, message: string) => void } = {},
): CatalogRows & { ensureState(): Promise<boolean>; underived(): Promise<boolean> } {
  const t = store.tables.catalogDatasets
  const s = store.tables.catalogState
  const g = store.tables.catalogGroups
  const pr = store.tables.catalogPolicyRefs
  const fr = store.tables.catalogFileRefs
  const pc = store.tables.catalogPolicyCounts
  const dep = store.tables.catalogDepartures
  const contains = (column: SQL | typeof t.search, value: string) =>
    store.dialect === 'postgres' ? sql`strpos(${column}, ${value}) > 0` : sql`instr(${column}, ${value}) > 0`

  const where = (query: Pick<RowsQuery, 'hiddenGroups' | 'filter' | 'all'>, after?: string) => {
    if (query.all) return after !== undefined ? gt(t.id, after) : undefined
    const clauses: SQL[] = [eq(t.published, true)]
    if (query.hiddenGroups.length > 0) clauses.push(notInArray(t.visibility, [...query.hiddenGroups]))
    if (after !== undefined) clauses.push(gt(t.id, after))
    clauses.push(...filterClauses(query.filter))
    return and(...clauses)
  }
  const filterClauses = (filter: CatalogFilter): SQL[] => [
    ...(filter.modifiedSince !== undefined ? [sql`${t.modified} >= ${filter.modifiedSince}`] : []),
    ...(filter.seqAfter !== undefined ? [gt(t.seq, filter.seqAfter)] : []),
    ...filter.keywords.map((k) => contains(t.keywords, `\n${k}\n`)),
    ...filter.themes.map((k) => contains(t.themes, `\n${k}\n`)),
    ...filter.words.map((w) => contains(t.search, w)),
    ...(filter.conditions ?? []).map(conditionClause),
  ]
  /** An EDC criterion, compared as `matchesCondition` does in memory. */
  const conditionClause = (condition: PropertyCondition): SQL => {
    const { column, folded } = conditionColumn(condition.property)
    if ('like' in condition) {
      const pattern = condition.like.toLowerCase()
      // PostgreSQL's LIKE escapes with a backslash by default; SQLite's has no escape character.
      const like = (target: SQL, p: string) => (store.dialect === 'postgres' ? sql`${target} like ${p} escape ''` : sql`${target} like ${p}`)
      return column === 'id' ? like(sql`lower(${t.id})`, pattern) : like(sql`lower(${t[column]})`, `%\n${pattern}\n%`)
    }
    const values = folded ? condition.anyOf.map((v) => v.toLowerCase()) : condition.anyOf
    if (column === 'id') return inArray(t.id, values)
    return or(...values.map((v) => contains(t[column], `\n${v}\n`)))!
  }

  /** A stored gate: JSON writes the offers without a visibility policy as null. */
  const parseGate = (value: unknown): Gate | undefined => {
    const gate = (typeof value === 'string' ? JSON.parse(value) : value) as { dataset?: string | null; offers: Array<string | null> } | null
    if (!gate) return undefined
    return { ...(typeof gate.dataset === 'string' ? { dataset: gate.dataset } : {}), offers: gate.offers.map((o) => (typeof o === 'string' ? o : undefined)) }
  }
  /** Descriptions parsed lately, by dataset id (oldest first; entries hand them out read-only). */
  const parsed = new Map<string, { seq: number; updatedAt: number; raw: string | undefined; dataset: DatasetDescription }>()
  const parsedLimit = 512
  const toEntry = (r: {
    id: string
    description: unknown
    source: string
    file: string | null
    gate: unknown
    seq: number
    published: boolean
    createdAt: number
    updatedAt: number
  }): CatalogEntry | undefined => {
    let dataset: DatasetDescription
    // Every write gives the row a new catalog version (`seq`): a row read again unchanged (a
    // negotiation reads its dataset on request and on decision) reuses the description parsed
    // before, for the same stored text.
    const raw = typeof r.description === 'string' ? r.description : undefined
    const cached = parsed.get(r.id)
    if (cached && cached.seq === Number(r.seq) && cached.updatedAt === Number(r.updatedAt) && cached.raw === raw) dataset = cached.dataset
    else {
      try {
        // Stored rows were validated when written; parse again so defaults and types hold.
        dataset = DatasetDescription.parse(raw !== undefined ? JSON.parse(raw) : r.description)
      } catch (error) {
        options.onInvalid?.(r.id, error instanceof Error ? error.message.slice(0, 300) : String(error))
        return undefined
      }
      parsed.delete(r.id)
      if (parsed.size >= parsedLimit) parsed.delete(parsed.keys().next().value!)
      parsed.set(r.id, { seq: Number(r.seq), updatedAt: Number(r.updatedAt), raw, dataset })
    }
    const gate = parseGate(r.gate)
    const source: DatasetSource = r.source === 'file' && r.file !== null ? { kind: 'file', file: r.file } : { kind: 'api' }
    return {
      id: r.id,
      dataset,
      source,
      ...(gate ? { gate } : {}),
      seq: Number(r.seq),
      published: Boolean(r.published),
      createdAt: Number(r.createdAt),
      updatedAt: Number(r.updatedAt),
    }
  }
  const columns = {
    id: t.id,
    description: t.description,
    source: t.source,
    file: t.file,
    gate: t.gate,
    seq: t.seq,
    published: t.published,
    createdAt: t.createdAt,
    updatedAt: t.updatedAt,
  }
  // A negotiation reads its dataset by id on request and on decision: prepared once (see store/prepared.ts).
  const getStatement = lazy(() =>
    store.db
      .select(columns)
      .from(t)
      .where(eq(t.id, sql.placeholder('id')))
      .limit(1)
      .prepare(),
  )
  const entries = (rows: Array<Parameters<typeof toEntry>[0]>) => rows.map(toEntry).filter((e): e is CatalogEntry => e !== undefined)

  /** Bumps the version in the transaction of a change and returns the new one. */
  const bump = async (tx: Db) => {
    const [row] = await tx
      .update(s)
      .set({ version: sql`${s.version} + 1` })
      .where(eq(s.id, stateId))
      .returning({ version: s.version })
    if (!row) throw new Error('the catalog state row is missing')
    return Number(row.version)
  }
  /** Adds `delta` published datasets to a visibility group, in the transaction of the change. */
  const count = async (tx: Db, visibility: string, gate: Gate | undefined | unknown, delta: number) => {
    if (delta === 0) return
    await tx
      .insert(g)
      .values({ visibility, gate: gate ?? null, count: delta })
      .onConflictDoUpdate({ target: g.visibility, set: { count: sql`${g.count} + ${delta}` } })
  }
  /**
   * Records that published datasets left their visibility group at version `seq` (the change feed's
   * deletions), and now and then forgets those older than a change token lives.
   */
  const depart = async (tx: Db, seq: number, rows: Array<{ id: string; visibility: string; gate: unknown }>) => {
    if (rows.length === 0) return
    const now = Date.now()
    await tx.insert(dep).values(rows.map((r) => ({ seq, id: r.id, visibility: r.visibility, gate: r.gate ?? null, leftAt: now })))
    if (seq % 1000 === 0) await tx.delete(dep).where(sql`${dep.leftAt} < ${now - changeTokenRetentionMs - 86_400_000}`)
  }
  const derived = (fields: EntryFields) => ({
    visibility: fields.visibility,
    gate: fields.gate ?? null,
    search: fields.search,
    keywords: fields.keywords,
    themes: fields.themes,
    titles: fields.titles,
    publishers: fields.publishers,
    modified: Number.isFinite(fields.modified) ? fields.modified : 0,
  })
  /** Replaces a dataset's policy and file references, and the policies' counts, in the transaction that writes or removes it. */
  const writeRefs = async (tx: Db, id: string, fields: EntryFields | undefined) => {
    const before = await tx.delete(pr).where(eq(pr.datasetId, id)).returning({ policyId: pr.policyId })
    await tx.delete(fr).where(eq(fr.datasetId, id))
    const after = fields?.policyRefs ?? []
    const delta = new Map<string, number>()
    for (const r of before) delta.set(r.policyId, (delta.get(r.policyId) ?? 0) - 1)
    for (const policyId of after) delta.set(policyId, (delta.get(policyId) ?? 0) + 1)
    for (const [policyId, n] of delta) {
      if (n === 0) continue
      await tx
        .insert(pc)
        .values({ policyId, count: n })
        .onConflictDoUpdate({ target: pc.policyId, set: { count: sql`${pc.count} + ${n}` } })
    }
    if (after.length > 0) await tx.insert(pr).values(after.map((policyId) => ({ datasetId: id, policyId })))
    if (fields && fields.fileRefs.length > 0) await tx.insert(fr).values(fields.fileRefs.map((path) => ({ datasetId: id, path })))
  }

  return {
    /** Creates the state row; true when it did not exist (rows written before it need their columns derived). */
    async ensureState() {
      const inserted = await store.db.insert(s).values({ id: stateId, version: 1, policies: '' }).onConflictDoNothing().returning({ id: s.id })
      return inserted.length === 1
    },
    /** True when some row lacks the query columns added after it was written (every dataset has a title). */
    async underived() {
      const rows = await store.db.select({ id: t.id }).from(t).where(eq(t.titles, '')).limit(1)
      return rows.length > 0
    },
    async version() {
      const [row] = await store.db.select({ version: s.version }).from(s).where(eq(s.id, stateId)).limit(1)
      return Number(row?.version ?? 0)
    },
    async groups() {
      const rows = await store.db.select().from(g).where(gt(g.count, 0))
      const groups = new Map<string, Group>()
      for (const r of rows) {
        groups.set(r.visibility, { gate: parseGate(r.gate), count: Number(r.count) })
      }
      return groups
    },
    async get(id) {
      const rows = await getStatement().execute({ id })
      return entries(rows)[0]
    },
    async page(query) {
      const base = store.db.select(columns).from(t).where(where(query, query.after)).orderBy(asc(t.id)).limit(query.limit)
      return entries(query.after === undefined && query.offset > 0 ? await base.offset(query.offset) : await base)
    },
    async count(query) {
      const [row] = await store.db.select({ n: sql<number>`count(*)` }).from(t).where(where(query))
      return Number(row?.n ?? 0)
    },
    async put(entry, put = {}) {
      const id = entry.dataset.id
      return store.transaction(async (tx) => {
        const [existing] = await store.forUpdate(
          tx.select({ id: t.id, visibility: t.visibility, published: t.published, gate: t.gate }).from(t).where(eq(t.id, id)).limit(1),
        )
        if ((existing && put.onlyIfAbsent) || (!existing && put.onlyIfExists)) return false
        const seq = await bump(tx)
        if (existing?.published && (!entry.published || existing.visibility !== entry.fields.visibility)) await depart(tx, seq, [{ ...existing, id }])
        if (existing?.published) await count(tx, existing.visibility, existing.gate, -1)
        if (entry.published) await count(tx, entry.fields.visibility, entry.fields.gate, 1)
        const values = {
          description: entry.dataset,
          source: entry.source.kind,
          file: entry.source.kind === 'file' ? entry.source.file : null,
          published: entry.published,
          updatedAt: entry.now,
          seq,
          ...derived(entry.fields),
        }
        if (existing) await tx.update(t).set(values).where(eq(t.id, id))
        else await tx.insert(t).values({ id, createdAt: entry.now, ...values })
        await writeRefs(tx, id, entry.fields)
        return true
      })
    },
    async remove(id) {
      return store.transaction(async (tx) => {
        const [deleted] = await tx.delete(t).where(eq(t.id, id)).returning({ visibility: t.visibility, published: t.published, gate: t.gate })
        if (!deleted) return false
        await writeRefs(tx, id, undefined)
        const seq = await bump(tx)
        if (deleted.published) await depart(tx, seq, [{ ...deleted, id }])
        if (deleted.published) await count(tx, deleted.visibility, deleted.gate, -1)
        return true
      })
    },
    async files() {
      const rows = await store.db.select({ id: t.id, file: t.file }).from(t).where(eq(t.source, 'file'))
      return new Map(rows.filter((r) => r.file !== null).map((r) => [r.file!, r.id]))
    },
    async *scan() {
      let after = ''
      for (;;) {
        const rows = await store.db.select(columns).from(t).where(gt(t.id, after)).orderBy(asc(t.id)).limit(2000)
        if (rows.length === 0) return
        yield entries(rows)
        after = rows.at(-1)!.id
      }
    },
    async setPublished(ids, published) {
      for (let i = 0; i < ids.length; i += 500) {
        const chunk = ids.slice(i, i + 500)
        await store.transaction(async (tx) => {
          const seq = await bump(tx)
          const changed = await tx
            .update(t)
            .set({ published, seq })
            .where(and(inArray(t.id, chunk), eq(t.published, !published)))
            .returning({ id: t.id, visibility: t.visibility, gate: t.gate })
          if (!published) await depart(tx, seq, changed)
          const byGroup = new Map<string, { gate: unknown; n: number }>()
          for (const r of changed) byGroup.set(r.visibility, { gate: r.gate, n: (byGroup.get(r.visibility)?.n ?? 0) + 1 })
          for (const [visibility, { gate, n }] of byGroup) await count(tx, visibility, gate, published ? n : -n)
        })
      }
    },
    async policiesFingerprint() {
      const [row] = await store.db.select({ policies: s.policies }).from(s).where(eq(s.id, stateId)).limit(1)
      return row?.policies
    },
    async setPoliciesFingerprint(fingerprint) {
      await store.db.update(s).set({ policies: fingerprint }).where(eq(s.id, stateId))
    },
    async size() {
      const [row] = await store.db.select({ n: sql<number>`count(*)` }).from(t)
      return Number(row?.n ?? 0)
    },
    async policyUsage(policyIds, limit) {
      // Per policy: its count (one row), and the first ids from its range of the index.
      const wanted = [...new Set(policyIds)]
      const counts = wanted.length === 0 ? [] : await store.db.select().from(pc).where(inArray(pc.policyId, wanted))
      const totals = new Map(counts.map((r) => [r.policyId, Number(r.count)]))
      const usage = new Map<string, PolicyUsage>()
      for (const policyId of wanted) {
        const total = totals.get(policyId) ?? 0
        const ids =
          total <= 0
            ? []
            : (await store.db.select({ id: pr.datasetId }).from(pr).where(eq(pr.policyId, policyId)).orderBy(asc(pr.datasetId)).limit(limit)).map((r) => r.id)
        usage.set(policyId, { ids, total: Math.max(total, 0) })
      }
      return usage
    },
    async fileUsage(paths, limit) {
      if (paths.length === 0) return { ids: [], total: 0 }
      const naming = () =>
        store.db
          .selectDistinct({ id: fr.datasetId })
          .from(fr)
          .where(inArray(fr.path, [...paths]))
      const [counted] = await store.db.select({ n: sql<number>`count(*)` }).from(naming().as('naming'))
      const ids = await naming().orderBy(asc(fr.datasetId)).limit(limit)
      return { ids: ids.map((r) => r.id), total: Number(counted?.n ?? 0) }
    },
    async leftSince(seq, hiddenGroups, limit) {
      const shownNow = and(eq(t.id, dep.id), eq(t.published, true), ...(hiddenGroups.length > 0 ? [notInArray(t.visibility, [...hiddenGroups])] : []))
      const rows = await store.db
        .select({ id: dep.id, gate: dep.gate })
        .from(dep)
        .where(and(gt(dep.seq, seq), notExists(store.db.select({ one: sql`1` }).from(t).where(shownNow))))
        .orderBy(asc(dep.seq))
        .limit(limit)
      return rows.map((r) => ({ id: r.id, gate: parseGate(r.gate) }))
    },
  }
}
