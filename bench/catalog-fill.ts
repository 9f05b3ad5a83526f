import { entryFields } from '../catalog/catalog-index.ts'
import { fakePolicies, generatedDataset, offerBodies } from '../test/support/catalog-fixtures.ts'
import type { CatalogPolicySource } from '../connector/catalog/policy-source.ts'
import type { Store } from '../connector/store/store.ts'
import { defaultRegistry } from '../policies/index.ts'

/** The policies of the catalog benchmarks: the test offers, nothing hidden. */
export const benchPolicies: CatalogPolicySource = {
  ...fakePolicies(),
  ids: new Set(Object.keys(offerBodies)),
  errors: [],
  policy: () => undefined,
  credentialTypes: () => [],
  registry: defaultRegistry(),
}
const policies = benchPolicies

/**
 * Writes `count` datasets straight into the catalog's rows with bulk inserts (with the query columns
 * the catalog derives), and the catalog state as a running connector leaves it.
 */
export async function fillCatalog(store: Store, count: number) {
  const t = store.tables.catalogDatasets
  const now = Date.now()
  await store.db.insert(store.tables.catalogState).values({ id: 'catalog', version: count + 1, policies: [...policies.ids].sort().join('\n') })
  const perPolicy = new Map<string, number>()
  for (let start = 0; start < count; start += 1000) {
    const rows: Array<typeof t.$inferInsert> = []
    const policyRefs: Array<typeof store.tables.catalogPolicyRefs.$inferInsert> = []
    const fileRefs: Array<typeof store.tables.catalogFileRefs.$inferInsert> = []
    for (let n = start; n < Math.min(count, start + 1000); n++) {
      const dataset = generatedDataset(n)
      const fields = entryFields(dataset)
      rows.push({
        id: dataset.id,
        description: dataset,
        createdAt: now,
        updatedAt: now,
        source: 'api',
        published: true,
        visibility: fields.visibility,
        gate: fields.gate ?? null,
        search: fields.search,
        keywords: fields.keywords,
        themes: fields.themes,
        titles: fields.titles,
        publishers: fields.publishers,
        modified: fields.modified,
        seq: n + 1,
      })
      for (const policyId of fields.policyRefs) {
        policyRefs.push({ datasetId: dataset.id, policyId })
        perPolicy.set(policyId, (perPolicy.get(policyId) ?? 0) + 1)
      }
      for (const path of fields.fileRefs) fileRefs.push({ datasetId: dataset.id, path })
    }
    await store.transaction(async (tx) => {
      await tx.insert(t).values(rows)
      if (policyRefs.length > 0) await tx.insert(store.tables.catalogPolicyRefs).values(policyRefs)
      if (fileRefs.length > 0) await tx.insert(store.tables.catalogFileRefs).values(fileRefs)
    })
  }
  await store.db.insert(store.tables.catalogGroups).values({ visibility: '', gate: null, count })
  if (perPolicy.size > 0) await store.db.insert(store.tables.catalogPolicyCounts).values([...perPolicy].map(([policyId, n]) => ({ policyId, count: n })))
}
