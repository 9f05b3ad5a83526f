import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { expectDspValid } from '../support/dsp-schemas.ts'
import { management, until } from '../support/processes.ts'

/**
 * What the catalog hides from a requester, negotiation neither offers nor accepts. A provider process
 * (real DCP identity) hides one offer of a dataset from non-members (`offerVisibility`) and a whole
 * dataset (`visibility`); a consumer process without a membership credential, and a client signing
 * as that consumer, try to get them anyway.
 */
import {
  context,
  arctic,
  estuary,
  wildfire,
  provider,
  consumer,
  offers,
  token,
  request,
  providerNegotiations,
  useHiddenOfferParticipants,
} from '../support/hidden-offers.ts'

useHiddenOfferParticipants()

async function negotiate(datasetId: string, policyId: string) {
  const started = await management(consumer, 'POST', '/negotiations', {
    peerUrl: `${provider.url}/dsp/2025-1`,
    peerId: provider.did,
    datasetId,
    offer: offers.get(policyId),
  })
  expect(started.status).toBe(201)
  return until(async () => {
    const { body } = await management(consumer, 'GET', `/negotiations/${started.body.id}`)
    return body.state === 'FINALIZED' || body.state === 'TERMINATED' ? body : undefined
  })
}

describe('offers and datasets the catalog hides from a requester', () => {
  it('the catalog shows this consumer the estuary dataset with one offer, and no wildfire dataset', async () => {
    const response = await fetch(`${provider.url}/dsp/2025-1/catalog/request`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: await token() },
      body: JSON.stringify({ '@context': context, '@type': 'CatalogRequestMessage' }),
    })
    const catalog = (await response.json()) as { dataset: Array<{ '@id': string; hasPolicy: Array<{ '@id': string }> }> }
    expect(catalog.dataset.map((d) => d['@id'])).not.toContain(wildfire)
    expect(catalog.dataset.find((d) => d['@id'] === estuary)!.hasPolicy.map((p) => p['@id'])).toEqual([offers.get('eu-or-canada-processing')!['@id']])
  })

  it('refused: a refused offer is not counter-offered with the hidden one the consumer would meet; the reason does not mention it', async () => {
    const done = await negotiate(estuary, 'eu-or-canada-processing')
    expect(done.state).toBe('TERMINATED')
    const hidden = offers.get('open-with-attribution')!['@id']
    expect(done.reason).toMatch(/policy `eu-or-canada-processing` \(“[^”]+”\) not met/)
    expect(done.reason).not.toContain(hidden)
    expect(done.reason).not.toContain('open-with-attribution')
    const other = (await providerNegotiations()).find((n) => n.consumerPid === done.id)!
    const { body: seen } = await management(provider, 'GET', `/negotiations/${other.id}`)
    expect(seen.timeline.length).toBeGreaterThan(1)
    expect(JSON.stringify(seen)).not.toContain(hidden)
  })

  it('refused: a request naming the hidden offer gets the very answer an unknown offer gets, and nothing is stored', async () => {
    const before = (await providerNegotiations()).length
    const hidden = offers.get('open-with-attribution')!
    const unknownId = `urn:uuid:${randomUUID()}`
    const asHidden = await request({ ...hidden, target: estuary })
    const asUnknown = await request({ ...hidden, '@id': unknownId, target: estuary })
    expect(asHidden.status).toBe(400)
    expectDspValid('negotiation/contract-negotiation-error-schema.json', asHidden.body)
    expect(asUnknown.status).toBe(asHidden.status)
    const shape = (body: Record<string, any>, id: string) => ({ ...body, consumerPid: '', reason: body.reason.map((r: string) => r.replace(id, 'X')) })
    expect(shape(asHidden.body, hidden['@id'])).toEqual(shape(asUnknown.body, unknownId))
    expect(asHidden.body.reason.join(' ')).not.toMatch(/members-only|open-with-attribution/)
    expect((await providerNegotiations()).length).toBe(before)
  })

  it('refused: a request for an offer of the hidden dataset gets the answer of an unknown dataset, and nothing is stored', async () => {
    const before = (await providerNegotiations()).length
    const membersOnly = offers.get('members-only')!
    const asHidden = await request({ ...membersOnly, target: wildfire })
    const asUnknown = await request({ ...membersOnly, target: `urn:uuid:${randomUUID()}` })
    expect(asHidden.status).toBe(400)
    expect(asUnknown.status).toBe(400)
    // The list of the offers open to the requester is as empty for a hidden dataset as for an unknown one.
    expect(asHidden.body.reason.join(' ')).toBe(
      `offer ${membersOnly['@id']} is not one of the offers published for dataset ${wildfire}; it has no offer open to you`,
    )
    expect(asUnknown.body.reason.join(' ')).toMatch(/^offer .* is not one of the offers published for dataset urn:uuid:[^;]*; it has no offer open to you$/)
    expect((await providerNegotiations()).length).toBe(before)
  })

  it('happy: the same offer where the catalog shows it (the arctic dataset) is agreed', async () => {
    const done = await negotiate(arctic, 'open-with-attribution')
    expect(done.state, done.reason).toBe('FINALIZED')
  })
})
