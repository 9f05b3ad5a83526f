import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { fromRoot } from '../paths.ts'
import { runCatalogCommand } from './cli.ts'

let dirs: string[] = []
afterEach(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
  dirs = []
})

function io(cwd: string) {
  const out: string[] = []
  const err: string[] = []
  return { io: { stdout: (t: string) => void out.push(t), stderr: (t: string) => void err.push(t), cwd, env: {} }, out, err }
}

function folder() {
  const root = mkdtempSync(join(tmpdir(), 'catalog-cli-'))
  dirs.push(root)
  cpSync(fromRoot('seeds/datasets'), join(root, 'datasets'), { recursive: true })
  cpSync(fromRoot('seeds/files'), join(root, 'files'), { recursive: true })
  return root
}

describe('passerelle catalog validate', () => {
  it('accepts the seed datasets and exits 0', async () => {
    const root = folder()
    const { io: cli, out } = io(root)
    expect(await runCatalogCommand(['validate'], cli)).toBe(0)
    expect(out.at(-1)).toBe('5 files, 5 valid, 0 problems')
  })

  it('prints file:line: field: message for each problem and exits 1', async () => {
    const root = folder()
    const path = join(root, 'datasets/arctic-sea-ice-extent.yaml')
    writeFileSync(path, readFileSync(path, 'utf8').replace('byteSize: 3812', 'byteSize: 3811').replace('version: "2024.2"', 'version: "2024.2"\ncolour: blue'))
    const { io: cli, out } = io('/')
    expect(await runCatalogCommand(['validate', root], cli)).toBe(1)
    expect(out).toContainEqual(expect.stringMatching(/^datasets\/arctic-sea-ice-extent\.yaml:\d+: colour: unknown key colour$/))
    expect(out.at(-1)).toBe('5 files, 4 valid, 1 problem')
  })

  it('refuses an unknown sub-command', async () => {
    await expect(runCatalogCommand(['publish'], io('/').io)).rejects.toThrow(/unknown catalog command/)
  })
})

describe('passerelle catalog show', () => {
  function participant() {
    const root = folder()
    cpSync(fromRoot('seeds/policies'), join(root, 'policies'), { recursive: true })
    writeFileSync(join(root, 'passerelle.yaml'), 'participant:\n  id: did:web:127.0.0.1%3A8181\n  name: Observatoire\n')
    return root
  }

  it('shows a stranger the public datasets only, and a member all of them', async () => {
    const root = participant()
    const stranger = io(root)
    expect(await runCatalogCommand(['show', '--as', 'did:web:stranger.example'], stranger.io)).toBe(0)
    expect(stranger.out[0]).toBe('did:web:stranger.example sees 4 of 5 datasets:')
    expect(stranger.out.join('\n')).not.toContain('urn:uuid:d9c7c33d-9423-4f98-9122-8c84794feb94')
    const member = io(root)
    expect(await runCatalogCommand(['show', '--as', 'did:web:member.example', '--credential', 'MembershipCredential'], member.io)).toBe(0)
    expect(member.out[0]).toBe('did:web:member.example sees 5 of 5 datasets:')
    expect(member.out.join('\n')).toContain('urn:uuid:d9c7c33d-9423-4f98-9122-8c84794feb94  Wildfire risk index')
  })

  it('prints the DSP catalog with --json', async () => {
    const root = participant()
    const cli = io(root)
    expect(await runCatalogCommand(['show', '--json'], cli.io)).toBe(0)
    expect(JSON.parse(cli.out[0]!)).toMatchObject({ '@type': 'Catalog', participantId: 'did:web:127.0.0.1%3A8181' })
  })
})
