import { describe, expect, it } from 'vitest'
import { createSessions, sameToken } from './sessions.ts'

const clockAt = (start: number) => {
  let now = start
  return { clock: { now: () => new Date(now) }, advance: (ms: number) => (now += ms) }
}

describe('console sessions', () => {
  it('happy: a session is found by its id and keeps the key server-side', () => {
    const { clock } = clockAt(0)
    const sessions = createSessions({ clock })
    const { id, session } = sessions.create('the-key')
    expect(id).toMatch(/^[\w-]{43}$/)
    expect(id).not.toContain('the-key')
    expect(sessions.find(id)).toBe(session)
    expect(session.csrf).not.toBe(id)
  })

  it('security: an idle session, an old session and an ended session are gone', () => {
    const time = clockAt(0)
    const sessions = createSessions({ clock: time.clock, idleMs: 1000, maxAgeMs: 5000 })
    const idle = sessions.create('k').id
    time.advance(1001)
    expect(sessions.find(idle)).toBeUndefined()
    const old = sessions.create('k').id
    for (let i = 0; i < 6; i++) {
      time.advance(900)
      sessions.find(old)
    }
    expect(sessions.find(old)).toBeUndefined()
    const ended = sessions.create('k').id
    sessions.end(ended)
    expect(sessions.find(ended)).toBeUndefined()
  })

  it('security: malformed or unknown ids find nothing; the oldest session goes when the limit is reached', () => {
    const { clock } = clockAt(0)
    const sessions = createSessions({ clock, maxSessions: 2 })
    expect(sessions.find(undefined)).toBeUndefined()
    expect(sessions.find('x'.repeat(43))).toBeUndefined()
    expect(sessions.find('../../etc')).toBeUndefined()
    const first = sessions.create('k').id
    const second = sessions.create('k').id
    const third = sessions.create('k').id
    expect(sessions.find(first)).toBeUndefined()
    expect(sessions.find(second)).toBeDefined()
    expect(sessions.find(third)).toBeDefined()
  })

  it('security: tokens compare only when both are present and equal', () => {
    expect(sameToken('abc', 'abc')).toBe(true)
    expect(sameToken('abc', 'abd')).toBe(false)
    expect(sameToken('abc', '')).toBe(false)
    expect(sameToken(undefined, 'abc')).toBe(false)
    expect(sameToken('abc', undefined)).toBe(false)
  })
})
