import { afterEach, describe, expect, it } from 'vitest'
import { runCli } from '../cli/main.ts'
import { fromRoot } from '../paths.ts'
import type { CliIo } from '../cli/io.ts'
import type { PolicyCheck } from './decision.ts'
import { staticOffers } from './policy-check.ts'
import { managementKey, openOffer, startTestConnector, type TestConnector } from '../../test/support/negotiation.ts'

const providerId = 'did:web:provider.test'
const consumerId = 'did:web:consumer.test'
const tokens = { 'token-provider': providerId, 'token-consumer': consumerId }
/** The consumer runs the transfer area too: its agreements' obligations are read from there. */
const transfers = { file: fromRoot('package.json') }

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

async function pair(check: PolicyCheck) {
  const provider = await startTestConnector({
    dialect: 'sqlite',
    participantId: providerId,
    tokens,
    serve: true,
    offers: () => staticOffers({ 'dataset-1': [{ offer: openOffer('offer-1') }] }),
    check,
  })
  const consumer = await startTestConnector({ dialect: 'sqlite', participantId: consumerId, tokens, serve: true, transfers })
  running.push(provider, consumer)
  // The CLI reads the offer from the peer's catalog; this pair has no catalog, so the test serves one.
  provider.app.get('/dsp/2025-1/catalog/datasets/:id', (c) =>
    c.req.param('id') === 'dataset-1' ? c.json({ '@id': 'dataset-1', hasPolicy: [openOffer('offer-1')] }) : c.json({}, 404),
  )
  return { provider, consumer }
}

describe('passerelle negotiate', () => {
  it('happy: --wait prints the state changes and exits 0 on FINALIZED', async () => {
    const { provider, consumer } = await pair(() => ({ allowed: true, reason: 'open' }))
    const { io: cli, out, err } = io()
    const code = await runCli(['negotiate', provider.dspUrl, 'dataset-1', '--offer', 'offer-1', '--wait', '--url', consumer.url, '--key', managementKey], cli)
    expect(code).toBe(0)
    expect(err).toEqual([])
    expect(out.join('\n')).toMatch(/REQUESTED +request \(sent\)/)
    expect(out.join('\n')).toMatch(/AGREED +agreement \(from did:web:provider.test\)/)
    expect(out.at(-2)).toMatch(/^FINALIZED: agreement urn:uuid:/)
    expect(out.at(-1)).toBe('obligations: none (policy `offer-1` binds you to no duty)')
  })

  it("happy: --wait ends with the agreement's duties in plain language, how to fulfil each and who checks it; --json carries them", async () => {
    // Credit the provider; delete the data within 30 days of the agreement.
    const offer = {
      ...openOffer('offer-duties'),
      'https://w3id.org/passerelle/ns#policyId': 'open-with-attribution',
      'https://w3id.org/passerelle/ns#policyTitle': 'Open data, with attribution',
      permission: [
        {
          action: 'use',
          duty: [
            { action: 'odrl:attribute' },
            {
              action: 'odrl:delete',
              constraint: [{ leftOperand: 'odrl:elapsedTime', operator: 'lteq', rightOperand: { '@value': 'P30D', '@type': 'xsd:duration' } }],
            },
          ],
        },
      ],
    }
    const provider = await startTestConnector({
      dialect: 'sqlite',
      participantId: providerId,
      tokens,
      serve: true,
      offers: () => staticOffers({ 'dataset-1': [{ offer, name: 'open-with-attribution' }] }),
      check: () => ({ allowed: true, reason: 'open' }),
    })
    const consumer = await startTestConnector({ dialect: 'sqlite', participantId: consumerId, tokens, serve: true, transfers })
    running.push(provider, consumer)
    provider.app.get('/dsp/2025-1/catalog/datasets/:id', (c) => c.json({ '@id': 'dataset-1', hasPolicy: [offer] }))
    const connection = ['--url', consumer.url, '--key', managementKey]

    const { io: cli, out } = io()
    expect(await runCli(['negotiate', provider.dspUrl, 'dataset-1', '--offer', 'open-with-attribution', '--wait', ...connection], cli)).toBe(0)
    const agreementId = /^FINALIZED: agreement (\S+)$/.exec(out.at(-2)!)![1]!
    const printed = out.at(-1)!
    expect(printed).toMatch(/^obligations under policy `open-with-attribution` \(“Open data, with attribution”\): you must\n/)
    expect(printed).toMatch(
      / {2}- credit the provider \(attribution\) \[permission-1-duty-1, (pending|acknowledged)\]\n {4}how: name the provider and the dataset wherever you publish/,
    )
    expect(printed).toContain(
      `checked by the provider's people; record what you did: POST /management/v1/agreements/${agreementId}/obligations/permission-1-duty-1 {"status":"fulfilled"}`,
    )
    expect(printed).toMatch(
      / {2}- delete the data \(condition: .*P30D.*\) \[permission-1-duty-2, (pending|acknowledged)\]\n {4}how: delete every copy you hold within the time the condition gives\n {4}checked by the provider's connector/,
    )

    const json = io()
    expect(await runCli(['negotiate', provider.dspUrl, 'dataset-1', '--offer', 'open-with-attribution', '--wait', '--json', ...connection], json.io)).toBe(0)
    // Standard output is the JSON document alone; the progress went to standard error.
    const answer = JSON.parse(json.out.join(''))
    expect(answer.negotiation).toMatchObject({ state: 'FINALIZED' })
    expect(json.err.join('\n')).toMatch(/FINALIZED: agreement/)
    expect(answer.obligations).toMatchObject({
      agreementId: answer.negotiation.agreementId,
      policy: 'open-with-attribution',
      policyTitle: 'Open data, with attribution',
      items: [
        { id: 'permission-1-duty-1', action: 'attribute', checkedBy: 'operator', howTo: expect.stringMatching(/^name the provider/) },
        { id: 'permission-1-duty-2', action: 'delete', checkedBy: 'monitor', howTo: expect.stringMatching(/^delete every copy/) },
      ],
    })
  })

  it('error: a refusal exits 1 with the reason', async () => {
    const { provider, consumer } = await pair(() => ({ allowed: false, reason: 'only for members of the climate data space' }))
    const { io: cli, err } = io()
    const code = await runCli(['negotiate', provider.dspUrl, 'dataset-1', '--wait', '--url', consumer.url, '--key', managementKey], cli)
    expect(code).toBe(1)
    expect(err.at(-1)).toBe(`TERMINATED: terminated by ${providerId}: policy \`offer-1\` not met: only for members of the climate data space`)
  })

  it('error: a refusal for a purpose the request did not declare says which flag declares it', async () => {
    const { provider, consumer } = await pair(() => ({
      allowed: false,
      reason: 'Refused: the request does not say what the purpose is; required by permission 1 (use)',
    }))
    const { io: cli, err } = io()
    expect(await runCli(['negotiate', provider.dspUrl, 'dataset-1', '--wait', '--url', consumer.url, '--key', managementKey], cli)).toBe(1)
    expect(err.at(-2)).toMatch(/^TERMINATED: .*does not say what the purpose is/)
    expect(err.at(-1)).toBe('hint: declare your purpose: pass --purpose (e.g. --purpose climate-research)')
  })

  it('error: an unknown dataset in the peer catalog, and missing arguments, are one-line errors', async () => {
    const { provider, consumer } = await pair(() => ({ allowed: true, reason: 'open' }))
    const unknown = io()
    expect(await runCli(['negotiate', provider.dspUrl, 'nope', '--url', consumer.url, '--key', managementKey], unknown.io)).toBe(1)
    expect(unknown.err.at(-1)).toMatch(/the connector answered 404: the peer's catalog has no dataset nope/)
    const missing = io()
    expect(await runCli(['negotiate', provider.dspUrl], missing.io)).toBe(2)
    expect(missing.err.at(-1)).toMatch(/expected <peer-dsp-url> <dataset-id>/)
  })
})
