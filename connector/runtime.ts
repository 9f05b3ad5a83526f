import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { getRequestListener } from '@hono/node-server'
import { areas as defaultAreas, type Area, type Service } from './areas.ts'
import { loadConfig, type Config, type LoadConfigOptions } from './config/config.ts'
import { randomIds, systemClock, type Ctx } from './context.ts'
import { createApp } from './http/app.ts'
import { createPeerClient } from './http/peer-client.ts'
import { withIdentity } from './identity/identity.ts'
import { openStore } from './store/store.ts'
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
  areas?: Area[]
}

export async function startConnector(options: StartOptions): Promise<RunningConnector> {
  const config = loadConfig(options.configFile, options)
  return startWithConfig(config, options)
}

export async function startWithConfig(config: Config, options: { logger?: Logger; areas?: Area[] } = {}): Promise<RunningConnector> {
  const logger = options.logger ?? createLogger({ level: config.log.level, fields: { participant: config.participant.id } })
  const telemetry = await startTelemetry()
  const store = await openStore({ url: config.database.url, poolSize: config.database.poolSize })
  let ctx: Ctx
  const stopSignal = new AbortController()
  try {
    ctx = await withIdentity({ config, store, clock: systemClock, ids: randomIds, logger, peers: createPeerClient(), stopping: stopSignal.signal })
  } catch (error) {
    await store.close()
    throw error
  }
  const areas = options.areas ?? defaultAreas
  const { app } = createApp(ctx, areas)

  const server = createServer(getRequestListener(app.fetch))
  await listen(server, config.server.port, config.server.host).catch(async (error) => {
    await store.close()
    throw error
  })
  const port = (server.address() as AddressInfo).port
  const services: Service[] = []
  for (const area of areas) if (area.start) services.push(await area.start(ctx))

  let stopping: Promise<void> | undefined
  const stop = () =>
    (stopping ??= (async () => {
      // Long polls answer now rather than hold the shutdown for their whole wait.
      stopSignal.abort()
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      // Keep-alive connections become idle as their last request finishes: close them as they do.
      const sweep = setInterval(() => server.closeIdleConnections(), 25)
      server.closeIdleConnections()
      const deadline = setTimeout(() => server.closeAllConnections(), config.server.shutdownTimeout)
      await closed
      clearInterval(sweep)
      clearTimeout(deadline)
      await Promise.allSettled(services.map((s) => s.stop()))
      await ctx.peers.close()
      await store.close()
      await telemetry.shutdown()
    })())

  return { ctx, url: `http://${config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host}:${port}`, port, stop }
}

function listen(server: Server, port: number, host: string) {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
}
