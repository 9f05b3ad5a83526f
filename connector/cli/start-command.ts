import { parseArgs } from 'node:util'
import { ConfigError } from '../config/config.ts'
import { startConnector } from '../runtime.ts'
import { DatabaseInUseError, isDatabaseUnavailable } from '../store/store.ts'
import { UsageError, type CliIo } from './io.ts'
import { watchParent } from './parent-watch.ts'
import { findConfigFile } from './participant-config.ts'
import { startHelp } from './command-help.ts'

/** Returns -1 while the connector runs: the process ends when a signal has stopped it. */
export async function runStartCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { config: { type: 'string' }, port: { type: 'string' }, host: { type: 'string' }, help: { type: 'boolean' } },
    strict: true,
  })
  if (values.help) {
    io.stdout(startHelp)
    return 0
  }
  const configFile = findConfigFile(values.config, io)
  // Signal handlers go in before the server listens, so that a stop request is never lost.
  let stop: (() => Promise<void>) | undefined
  let stopRequested = false
  const onSignal = (reason: string) => {
    if (stopRequested) process.exit(1)
    stopRequested = true
    io.stderr(`passerelle: ${reason}, stopping`)
    void (stop ? stop() : Promise.resolve()).then(
      () => process.exit(0),
      (error) => {
        io.stderr(`passerelle: stopped with an error: ${(error as Error).message}`)
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', () => onSignal('SIGTERM received'))
  process.on('SIGINT', () => onSignal('SIGINT received'))
  watchParent(io.env, () => onSignal('the npm process that started it exited'))
  // A background loop whose database call fails during an outage must not end the process (the
  // outage makes the replica unready; it recovers by itself). Anything else is a bug: say what it
  // was, then end as Node would.
  process.on('unhandledRejection', (reason) => {
    const message = reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)
    if (isDatabaseUnavailable(reason)) {
      io.stderr(`passerelle: a background step failed while the database was unavailable: ${(reason as Error).message ?? String(reason)}`)
      return
    }
    io.stderr(`passerelle: unhandled error, stopping: ${message}`)
    process.exit(1)
  })
  try {
    const running = await startConnector({
      configFile,
      env: io.env,
      overrides: { 'server.port': values.port, 'server.host': values.host },
    })
    stop = running.stop
    if (stopRequested) await running.stop().then(() => process.exit(0))
    running.ctx.logger.info('connector ready', {
      url: running.url,
      dsp: running.ctx.config.dspUrl,
      database: running.ctx.store.dialect,
      config: configFile,
    })
    return -1
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(error.message, 2)
    if (error instanceof DatabaseInUseError) throw new UsageError(`cannot start: ${error.message}`, 2)
    const code = (error as { code?: string }).code
    if (code === 'EADDRINUSE')
      throw new UsageError(`cannot listen: address already in use (${(error as Error).message.replace(/^listen EADDRINUSE: address already in use /, '')})`, 1)
    throw new UsageError(`cannot start: ${(error as Error).message}`, 1)
  }
}
