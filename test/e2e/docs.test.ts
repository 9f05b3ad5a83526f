/**
 * The documentation cannot rot: every `passerelle …` and `curl …` command in a code block of docs/
 * is checked. curl commands run against real connectors (the seed participant and the example data
 * space, on free ports) and must answer the status this file expects for them; `passerelle` commands
 * must name a command that exists and only options its `--help` lists, and those that need no running
 * connector (version, init, catalog validate and show, credentials issue and authority init, policy …)
 * are run and must succeed. The CLI reference must cover every command and option.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fromRoot } from '../../connector/paths.ts'
import { DataSpace, shipped } from '../../examples/eu-canada-climate/support/space.ts'
import { allowPort, copyParticipant, freePort, startConnectorProcess, type ConnectorProcess, type ParticipantFolder } from '../support/processes.ts'

interface DocCommand {
  file: string
  line: number
  text: string
}

const docsDir = fromRoot('docs')
const docFiles = readdirSync(docsDir)
  .filter((f) => f.endsWith('.md'))
  .sort()

/** Commands in fenced code blocks (shell blocks; `text`, `yaml` and `json` blocks are not commands). */
function commandsIn(file: string): DocCommand[] {
  const lines = readFileSync(join(docsDir, file), 'utf8').split('\n')
  const found: DocCommand[] = []
  let fence: string | undefined
  lines.forEach((raw, index) => {
    const line = raw.trim()
    const opening = /^```(\w*)/.exec(line)
    if (opening) {
      fence = fence === undefined ? opening[1] || 'sh' : undefined
      return
    }
    if (fence === undefined || !['sh', 'bash', 'shell', 'console'].includes(fence)) return
    const text = line.replace(/^\$\s+/, '')
    if (/^((\w+=\S+\s+)*)(npx\s+)?passerelle\s/.test(text) || /^curl\s/.test(text)) found.push({ file, line: index + 1, text })
  })
  return found
}

const allCommands = docFiles.flatMap(commandsIn)
const cliCommands = allCommands.filter((c) => !c.text.startsWith('curl'))
const curlCommands = allCommands.filter((c) => c.text.startsWith('curl'))

/** Splits a shell command line into words (single and double quotes, no expansion needed here). */
function words(text: string): string[] {
  const out: string[] = []
  const pattern = /'([^']*)'|"([^"]*)"|(\S+)/g
  for (const m of text.matchAll(pattern)) out.push(m[1] ?? m[2] ?? m[3]!)
  return out
}

/** The words after `passerelle`, without leading environment assignments and `npx`. */
function passerelleArgs(text: string): string[] {
  const all = words(text)
  return all.slice(all.indexOf('passerelle') + 1)
}

const cli = (args: string[], cwd = fromRoot()) =>
  spawnSync(process.execPath, [fromRoot('dist/passerelle.js'), ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, OTEL_SDK_DISABLED: 'true' },
    timeout: 30_000,
  })

/** `passerelle <command> --help`, run once per command (the docs name some commands dozens of times). */
const helps = new Map<string, { status: number | null; text: string }>()
const helpOf = (command: string) => {
  let help = helps.get(command)
  if (!help) {
    const result = cli([command, '--help'])
    help = { status: result.status, text: `${result.stdout}${result.stderr}` }
    helps.set(command, help)
  }
  return help
}

/** `passerelle` commands that need no running connector and touch nothing outside their folder: run them. */
function runsOffline(args: string[]): boolean {
  if (args.some((a) => a.startsWith('/'))) return false
  const [command, sub, subsub] = args
  if (command === 'version' || command === 'init' || command === 'policy') return true
  if (command === 'catalog') return sub === 'validate' || sub === 'show'
  if (command === 'credentials') return sub === 'issue' || (sub === 'authority' && subsub === 'init')
  return false
}

describe('passerelle commands in the docs', () => {
  const topHelp = cli(['--help']).stdout
  const known = [...topHelp.matchAll(/^ {2}(\w[\w-]*)\s{2,}/gm)].map((m) => m[1]!)

  it('finds commands to check', () => {
    expect(cliCommands.length).toBeGreaterThan(20)
    expect(known).toContain('start')
  })

  it.each(cliCommands.map((c) => [`${c.file}:${c.line}`, c] as const))('%s names a command and only options its --help lists', (_where, command) => {
    const args = passerelleArgs(command.text)
    expect(known, `command \`${args[0]}\` in: ${command.text}`).toContain(args[0])
    const help = helpOf(args[0]!)
    expect(help.status, help.text).toBe(0)
    const options = args.filter((a) => a.startsWith('--')).map((a) => a.split('=')[0]!)
    for (const option of options) expect(help.text, `option ${option} of \`passerelle ${args[0]}\``).toContain(option)
  })

  describe('run for real, per page, in a folder of their own', () => {
    const byFile = new Map<string, DocCommand[]>()
    for (const c of cliCommands) if (runsOffline(passerelleArgs(c.text))) byFile.set(c.file, [...(byFile.get(c.file) ?? []), c])

    it.each([...byFile.entries()])('%s: the offline commands succeed in order', (_file, commands) => {
      const cwd = mkdtempSync(join(tmpdir(), 'passerelle-docs-'))
      try {
        // Paths in the docs are relative to the repository or to the reader's own folder.
        for (const name of ['examples', 'seeds']) symlinkSync(fromRoot(name), join(cwd, name))
        for (const command of commands) {
          const result = cli(passerelleArgs(command.text), cwd)
          expect({ command: command.text, status: result.status }, `${result.stdout}${result.stderr}`).toEqual({ command: command.text, status: 0 })
        }
      } finally {
        rmSync(cwd, { recursive: true, force: true })
      }
    })
  })
})

it('every relative link of the docs points to a file of the repository (and an anchor to a heading)', () => {
  const broken: string[] = []
  const anchorOf = (heading: string) =>
    heading
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N} _-]/gu, '')
      .replace(/ /g, '-')
  for (const file of docFiles) {
    const text = readFileSync(join(docsDir, file), 'utf8')
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue
      const [path, anchor] = target!.split('#')
      const resolved = path ? join(docsDir, path) : join(docsDir, file)
      if (!existsSync(resolved)) {
        broken.push(`${file}: ${target}`)
        continue
      }
      if (anchor && resolved.endsWith('.md')) {
        const headings = [...readFileSync(resolved, 'utf8').matchAll(/^#+\s+(.+)$/gm)].map((m) => anchorOf(m[1]!))
        if (!headings.includes(anchor)) broken.push(`${file}: ${target} (no such heading)`)
      }
    }
  }
  expect(broken).toEqual([])
})

it('the CLI reference names every command and every option the CLI has', () => {
  const reference = readFileSync(join(docsDir, 'cli.md'), 'utf8')
  const topHelp = cli(['--help']).stdout
  for (const [, command] of topHelp.matchAll(/^ {2}(\w[\w-]*)\s{2,}/gm)) {
    expect(reference, `passerelle ${command}`).toContain(`## passerelle ${command}`)
    for (const [option] of helpOf(command!).text.matchAll(/--[a-z][a-z-]*/g)) expect(reference, `passerelle ${command} ${option}`).toContain(option)
  }
})

/**
 * The status each documented curl command must answer, by method and path. The connectors it runs
 * against are fresh: ids the docs show as examples are unknown to them (404), peers other than the
 * example's are not running.
 */
/**
 * Commands whose status depends on what they send, not only on method and path: the S3 push example
 * names a secret the fresh connector does not hold, which the docs say answers 400.
 */
const expectedByBody: Array<[key: string, text: RegExp, status: number]> = [['POST /management/v1/transfers', /"s3":\{/, 400]]

const expectedStatus: Record<string, number> = {
  'GET /health': 200,
  'GET /health/live': 200,
  'GET /health/ready': 200,
  'GET /.well-known/dspace-version': 200,
  'GET /management/v1/openapi.json': 200,
  'GET /management/v1/participant': 200,
  'GET /management/v1/datasets': 200,
  'POST /management/v1/datasets': 201,
  'GET /management/v1/datasets/urn:uuid:5d0c4b7e-2f1a-4c3e-9d55-6a2f0e8b1c44': 200,
  'DELETE /management/v1/datasets/urn:uuid:5d0c4b7e-2f1a-4c3e-9d55-6a2f0e8b1c44': 204,
  'POST /management/v1/files/buoys.csv': 201,
  'GET /management/v1/catalog/problems': 200,
  'GET /management/v1/policies': 200,
  'GET /management/v1/policies/research-only': 200,
  'POST /management/v1/policies/research-only/evaluate': 200,
  'POST /management/v1/policies/members-only/test': 200,
  'GET /management/v1/catalog/preview': 200,
  'POST /management/v1/peers': 201,
  'GET /management/v1/peers': 200,
  'GET /management/v1/outbox/peers': 200,
  'GET /management/v1/federated-catalog': 200,
  // The seed asks the example's agency (running) for its precipitation series: the negotiation starts.
  'POST /management/v1/negotiations': 201,
  'GET /management/v1/negotiations': 200,
  'GET /management/v1/negotiations/counts': 200,
  'GET /management/v1/negotiations/urn:uuid:2c8f1e4a-7b3d-4f6e-a1c9-5d8e2b7f0a13': 404,
  'GET /management/v1/agreements': 200,
  'POST /management/v1/transfers': 404,
  'GET /management/v1/transfers/urn:uuid:4286f6d6-a93a-41ec-97a5-6486ea4fc34a': 404,
  'GET /management/v1/transfers/urn:uuid:4286f6d6-a93a-41ec-97a5-6486ea4fc34a/data': 404,
  'POST /management/v1/transfers/urn:uuid:4286f6d6-a93a-41ec-97a5-6486ea4fc34a/complete': 404,
  'GET /management/v1/agreements/urn:uuid:93afe998-0994-4b7f-aca2-cb1b087d66c0/obligations': 404,
  'POST /management/v1/agreements/urn:uuid:93afe998-0994-4b7f-aca2-cb1b087d66c0/obligations/obligation-1': 404,
  'GET /management/v1/credentials': 200,
  // The example's authority publishes the data space's participant list.
  'GET /registry.json': 200,
}

describe('curl commands in the docs, against running connectors', () => {
  let seed: ParticipantFolder
  let seedProcess: ConnectorProcess
  const space = new DataSpace()
  const ports = new Map<number, number>()
  let cwd: string

  beforeAll(async () => {
    cwd = mkdtempSync(join(tmpdir(), 'passerelle-docs-curl-'))
    seed = await copyParticipant()
    // The seed joins the example's data space: each side may reach the other (and only it).
    await space.prepare({ guests: [seed.port] })
    ports.set(8181, seed.port)
    ports.set(shipped.authority.port, Number(new URL(space.authorities['eu-climate'].url).port))
    ports.set(shipped.authorityCa.port, Number(new URL(space.authorities['ca-climate'].url).port))
    for (const member of ['institute', 'agency', 'company'] as const) ports.set(shipped[member].port, space.participants[member].port)
    for (const [shippedPort, port] of ports) if (shippedPort !== 8181) allowPort(port)
    seedProcess = await startConnectorProcess(seed)
    await space.start()
  }, 120_000)
  afterAll(async () => {
    await seedProcess?.stop()
    seed?.remove()
    await space.stop()
    rmSync(cwd, { recursive: true, force: true })
  })

  it('finds curl commands to run', () => {
    expect(curlCommands.length).toBeGreaterThan(15)
  })

  it.each(curlCommands.map((c) => [`${c.file}:${c.line}`, c] as const))('%s answers the expected status', async (_where, command) => {
    const args = words(command.text).slice(1)
    const closed = await freePort()
    const rewritten = args.map((a) =>
      a.replace(/(127\.0\.0\.1(?::|%3A))(\d+)/g, (_m, prefix: string, port: string) => `${prefix}${ports.get(Number(port)) ?? closed}`),
    )
    const url = new URL(rewritten.find((a) => a.startsWith('http://'))!)
    const method = rewritten.includes('-X') ? rewritten[rewritten.indexOf('-X') + 1]! : 'GET'
    const key = `${method} ${url.pathname}`
    expect(Object.keys(expectedStatus), `no expected status for \`${key}\` (${command.file}:${command.line}): add one`).toContain(key)
    const bodyFile = join(cwd, 'response.body')
    const output = rewritten.includes('-o') ? [] : ['-o', bodyFile]
    const status = execFileSync('curl', ['-s', ...output, '-w', '%{http_code}', ...rewritten], { cwd, encoding: 'utf8', timeout: 30_000 }).trim()
    const body = output.length ? readFileSync(bodyFile, 'utf8').slice(0, 500) : ''
    const byBody = expectedByBody.find(([k, pattern]) => k === key && pattern.test(command.text))
    expect({ command: key, status: Number(status.slice(-3)) }, body).toEqual({ command: key, status: byBody?.[2] ?? expectedStatus[key] })
  })
})
