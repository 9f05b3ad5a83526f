import { describe, expect, it } from 'vitest'
import { generatedDataset, member, stranger, testCatalog } from '../test/support/catalog-fixtures.ts'
import { ChangeTokenRefused, removedDatasetsKey } from './change-token.ts'
import { emptyFilter } from './filter.ts'
import type { CatalogRequester } from './catalog.ts'

/** The change feed on the catalog's rows in memory (the database rows are tested through HTTP). */
describe('the change feed', () => {
  const now = new Date('2026-06-01T12:00:00Z')
  const read = (catalog: ReturnType<typeof testCatalog>, requester: CatalogRequester, changedSince?: string, at = now) =>
    catalog.page({ requester, now: at, filter: changedSince ? { ...emptyFilter, changedSince } : emptyFilter, offset: 0, limit: 100 })
  const ids = (body: string) => ((JSON.parse(body).dataset ?? []) as Array<{ '@id': string }>).map((d) => d['@id'])
  const removed = (body: string) => JSON.parse(body)[removedDatasetsKey]

  it('lists what changed since the token, and what left the sight of this requester only', async () => {
    const catalog = testCatalog()
    for (let i = 0; i < 5; i++) await catalog.publish(generatedDataset(i), { kind: 'api' })
    await catalog.publish(generatedDataset(9, { visibility: 'members-only' }), { kind: 'api' })
    const strangerToken = (await read(catalog, stranger)).changeToken
    const memberToken = (await read(catalog, member)).changeToken
    const nothing = await read(catalog, stranger, strangerToken)
    expect([ids(nothing.body), removed(nothing.body)]).toEqual([[], []])

    await catalog.unpublish(generatedDataset(1).id)
    await catalog.publish(generatedDataset(2, { title: { en: 'Renamed' } }), { kind: 'api' })
    await catalog.publish(generatedDataset(3, { visibility: 'members-only' }), { kind: 'api' })
    await catalog.unpublish(generatedDataset(9).id)
    const forStranger = await read(catalog, stranger, strangerToken)
    expect(ids(forStranger.body)).toEqual([generatedDataset(2).id])
    // 9 was never visible to the stranger: it is not named.
    expect(removed(forStranger.body)).toEqual([generatedDataset(1).id, generatedDataset(3).id].sort())
    const forMember = await read(catalog, member, memberToken)
    expect(ids(forMember.body)).toEqual([generatedDataset(2).id, generatedDataset(3).id].sort())
    expect(removed(forMember.body)).toEqual([generatedDataset(1).id, generatedDataset(9).id].sort())
    // The next token starts after these changes.
    const after = await read(catalog, stranger, forStranger.changeToken)
    expect([ids(after.body), removed(after.body)]).toEqual([[], []])
  })

  it('refuses a token it did not give, one of another requester sight, and an old one, with reasons', async () => {
    const catalog = testCatalog()
    await catalog.publish(generatedDataset(1, { visibility: 'members-only' }), { kind: 'api' })
    const token = (await read(catalog, member)).changeToken
    await expect(read(catalog, stranger, token)).rejects.toThrow(/what this requester may see changed/)
    await expect(read(catalog, member, 'c1.99.1.xxxxxxxxxxxxxxxxxxxxxx')).rejects.toThrow(ChangeTokenRefused)
    await expect(read(catalog, member, 'not a token')).rejects.toThrow(/not a change token this catalog gave/)
    await expect(read(catalog, member, token, new Date(now.getTime() + 31 * 24 * 3600 * 1000))).rejects.toThrow(/older than 30 days/)
  })
})
