import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Clock } from '../clock.ts'

/**
 * Console sessions, held by the server: the browser gets only a random id in an httpOnly cookie;
 * the management key it was exchanged for stays here, to call the management API on the
 * reader's behalf. A session ends when it has been idle too long, when it is too old, or on sign
 * out. They live in this process's memory: a restart signs everybody out, and behind a load
 * balancer the console needs sticky sessions.
 */
export interface Session {
  /** The management key the reader signed in with (never rendered, never sent back). */
  key: string
  /** The token every form of this session carries. */
  csrf: string
  createdAt: number
  lastSeenAt: number
}

export interface SessionOptions {
  clock: Clock
  /** Idle time after which a session ends (ms). */
  idleMs?: number
  /** Age after which a session ends whatever happens (ms). */
  maxAgeMs?: number
  /** The most sessions kept at once; the oldest goes first. */
  maxSessions?: number
}

export interface Sessions {
  create(key: string): { id: string; session: Session }
  find(id: string | undefined): Session | undefined
  end(id: string | undefined): void
}

export const sessionDefaults = { idleMs: 30 * 60_000, maxAgeMs: 12 * 3600_000, maxSessions: 1000 }

export function createSessions(options: SessionOptions): Sessions {
  const { clock } = options
  const idleMs = options.idleMs ?? sessionDefaults.idleMs
  const maxAgeMs = options.maxAgeMs ?? sessionDefaults.maxAgeMs
  const maxSessions = options.maxSessions ?? sessionDefaults.maxSessions
  // Keyed by a digest of the id: the map never holds what the cookie holds.
  const byDigest = new Map<string, Session>()
  const digest = (id: string) => createHash('sha256').update(id).digest('base64url')
  const expired = (s: Session, now: number) => now - s.lastSeenAt > idleMs || now - s.createdAt > maxAgeMs
  return {
    create(key) {
      const now = clock.now().getTime()
      for (const [d, s] of byDigest) if (expired(s, now)) byDigest.delete(d)
      while (byDigest.size >= maxSessions) byDigest.delete(byDigest.keys().next().value!)
      const id = randomBytes(32).toString('base64url')
      const session: Session = { key, csrf: randomBytes(32).toString('base64url'), createdAt: now, lastSeenAt: now }
      byDigest.set(digest(id), session)
      return { id, session }
    },
    find(id) {
      if (!id || !/^[\w-]{43}$/.test(id)) return undefined
      const d = digest(id)
      const session = byDigest.get(d)
      if (!session) return undefined
      const now = clock.now().getTime()
      if (expired(session, now)) {
        byDigest.delete(d)
        return undefined
      }
      session.lastSeenAt = now
      return session
    },
    end(id) {
      if (id) byDigest.delete(digest(id))
    },
  }
}

/** Compares two tokens in constant time (a missing one never matches). */
export function sameToken(expected: string | undefined, given: unknown): boolean {
  if (!expected || typeof given !== 'string' || given.length === 0) return false
  const a = createHash('sha256').update(expected).digest()
  const b = createHash('sha256').update(given).digest()
  return timingSafeEqual(a, b)
}

/** A fresh random token (the anonymous forms' double-submit token). */
export const newToken = () => randomBytes(32).toString('base64url')
