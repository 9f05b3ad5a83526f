import { afterEach, describe, expect, it } from 'vitest'
import { runCli } from '../cli/main.ts'
import type { CliIo } from '../cli/io.ts'
import type { PolicyCheck } from './decision.ts'
import { staticOffers } from './policy-check.ts'
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

async function pair(check: PolicyCheck) {
  const provider = await startTestConnector({
    dialect: 'sqlite',
    participantId: providerId,
    tokens,
    serve: true,
    offers: () => staticOffers({ 'dataset-1': [{ offer: openOffer('offer-1') }] }),
    check,
  })
  const consumer = await startTestConnector({ dialect: 'sqlite', participantId: consumerId, tokens, serve: true })
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
    const { io: cli, out } = io()
    const code = await runCli(['negotiate', provider.dspUrl, 'dataset-1', '--offer', 'offer-1', '--wait', '--url', consumer.url, '--key', managementKey], cli)
    expect(code).toBe(0)
    expect(out.join('\n')).toMatch(/REQUESTED +request \(sent\)/)
    expect(out.join('\n')).toMatch(/AGREED +agreement \(from did:web:provider.test\)/)
    expect(out.at(-1)).toMatch(/^FINALIZED: agreement urn:uuid:/)
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
