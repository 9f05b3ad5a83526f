import { describe, expect, it } from 'vitest'
import { PasserelleError } from '../../errors.ts'
import { admission, perKeyLimit } from './limits.ts'

describe('data-plane limits', () => {
  it('per key: refuses the slot beyond the limit with too_many_requests, gives slots back once, keys apart', () => {
    const limit = perKeyLimit(2)
    const a1 = limit.acquire('a')
    limit.acquire('a')
    expect(() => limit.acquire('a')).toThrow(PasserelleError)
    try {
      limit.acquire('a')
    } catch (error) {
      expect(error).toMatchObject({ code: 'too_many_requests', details: { retryAfterSeconds: 1 } })
    }
    expect(limit.acquire('b')).toBeTypeOf('function')
    a1()
    a1()
    expect(limit.inFlight('a')).toBe(1)
    expect(limit.acquire('a')).toBeTypeOf('function')
  })

  it('admission: runs at most `limit` at once, queues the next in turn, refuses beyond the queue, and frees a slot on failure', async () => {
    const gate = admission(2, 1)
    let running = 0
    let most = 0
    const releases: Array<() => void> = []
    const work = () =>
      gate.run(async () => {
        running++
        most = Math.max(most, running)
        await new Promise<void>((resolve) => releases.push(resolve))
        running--
      })
    const first = [work(), work(), work()]
    await new Promise((r) => setTimeout(r, 5))
    expect(running).toBe(2)
    await expect(work()).rejects.toMatchObject({ code: 'too_many_requests' })
    while (releases.length) {
      releases.shift()!()
      await new Promise((r) => setTimeout(r, 5))
    }
    await Promise.all(first)
    expect(most).toBe(2)
    await expect(gate.run(async () => Promise.reject(new Error('failed')))).rejects.toThrow('failed')
    // The failure gave its slot back: two more run at once.
    const both = await Promise.all([gate.run(async () => 1), gate.run(async () => 2)])
    expect(both).toEqual([1, 2])
  })
})
