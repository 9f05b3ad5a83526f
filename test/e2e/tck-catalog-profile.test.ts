import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fromRoot } from '../../connector/paths.ts'
import { expectDspValid } from '../support/dsp-schemas.ts'
import { copyParticipant, startConnectorProcess, type ConnectorProcess, type ParticipantFolder } from '../support/processes.ts'

/** The TCK's catalog cases against the TCK profile (seeds/tck) as a real process, with the TCK's bare token. */
describe('TCK profile: catalog cases', () => {
  let folder: ParticipantFolder
  let connector: ConnectorProcess
  beforeAll(async () => {
    folder = await copyParticipant({ from: fromRoot('seeds/tck') })
    connector = await startConnectorProcess(folder)
  })
  afterAll(async () => {
    await connector?.stop()
    folder?.remove()
  })
  const headers = { authorization: 'tck-consumer-token', 'content-type': 'application/json' }

  it('CAT0101: the catalog lists the dataset', async () => {
    const response = await fetch(`${folder.url}/dsp/2025-1/catalog/request`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ '@context': ['https://w3id.org/dspace/2025/1/context.jsonld'], '@type': 'CatalogRequestMessage' }),
    })
    expect(response.status).toBe(200)
    const catalog = (await response.json()) as any
    expectDspValid('catalog/catalog-schema.json', catalog)
    expect(catalog.dataset.map((d: any) => d['@id'])).toContain('CAT0101')
  })

  it('CAT0102: the dataset is readable', async () => {
    const response = await fetch(`${folder.url}/dsp/2025-1/catalog/datasets/CAT0102`, { headers })
    expect(response.status).toBe(200)
    expectDspValid('catalog/dataset-schema.json', await response.json())
  })

  it('CAT0103: an unknown dataset answers 404 with a CatalogError', async () => {
    const response = await fetch(`${folder.url}/dsp/2025-1/catalog/datasets/CAT0103`, { headers })
    expect(response.status).toBe(404)
    expectDspValid('catalog/catalog-error-schema.json', await response.json())
  })
})
