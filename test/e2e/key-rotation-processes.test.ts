import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startDcpPair, type DcpPair } from '../support/dcp-participants.ts'
import { management, spawnCli, until, type ParticipantFolder } from '../support/processes.ts'

/**
 * Rotating keys under load, with real processes: a consumer keeps negotiating with a provider and
 * pulling the data, two at a time, while both rotate their keys with `passerelle keys rotate` (a
 * short overlap, so that the test sees the new key sign and the old one retired). No request may
 * fail, and no token may be refused on either side.
 */
describe('rotating keys under load, as processes', () => {
  let pair: DcpPair

  beforeAll(async () => {
    pair = await startDcpPair({
      policy: { id: 'open-use', yaml: 'id: open-use\npermissions:\n  - action: use\n' },
      // Peers read a document again for an unknown key at most every 500 ms (30 s by default), so that
      // an overlap of a few seconds covers it, as five minutes cover the default.
      identity: { didRefreshMs: 500 },
    })
  }, 120_000)
  afterAll(async () => {
    await pair?.stop()
  })

  const keysOf = async (folder: ParticipantFolder) =>
    (await management(folder, 'GET', '/keys')).body.keys as Array<{ kid: string; state: string; signsFrom: string | null; retireAt: string | null }>
  const published = async (folder: ParticipantFolder) =>
    ((await (await fetch(`${folder.url}/.well-known/did.json`)).json()) as { verificationMethod: Array<{ id: string }> }).verificationMethod.map(
      (method) => method.id.split('#')[1],
    )
  const rotate = async (folder: ParticipantFolder) => {
    const { output, exited } = spawnCli({ args: ['keys', 'rotate', '--overlap', '4s', '--config', folder.configFile] })
    expect(await exited).toBe(0)
    return /^added (key-\S+) /.exec(output.join('\n'))![1]!
  }

  it('keeps negotiating and transferring while both connectors rotate their keys; no request fails', async () => {
    const failures: string[] = []
    let rounds = 0
    let running = true
    const round = async () => {
      const agreementId = await pair.negotiate()
      const transfer = await pair.requestPull(agreementId)
      if (transfer.state !== 'STARTED') throw new Error(`transfer ${transfer.id} ended ${transfer.state}: ${transfer.reason}`)
      const data = await fetch(`${pair.consumer.url}/management/v1/transfers/${transfer.id}/data`, {
        headers: { authorization: `Bearer ${pair.consumer.managementKey}` },
      })
      if (data.status !== 200) throw new Error(`data of ${transfer.id} answered ${data.status}: ${await data.text()}`)
      await data.arrayBuffer()
      rounds++
    }
    const worker = async () => {
      while (running) {
        try {
          await round()
        } catch (error) {
          failures.push((error as Error).message)
        }
      }
    }
    const workers = [worker(), worker()]
    try {
      await until(async () => (rounds >= 2 ? true : undefined), 60_000)
      const [providerOld, consumerOld] = [(await keysOf(pair.provider))[0]!.kid, (await keysOf(pair.consumer))[0]!.kid]
      const [providerNew, consumerNew] = [await rotate(pair.provider), await rotate(pair.consumer)]

      // Published at once (within the schedule's reading interval), before either signs with it.
      await until(async () => ((await published(pair.provider)).includes(providerNew) ? true : undefined), 10_000)
      await until(async () => ((await published(pair.consumer)).includes(consumerNew) ? true : undefined), 10_000)
      const atRotation = rounds

      // Then each signs with its new key and retires the old one, while the rounds go on.
      for (const [folder, oldKid, newKid] of [
        [pair.provider, providerOld, providerNew],
        [pair.consumer, consumerOld, consumerNew],
      ] as const) {
        await until(async () => {
          const keys = await keysOf(folder)
          const state = (kid: string) => keys.find((key) => key.kid === kid)?.state
          return state(newKid) === 'signing' && state(oldKid) === 'retired' ? true : undefined
        }, 30_000)
        expect(await published(folder)).toEqual([newKid])
      }
      const atRetirement = rounds
      await until(async () => (rounds >= atRetirement + 4 ? true : undefined), 60_000)
      expect(atRetirement).toBeGreaterThan(atRotation)
    } finally {
      running = false
      await Promise.all(workers)
    }
    expect(failures).toEqual([])
    // Nothing was refused and retried behind the scenes either.
    expect(pair.output()).not.toMatch(/identity: request refused|is not a key listed/)
  }, 180_000)
})
