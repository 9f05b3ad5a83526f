import { resolveConfig, type Config } from '../../connector/config/config.ts'
import type { Clock, Ctx, IdSource } from '../../connector/context.ts'
import { createPeerClient } from '../../connector/http/peer-client.ts'
import type { Store } from '../../connector/store/store.ts'
import { silentLogger } from '../../connector/telemetry/logger.ts'

/** A fixed, settable clock. */
export function testClock(start = new Date('2026-06-01T12:00:00Z')): Clock & { set(date: Date): void; advance(ms: number): void } {
  let now = start.getTime()
  return {
    now: () => new Date(now),
    set: (date) => void (now = date.getTime()),
    advance: (ms) => void (now += ms),
  }
}

/** Deterministic `urn:uuid:` ids: 00000000-0000-4000-8000-000000000001, …2, … */
export function testIds(): IdSource {
  let n = 0
  return { next: () => `urn:uuid:00000000-0000-4000-8000-${String(++n).padStart(12, '0')}` }
}

export const testConfig = (overrides: Record<string, unknown> = {}, root = '/tmp/passerelle-test'): Config =>
  resolveConfig(
    {
      participant: { id: 'did:web:127.0.0.1%3A8181', name: 'Test participant' },
      management: { apiKey: 'test-management-key-0123456789' },
      ...overrides,
    },
    root,
    { env: {} },
  )

export function testContext(store: Store, overrides: Partial<Ctx> = {}): Ctx {
  return {
    config: testConfig(),
    store,
    clock: testClock(),
    ids: testIds(),
    logger: silentLogger,
    peers: createPeerClient(),
    ...overrides,
  }
}
