import { describe, expect, it } from 'vitest'
import { stateMachine, type Role } from './state-machine.ts'

type S = 'OPEN' | 'DONE' | 'ENDED'
type K = 'open' | 'finish' | 'end'
const machine = stateMachine<S, K>(
  ['open', 'finish', 'end'],
  [
    { kind: 'open', sender: 'consumer', from: [null], to: 'OPEN' },
    { kind: 'finish', sender: 'provider', from: ['OPEN'], to: 'DONE' },
    { kind: 'end', sender: 'either', from: ['OPEN'], to: 'ENDED' },
  ],
  ['DONE', 'ENDED'],
)
const roles: Role[] = ['provider', 'consumer']

describe('process kernel: state machines as data', () => {
  it('walks every (state, sender, kind): exactly the edges are allowed, each refusal says why', () => {
    const outcomes: string[] = []
    for (const state of [null, 'OPEN', 'DONE', 'ENDED'] as const)
      for (const sender of roles)
        for (const kind of ['open', 'finish', 'end'] as const) {
          const result = machine.step(state, sender, kind)
          outcomes.push(`${state} ${sender} ${kind}: ${result.ok ? result.to : result.refusal}`)
        }
    expect(outcomes).toEqual([
      'null provider open: wrong-sender',
      'null provider finish: needs-process',
      'null provider end: needs-process',
      'null consumer open: OPEN',
      'null consumer finish: wrong-sender',
      'null consumer end: needs-process',
      'OPEN provider open: wrong-sender',
      'OPEN provider finish: DONE',
      'OPEN provider end: ENDED',
      'OPEN consumer open: wrong-state',
      'OPEN consumer finish: wrong-sender',
      'OPEN consumer end: ENDED',
      ...['DONE', 'ENDED'].flatMap((state) => [
        `${state} provider open: wrong-sender`,
        `${state} provider finish: terminal`,
        `${state} provider end: terminal`,
        `${state} consumer open: terminal`,
        `${state} consumer finish: wrong-sender`,
        `${state} consumer end: terminal`,
      ]),
    ])
  })

  it('our side and the peer side use the same table: inbound for one role is outbound for the other', () => {
    expect(machine.transition({ role: 'provider', state: 'OPEN', kind: 'finish', direction: 'outbound' })).toEqual({ ok: true, from: 'OPEN', to: 'DONE' })
    expect(machine.transition({ role: 'consumer', state: 'OPEN', kind: 'finish', direction: 'inbound' })).toEqual({ ok: true, from: 'OPEN', to: 'DONE' })
    expect(machine.transition({ role: 'provider', state: 'OPEN', kind: 'finish', direction: 'inbound' })).toMatchObject({ ok: false, refusal: 'wrong-sender' })
  })

  it('derives what each role sends and receives', () => {
    expect(machine.roleTable('provider')).toEqual({ receives: ['open', 'end'], sends: ['finish', 'end'] })
    expect(machine.roleTable('consumer')).toEqual({ receives: ['finish', 'end'], sends: ['open', 'end'] })
  })
})
