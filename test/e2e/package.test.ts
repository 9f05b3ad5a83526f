import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fromRoot } from '../../connector/paths.ts'
import { freePort, until } from '../support/processes.ts'

/**
 * The package an operator installs: `npm pack` and what is in it, then `passerelle` run from it
 * (init, start, health, stop): always from the packed files beside the dependencies already
 * installed, and with PASSERELLE_TEST_PACKAGE_INSTALL=1 through a real `npm i -g` into a prefix.
 */
let work: string
let tarball: string
let files: string[]

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'passerelle-package-'))
  const pack = spawnSync('npm', ['pack', '--json', '--pack-destination', work], { cwd: fromRoot(), encoding: 'utf8' })
  expect(pack.status, pack.stderr).toBe(0)
  const [packed] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as Array<{ filename: string; files: Array<{ path: string }> }>
  tarball = join(work, packed!.filename)
  files = packed!.files.map((f) => f.path)
}, 120_000)
afterAll(() => rmSync(work, { recursive: true, force: true }))

/** init, start, /health, SIGTERM: the operator's first minutes with an installed `passerelle`. */
async function firstRun(passerelle: string[]) {
  const participant = join(work, `participant-${Math.random().toString(36).slice(2)}`)
  const port = await freePort()
  const init = spawnSync(passerelle[0]!, [...passerelle.slice(1), 'init', participant, '--host', '127.0.0.1', '--port', String(port)], {
    encoding: 'utf8',
  })
  expect(init.status, init.stderr).toBe(0)
  const child = spawn(passerelle[0]!, [...passerelle.slice(1), 'start', '--config', join(participant, 'passerelle.yaml')], {
    env: { ...process.env, PASSERELLE_LOG_LEVEL: 'warn', OTEL_SDK_DISABLED: 'true' },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const output: string[] = []
  child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  try {
    const health = await until(async () => {
      const response = await fetch(`http://127.0.0.1:${port}/health`)
      return response.status === 200 ? ((await response.json()) as Record<string, unknown>) : undefined
    }, 30_000)
    expect(health).toBeTruthy()
    const did = await (await fetch(`http://127.0.0.1:${port}/.well-known/did.json`)).json()
    expect(did).toMatchObject({ id: `did:web:127.0.0.1%3A${port}` })
  } finally {
    process.kill(child.pid!, 'SIGTERM')
  }
  expect(await exited, output.join('')).toBe(0)
}

describe('the npm package', () => {
  it('holds the executable, the bundle, the migrations, the seed, the bundled specifications and pinned dependencies, and nothing of the tests', () => {
    for (const expected of [
      'bin/passerelle.js',
      'dist/passerelle.js',
      'connector/store/migrations/sqlite/meta/_journal.json',
      'connector/store/migrations/postgres/meta/_journal.json',
      'seeds/passerelle.yaml',
      'spec/odrl-2.2/odrl.jsonld',
      'spec/dcat-ap-3.0.1/SOURCE.md',
      'npm-shrinkwrap.json',
      'CHANGELOG.md',
    ])
      expect(files).toContain(expected)
    expect(files.filter((f) => /^(test|bench|examples)\/|\.test\.ts$|\/data\/|\.tgz$/.test(f))).toEqual([])
    // The shrinkwrap is written for the pack only, never left in the tree.
    expect(existsSync(fromRoot('npm-shrinkwrap.json'))).toBe(false)
  })

  it('runs from its packed files: init, start, health, stop', async () => {
    const root = join(work, 'unpacked')
    mkdirSync(root)
    expect(spawnSync('tar', ['xzf', tarball, '-C', root]).status).toBe(0)
    // The dependencies already installed stand in for those npm would install.
    symlinkSync(fromRoot('node_modules'), join(root, 'package', 'node_modules'))
    await firstRun([process.execPath, join(root, 'package', 'bin', 'passerelle.js')])
  }, 120_000)

  // Opt-in: the install compiles the SQLite driver from source (its prebuilt binary is downloaded
  // from GitHub, often unreachable), which takes minutes on a small machine, and needs every
  // dependency in the npm cache when offline.
  it.runIf(process.env.PASSERELLE_TEST_PACKAGE_INSTALL === '1')(
    'installs with npm i -g into a prefix and runs: init, start, health, stop',
    async () => {
      const prefix = join(work, 'prefix')
      const install = spawn('npm', ['i', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball], {
        stdio: ['ignore', 'ignore', 'pipe'],
      })
      const errors: string[] = []
      install.stderr!.on('data', (chunk: Buffer) => errors.push(chunk.toString('utf8')))
      const code = await new Promise<number | null>((resolve) => install.once('exit', resolve))
      expect(code, errors.join('')).toBe(0)
      expect(readdirSync(join(prefix, 'bin'))).toContain('passerelle')
      await firstRun([join(prefix, 'bin', 'passerelle')])
    },
    900_000,
  )
})
