import { readdirSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { dsp2024SchemaErrors, dsp2024SchemaOf } from '../../test/support/dsp-schemas.ts'
import { PasserelleError } from '../errors.ts'
import { fromRoot } from '../paths.ts'
import { dsp2024ContextUrl, from2024, to2024 } from './dsp-2024-1.ts'
import { dspEndpoints } from './endpoints.ts'
import { canonicalMessage } from './json-ld.ts'

/** The codec against the official 2024-1 examples and schemas, and our 2025-1 examples. */
const example2024 = (area: string, name: string) => JSON.parse(readFileSync(fromRoot(`spec/dsp-2024-1/${area}/message/example/${name}`), 'utf8'))
const example2025 = (path: string) => JSON.parse(readFileSync(fromRoot(`spec/dsp-2025-1/${path}`), 'utf8'))

const inbound: Array<[string, string, keyof typeof dspEndpoints]> = [
  ['catalog', 'catalog-request-message.json', 'catalogRequest'],
  ['negotiation', 'contract-request-message_initial.json', 'contractRequest'],
  ['negotiation', 'contract-request-message.json', 'counterRequest'],
  ['negotiation', 'contract-offer-message_initial.json', 'contractOffer'],
  ['negotiation', 'contract-offer-message.json', 'counterOffer'],
  ['negotiation', 'contract-agreement-message.json', 'agreement'],
  ['negotiation', 'contract-agreement-verification-message.json', 'verification'],
  ['negotiation', 'contract-negotiation-event-message.json', 'negotiationEvent'],
  ['negotiation', 'contract-negotiation-termination-message.json', 'negotiationTermination'],
  ['transfer', 'transfer-request-message.json', 'transferRequest'],
  ['transfer', 'transfer-start-message.json', 'transferStart'],
  ['transfer', 'transfer-completion-message.json', 'transferCompletion'],
  ['transfer', 'transfer-suspension-message.json', 'transferSuspension'],
  ['transfer', 'transfer-termination-message.json', 'transferTermination'],
]

describe('2024-1 messages in', () => {
  it.each(inbound)('happy: the official %s example %s reads as our canonical message', async (area, name, endpoint) => {
    const message = example2024(area, name)
    const canonical = await canonicalMessage(from2024(message))
    const parsed = dspEndpoints[endpoint].message!.safeParse(canonical)
    expect(parsed.error?.issues ?? []).toEqual([])
  })

  it('reads states, event types, the data address and the agreement timestamp under their 2025-1 names', () => {
    const event = from2024(example2024('negotiation', 'contract-negotiation-event-message.json')) as any
    expect(event).toMatchObject({
      '@type': 'ContractNegotiationEventMessage',
      eventType: 'ACCEPTED',
      '@context': ['https://w3id.org/dspace/2025/1/context.jsonld'],
    })
    const start = from2024(example2024('transfer', 'transfer-start-message.json')) as any
    expect(start.dataAddress).toEqual({
      '@type': 'DataAddress',
      endpointType: 'https://w3id.org/idsa/v4.1/HTTP',
      endpoint: 'http://example.com',
      endpointProperties: [
        { '@type': 'EndpointProperty', name: 'authorization', value: 'TOKEN-ABCDEFG' },
        { '@type': 'EndpointProperty', name: 'authType', value: 'bearer' },
      ],
    })
    const agreement = from2024(example2024('negotiation', 'contract-agreement-message.json')) as any
    expect(agreement.agreement.timestamp).toBe('2023-01-01T01:00:00Z')
    const process = from2024(example2024('transfer', 'transfer-process.json')) as any
    expect(process.state).toBe('REQUESTED')
  })

  const refused = (raw: unknown, reason: RegExp) => {
    let error: unknown
    try {
      from2024(raw)
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(PasserelleError)
    expect((error as PasserelleError).code).toBe('bad_request')
    expect((error as PasserelleError).message).toMatch(reason)
  }

  it('error: a 2025-1 context, no context or a context it does not have is refused by name', () => {
    const message = example2024('transfer', 'transfer-completion-message.json')
    refused({ ...message, '@context': ['https://w3id.org/dspace/2025/1/context.jsonld'] }, /DSP 2024-1 context/)
    refused({ ...message, '@context': undefined }, /DSP 2024-1 context/)
    refused({ ...message, '@context': [dsp2024ContextUrl, 'https://evil.example/context.json'] }, /never fetches/)
  })

  it('security: a term spelled twice (prefixed and as an IRI) is refused', () => {
    const message = example2024('transfer', 'transfer-completion-message.json')
    refused({ ...message, 'https://w3id.org/dspace/2024/1/providerPid': 'urn:uuid:other' }, /providerPid.*spelled twice/)
  })

  it('security: our prefixes bound to other namespaces, term definitions and nested contexts are refused', () => {
    const message = example2024('transfer', 'transfer-completion-message.json')
    refused({ ...message, '@context': [dsp2024ContextUrl, { dspace: 'https://evil.example/' }] }, /dspace.*must stand for/)
    refused({ ...message, '@context': [dsp2024ContextUrl, { providerPid: { '@id': 'dspace:consumerPid' } }] }, /may not define terms/)
    const offer = example2024('negotiation', 'contract-request-message_initial.json')
    refused({ ...offer, 'dspace:offer': { ...offer['dspace:offer'], '@context': { odrl: 'https://evil.example/' } } }, /inline context/)
  })

  it('happy: inline prefixes beside the 2024-1 context (as EDC writes them) are read', () => {
    const message = example2024('transfer', 'transfer-completion-message.json')
    const context = [
      dsp2024ContextUrl,
      { '@vocab': 'https://w3id.org/edc/v0.0.1/ns/', dspace: 'https://w3id.org/dspace/2024/1/', ds: 'https://w3id.org/dspace/2024/1/' },
    ]
    const { 'dspace:providerPid': providerPid, ...rest } = message
    const out = from2024({ ...rest, '@context': context, 'ds:providerPid': providerPid }) as any
    expect(out.providerPid).toBe(providerPid)
  })
})

/** Our 2025-1 messages (the official 2025-1 examples stand for them) as a 2024-1 peer reads them. */
const outbound = readdirSync(fromRoot('spec/dsp-2025-1/negotiation/example'))
  .map((name) => `negotiation/example/${name}`)
  .concat(readdirSync(fromRoot('spec/dsp-2025-1/transfer/example')).map((name) => `transfer/example/${name}`))
  .filter((path) => !/contract-agreement-message-full/.test(path))

describe('messages out, as 2024-1', () => {
  const rebase = { from: 'https://us.example/dsp/2025-1', to: 'https://us.example/dsp/2024-1' }
  it.each(outbound)('happy: %s translated is valid against the published 2024-1 schema', (path) => {
    const message = example2025(path)
    // 2024-1 requires an offer to name its assigner; ours always do (the provider's own offer, or
    // the one the consumer read from the provider's catalog). Some 2025-1 examples leave it out.
    if (message.offer && !message.offer.assigner) message.offer.assigner = 'did:web:provider.example'
    const out = to2024(message, { rebase }) as Record<string, unknown>
    expect(out['@context']).toBe(dsp2024ContextUrl)
    expect(dsp2024SchemaErrors(dsp2024SchemaOf(out['@type'] as string), out)).toEqual([])
  })

  it('rewrites our own 2025-1 addresses to our 2024-1 base and adds the callback 2024-1 requires', () => {
    const out = to2024(
      { '@context': ['https://w3id.org/dspace/2025/1/context.jsonld'], '@type': 'ContractRequestMessage', providerPid: 'p', consumerPid: 'c', offer: {} },
      { rebase },
    ) as any
    expect(out['dspace:callbackAddress']).toBe(rebase.to)
    const request = to2024({ '@type': 'TransferRequestMessage', callbackAddress: rebase.from }, { rebase }) as any
    expect(request['dspace:callbackAddress']).toBe(rebase.to)
  })

  it('round trip: what we send in 2024-1 reads back as what we meant', async () => {
    for (const path of outbound.filter((p) => /message/.test(p))) {
      const message = example2025(path)
      const back = await canonicalMessage(from2024(to2024(message)))
      expect(back, path).toEqual(await canonicalMessage(message))
    }
  })
})
