import type { Hono } from 'hono'
import type { Logger } from '../telemetry/logger.ts'

/** What middleware puts on every request's context. */
export type AppEnv = {
  Variables: {
    requestId: string
    /** The logger bound to this request's id. */
    logger: Logger
    /** The largest message body the server reads, in bytes. */
    bodyLimit: number
  }
}

export type App = Hono<AppEnv>
