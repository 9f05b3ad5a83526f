import { resolveConfig, type Config } from '../../connector/config/config.ts'
import type { Clock } from '../../connector/clock.ts'
import type { IdSource } from '../../connector/ids.ts'
import type { Ctx } from '../../connector/context.ts'
import { egressPolicy } from '../../connector/http/egress.ts'
import { createPeerClient } from '../../connector/http/peer-client.ts'
import type { Store } from '../../connector/store/store.ts'
import { silentLogger } from '../../connector/telemetry/logger.ts'

/** A fixed, settable clock (a date or milliseconds). */
export function testClock(start: Date | number = new Date('2026-06-01T12:00:00Z')): Clock & { set(date: Date | number): void; advance(ms: number): void } {
  let now = new Date(start).getTime()
  return {
    now: () => new Date(now),
    set: (date) => void (now = new Date(date).getTime()),
    advance: (ms) => void (now += ms),
  }
}

/** Deterministic ids: `<prefix>000000000001`, …2, …; by default `urn:uuid:00000000-0000-4000-8000-000000000001`. */
export function testIds(prefix = 'urn:uuid:00000000-0000-4000-8000-'): IdSource {
  let n = 0
  return { next: () => `${prefix}${String(++n).padStart(12, '0')}` }
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

/**
 * In-process tests talk to fixture servers that listen on random ports of 127.0.0.1 (and only
 * there): their peer clients may reach that one address. Tests with connector processes, and the
 * example data space, allow exact host:port entries instead (see processes.ts).
 */
export const fixtureEgress = egressPolicy({ allow: ['127.0.0.1/32'] })

export function testContext(store: Store, overrides: Partial<Ctx> = {}): Ctx {
  return {
    config: testConfig(),
    store,
    clock: testClock(),
    ids: testIds(),
    logger: silentLogger,
    peers: createPeerClient({ egress: fixtureEgress }),
    ...overrides,
  }
}
