/**
 * The example data space as real processes: a temporary copy of the participant folders rewritten
 * for free ports of 127.0.0.1, the authority and each connector started with the built CLI in its
 * own process group, and a stop that reaches every one of them (also on Ctrl-C and on failure).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const exampleDir = resolve(dirname(fileURLToPath(import.meta.url)), '..')
export const repositoryRoot = resolve(exampleDir, '../..')
const cli = join(repositoryRoot, 'dist', 'passerelle.js')

/** The folders as shipped, with the fixed ports their did:web ids name. */
export const shipped = {
  authority: { folder: 'authority', port: 8390 },
  authorityCa: { folder: 'authority-ca', port: 8391 },
  institute: { folder: 'institute', port: 8381 },
  agency: { folder: 'agency', port: 8382 },
  company: { folder: 'company', port: 8383 },
} as const
export type Member = 'institute' | 'agency' | 'company'
export const members: Member[] = ['institute', 'agency', 'company']

/** The two data spaces, each with its authority (the shipped folder of its key and DID document). */
export const dataSpaces = {
  'eu-climate': { authority: 'authority', name: 'European climate data space' },
  'ca-climate': { authority: 'authorityCa', name: 'Canadian climate data space' },
} as const
export type DataSpaceId = keyof typeof dataSpaces

export interface Authority {
  dataSpace: DataSpaceId
  name: string
  dir: string
  did: string
  url: string
}

export interface Participant {
  key: Member
  name: string
  dir: string
  port: number
  did: string
  url: string
  dspUrl: string
  managementKey: string
  /** Calls the participant's management API; JSON in and out. */
  api<T = any>(
    path: string,
    init?: { method?: string; body?: unknown; headers?: Record<string, string> },
  ): Promise<{ status: number; body: T; headers: Headers }>
  /** The raw response of a management API call (for streamed downloads). */
  raw(path: string, init?: RequestInit): Promise<Response>
}

export interface RunningProcess {
  name: string
  child: ChildProcess
  output: string[]
  exited: Promise<number | string>
}

export const didFor = (port: number) => `did:web:127.0.0.1%3A${port}`

/** Ports handed out so far: `listen(0)` often offers a port again once it was closed. */
const handedOut = new Set<number>()

/** A port nobody listens on right now, and not handed out before by this process. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolvePort, reject) => {
      const server = createServer()
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number }
        server.close(() => resolvePort(port))
      })
    })
    if (handedOut.has(port)) continue
    handedOut.add(port)
    return port
  }
}

/** Replaces every mention of a shipped port (in did:web ids, URLs and `port:` keys) by its new port. */
export function rewritePorts(text: string, ports: Map<number, number>): string {
  let out = text
  for (const [from, to] of ports) {
    out = out
      .replaceAll(`127.0.0.1%3A${from}`, `127.0.0.1%3A${to}`)
      .replaceAll(`127.0.0.1:${from}`, `127.0.0.1:${to}`)
      .replace(new RegExp(`^(\\s*port:\\s*)${from}\\s*$`, 'gm'), `$1${to}`)
  }
  return out
}

/** Adds the guests' addresses under both egress lists of a member's configuration. */
function withGuests(text: string, file: string, guests: number[]): string {
  if (file !== 'passerelle.yaml' || guests.length === 0) return text
  const entries = guests.map((port) => `    - 127.0.0.1:${port}\n`).join('')
  return text.replace(/^( {2}allow:\n)/m, `$1${entries}`).replace(/^( {2}didHosts:\n)/m, `$1${entries}`)
}

/** The claims of a VC JWT's subject (without its id), to issue the same credential for a new DID. */
export function subjectClaims(jwt: string): Record<string, string> {
  const payload = JSON.parse(Buffer.from(jwt.trim().split('.')[1] ?? '', 'base64url').toString('utf8')) as {
    vc?: { credentialSubject?: Record<string, unknown> }
  }
  const claims: Record<string, string> = {}
  for (const [key, value] of Object.entries(payload.vc?.credentialSubject ?? {})) if (key !== 'id') claims[key] = String(value)
  return claims
}

export class DataSpace {
  readonly root = mkdtempSync(join(tmpdir(), 'passerelle-example-'))
  readonly processes: RunningProcess[] = []
  readonly participants = {} as Record<Member, Participant>
  readonly authorities = {} as Record<DataSpaceId, Authority>
  private stopped = false

  /**
   * Copies the folders, rewrites their ports, has each authority publish its status lists, and has
   * the authority of the data space each member's credential names issue it again for the member's
   * new DID (with its status entries, so that it can be revoked). `guests`: ports of 127.0.0.1 where other participants run, that the members may reach and
   * whose DIDs they may resolve (the members' egress lists name only each other otherwise).
   */
  async prepare(options: { guests?: number[] } = {}) {
    const ports = new Map<number, number>()
    for (const { port } of Object.values(shipped)) ports.set(port, await freePort())
    for (const { folder } of Object.values(shipped)) {
      const from = join(exampleDir, folder)
      const to = join(this.root, folder)
      cpSync(from, to, { recursive: true, filter: (source) => !/[\\/]data([\\/]|$)/.test(source.slice(from.length)) })
      for (const file of ['passerelle.yaml', 'did.json', 'registry.json']) {
        const path = join(to, file)
        if (existsSync(path)) writeFileSync(path, withGuests(rewritePorts(readFileSync(path, 'utf8'), ports), file, options.guests ?? []))
      }
    }
    for (const [id, space] of Object.entries(dataSpaces) as Array<[DataSpaceId, (typeof dataSpaces)[DataSpaceId]]>) {
      const port = ports.get(shipped[space.authority].port)!
      const dir = join(this.root, shipped[space.authority].folder)
      const published = runCli(['authority', 'publish', dir])
      if (published.status !== 0) throw new Error(`the authority of ${space.name} could not publish its status lists: ${published.stderr}`)
      this.authorities[id] = { dataSpace: id, name: `${space.name} authority`, dir, did: didFor(port), url: `http://127.0.0.1:${port}` }
    }
    for (const key of members) {
      const port = ports.get(shipped[key].port)!
      const dir = join(this.root, shipped[key].folder)
      const config = readFileSync(join(dir, 'passerelle.yaml'), 'utf8')
      const managementKey = /apiKey:\s*(\S+)/.exec(config)?.[1] ?? ''
      const name = /^\s*name:\s*(.+)$/m.exec(config)?.[1]?.trim() ?? key
      const credentialsDir = join(dir, 'credentials')
      for (const file of readdirSync(credentialsDir).filter((f) => f.endsWith('.jwt'))) {
        const claims = subjectClaims(readFileSync(join(credentialsDir, file), 'utf8'))
        const authority = this.authorities[claims.memberOf as DataSpaceId]
        if (!authority) throw new Error(`${file} of ${name} names data space ${claims.memberOf}, which has no authority in the example`)
        const issued = runCli([
          'credentials',
          'issue',
          '--issuer',
          join(authority.dir, 'private-key.jwk'),
          '--subject',
          didFor(port),
          '--type',
          'MembershipCredential',
          ...Object.entries(claims).flatMap(([k, v]) => ['--claim', `${k}=${v}`]),
        ])
        if (issued.status !== 0) throw new Error(`could not issue the credential of ${name}: ${issued.stderr}`)
        writeFileSync(join(credentialsDir, file), `${issued.stdout.trim()}\n`)
      }
      const url = `http://127.0.0.1:${port}`
      const raw = (path: string, init: RequestInit = {}) =>
        fetch(`${url}/management/v1${path}`, { ...init, headers: { authorization: `Bearer ${managementKey}`, ...(init.headers as Record<string, string>) } })
      this.participants[key] = {
        key,
        name,
        dir,
        port,
        did: didFor(port),
        url,
        dspUrl: `${url}/dsp/2025-1`,
        managementKey,
        raw,
        async api(path, init = {}) {
          const response = await raw(path, {
            method: init.method ?? 'GET',
            headers: { ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}), ...init.headers },
            ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
          })
          const text = await response.text()
          let body: any = text
          try {
            body = text ? JSON.parse(text) : undefined
          } catch {
            // not JSON: keep the text
          }
          return { status: response.status, body, headers: response.headers }
        },
      }
    }
  }

  /** Starts the authorities' servers (DID document, status lists) and every connector; resolves when all answer. */
  async start(env: Record<string, string> = {}) {
    await Promise.all(
      Object.values(this.authorities).map(async (authority) => {
        const child = this.spawn(authority.dataSpace, ['credentials', 'authority', 'serve', authority.dir], env)
        await waitUntilUp(child, `${authority.url}/.well-known/did.json`)
      }),
    )
    await Promise.all(
      members.map(async (key) => {
        const p = this.participants[key]
        const child = this.spawn(key, ['start', '--config', join(p.dir, 'passerelle.yaml')], env)
        await waitUntilUp(child, `${p.url}/health`)
      }),
    )
  }

  private spawn(name: string, args: string[], env: Record<string, string>): RunningProcess {
    const child = spawn(process.execPath, [cli, ...args], {
      cwd: this.root,
      env: { ...process.env, OTEL_SDK_DISABLED: 'true', PASSERELLE_LOG_LEVEL: 'warn', ...env },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const output: string[] = []
    const collect = (chunk: Buffer) => {
      output.push(...chunk.toString('utf8').split('\n').filter(Boolean))
      if (output.length > 2000) output.splice(0, output.length - 2000)
    }
    child.stdout!.on('data', collect)
    child.stderr!.on('data', collect)
    const exited = new Promise<number | string>((done) => child.once('exit', (code, signal) => done(code ?? signal ?? -1)))
    const running = { name, child, output, exited }
    this.processes.push(running)
    return running
  }

  /** Sends SIGTERM to every process group, then SIGKILL to those still there after a grace period. */
  async stop(graceMs = 5000) {
    if (this.stopped) return
    this.stopped = true
    const alive = this.processes.filter((p) => p.child.exitCode === null && p.child.signalCode === null)
    for (const p of alive) signalGroup(p.child, 'SIGTERM')
    await Promise.race([Promise.all(alive.map((p) => p.exited)), new Promise((r) => setTimeout(r, graceMs))])
    for (const p of alive) signalGroup(p.child, 'SIGKILL')
    rmSync(this.root, { recursive: true, force: true })
  }

  /** Last resort when the runner itself is exiting: no waiting possible. */
  killNow() {
    for (const p of this.processes) signalGroup(p.child, 'SIGKILL')
    try {
      rmSync(this.root, { recursive: true, force: true })
    } catch {
      // best effort
    }
  }
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals) {
  try {
    process.kill(-child.pid!, signal)
  } catch {
    // already gone
  }
}

/** Runs the built CLI to completion. */
export function runCli(args: string[], cwd = repositoryRoot) {
  const result = spawnSync(process.execPath, [cli, ...args], { cwd, encoding: 'utf8', env: { ...process.env, OTEL_SDK_DISABLED: 'true' }, timeout: 60_000 })
  return { status: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? '' }
}

async function waitUntilUp(p: RunningProcess, url: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs
  let gone = false
  void p.exited.then(() => (gone = true))
  for (;;) {
    if (gone) throw new Error(`${p.name} exited before it was ready:\n${p.output.slice(-20).join('\n')}`)
    if (Date.now() > deadline) throw new Error(`${p.name} did not answer ${url} within ${timeoutMs / 1000} s:\n${p.output.slice(-20).join('\n')}`)
    try {
      if ((await fetch(url)).status === 200) return
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100))
  }
}
