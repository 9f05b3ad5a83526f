import { spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { fromRoot } from '../../connector/paths.ts'

// The built CLI with only the modules its entry file imports statically: the dispatcher and the
// help texts. Every command's own modules (and the connector they use) are loaded by dynamic
// import(), so here they are missing; a command that needed them for its help would fail to load.
const copy = mkdtempSync(join(tmpdir(), 'passerelle-cli-help-'))
const dist = join(copy, 'dist')
cpSync(fromRoot('dist'), dist, { recursive: true })
// How the CLI finds its package root.
cpSync(fromRoot('package.json'), join(copy, 'package.json'))
mkdirSync(join(copy, 'connector'))
const staticImports = (file: string) =>
  [...readFileSync(file, 'utf8').matchAll(/import(?:\{[^}]*\}from)?"(\.{1,2}\/[^"]+\.js)"/g)].map((m) => join(file, '..', m[1]!))
const kept = new Set<string>()
const pending = [join(dist, 'passerelle.js')]
while (pending.length > 0) {
  const file = pending.pop()!
  if (kept.has(file)) continue
  kept.add(file)
  pending.push(...staticImports(file))
}
for (const name of readdirSync(join(dist, 'chunks'))) {
  const file = join(dist, 'chunks', name)
  if (name.endsWith('.js') && !kept.has(file)) rmSync(file)
}
afterAll(() => rmSync(copy, { recursive: true, force: true }))

const run = (entry: string, args: string[]) => {
  const result = spawnSync(process.execPath, [entry, ...args], { cwd: fromRoot(), encoding: 'utf8', env: { ...process.env, OTEL_SDK_DISABLED: 'true' } })
  return { status: result.status, output: result.stdout + result.stderr }
}

describe('passerelle <command> --help (built CLI)', () => {
  const top = run(fromRoot('dist/passerelle.js'), ['--help'])
  const names = top.output
    .split('\n')
    .filter((line) => /^ {2}\w/.test(line))
    .map((line) => line.trim().split(/\s+/)[0]!)

  it('prints every command’s help (--help and -h) without loading any command', () => {
    expect(names.length).toBeGreaterThan(15)
    for (const name of names) {
      const light = run(join(dist, 'passerelle.js'), [name, '--help'])
      expect(light.status, name).toBe(0)
      expect(light.output, name).toMatch(/^Usage: passerelle/)
      expect(run(join(dist, 'passerelle.js'), [name, '-h']).output, name).toBe(light.output)
    }
    // A subcommand's help of `policy` too.
    expect(run(join(dist, 'passerelle.js'), ['policy', 'lint', '--help']).output).toMatch(/^Usage: passerelle policy lint/)
  })

  // Help asked after other arguments goes through the command itself (the full build): --help is
  // its option, not an unknown one.
  it('prints a command’s help when --help follows other arguments', () => {
    const cases = [
      ['search', 'climate', '--help'],
      ['federation', 'peers', '--help'],
      ['start', '--port', '1', '--help'],
      ['doctor', '--offline', '--help'],
      ['init', '--name', 'x', '--help'],
      ['audit', 'verify', '--help'],
      ['negotiate', 'http://127.0.0.1:1/dsp', 'dataset', '--help'],
      ['transfer', 'agreement', '--help'],
    ]
    for (const args of cases) {
      const answer = run(fromRoot('dist/passerelle.js'), args)
      expect({ args, status: answer.status }).toEqual({ args, status: 0 })
      expect(answer.output, args.join(' ')).toMatch(new RegExp(`Usage: passerelle ${args[0]}`))
    }
  })

  it('loads the command when it has to run (the stripped build cannot)', () => {
    expect(run(fromRoot('dist/passerelle.js'), ['version']).status).toBe(0)
    const stripped = run(join(dist, 'passerelle.js'), ['version'])
    expect(stripped.status).toBe(1)
    expect(stripped.output).toMatch(/Cannot find module|ERR_MODULE_NOT_FOUND/)
  })
})
