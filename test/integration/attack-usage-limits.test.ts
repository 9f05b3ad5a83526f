import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startDcpPair, type DcpPair } from '../support/dcp-participants.ts'
import { management } from '../support/processes.ts'

/**
 * Attack: a consumer with a "three downloads" agreement tries to get more by opening more transfers
 * under it, one after the other and in parallel. Two connector processes with DCP identity (signed
 * tokens, did:web); the consumer downloads through its own management API, which pulls from the
 * provider's data endpoint with the token the provider sent.
 */
const threeDownloads = {
  id: 'three-downloads',
  yaml: [
    'id: three-downloads',
    'title: At most three downloads',
    'permissions:',
    '  - action: use',
    '    constraints:',
    '      - leftOperand: count',
    '        operator: lteq',
    '        rightOperand: 3',
    '',
  ].join('\n'),
}

let pair: DcpPair
beforeAll(async () => {
  pair = await startDcpPair({ policy: threeDownloads })
}, 60_000)
afterAll(async () => {
  await pair?.stop()
})

const download = async (transferId: string) => {
  const response = await fetch(`${pair.consumer.url}/management/v1/transfers/${transferId}/data`, {
    headers: { authorization: `Bearer ${pair.consumer.managementKey}` },
  })
  const body = await response.text()
  return { status: response.status, body }
}
const providerTransfers = async (agreementId: string) =>
  ((await management(pair.provider, 'GET', '/transfers?role=provider&limit=500')).body.items as any[]).filter((t) => t.agreementId === agreementId)

describe('download limits belong to the agreement', () => {
  it('three transfers with three downloads each get exactly three downloads in all; the rest are refused naming the policy', async () => {
    const agreementId = await pair.negotiate()
    const transfers = [await pair.requestPull(agreementId), await pair.requestPull(agreementId), await pair.requestPull(agreementId)]
    expect(transfers.map((t) => t.state)).toEqual(['STARTED', 'STARTED', 'STARTED'])
    const results = []
    for (const t of transfers) for (let i = 0; i < 3; i++) results.push(await download(t.id))
    expect(results.filter((r) => r.status === 200)).toHaveLength(3)
    expect(results.filter((r) => r.status !== 200).map((r) => r.status)).toEqual(Array(6).fill(403))
    const refusal = results.find((r) => r.status === 403)!.body
    expect(refusal).toContain('`three-downloads`')
    expect(refusal).not.toMatch(/policy `urn:uuid/)
    // The provider's counts agree: three downloads over the three transfers.
    const counted = (await providerTransfers(agreementId)).reduce((sum, t) => sum + t.accessCount, 0)
    expect(counted).toBe(3)
    const obligations = await management(pair.provider, 'GET', `/agreements/${agreementId}/obligations`)
    expect(obligations.body).toMatchObject({ agreementId, policy: 'three-downloads', accessCount: 3 })
    // Without the management key, nothing about the agreement is shown or changed.
    for (const [method, path] of [
      ['GET', `/agreements/${agreementId}/obligations`],
      ['POST', `/agreements/${agreementId}/obligations/obligation-1`],
    ] as const) {
      const response = await fetch(`${pair.provider.url}/management/v1${path}`, {
        method,
        headers: { authorization: 'Bearer wrong-key', 'content-type': 'application/json' },
        ...(method === 'POST' ? { body: '{"status":"fulfilled"}' } : {}),
      })
      expect(response.status, path).toBe(401)
    }
    // A fourth transfer is refused at its request, with the reason in the provider's timeline.
    const fourth = await pair.requestPull(agreementId)
    expect(fourth.state).toBe('TERMINATED')
    expect(fourth.reason).toContain('`three-downloads`')
    const ended = (await providerTransfers(agreementId)).find((t) => t.consumerPid === fourth.id)
    const detail = await management(pair.provider, 'GET', `/transfers/${ended.id}`)
    expect(detail.body.timeline.at(-1)).toMatchObject({ toState: 'TERMINATED', actor: 'policy', reason: expect.stringContaining('`three-downloads`') })
    // And the provider's log says why it refused the downloads.
    expect(pair.processes[0]!.output.join('\n')).toMatch(/data access refused.*three-downloads/)
  }, 120_000)

  it('five parallel transfers with parallel downloads get exactly three downloads in all', async () => {
    const agreementId = await pair.negotiate()
    const transfers = await Promise.all(Array.from({ length: 5 }, () => pair.requestPull(agreementId)))
    expect(transfers.map((t) => t.state)).toEqual(Array(5).fill('STARTED'))
    const results = await Promise.all(transfers.flatMap((t) => [download(t.id), download(t.id), download(t.id)]))
    expect(results.filter((r) => r.status === 200)).toHaveLength(3)
    // The others are refused by the policy or told to retry later; none fails.
    expect(results.every((r) => r.status === 200 || r.status === 403 || r.status === 429)).toBe(true)
    expect((await management(pair.provider, 'GET', `/agreements/${agreementId}/obligations`)).body.accessCount).toBe(3)
    const counted = (await providerTransfers(agreementId)).reduce((sum, t) => sum + t.accessCount, 0)
    expect(counted).toBe(3)
  }, 120_000)
})
