import { createHash } from 'node:crypto'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { runCli } from '../cli/main.ts'
import { fromRoot } from '../paths.ts'

/**
 * `passerelle dataset add` through the CLI's entry point, on a copy of the seed participant folder:
 * what it writes is what `catalog validate` accepts, and every bad input is refused with nothing written.
 */
let dirs: string[] = []
let servers: Server[] = []
afterEach(async () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
  for (const s of servers) await new Promise((r) => s.close(r))
  dirs = []
  servers = []
})

function participant(options: { datasets?: boolean } = {}) {
  const root = mkdtempSync(join(tmpdir(), 'dataset-add-'))
  dirs.push(root)
  writeFileSync(join(root, 'passerelle.yaml'), readFileSync(fromRoot('seeds/passerelle.yaml'), 'utf8'))
  if (options.datasets !== false) cpSync(fromRoot('seeds/datasets'), join(root, 'datasets'), { recursive: true })
  else mkdirSync(join(root, 'datasets'))
  cpSync(fromRoot('seeds/files'), join(root, 'files'), { recursive: true })
  cpSync(fromRoot('seeds/policies'), join(root, 'policies'), { recursive: true, filter: (f) => !f.endsWith('.test.yaml') })
  cpSync(fromRoot('seeds/identity'), join(root, 'identity'), { recursive: true })
  return root
}

async function cli(cwd: string, ...argv: string[]) {
  const out: string[] = []
  const err: string[] = []
  const code = await runCli(argv, { stdout: (t) => void out.push(t), stderr: (t) => void err.push(t), cwd, env: {} })
  return { code, out: out.join('\n'), err: err.join('\n') }
}

const sha256 = (bytes: string | Buffer) => createHash('sha256').update(bytes).digest('hex')
const today = () => new Date().toISOString().slice(0, 10)
const datasetFiles = (root: string) => readdirSync(join(root, 'datasets')).sort()

describe('passerelle dataset add FILE', () => {
  it('writes a dataset file that catalog validate accepts, with size, checksum, media type and dates filled in', async () => {
    const root = participant()
    const data = 'station,date,mm\nQC-01,2024-02-01,3.2\n'
    writeFileSync(join(root, 'files/precipitation-2024-02.csv'), data)
    const added = await cli(
      root,
      'dataset',
      'add',
      'files/precipitation-2024-02.csv',
      '--policy',
      'open-with-attribution',
      '--title',
      'Precipitation, February 2024',
    )
    expect(added.code, added.err).toBe(0)
    expect(added.out).toContain('wrote datasets/precipitation-2024-02.yaml')
    const written = parse(readFileSync(join(root, 'datasets/precipitation-2024-02.yaml'), 'utf8'))
    expect(written).toMatchObject({
      title: 'Precipitation, February 2024',
      issued: today(),
      modified: today(),
      distributions: [{ file: 'files/precipitation-2024-02.csv', mediaType: 'text/csv', byteSize: Buffer.byteLength(data), sha256: sha256(data) }],
      policies: ['open-with-attribution'],
    })
    expect(written.id).toMatch(/^urn:uuid:[0-9a-f-]{36}$/)
    // Publisher, contact point and licence: those of the seed datasets.
    expect(written.publisher.name.en).toBe('St. Lawrence Climate Observatory')
    expect(written.license).toMatch(/^https:\/\/creativecommons\.org\//)
    const validated = await cli(root, 'catalog', 'validate')
    expect(validated.out).toContain('6 files, 6 valid, 0 problems')
  })

  it('never replaces an existing file without --force, and --force replaces it', async () => {
    const root = participant()
    writeFileSync(join(root, 'files/a.csv'), 'x\n1\n')
    expect((await cli(root, 'dataset', 'add', 'files/a.csv', '--policy', 'research-only', '--id', 'dataset-a')).code).toBe(0)
    const first = readFileSync(join(root, 'datasets/a.yaml'), 'utf8')
    writeFileSync(join(root, 'files/a.csv'), 'x\n1\n2\n')
    const again = await cli(root, 'dataset', 'add', 'files/a.csv', '--policy', 'research-only', '--id', 'dataset-b')
    expect(again.code).toBe(2)
    expect(again.err).toContain('datasets/a.yaml already exists: pass --force to replace it, or refresh it with --update datasets/a.yaml')
    expect(readFileSync(join(root, 'datasets/a.yaml'), 'utf8')).toBe(first)
    const forced = await cli(root, 'dataset', 'add', 'files/a.csv', '--policy', 'research-only', '--id', 'dataset-b', '--force')
    expect(forced.code, forced.out).toBe(0)
    expect(parse(readFileSync(join(root, 'datasets/a.yaml'), 'utf8'))).toMatchObject({ id: 'dataset-b', distributions: [{ byteSize: 6 }] })
  })

  it.each([
    ['a missing file', ['files/none.csv', '--policy', 'research-only'], 'no such file or folder: files/none.csv'],
    ['a path escaping the participant folder', ['../../etc/hostname', '--policy', 'research-only'], 'is outside the participant folder'],
    ['a file outside the files folder', ['passerelle.yaml', '--policy', 'research-only'], 'is outside the files folder (files)'],
    ['a private key linked into the files folder', ['files/key.jwk', '--policy', 'research-only'], 'symbolic link that leads outside the files folder'],
    ['an unknown policy id', ['files/a.csv', '--policy', 'research'], 'unknown policy research: no policy file with that id (known: embargo-2027, '],
    ['no policy', ['files/a.csv'], "give the dataset's offers with --policy ID (known: embargo-2027, eu-or-canada-processing, members-climate-research"],
    [
      'an --out escaping the participant folder',
      ['files/a.csv', '--policy', 'research-only', '--out', '../elsewhere.yaml'],
      'is outside the participant folder',
    ],
    [
      'an --out that is not a dataset file',
      ['files/a.csv', '--policy', 'research-only', '--out', 'passerelle.yaml', '--force'],
      'expected a .yaml file in the datasets folder (datasets)',
    ],
    [
      'an --out through a symbolic link',
      ['files/a.csv', '--policy', 'research-only', '--out', 'datasets/link.yaml', '--force'],
      'datasets/link.yaml is a symbolic link: not written through',
    ],
    [
      'an id already used',
      ['files/a.csv', '--policy', 'research-only', '--id', 'urn:uuid:0f3cee7e-e077-4be0-9365-3a791567f70e'],
      'is already used by datasets/arctic-sea-ice-extent.yaml',
    ],
  ])('refuses %s with a clear error and writes nothing', async (_case, args, message) => {
    const root = participant()
    writeFileSync(join(root, 'files/a.csv'), 'x\n1\n')
    symlinkSync(join(root, 'identity/private-key.jwk'), join(root, 'files/key.jwk'))
    symlinkSync(join(root, 'identity/private-key.jwk'), join(root, 'datasets/link.yaml'))
    const config = readFileSync(join(root, 'passerelle.yaml'), 'utf8')
    const key = readFileSync(join(root, 'identity/private-key.jwk'), 'utf8')
    const before = datasetFiles(root)
    const result = await cli(root, 'dataset', 'add', ...(args as string[]))
    expect(result.code).toBe(2)
    expect(result.err).toContain(message)
    expect(datasetFiles(root)).toEqual(before)
    expect(existsSync(join(root, '..', 'elsewhere.yaml'))).toBe(false)
    expect(readFileSync(join(root, 'passerelle.yaml'), 'utf8')).toBe(config)
    expect(readFileSync(join(root, 'identity/private-key.jwk'), 'utf8')).toBe(key)
  })

  it('without another dataset to copy from, asks for the contact point and licence and writes nothing', async () => {
    const root = participant({ datasets: false })
    writeFileSync(join(root, 'files/a.csv'), 'x\n1\n')
    const missing = await cli(root, 'dataset', 'add', 'files/a.csv', '--policy', 'research-only')
    expect(missing.code).toBe(1)
    expect(missing.out).toContain('datasets/a.yaml:')
    expect(missing.out).toContain('contactPoint: missing mandatory field')
    expect(missing.out).toContain('give --contact "NAME <EMAIL>" and --license IRI')
    expect(datasetFiles(root)).toEqual([])
    const given = await cli(
      root,
      'dataset',
      'add',
      'files/a.csv',
      '--policy',
      'research-only',
      '--contact',
      'Data desk <data@institute.example>',
      '--license',
      'https://creativecommons.org/licenses/by/4.0/',
    )
    expect(given.code, given.out).toBe(0)
    expect(parse(readFileSync(join(root, 'datasets/a.yaml'), 'utf8'))).toMatchObject({
      publisher: { name: 'Observatoire climatique du Saint-Laurent' },
      contactPoint: { name: 'Data desk', email: 'data@institute.example' },
    })
  })
})

describe('passerelle dataset add FOLDER', () => {
  it('describes a folder under the files folder as an archive, with the media type of its files and no size', async () => {
    const root = participant()
    mkdirSync(join(root, 'files/stations'))
    writeFileSync(join(root, 'files/stations/a.csv'), 'station,t\n')
    writeFileSync(join(root, 'files/stations/b.csv'), 'station,t\n')
    writeFileSync(join(root, 'files/stations/README.txt'), 'about\n')
    const added = await cli(root, 'dataset', 'add', 'files/stations', '--policy', 'members-only')
    expect(added.code, added.out).toBe(0)
    const written = parse(readFileSync(join(root, 'datasets/stations.yaml'), 'utf8'))
    expect(written.distributions).toEqual([{ folder: 'files/stations', mediaType: 'text/csv' }])
    expect((await cli(root, 'catalog', 'validate')).code).toBe(0)
  })
})

describe('passerelle dataset add URL', () => {
  async function upstream(body: string, type = 'text/csv; charset=utf-8') {
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': type, 'content-length': Buffer.byteLength(body) })
      res.end(body)
    })
    servers.push(server)
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    return (server.address() as AddressInfo).port
  }
  const allow = (root: string, port: number) => {
    const config = readFileSync(join(root, 'passerelle.yaml'), 'utf8')
    writeFileSync(join(root, 'passerelle.yaml'), config.replace('    - 127.0.0.1:8190', `    - 127.0.0.1:8190\n    - 127.0.0.1:${port}`))
  }

  it('refuses a URL the egress policy does not allow, and writes nothing', async () => {
    const root = participant()
    const port = await upstream('a,b\n')
    const result = await cli(root, 'dataset', 'add', `http://127.0.0.1:${port}/series.csv`, '--policy', 'research-only')
    expect(result.code).toBe(2)
    expect(result.err).toContain(`the connector may not read http://127.0.0.1:${port}/series.csv`)
    expect(result.err).toContain('not in egress.allow')
    expect(datasetFiles(root)).not.toContain('series.yaml')
  })

  it('fetches an allowed URL once through the egress policy: size, checksum and media type as served', async () => {
    const root = participant()
    const body = 'year,extent\n2024,4.28\n'
    const port = await upstream(body)
    allow(root, port)
    const result = await cli(root, 'dataset', 'add', `http://127.0.0.1:${port}/series.csv`, '--policy', 'research-only')
    expect(result.code, result.err + result.out).toBe(0)
    const written = parse(readFileSync(join(root, 'datasets/series.yaml'), 'utf8'))
    expect(written.distributions).toEqual([
      { url: `http://127.0.0.1:${port}/series.csv`, mediaType: 'text/csv', byteSize: Buffer.byteLength(body), sha256: sha256(body) },
    ])
    expect((await cli(root, 'catalog', 'validate')).out).toContain('0 problems')
  })
})

describe('passerelle dataset add --update', () => {
  it("refreshes size, checksum and modified of a changed file, keeping the file's comments", async () => {
    const root = participant()
    const file = 'datasets/arctic-sea-ice-extent.yaml'
    const data = join(root, 'files/arctic-sea-ice-extent-monthly-2015-2024.csv')
    expect((await cli(root, 'dataset', 'add', '--update', file)).out).toBe(`${file}: unchanged`)
    writeFileSync(data, `${readFileSync(data, 'utf8')}2025-01,13.1,12.0,-0.4\n`)
    expect((await cli(root, 'catalog', 'validate')).code).toBe(1)
    const updated = await cli(root, 'dataset', 'add', '--update', file)
    expect(updated.code, updated.out).toBe(0)
    expect(updated.out).toContain('distributions.0.byteSize: 3812 → ')
    const text = readFileSync(join(root, file), 'utf8')
    expect(text.startsWith('# Monthly Arctic sea-ice extent. Open to everyone, with attribution.')).toBe(true)
    expect(parse(text)).toMatchObject({ modified: today(), distributions: [{ byteSize: readFileSync(data).length, sha256: sha256(readFileSync(data)) }] })
    expect((await cli(root, 'catalog', 'validate')).code).toBe(0)
  })

  it('refuses a dataset file outside the participant folder', async () => {
    const root = participant()
    const result = await cli(root, 'dataset', 'add', '--update', '/etc/hostname')
    expect(result.code).toBe(2)
    expect(result.err).toContain('is outside the participant folder')
  })
})
