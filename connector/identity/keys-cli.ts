import { parseArgs } from 'node:util'
import { ConfigError, loadConfig } from '../config/config.ts'
import { UsageError, type CliIo } from '../cli/io.ts'
import { findConfigFile } from '../cli/participant-config.ts'
import { keyStates, loadScheduledKeys, retireKey, rotateKeys } from './key-schedule.ts'
import { keysHelp } from './cli-help.ts'

/** `passerelle keys list|rotate|retire`: rotation of the participant's signing keys, on its folder. */
export async function runKeysCommand(args: string[], io: CliIo): Promise<number> {
  const [command, ...rest] = args
  if (command === undefined || command === 'help' || command === '--help') {
    io.stdout(`${keysHelp}\n`)
    return command === undefined ? 2 : 0
  }
  try {
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: { config: { type: 'string' }, overlap: { type: 'string' } },
      strict: true,
    })
    const config = loadConfig(findConfigFile(values.config, io), { env: io.env })
    const where = { root: config.root, keyFiles: config.identity.keyFiles, schedule: config.identity.keySchedule, env: io.env, now: Date.now() }
    switch (command) {
      case 'list': {
        const keys = await loadScheduledKeys(where)
        for (const { key, state } of keyStates(keys, where.now)) {
          const from = key.signsFrom > 0 ? `signs from ${new Date(key.signsFrom).toISOString()}` : 'signs from the start'
          const retire = Number.isFinite(key.retireAt) ? `, retired at ${new Date(key.retireAt).toISOString()}` : ''
          io.stdout(`${key.kid}  ${state.padEnd(9)}  ${from}${retire}  (${key.source})\n`)
        }
        return 0
      }
      case 'rotate': {
        const overlapMs = values.overlap === undefined ? config.identity.rotationOverlapMs : parseDuration(values.overlap)
        const { added, retiring, file } = await rotateKeys({ ...where, overlapMs })
        io.stdout(
          `added ${added.kid} (${file}): published now, signs from ${new Date(added.signsFrom).toISOString()}\n` +
            `${retiring.kid} signs until then and is retired at ${new Date(retiring.retireAt).toISOString()}\n`,
        )
        return 0
      }
      case 'retire': {
        const kid = positionals[0]
        if (!kid) throw new UsageError('expected the id of the key to retire (see passerelle keys list)')
        const retired = await retireKey({ ...where, kid })
        io.stdout(`retired ${retired.kid}: no longer published\n`)
        return 0
      }
      default:
        io.stderr(`passerelle keys: unknown command '${command}'\n${keysHelp}\n`)
        return 2
    }
  } catch (error) {
    // A refusal (a rotation under way, an unknown key, a bad key file) is one line naming it.
    if (error instanceof ConfigError) {
      io.stderr(`passerelle keys ${command}: ${error.message}\n`)
      return 1
    }
    throw error
  }
}

/** `90s`, `5m`, `1h` or milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+)(ms|s|m|h)?$/.exec(text.trim())
  if (!match) throw new UsageError(`--overlap ${text}: expected a duration like 90s, 5m, 1h or milliseconds`)
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? 'ms') as 'ms' | 's' | 'm' | 'h']
  return Number(match[1]) * factor
}
