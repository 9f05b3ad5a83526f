import { afterEach, describe, expect, it } from 'vitest'
import { runCli } from './main.ts'
import type { CliIo } from './io.ts'
import { staticOffers } from '../negotiation/policy-check.ts'
import { managementKey, openOffer, startTestConnector, type TestConnector } from '../../test/support/negotiation.ts'

const providerId = 'did:web:provider.test'
const consumerId = 'did:web:consumer.test'
const tokens = { 'token-provider': providerId, 'token-consumer': consumerId }

let running: TestConnector[] = []
afterEach(async () => {
  await Promise.all(running.map((c) => c.stop()))
  running = []
})

function io() {
  const out: string[] = []
  const err: string[] = []
  const value: CliIo = { stdout: (t) => void out.push(t), stderr: (t) => void err.push(t), cwd: process.cwd(), env: {} }
  return { io: value, out, err }
}

/** The provider's offer, with its policy's readable id and title, and a duty to credit the provider. */
const offer = {
  ...openOffer('offer-1'),
  'https://w3id.org/passerelle/ns#policyId': 'open-with-attribution',
  'https://w3id.org/passerelle/ns#policyTitle': 'Open data, with attribution',
  permission: [{ action: 'use', duty: [{ action: 'odrl:attribute' }] }],
}

async function agreed() {
  const provider = await startTestConnector({
    dialect: 'sqlite',
    participantId: providerId,
    tokens,
    serve: true,
    offers: () => staticOffers({ 'dataset-1': [{ offer, name: 'open-with-attribution' }] }),
    check: () => ({ allowed: true, reason: 'open' }),
  })
  const consumer = await startTestConnector({ dialect: 'sqlite', participantId: consumerId, tokens, serve: true })
  running.push(provider, consumer)
  provider.app.get('/dsp/2025-1/catalog/datasets/:id', (c) =>
    c.req.param('id') === 'dataset-1' ? c.json({ '@id': 'dataset-1', hasPolicy: [offer] }) : c.json({}, 404),
  )
  const connection = ['--url', consumer.url, '--key', managementKey]
  const negotiated = io()
  const code = await runCli(['negotiate', provider.dspUrl, 'dataset-1', '--offer', 'open-with-attribution', '--wait', ...connection], negotiated.io)
  expect(code, negotiated.err.join('\n')).toBe(0)
  const agreementId = /^FINALIZED: agreement (\S+)$/m.exec(negotiated.out.join('\n'))![1]!
  return { consumer, connection, agreementId }
}

describe('passerelle negotiations | agreements | transfers', () => {
  it("happy: lists the consumer's negotiations and agreements as tables naming the provider's policy, and shows an agreement's duties", async () => {
    const { connection, agreementId } = await agreed()
    const negotiations = io()
    expect(await runCli(['negotiations', 'list', ...connection], negotiations.io)).toBe(0)
    expect(negotiations.out[0]).toMatch(
      /^id +role +state +dataset +policy +peer +updated\n.*consumer +FINALIZED +dataset-1 +`open-with-attribution` \(“Open data, with attribution”\)/,
    )

    const agreements = io()
    expect(await runCli(['agreements', 'list', ...connection], agreements.io)).toBe(0)
    expect(agreements.out[0]).toContain(agreementId)
    expect(agreements.out[0]).toContain('`open-with-attribution` (“Open data, with attribution”)')

    const shown = io()
    expect(await runCli(['agreements', 'show', agreementId, ...connection], shown.io)).toBe(0)
    expect(shown.out.join('\n')).toMatch(/duties +permission 1 \(use\), duty 1: (odrl:)?attribute/)

    const json = io()
    expect(await runCli(['agreements', 'show', agreementId, '--json', ...connection], json.io)).toBe(0)
    expect(JSON.parse(json.out.join(''))['@id']).toBe(agreementId)
  })

  it('error: an unknown id and a wrong sub-command are one-line errors', async () => {
    const { connection } = await agreed()
    const unknown = io()
    expect(await runCli(['negotiations', 'show', 'urn:uuid:nope', ...connection], unknown.io)).toBe(1)
    expect(unknown.err.at(-1)).toMatch(/404/)
    const wrong = io()
    expect(await runCli(['transfers', 'delete', 'x'], wrong.io)).toBe(2)
    expect(wrong.err.at(-1)).toMatch(/expected list or show ID/)
  })
})
