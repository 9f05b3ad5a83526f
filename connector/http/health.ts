import type { Context, Hono } from 'hono'
import type { Ctx } from '../context.ts'
import { packageVersion } from '../version.ts'
import type { AppEnv } from './env.ts'

/** What the runtime says about its background workers (dispatchers, monitors, crawler). */
export type WorkerState = 'starting' | 'running' | 'stopping'

export interface HealthOptions {
  /** Absent when the app runs without background work (tests of routes alone): not checked. */
  workers?: () => WorkerState
}

/**
 * `/health/live`: the process answers (restart it when this fails).
 * `/health/ready`: this replica can do its work now (send it traffic only while this answers 200):
 * the database answers and has this version's migrations, and the background workers run.
 * `/health` is the readiness check, under the name the first versions had.
 */
export function healthRoutes(app: Hono<AppEnv>, ctx: Ctx, options: HealthOptions = {}) {
  app.get('/health/live', (c) => c.json({ status: 'ok', version: packageVersion }))

  // Checks that arrive together share one (on PostgreSQL each opens a connection of its own: a
  // flood of probes must not use up the server's connections).
  let checking: ReturnType<typeof ctx.store.health> | undefined
  const checkDatabase = () => (checking ??= ctx.store.health().finally(() => (checking = undefined)))

  const ready = async (c: Context<AppEnv>) => {
    const workers = options.workers?.()
    let database: Record<string, unknown> = { dialect: ctx.store.dialect, status: 'up' }
    let migrations: { applied: number; expected: number } | undefined
    const problems: string[] = []
    try {
      migrations = (await checkDatabase()).migrations
      if (migrations.applied < migrations.expected) problems.push(`the database has ${migrations.applied} of ${migrations.expected} migrations`)
    } catch (error) {
      database = { dialect: ctx.store.dialect, status: 'down', error: (error as Error).message }
      problems.push('the database does not answer')
      c.get('logger').warn('health check: database unreachable', { error: (error as Error).message })
    }
    if (workers !== undefined && workers !== 'running') problems.push(`background workers are ${workers}`)
    const body = {
      status: problems.length === 0 ? 'ok' : 'unavailable',
      version: packageVersion,
      database,
      ...(migrations ? { migrations } : {}),
      ...(workers ? { workers } : {}),
      // Wake-ups from the other replicas (PostgreSQL): informative only, since the outbox and long
      // polls also read the database on their own; `connecting` for long means notifications fail.
      ...(ctx.store.dialect === 'postgres' ? { signals: ctx.store.signals.status() } : {}),
      ...(problems.length ? { problems } : {}),
    }
    return c.json(body, problems.length === 0 ? 200 : 503)
  }
  app.get('/health/ready', ready)
  app.get('/health', ready)
}
