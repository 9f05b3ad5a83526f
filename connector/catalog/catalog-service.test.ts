import { readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { emptyFilter } from '../../catalog/filter.ts'
import { generatedDataset, member } from '../../test/support/catalog-fixtures.ts'
import { testClock, testConfig } from '../../test/support/context.ts'
import { createTestStore } from '../../test/support/stores.ts'
import type { Store } from '../store/store.ts'
import { silentLogger } from '../telemetry/logger.ts'
import { createCatalogService, type CatalogService } from './catalog-service.ts'
import { participantFolder, testPolicySource } from '../../test/support/catalog.ts'

const iceFile = 'datasets/arctic-sea-ice-extent.yaml'
const iceId = 'urn:uuid:0f3cee7e-e077-4be0-9365-3a791567f70e'

describe('catalog service: files and database together', () => {
  let store: Store
  let root: string
  let service: CatalogService
  const open = () => createCatalogService({ config: testConfig({}, root), store, clock: testClock(), logger: silentLogger, policies: testPolicySource() })
  const visible = () => service.catalog.page({ requester: member, now: new Date(), filter: emptyFilter, offset: 0, limit: 1000 })

  beforeEach(async () => {
    store = await createTestStore('sqlite')
    root = participantFolder()
    service = await open()
  })
  afterEach(async () => {
    await store.close()
    rmSync(root, { recursive: true, force: true })
  })

  it('derives the title and publisher columns at start for rows written before they existed', async () => {
    const byTitle = {
      keywords: [],
      themes: [],
      words: [],
      conditions: [{ property: 'title' as const, anyOf: ['Arctic sea-ice extent, monthly series 2015–2024'] }],
    }
    const found = async () =>
      JSON.parse((await service.catalog.page({ requester: member, now: new Date(), filter: byTitle, offset: 0, limit: 10 })).body).dataset?.map(
        (d: { '@id': string }) => d['@id'],
      )
    expect(await found()).toEqual([iceId])
    // As an older version left them: the columns empty.
    await store.db.update(store.tables.catalogDatasets).set({ titles: '', publishers: '' })
    service = await open()
    expect(await found()).toEqual([iceId])
  })

  it('keeps the published catalog byte for byte when a file turns bad, and reports the problem', async () => {
    const before = (await visible()).body
    writeFileSync(join(root, iceFile), readFileSync(join(root, iceFile), 'utf8').replace('license:', 'licence:'))
    const problems = await service.reloadFiles()
    expect(problems).toContainEqual(expect.objectContaining({ file: iceFile, field: 'licence', message: 'unknown key licence' }))
    expect(problems).toContainEqual(expect.objectContaining({ file: iceFile, field: 'license', message: 'missing mandatory field' }))
    expect((await visible()).body).toBe(before)
    expect(service.fileErrors()).toHaveLength(2)
  })

  it('survives a file of garbage bytes', async () => {
    writeFileSync(join(root, 'datasets/garbage.yaml'), Buffer.from([0xff, 0xfe, 0x00, 0x3a, 0x5b, 0x7b]))
    const problems = await service.reloadFiles()
    expect(problems.map((p) => p.file)).toEqual(['datasets/garbage.yaml'])
    expect((await visible()).total).toBe(5)
  })

  it('publishes a fixed file again and drops a deleted one', async () => {
    const text = readFileSync(join(root, iceFile), 'utf8')
    writeFileSync(join(root, iceFile), text.replace('Arctic sea-ice extent, monthly series 2015–2024', 'Arctic sea-ice extent (revised)'))
    expect(await service.reloadFiles()).toEqual([])
    expect(JSON.stringify(JSON.parse((await visible()).body))).toContain('Arctic sea-ice extent (revised)')
    unlinkSync(join(root, iceFile))
    await service.reloadFiles()
    expect(await service.catalog.get(iceId)).toBeUndefined()
    expect((await visible()).total).toBe(4)
  })

  it('builds the same catalog again after a restart, API datasets from the database', async () => {
    await service.create({ input: generatedDataset(7) })
    const before = (await visible()).body
    service = await open()
    expect((await visible()).body).toBe(before)
    expect((await service.get(generatedDataset(7).id)).source).toBe('api')
  })

  it('does not publish a file that takes the id of an API dataset', async () => {
    const api = generatedDataset(8)
    await service.create({ input: api })
    writeFileSync(join(root, 'datasets/clash.yaml'), readFileSync(join(root, iceFile), 'utf8').replace(iceId, api.id))
    const problems = await service.reloadFiles()
    expect(problems).toEqual([expect.objectContaining({ file: 'datasets/clash.yaml', field: 'id' })])
    expect((await service.get(api.id)).source).toBe('api')
  })

  it('re-reads only the file that changed, and leaves the other entries untouched', async () => {
    const others = (await service.catalog.rows.page({ hiddenGroups: [], filter: emptyFilter, offset: 0, limit: 100, all: true })).filter((e) => e.id !== iceId)
    const text = readFileSync(join(root, iceFile), 'utf8')
    writeFileSync(join(root, iceFile), text.replace('version: "2024.2"', 'version: "2024.3"'))
    expect(await service.reloadChanged(['arctic-sea-ice-extent.yaml'])).toEqual([])
    expect((await service.catalog.get(iceId))?.dataset.version).toBe('2024.3')
    for (const entry of others) expect((await service.catalog.get(entry.id))?.seq).toBe(entry.seq)
    writeFileSync(join(root, iceFile), text.replace('license:', 'licence:'))
    expect((await service.reloadChanged(['arctic-sea-ice-extent.yaml'])).length).toBeGreaterThan(0)
    expect((await service.catalog.get(iceId))?.dataset.version).toBe('2024.3')
    unlinkSync(join(root, iceFile))
    expect(await service.reloadChanged(['arctic-sea-ice-extent.yaml'])).toEqual([])
    expect(await service.catalog.get(iceId)).toBeUndefined()
    expect(service.fileErrors()).toEqual([])
  })

  it('does not touch the index when a full re-read finds nothing changed', async () => {
    const version = await service.catalog.rows.version()
    expect(await service.reloadFiles()).toEqual([])
    expect(await service.catalog.rows.version()).toBe(version)
  })

  it('notices a changed file by itself while watching', async () => {
    const stop = service.watch()
    try {
      const text = readFileSync(join(root, iceFile), 'utf8')
      writeFileSync(join(root, iceFile), text.replace('version: "2024.2"', 'version: "2024.9"'))
      const deadline = Date.now() + 10_000
      while ((await service.catalog.get(iceId))?.dataset.version !== '2024.9' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
      expect((await service.catalog.get(iceId))?.dataset.version).toBe('2024.9')
    } finally {
      stop()
    }
  })
})
