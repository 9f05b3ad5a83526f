import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { fromRoot } from '../connector/paths.ts'
import { parseDatasetText, readDatasetsDir, formatFileError } from './dataset-files.ts'
import type { FilesRoot } from './files-root.ts'

const policyIds = new Set(['research-only', 'eu-or-canada-processing', 'members-only', 'open-with-attribution'])
const seeds = fromRoot('seeds')
const temperature = readFileSync(join(seeds, 'datasets/quebec-daily-temperature.yaml'), 'utf8')

let dirs: string[] = []
afterEach(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
  dirs = []
})

/** A participant folder holding a copy of the seed files and the given dataset files. */
function participant(files: Record<string, string>) {
  const root = mkdtempSync(join(tmpdir(), 'catalog-files-'))
  dirs.push(root)
  cpSync(join(seeds, 'files'), join(root, 'files'), { recursive: true })
  mkdirSync(join(root, 'datasets'))
  for (const [name, text] of Object.entries(files)) writeFileSync(join(root, 'datasets', name), text)
  return root
}

describe('seed dataset files', () => {
  it('are all valid, with their files present and their checksums right', async () => {
    const result = await readDatasetsDir(join(seeds, 'datasets'), { root: seeds, policyIds, verifyChecksums: true })
    expect(result.errors.map(formatFileError)).toEqual([])
    expect(result.datasets.length).toBeGreaterThanOrEqual(4)
    expect(result.datasets.every((d) => typeof d.dataset.title === 'object' && 'fr' in d.dataset.title)).toBe(true)
    expect(result.datasets.some((d) => d.dataset.visibility === 'members-only')).toBe(true)
  })
})

describe('dataset file errors name file, line and field', () => {
  it('reports an unknown key at its line', () => {
    const text = temperature.replace('version: "1.1"', 'version: "1.1"\nlicence: oops')
    const { errors } = parseDatasetText(text, 'datasets/t.yaml')
    const line = text.split('\n').findIndex((l) => l.startsWith('licence:')) + 1
    expect(errors).toEqual([{ file: 'datasets/t.yaml', line, field: 'licence', message: 'unknown key licence' }])
  })

  it('reports a missing mandatory field', () => {
    const text = temperature.replace(/^license: .*\n/m, '')
    const { errors } = parseDatasetText(text, 'datasets/t.yaml')
    // The first line of the mapping (line 1 is a comment).
    expect(errors).toEqual([{ file: 'datasets/t.yaml', line: 2, field: 'license', message: 'missing mandatory field' }])
  })

  it('reports a wrong value inside a distribution at the line of the value', () => {
    const text = temperature.replace('byteSize: 6281', 'byteSize: lots')
    const { errors } = parseDatasetText(text, 'datasets/t.yaml')
    const line = text.split('\n').findIndex((l) => l.includes('byteSize: lots')) + 1
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatchObject({ line, field: 'distributions.0.byteSize' })
  })

  it('reports YAML syntax errors with their line', () => {
    const { errors } = parseDatasetText('id: x\ntitle: a\ntitle: b\n', 'datasets/bad.yaml')
    expect(errors[0]).toMatchObject({ file: 'datasets/bad.yaml', field: '' })
    expect(errors[0]!.message).toMatch(/not valid YAML/)
    expect(errors[0]!.line).toBe(3)
  })

  it('reports an unknown policy, a missing file and a wrong size or checksum as broken references', async () => {
    const root = participant({
      'policy.yaml': temperature.replace('policies: [research-only]', 'policies: [research-only, no-such-policy]'),
      'missing.yaml': temperature
        .replace('urn:uuid:37b4f568-20c5-486a-abff-1eaa42633253', 'urn:uuid:1')
        .replace('files/quebec-daily-temperature-2024-01.csv', 'files/nope.csv'),
      'size.yaml': temperature.replace('urn:uuid:37b4f568-20c5-486a-abff-1eaa42633253', 'urn:uuid:2').replace('byteSize: 6281', 'byteSize: 6280'),
      'sum.yaml': temperature.replace('urn:uuid:37b4f568-20c5-486a-abff-1eaa42633253', 'urn:uuid:3').replace('sha256: f8', 'sha256: 08'),
    })
    const result = await readDatasetsDir(join(root, 'datasets'), { root, policyIds, verifyChecksums: true })
    expect(result.datasets).toEqual([])
    const byFile = Object.fromEntries(result.errors.map((e) => [e.file, e]))
    expect(byFile['datasets/policy.yaml']).toMatchObject({
      field: 'policies.1',
      message: expect.stringMatching(/^unknown policy no-such-policy: no policy file with that id \(known: /),
    })
    expect(byFile['datasets/missing.yaml']).toMatchObject({ field: 'distributions.0.file', message: 'no such file: files/nope.csv' })
    expect(byFile['datasets/size.yaml']).toMatchObject({ field: 'distributions.0.byteSize' })
    expect(byFile['datasets/sum.yaml']).toMatchObject({ field: 'distributions.0.sha256' })
    for (const e of result.errors) expect(e.line).toBeGreaterThan(1)
  })

  it('refuses a distribution path outside the participant folder', () => {
    const { errors } = parseDatasetText(temperature.replace('file: files/', 'file: ../../etc/'), 'datasets/t.yaml')
    expect(errors[0]).toMatchObject({ field: 'distributions.0.file', message: 'expected a path relative to the participant folder, without ..' })
  })

  it('reports a duplicate dataset id in a second file', async () => {
    const root = participant({ 'a.yaml': temperature, 'b.yaml': temperature })
    const result = await readDatasetsDir(join(root, 'datasets'), { root, policyIds })
    expect(result.datasets.map((d) => d.file)).toEqual(['datasets/a.yaml'])
    expect(result.errors).toEqual([{ file: 'datasets/b.yaml', line: 2, field: 'id', message: expect.stringContaining('already used by datasets/a.yaml') }])
  })
})

describe('distribution files confined to the files root', () => {
  const secret = '{"kty":"OKP","crv":"Ed25519","x":"x","d":"secret"}\n'
  /** The temperature dataset pointing at `file`, with the byte size and sha256 of that file's content. */
  const pointingAt = (file: string) =>
    temperature.replace('files/quebec-daily-temperature-2024-01.csv', file).replace('byteSize: 6281', `byteSize: ${secret.length}`)
  function withPrivateFiles(datasets: Record<string, string>) {
    const root = participant(datasets)
    mkdirSync(join(root, 'identity'))
    writeFileSync(join(root, 'identity/private-key.jwk'), secret, { mode: 0o600 })
    writeFileSync(join(root, 'passerelle.yaml'), 'management:\n  apiKey: a-secret-management-key\n', { mode: 0o600 })
    const privatePlaces = [
      { path: join(root, 'identity/private-key.jwk'), what: 'a private identity key' },
      { path: join(root, 'identity'), what: 'the identity folder' },
      { path: join(root, 'passerelle.yaml'), what: 'the configuration' },
      { path: join(root, 'data'), what: 'the data folder' },
    ]
    return { root, files: (filesRoot: string): FilesRoot => ({ root: join(root, filesRoot), private: privatePlaces }) }
  }
  const problems = async (root: string, files: FilesRoot) =>
    (await readDatasetsDir(join(root, 'datasets'), { root, files, policyIds })).errors.map((e) => `${e.field}: ${e.message}`)

  it('refuses the private key, the configuration and the database outside the files folder, at their line', async () => {
    const { root, files } = withPrivateFiles({
      'key.yaml': pointingAt('identity/private-key.jwk'),
      'config.yaml': pointingAt('passerelle.yaml').replace('37b4f568', '37b4f569'),
      'db.yaml': pointingAt('data/passerelle.db').replace('37b4f568', '37b4f56a'),
    })
    const result = await readDatasetsDir(join(root, 'datasets'), { root, files: files('files'), policyIds })
    expect(result.datasets).toEqual([])
    expect(result.errors.map(formatFileError)).toEqual([
      'datasets/config.yaml:44: distributions.0.file: passerelle.yaml is outside the files folder (files): only files under it can be published',
      'datasets/db.yaml:44: distributions.0.file: data/passerelle.db is outside the files folder (files): only files under it can be published',
      'datasets/key.yaml:44: distributions.0.file: identity/private-key.jwk is outside the files folder (files): only files under it can be published',
    ])
  })

  it('refuses private places even when the files root is the whole participant folder', async () => {
    const { root, files } = withPrivateFiles({
      'key.yaml': pointingAt('identity/private-key.jwk'),
      'config.yaml': pointingAt('passerelle.yaml').replace('37b4f568', '37b4f569'),
      'db.yaml': pointingAt('data/passerelle.db').replace('37b4f568', '37b4f56a'),
    })
    expect(await problems(root, files('.'))).toEqual([
      'distributions.0.file: passerelle.yaml is the configuration: never published',
      'distributions.0.file: data/passerelle.db is the data folder: never published',
      'distributions.0.file: identity/private-key.jwk is a private identity key: never published',
    ])
  })

  it('refuses a symbolic link leading out of the files folder, or into a private place inside it', async () => {
    const { root, files } = withPrivateFiles({
      'out.yaml': pointingAt('files/escape.csv'),
      'in.yaml': pointingAt('files/inner.csv').replace('37b4f568', '37b4f569'),
    })
    symlinkSync(join(root, 'identity/private-key.jwk'), join(root, 'files/escape.csv'))
    symlinkSync('../identity/private-key.jwk', join(root, 'files/inner.csv'))
    expect(await problems(root, files('files'))).toEqual([
      'distributions.0.file: files/inner.csv is a symbolic link that leads outside the files folder (files)',
      'distributions.0.file: files/escape.csv is a symbolic link that leads outside the files folder (files)',
    ])
    // With the whole folder as files root, the links stay inside it but lead to the key.
    expect(await problems(root, files('.'))).toEqual([
      'distributions.0.file: files/inner.csv leads to a private identity key: never published',
      'distributions.0.file: files/escape.csv leads to a private identity key: never published',
    ])
  })

  it('accepts a symbolic link that stays inside the files folder', async () => {
    const { root, files } = withPrivateFiles({ 'link.yaml': temperature.replace('files/quebec-daily-temperature-2024-01.csv', 'files/latest.csv') })
    symlinkSync('quebec-daily-temperature-2024-01.csv', join(root, 'files/latest.csv'))
    expect(await problems(root, files('files'))).toEqual([])
  })

  it('refuses absolute paths and .. before looking at the disk', async () => {
    const { root, files } = withPrivateFiles({
      'abs.yaml': pointingAt(join(tmpdir(), 'identity/private-key.jwk')),
      'up.yaml': pointingAt('files/../identity/private-key.jwk').replace('37b4f568', '37b4f569'),
    })
    expect(await problems(root, files('.'))).toEqual([
      'distributions.0.file: expected a path relative to the participant folder, without ..',
      'distributions.0.file: expected a path relative to the participant folder, without ..',
    ])
  })
})
