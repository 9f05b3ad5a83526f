import { spawn, type ChildProcess } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse, stringify } from 'yaml'
import { fromRoot } from '../../connector/paths.ts'

/**
 * Real connector processes for end-to-end tests: the built CLI (`dist/passerelle.js`), each in its
 * own process group, on a free port of 127.0.0.1, stopped by signal.
 */

/**
 * The ports this test file reserved (participants, authorities, peers it names): the only
 * addresses of 127.0.0.1 its connectors may reach. Each connector's `egress.allow` lists them
 * exactly, as `127.0.0.1:<port>`, when it starts (never all of loopback).
 */
const reservedPorts = new Set<number>()

/**
 * Ports are drawn below the kernel's ephemeral range (32768 and up), from a block of its own for
 * each test worker: an outgoing connection never takes a port a test has reserved but not yet
 * bound, two test files running at once never draw the same one, and one file never gets a port
 * twice (a port that was free and closed again is often handed out again by `listen(0)`).
 */
const workerBlock = 10_000 + ((Number(process.env.VITEST_POOL_ID ?? 1) - 1) % 20) * 1000
let nextInBlock = Math.floor(Math.random() * 1000)

const canListen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })

/** A port nobody listens on right now; connectors started after this call may reach it. */
export async function freePort(): Promise<number> {
  for (let tries = 0; tries < 1000; tries++) {
    const port = workerBlock + (nextInBlock++ % 1000)
    if (reservedPorts.has(port) || !(await canListen(port))) continue
    reservedPorts.add(port)
    return port
  }
  throw new Error(`no free port left in ${workerBlock}–${workerBlock + 999}`)
}

/** Lets connectors started from now on reach this port of 127.0.0.1 (a server the test started itself). */
export function allowPort(port: number) {
  reservedPorts.add(port)
}

/** Writes the participant's egress allow-list: the test's own addresses but its own port. */
function writeEgressAllowList(participant: ParticipantFolder) {
  const config = parse(readFileSync(participant.configFile, 'utf8')) as Record<string, any>
  const allow = [...reservedPorts].filter((port) => port !== participant.port).map((port) => `127.0.0.1:${port}`)
  const configured = (config.egress?.allow ?? []) as string[]
  config.egress = { ...config.egress, allow: [...new Set([...configured.filter((entry) => !entry.startsWith('127.0.0.1:')), ...allow])] }
  writeFileSync(participant.configFile, stringify(config))
}

export interface ParticipantFolder {
  dir: string
  configFile: string
  port: number
  /** The participant id (did:web for 127.0.0.1:port). */
  did: string
  url: string
  managementKey: string
  remove(): void
}

/**
 * Copies a participant folder (default: the seed participant) to a temporary folder and rewrites
 * its configuration for a free port: participant id, server and any extra keys given.
 */
export async function copyParticipant(options: { from?: string; port?: number; config?: Record<string, unknown> } = {}): Promise<ParticipantFolder> {
  const from = options.from ?? fromRoot('seeds')
  const dir = mkdtempSync(join(tmpdir(), 'passerelle-participant-'))
  cpSync(from, dir, { recursive: true, filter: (source) => !/[\\/]data([\\/]|$)/.test(source.slice(from.length)) })
  const port = options.port ?? (await freePort())
  reservedPorts.add(port)
  const configFile = join(dir, 'passerelle.yaml')
  const config = parse(readFileSync(configFile, 'utf8')) as Record<string, any>
  const did = `did:web:127.0.0.1%3A${port}`
  config.participant = { ...config.participant, id: did }
  config.server = { ...config.server, host: '127.0.0.1', port }
  const managementKey = config.management?.apiKey ?? 'test-management-key-0123456789'
  config.management = { ...config.management, apiKey: managementKey }
  for (const [key, value] of Object.entries(options.config ?? {})) config[key] = value
  writeFileSync(configFile, stringify(config))
  return {
    dir,
    configFile,
    port,
    did,
    url: `http://127.0.0.1:${port}`,
    managementKey,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  }
}

export interface ConnectorProcess {
  child: ChildProcess
  url: string
  /** Every line the process wrote to stdout and stderr so far. */
  output: string[]
  /** Sends the signal to the process group and resolves with the exit code (or signal name). */
  stop(signal?: NodeJS.Signals): Promise<number | string>
  exited: Promise<number | string>
}

export interface SpawnOptions {
  args?: string[]
  env?: Record<string, string | undefined>
  cwd?: string
}

/** Runs `passerelle <args>` (the built CLI) and collects its output. */
export function spawnCli(options: SpawnOptions): { child: ChildProcess; output: string[]; exited: Promise<number | string> } {
  const child = spawn(process.execPath, [fromRoot('dist/passerelle.js'), ...(options.args ?? [])], {
    cwd: options.cwd ?? fromRoot(),
    env: { ...process.env, OTEL_SDK_DISABLED: 'true', ...options.env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const output: string[] = []
  const collect = (chunk: Buffer) => output.push(...chunk.toString('utf8').split('\n').filter(Boolean))
  child.stdout!.on('data', collect)
  child.stderr!.on('data', collect)
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)))
  return { child, output, exited }
}

/**
 * Starts a serving CLI command (an authority, say) and waits until `readyUrl` answers 2xx. It fails at
 * once, with the process's output, if the process exits first; the generous timeout is for a loaded
 * machine, where starting Node with the whole connector takes many seconds.
 */
export async function startCliServer(options: SpawnOptions & { readyUrl: string; timeout?: number }): Promise<ReturnType<typeof spawnCli>> {
  const started = spawnCli(options)
  let exitedWith: number | string | undefined
  void started.exited.then((code) => (exitedWith = code))
  const deadline = Date.now() + (options.timeout ?? 60_000)
  for (;;) {
    if (exitedWith !== undefined) throw new Error(`${options.args?.join(' ')} exited (${exitedWith}) before serving:\n${started.output.join('\n')}`)
    const ok = await fetch(options.readyUrl).then(
      (r) => r.ok,
      () => false,
    )
    if (ok) return started
    if (Date.now() > deadline) {
      killGroup(started.child, 'SIGKILL')
      throw new Error(`${options.args?.join(' ')} not serving ${options.readyUrl} in time:\n${started.output.join('\n')}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Starts a connector for a participant folder and waits until /health answers 200. */
export async function startConnectorProcess(participant: ParticipantFolder, options: SpawnOptions & { timeout?: number } = {}): Promise<ConnectorProcess> {
  writeEgressAllowList(participant)
  const { child, output, exited } = spawnCli({ ...options, args: ['start', '--config', participant.configFile, ...(options.args ?? [])] })
  const deadline = Date.now() + (options.timeout ?? 60_000)
  let done = false
  void exited.then(() => (done = true))
  for (;;) {
    if (done) throw new Error(`connector exited before it was ready:\n${output.join('\n')}`)
    if (Date.now() > deadline) {
      killGroup(child, 'SIGKILL')
      throw new Error(`connector not ready in time:\n${output.join('\n')}`)
    }
    try {
      const response = await fetch(`${participant.url}/health`)
      if (response.status === 200) break
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  return {
    child,
    url: participant.url,
    output,
    exited,
    stop(signal = 'SIGTERM') {
      killGroup(child, signal)
      return exited
    },
  }
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals) {
  try {
    process.kill(-child.pid!, signal)
  } catch {
    // already gone
  }
}

/** Calls a participant's management API; the body is parsed JSON (undefined when empty). */
export async function management(
  folder: Pick<ParticipantFolder, 'url' | 'managementKey'>,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: any }> {
  const response = await fetch(`${folder.url}/management/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${folder.managementKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const text = await response.text()
  return { status: response.status, body: text ? JSON.parse(text) : undefined }
}

export { until } from './wait.ts'
