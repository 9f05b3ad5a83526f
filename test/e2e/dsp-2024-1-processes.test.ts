import { afterEach, describe, expect, it } from 'vitest'
import { startDcpPair, type DcpPair } from '../support/dcp-participants.ts'

/**
 * Two connector processes with DCP identity, one configured to speak only DSP 2024-1
 * (`dsp.versions: ['2024-1']`), the other with the defaults: they negotiate, then the consumer
 * pulls the data, over real HTTP. The consumer is given the provider's 2025-1 address; the
 * provider's version document sends it to the 2024-1 base.
 */
const openPolicy = { id: 'open-2024', yaml: 'id: open-2024\npermissions:\n  - action: use\n' }

let pair: DcpPair | undefined
afterEach(async () => {
  await pair?.stop()
  pair = undefined
})

const download = async (p: DcpPair, transferId: string) => {
  const response = await fetch(`${p.consumer.url}/management/v1/transfers/${transferId}/data`, {
    headers: { authorization: `Bearer ${p.consumer.managementKey}` },
  })
  return { status: response.status, body: await response.text() }
}

describe('a connector speaking only DSP 2024-1 and one speaking both', () => {
  it.each([
    ['provider', { provider: { config: { dsp: { versions: ['2024-1'] } } } }],
    ['consumer', { consumer: { config: { dsp: { versions: ['2024-1'] } } } }],
  ] as const)(
    'happy: with the %s on 2024-1 only, they negotiate and the data is pulled',
    async (side, config) => {
      pair = await startDcpPair({ policy: openPolicy, ...config })
      const only = side === 'provider' ? pair.provider : pair.consumer
      const version = (await (await fetch(`${only.url}/.well-known/dspace-version`)).json()) as any
      expect(version.protocolVersions.map((v: any) => v.version)).toEqual(['2024-1'])
      expect((await fetch(`${only.url}/dsp/2025-1/catalog/request`, { method: 'POST', body: '{}' })).status).toBe(404)

      const agreementId = await pair.negotiate()
      const transfer = await pair.requestPull(agreementId)
      expect(transfer, pair.output()).toMatchObject({ state: 'STARTED' })
      const data = await download(pair, transfer.id)
      expect(data.status).toBe(200)
      expect(data.body.length).toBeGreaterThan(100)
      expect(pair.output()).not.toMatch(/request failed|status":5\d\d/)
    },
    120_000,
  )
})
