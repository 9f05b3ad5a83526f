import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { getRequestListener } from '@hono/node-server'
import type { Area, Service } from './area.ts'
import { composeConnector, type ConnectorParts } from './composition.ts'
import { loadConfig, type Config, type LoadConfigOptions } from './config/config.ts'
import type { Ctx } from './context.ts'
import { createApp } from './http/app.ts'
import { drainOnClose } from './http/drain.ts'
import type { WorkerState } from './http/health.ts'
import { octal, securePrivatePlaces, type ModeChange } from './private-places.ts'
import { createLogger, type Logger } from './telemetry/logger.ts'
import { startTelemetry } from './telemetry/telemetry.ts'

export interface RunningConnector {
  ctx: Ctx
  /** The URL the server listens on (the real port when 0 was asked). */
  url: string
  port: number
  /** Stops accepting, lets in-flight requests finish, stops background work, closes the database. */
  stop(): Promise<void>
}

export interface StartOptions extends LoadConfigOptions {
  configFile: string
  logger?: Logger
  /** Replaces the areas the composition root builds (tests). */
  areas?: (parts: ConnectorParts) => Area[]
}

export async function startConnector(options: StartOptions): Promise<RunningConnector> {
  const config = loadConfig(options.configFile, options)
  return startWithConfig(config, options)
}

export async function startWithConfig(config: Config, options: { logger?: Logger; areas?: (parts: ConnectorParts) => Area[] } = {}): Promise<RunningConnector> {
  const logger = options.logger ?? createLogger({ level: config.log.level, fields: { participant: config.participant.id } })
  const telemetry = await startTelemetry()
  for (const change of securePrivatePlaces(config)) {
    if (change.error) logger.warn('a private file or folder is readable by others and could not be fixed', modeFields(change))
    else logger.warn('file mode narrowed: it was readable by others', modeFields(change))
  }
  const stopSignal = new AbortController()
  const connector = await composeConnector(config, { logger, stopping: stopSignal.signal, ...(options.areas ? { areas: options.areas } : {}) })
  const { ctx, areas } = connector
  let workers: WorkerState = 'starting'
  const { app } = createApp(ctx, areas, { workers: () => workers })

  const server = createServer()
  const drain = drainOnClose(server, getRequestListener(app.fetch))
  await listen(server, config.server.port, config.server.host).catch(async (error) => {
    await connector.close()
    throw error
  })
  const port = (server.address() as AddressInfo).port
  const services: Service[] = []
  for (const area of areas) if (area.start) services.push(await area.start(ctx))
  workers = 'running'

  let stopping: Promise<void> | undefined
  const stop = () =>
    (stopping ??= (async () => {
      workers = 'stopping'
      // Long polls answer now rather than hold the shutdown for their whole wait.
      stopSignal.abort()
      await drain(config.server.shutdownTimeout)
      await Promise.allSettled(services.map((s) => s.stop()))
      await connector.close()
      await telemetry.shutdown()
    })())

  return { ctx, url: `http://${config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host}:${port}`, port, stop }
}

const modeFields = (change: ModeChange) => ({
  path: change.path,
  what: change.what,
  from: octal(change.from),
  to: octal(change.to),
  ...(change.error ? { error: change.error, fix: `chmod ${octal(change.to).slice(1)} ${change.path} (as its owner)` } : {}),
})

function listen(server: Server, port: number, host: string) {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
}
