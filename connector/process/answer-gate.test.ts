import { describe, expect, it } from 'vitest'
import { answerGate } from './answer-gate.ts'

describe('answer gate', () => {
  it('a step of a process whose answer is pending waits for its release, and the release wakes the worker', async () => {
    let woken = 0
    const gate = answerGate(() => woken++)
    gate.hold('p')
    let ran = false
    const waiting = gate.settled('p').then(() => (ran = true))
    await new Promise((r) => setImmediate(r))
    expect(ran).toBe(false)
    gate.release('p')
    await waiting
    expect(ran).toBe(true)
    expect(woken).toBe(1)
  })

  it('a hold nobody releases (the answer event was lost) ends by itself', async () => {
    let released = 0
    const gate = answerGate(() => released++, 20)
    gate.hold('p')
    let woken = false
    await gate.settled('p').then(() => (woken = true))
    expect(woken).toBe(true)
    expect(released).toBe(1)
  })

  it('nothing held: a step runs at once (after a restart nothing is)', async () => {
    await expect(answerGate().settled('unknown')).resolves.toBeUndefined()
  })
})
