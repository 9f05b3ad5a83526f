import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
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
  cpSync(fromRoot('seeds/policies'), join(root, 'policies'), { recursive: true })
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

  it('refuses an S3 key with .. and a storage endpoint at a private address, and accepts a folder under the files root', async () => {
    const root = folder()
    const path = join(root, 'datasets/arctic-sea-ice-extent.yaml')
    const s3 = (key: string, endpoint: string) =>
      `  - mediaType: text/csv\n    s3:\n      bucket: climate-series\n      key: ${key}\n      endpoint: ${endpoint}\n      pathStyle: true\n      credentials: climate-store\n`
    const text = readFileSync(path, 'utf8').replace(
      'policies: [open-with-attribution]',
      `${s3('series/../../etc/passwd', 'https://storage.example.org')}${s3('series/2020.csv', 'http://10.0.0.7:9000')}  - mediaType: text/csv\n    folder: files/stations\npolicies: [open-with-attribution]`,
    )
    writeFileSync(path, text)
    mkdirSync(join(root, 'files/stations'))
    writeFileSync(join(root, 'files/stations/a.csv'), 'station,t\n')
    const { io: cli, out } = io('/')
    expect(await runCatalogCommand(['validate', root], cli)).toBe(1)
    expect(out).toContainEqual(
      expect.stringMatching(/arctic-sea-ice-extent\.yaml:\d+: distributions\.1\.s3\.key: expected a key without a leading \/ or \. and \.\. segments$/),
    )
    // The schema stops at the first broken field; the endpoint is judged once the key is fixed.
    writeFileSync(path, text.replace('series/../../etc/passwd', 'series/2019.csv'))
    const again = io('/')
    expect(await runCatalogCommand(['validate', root], again.io)).toBe(1)
    expect(again.out).toContainEqual(
      expect.stringMatching(
        /distributions\.2\.s3\.endpoint: the connector may not reach this endpoint: 10\.0\.0\.7 port 9000 is a private address not in egress\.allow$/,
      ),
    )
    expect(again.out.at(-1)).toBe('5 files, 4 valid, 1 problem')
  })

  it('accepts presign on an S3 object with its ttl, and refuses a ttl over an hour, presign on a prefix and presign without credentials', async () => {
    const root = folder()
    const path = join(root, 'datasets/arctic-sea-ice-extent.yaml')
    const original = readFileSync(path, 'utf8')
    const withS3 = (fields: string) =>
      original.replace(
        'policies: [open-with-attribution]',
        `  - mediaType: text/csv\n    s3:\n      bucket: climate-series\n      endpoint: https://storage.example.org\n${fields}policies: [open-with-attribution]`,
      )
    const validate = async (fields: string) => {
      writeFileSync(path, withS3(fields))
      const run = io('/')
      return { code: await runCatalogCommand(['validate', root], run.io), out: run.out }
    }
    const good = await validate('      key: series/2020.csv\n      credentials: climate-store\n      presign:\n        ttl: 600\n')
    expect(good.out.at(-1)).toBe('5 files, 5 valid, 0 problems')
    expect(good.code).toBe(0)
    const defaulted = await validate('      key: series/2020.csv\n      credentials: climate-store\n      presign: {}\n')
    expect(defaulted.code).toBe(0)
    for (const [fields, message] of [
      [
        '      key: series/2020.csv\n      credentials: climate-store\n      presign:\n        ttl: 86400\n',
        /s3\.presign\.ttl: expected at most 3600 seconds \(one hour\)/,
      ],
      ['      key: series/2020.csv\n      credentials: climate-store\n      presign:\n        ttl: 0\n', /s3\.presign\.ttl: expected at least 1 second$/],
      ['      key: series/2020.csv\n      credentials: climate-store\n      presign: true\n', /s3\.presign: /],
      ['      prefix: stations/\n      credentials: climate-store\n      presign: {}\n', /s3\.presign: presign applies to one object \(key\), not to a prefix/],
      ['      key: series/2020.csv\n      presign: {}\n', /s3\.presign: presign needs credentials to sign with/],
    ] as const) {
      const bad = await validate(fields)
      expect(bad.code).toBe(1)
      expect(bad.out).toContainEqual(expect.stringMatching(message))
    }
  })

  it('error: a dataset naming a policy file that does not exist is a problem, with the known ids', async () => {
    const root = folder()
    const path = join(root, 'datasets/arctic-sea-ice-extent.yaml')
    writeFileSync(path, readFileSync(path, 'utf8').replace(/^policies: \[.*\]$/m, 'policies: [no-such-policy]'))
    const { io: cli, out } = io(root)
    expect(await runCatalogCommand(['validate'], cli)).toBe(1)
    expect(out).toContainEqual(
      expect.stringMatching(
        /^datasets\/arctic-sea-ice-extent\.yaml:\d+: policies\.0: unknown policy no-such-policy: no policy file with that id \(known: .*research-only/,
      ),
    )
    expect(out.at(-1)).toBe('5 files, 4 valid, 1 problem')
  })

  it('error: with no policies folder, every policy a dataset names is a problem', async () => {
    const root = folder()
    rmSync(join(root, 'policies'), { recursive: true })
    const { io: cli, out } = io(root)
    expect(await runCatalogCommand(['validate'], cli)).toBe(1)
    expect(out.at(-1)).toMatch(/^5 files, 0 valid, \d+ problems$/)
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
    // Each offer by its policy's readable id, title and description.
    expect(member.out.join('\n')).toMatch(/\n {4}offer `research-only` \(“Research use only”\)/)
  })

  it('prints the DSP catalog with --json', async () => {
    const root = participant()
    const cli = io(root)
    expect(await runCatalogCommand(['show', '--json'], cli.io)).toBe(0)
    expect(JSON.parse(cli.out[0]!)).toMatchObject({ '@type': 'Catalog', participantId: 'did:web:127.0.0.1%3A8181' })
  })
})
