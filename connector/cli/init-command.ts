import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { stringify } from 'yaml'
import { createParticipantKey, didWebFor } from '../identity/participant-key.ts'
import { UsageError, type CliIo } from './io.ts'
import { configFileName } from './participant-config.ts'
import { initHelp } from './command-help.ts'

export async function runInitCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { name: { type: 'string' }, host: { type: 'string' }, port: { type: 'string' }, help: { type: 'boolean' } },
    strict: true,
  })
  if (values.help) {
    io.stdout(initHelp)
    return 0
  }
  if (positionals.length !== 1) throw new UsageError('expected exactly one folder (passerelle init DIR)')
  const dir = resolve(io.cwd, positionals[0]!)
  const host = values.host ?? '127.0.0.1'
  const port = Number(values.port ?? 8181)
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`--port: expected a port number from 1 to 65535, got '${values.port}'`)
  if (!/^[A-Za-z0-9.-]+$/.test(host)) throw new UsageError(`--host: expected a host name or IPv4 address, got '${host}'`)
  if (existsSync(join(dir, configFileName))) throw new UsageError(`${dir} already holds a participant (${configFileName} exists); nothing was changed`)
  if (existsSync(dir) && readdirSync(dir).some((name) => ['identity', 'datasets', 'policies'].includes(name))) {
    throw new UsageError(`${dir} already has identity/, datasets/ or policies/; choose an empty folder; nothing was changed`)
  }

  const did = didWebFor(host, port)
  const name = values.name ?? 'New participant'
  mkdirSync(join(dir, 'datasets'), { recursive: true })
  mkdirSync(join(dir, 'policies'), { recursive: true })
  mkdirSync(join(dir, 'files'), { recursive: true })
  const key = await createParticipantKey(join(dir, 'identity'))
  const config = {
    participant: { id: did, name },
    server: { host, port },
    management: { apiKey: randomBytes(24).toString('base64url') },
    identity: { keyFiles: [`identity/${key.fileName}`], trustedIssuers: [] },
  }
  writeFileSync(join(dir, configFileName), `# Passerelle participant configuration (see the README for every key).\n${stringify(config)}`, { mode: 0o600 })
  io.stdout(
    [
      `Created participant ${name} in ${dir}`,
      `  participant id   ${did}`,
      `  signing key      identity/${key.fileName} (kid ${did}#${key.keyId})`,
      `  configuration    ${configFileName} (holds the management API key: keep it private)`,
      '',
      `Start it with: passerelle start --config ${join(dir, configFileName)}`,
    ].join('\n'),
  )
  return 0
}
