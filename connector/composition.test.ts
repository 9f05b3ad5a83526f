import { cpSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { participantFolder } from '../test/support/catalog.ts'
import { generatedDataset } from '../test/support/catalog-fixtures.ts'
import { testConfig } from '../test/support/context.ts'
import { composeConnector, type ComposedConnector } from './composition.ts'
import type { negotiationArea } from './negotiation/area.ts'
import { fromRoot } from './paths.ts'
import { silentLogger } from './telemetry/logger.ts'

describe('the composition root', () => {
  let root: string
  let connector: ComposedConnector

  beforeAll(async () => {
    root = participantFolder()
    cpSync(fromRoot('seeds/policies'), join(root, 'policies'), { recursive: true })
    const config = testConfig({ dataDir: join(root, 'data'), identity: { mode: 'static', staticTokens: {} } }, root)
    connector = await composeConnector(config, { logger: silentLogger })
  })
  afterAll(async () => {
    await connector?.close()
    if (root) rmSync(root, { recursive: true, force: true })
  })

  const negotiation = () => connector.areas.find((area) => area.name === 'negotiation') as ReturnType<typeof negotiationArea>

  it('builds every area once, in the order their routes are mounted', () => {
    expect(connector.areas.map((area) => area.name)).toEqual([
      'participant',
      'identity',
      'catalog',
      'policies',
      'federation',
      'negotiation',
      'transfer',
      'outbox',
      'console',
      'audit',
      'metrics',
    ])
  })

  it('hands negotiation the one catalog service: a dataset created through it is offered at once', async () => {
    const dataset = generatedDataset(3)
    const asked = { datasetId: dataset.id, requester: { participantId: 'did:web:peer.example', credentials: [] }, now: new Date() }
    expect(await negotiation().runtime.rt.offers.offersOf(asked)).toEqual([])
    await connector.catalog.service.create({ input: dataset })
    expect((await negotiation().runtime.rt.offers.offersOf(asked)).map((offer) => offer.name)).toEqual(['open-with-attribution'])
  })

  it('hands negotiation the one outbox', () => {
    expect(negotiation().runtime.rt.dispatcher).toBe(connector.dispatcher)
  })
})
