import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { management } from '../support/processes.ts'

/**
 * Variants of reaching what the catalog hides from a requester: the hidden offer or dataset named in
 * other spellings, through a transfer with a guessed agreement, or through the catalog's own look-ups. A provider
 * process (real DCP identity) hides one offer from non-members (`offerVisibility`) and a whole dataset (`visibility`);
 * a client signing as a consumer without a membership credential tries. Each attempt is a 4xx, nothing is stored.
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

const providerTransfers = async () => (await management(provider, 'GET', '/transfers?role=provider&limit=500')).body.items as Array<Record<string, any>>
const dsp = async (path: string, body?: unknown) => {
  const response = await fetch(`${provider.url}/dsp/2025-1${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json', authorization: await token() },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  return { status: response.status, text: await response.text() }
}

describe('the hidden offer named in other spellings', () => {
  const hidden = () => offers.get('open-with-attribution')!
  const variants: Array<[string, () => Record<string, unknown>]> = [
    ['its id in upper case', () => ({ ...hidden(), '@id': hidden()['@id'].toUpperCase(), target: estuary })],
    ['its id with a trailing space', () => ({ ...hidden(), '@id': `${hidden()['@id']} `, target: estuary })],
    ['its id as `uid`', () => ({ ...Object.fromEntries(Object.entries(hidden()).filter(([k]) => k !== '@id')), uid: hidden()['@id'], target: estuary })],
    [
      "its id as `odrl:uid` beside the visible offer's `@id`",
      () => ({ ...hidden(), '@id': offers.get('eu-or-canada-processing')!['@id'], 'odrl:uid': hidden()['@id'], target: estuary }),
    ],
    ["the visible offer's id with the hidden offer's terms", () => ({ ...hidden(), '@id': offers.get('eu-or-canada-processing')!['@id'], target: estuary })],
    ['the target in upper case', () => ({ ...hidden(), target: estuary.toUpperCase() })],
    ['the target as an object', () => ({ ...hidden(), target: { '@id': estuary } })],
    ['the target listed twice with another dataset', () => ({ ...hidden(), target: [arctic, estuary] })],
  ]

  it.each(variants)('refused: %s, with a 400 that does not name the hidden policy, and nothing stored', async (_name, offer) => {
    const before = (await providerNegotiations()).length
    const answer = await request(offer())
    expect(answer.status, JSON.stringify(answer.body)).toBe(400)
    expect(JSON.stringify(answer.body.reason)).not.toMatch(/members-only/)
    expect((await providerNegotiations()).length).toBe(before)
  })
})

describe('the hidden dataset', () => {
  it.each([
    ['its id', () => wildfire],
    ['its id in upper case', () => wildfire.toUpperCase()],
    ['its id with a trailing space', () => `${wildfire} `],
    ['its id percent-encoded twice', () => encodeURIComponent(wildfire)],
  ])('GET /catalog/datasets/ with %s answers 404 like an unknown dataset', async (_name, id) => {
    const hidden = await dsp(`/catalog/datasets/${encodeURIComponent(id())}`)
    const unknown = await dsp(`/catalog/datasets/${encodeURIComponent(`urn:uuid:${randomUUID()}`)}`)
    expect(hidden.status).toBe(404)
    expect(unknown.status).toBe(404)
    expect(hidden.text).not.toMatch(/members-only|visib/i)
  })

  it('catalog filters that match only it (its id as text, its keyword) answer an empty page with no total that counts it', async () => {
    for (const filter of [
      [{ text: wildfire }],
      [{ keyword: 'wildfire' }],
      [{ text: 'wildfire' }],
      [{ keyword: 'wildfire' }, { modifiedSince: '1970-01-01' }],
    ]) {
      const answer = await dsp('/catalog/request', { '@context': context, '@type': 'CatalogRequestMessage', filter })
      expect(answer.status, answer.text).toBe(200)
      const body = JSON.parse(answer.text) as { dataset?: unknown[] }
      expect(body.dataset ?? [], JSON.stringify(filter)).toEqual([])
      expect(answer.text).not.toContain(wildfire)
    }
  })

  it('refused: a transfer request with a guessed agreement id gets a 4xx and stores nothing', async () => {
    const before = (await providerTransfers()).length
    for (const agreementId of [`urn:uuid:${randomUUID()}`, wildfire, offers.get('members-only')!['@id']]) {
      const answer = await dsp('/transfers/request', {
        '@context': context,
        '@type': 'TransferRequestMessage',
        consumerPid: `urn:uuid:${randomUUID()}`,
        agreementId,
        format: 'HttpData-PULL',
        callbackAddress: `${consumer.url}/dsp/2025-1`,
      })
      expect(answer.status, answer.text).toBeGreaterThanOrEqual(400)
      expect(answer.status, answer.text).toBeLessThan(500)
      expect(answer.text).not.toMatch(/members-only|wildfire/i)
    }
    expect((await providerTransfers()).length).toBe(before)
  })
})
