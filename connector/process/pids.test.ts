import { describe, expect, it } from 'vitest'
import { pidMismatch } from './pids.ts'

const provider = { id: 'p-1', providerPid: 'p-1', consumerPid: 'c-1' }
const consumer = { id: 'c-1', providerPid: null, consumerPid: 'c-1' }

describe('process kernel: binding a message to its process by pids', () => {
  it('the same pids: bound', () => {
    expect(pidMismatch({ role: 'provider', process: provider, message: { providerPid: 'p-1', consumerPid: 'c-1' } })).toBeUndefined()
  })

  it('our pid must be the process id', () => {
    expect(pidMismatch({ role: 'provider', process: provider, message: { providerPid: 'p-2', consumerPid: 'c-1' } })).toEqual({
      side: 'ours',
      field: 'providerPid',
      named: 'p-2',
      expected: 'p-1',
    })
    expect(pidMismatch({ role: 'consumer', process: consumer, message: { providerPid: 'p-1' } })).toEqual({
      side: 'ours',
      field: 'consumerPid',
      named: undefined,
      expected: 'c-1',
    })
  })

  it("the peer's pid, once bound, must be the bound one; before, any is taken (it binds)", () => {
    expect(pidMismatch({ role: 'provider', process: provider, message: { providerPid: 'p-1', consumerPid: 'c-2' } })).toEqual({
      side: 'theirs',
      field: 'consumerPid',
      named: 'c-2',
      expected: 'c-1',
    })
    expect(pidMismatch({ role: 'consumer', process: consumer, message: { providerPid: 'anything', consumerPid: 'c-1' } })).toBeUndefined()
  })
})
