import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { fromRoot } from '../../connector/paths.ts'
import { loadPolicies } from '../../policies/index.ts'
import { copyParticipant, freePort, management, spawnCli, startConnectorProcess, until, type ParticipantFolder } from '../support/processes.ts'

/**
 * Local files under attack, with real connector processes: runtime state and secrets stay readable
 * by their owner only, and distributions can never publish a private file, at validation or when
 * served (a symbolic link swapped in after validation included).
 */
const cleanups: Array<() => unknown> = []
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

const mode = (path: string) => statSync(path).mode & 0o777
const octal = (m: number) => m.toString(8).padStart(4, '0')

async function cli(args: string[]) {
  const run = spawnCli({ args })
  const code = await run.exited
  return { code, output: run.output.join('\n') }
}

/** A participant made by `passerelle init`, as a folder the process helpers can start. */
async function initParticipant(): Promise<ParticipantFolder> {
  const parent = mkdtempSync(join(tmpdir(), 'passerelle-modes-'))
  cleanups.push(() => rmSync(parent, { recursive: true, force: true }))
  const dir = join(parent, 'participant')
  const port = await freePort()
  const init = await cli(['init', dir, '--port', String(port)])
  expect(init.code, init.output).toBe(0)
  const configFile = join(dir, 'passerelle.yaml')
  const config = parse(readFileSync(configFile, 'utf8'))
  return { dir, configFile, port, did: config.participant.id, url: `http://127.0.0.1:${port}`, managementKey: config.management.apiKey, remove: () => {} }
}

describe('runtime files are private', () => {
  let folder: ParticipantFolder
  const data = () => join(folder.dir, 'data')
  const database = () => join(data(), 'passerelle.db')

  it('passerelle init writes the key and the configuration 0600 in a 0700 identity folder, and a files root', async () => {
    folder = await initParticipant()
    expect(octal(mode(join(folder.dir, 'identity')))).toBe('0700')
    expect(octal(mode(join(folder.dir, 'identity/private-key.jwk')))).toBe('0600')
    expect(octal(mode(folder.configFile))).toBe('0600')
    expect(statSync(join(folder.dir, 'files')).isDirectory()).toBe(true)
  })

  it('a first start on the fresh folder creates data/ 0700 and the database with its -wal and -shm files 0600', async () => {
    const connector = await startConnectorProcess(folder)
    try {
      expect(octal(mode(data()))).toBe('0700')
      for (const file of [database(), `${database()}-wal`, `${database()}-shm`]) expect(octal(mode(file)), file).toBe('0600')
      // Nothing was loose, so nothing was narrowed.
      expect(connector.output.join('\n')).not.toContain('file mode narrowed')
    } finally {
      expect(await connector.stop()).toBe(0)
    }
  })

  it('doctor finds a loosened folder with a fix for each file, the start narrows every mode and says so, then doctor is content', async () => {
    chmodSync(data(), 0o755)
    chmodSync(database(), 0o644)
    chmodSync(folder.configFile, 0o644)
    const before = await cli(['doctor', '--config', folder.configFile])
    expect(before.code, before.output).toBe(1)
    expect(before.output).toContain('PROBLEM  data: the data folder (database, received data) has mode 0755: readable by every local user')
    expect(before.output).toContain(`fix: chmod 700 ${data()}`)
    expect(before.output).toContain(`fix: chmod 600 ${database()}`)
    expect(before.output).toContain('PROBLEM  passerelle.yaml: the configuration has mode 0644')
    expect(before.output).toContain('3 problems found')

    const connector = await startConnectorProcess(folder)
    try {
      const narrowed = connector.output.filter((line) => line.includes('file mode narrowed')).map((line) => JSON.parse(line))
      expect(narrowed.map(({ path, from, to, level }) => ({ path, from, to, level }))).toEqual(
        expect.arrayContaining([
          { path: data(), from: '0755', to: '0700', level: 'warn' },
          { path: database(), from: '0644', to: '0600', level: 'warn' },
          { path: folder.configFile, from: '0644', to: '0600', level: 'warn' },
        ]),
      )
      expect(octal(mode(data()))).toBe('0700')
      expect(octal(mode(database()))).toBe('0600')
      expect(octal(mode(folder.configFile))).toBe('0600')
    } finally {
      expect(await connector.stop()).toBe(0)
    }
    const after = await cli(['doctor', '--config', folder.configFile])
    expect(after.output).toContain('no problem found')
    expect(after.code).toBe(0)
  })

  it('a private key readable by others (not dev-only) stops the start with the fix, and doctor says to rotate it', async () => {
    const key = join(folder.dir, 'identity/private-key.jwk')
    chmodSync(key, 0o644)
    try {
      const start = await cli(['start', '--config', folder.configFile])
      expect(start.code).toBe(2)
      expect(start.output).toContain(`identity key file ${key} is readable by group or others (mode 644); run: chmod 600 ${key}`)
      const doctor = await cli(['doctor', '--config', folder.configFile])
      expect(doctor.code).toBe(1)
      expect(doctor.output).toContain(`fix: chmod 600 ${key} (and consider the key exposed: rotate it)`)
      // The key was not silently narrowed: the operator decides.
      expect(octal(mode(key))).toBe('0644')
    } finally {
      chmodSync(key, 0o600)
    }
  })
})

const arctic = 'urn:uuid:0f3cee7e-e077-4be0-9365-3a791567f70e' // open-with-attribution
const arcticFile = 'files/arctic-sea-ice-extent-monthly-2015-2024.csv'
const arcticYaml = readFileSync(fromRoot('seeds/datasets/arctic-sea-ice-extent.yaml'), 'utf8')
/** The arctic dataset under another id, its distribution naming `file`. */
const datasetNaming = (n: number, file: string) =>
  arcticYaml.replace(arctic, `urn:uuid:00000000-0000-4000-8000-${String(n).padStart(12, '0')}`).replace(arcticFile, file)

describe('distributions never publish a private file', () => {
  it('validate, doctor, start-up and the management API refuse the key, the configuration, the database, .., an absolute path and links out of the files root', async () => {
    const folder = await copyParticipant()
    cleanups.push(folder.remove)
    const outside = join(mkdtempSync(join(tmpdir(), 'passerelle-outside-')), 'secret.csv')
    writeFileSync(outside, 'not for publication\n')
    cleanups.push(() => rmSync(join(outside, '..'), { recursive: true, force: true }))
    symlinkSync('../identity/private-key.jwk', join(folder.dir, 'files/key-link.csv'))
    symlinkSync(outside, join(folder.dir, 'files/outside-link.csv'))
    const attacks: Record<string, string> = {
      'a-key.yaml': 'identity/private-key.jwk',
      'b-config.yaml': 'passerelle.yaml',
      'c-database.yaml': 'data/passerelle.db',
      'd-dotdot.yaml': 'files/../identity/private-key.jwk',
      'e-absolute.yaml': join(folder.dir, 'identity/private-key.jwk'),
      'f-key-link.yaml': 'files/key-link.csv',
      'g-outside-link.yaml': 'files/outside-link.csv',
    }
    Object.entries(attacks).forEach(([name, file], i) => writeFileSync(join(folder.dir, 'datasets', name), datasetNaming(i + 1, file)))
    const line = arcticYaml.split('\n').findIndex((l) => l.includes(arcticFile)) + 1
    const expected = [
      `datasets/a-key.yaml:${line}: distributions.0.file: identity/private-key.jwk is outside the files folder (files): only files under it can be published`,
      `datasets/b-config.yaml:${line}: distributions.0.file: passerelle.yaml is outside the files folder (files): only files under it can be published`,
      `datasets/c-database.yaml:${line}: distributions.0.file: data/passerelle.db is outside the files folder (files): only files under it can be published`,
      `datasets/d-dotdot.yaml:${line}: distributions.0.file: expected a path relative to the participant folder, without ..`,
      `datasets/e-absolute.yaml:${line}: distributions.0.file: expected a path relative to the participant folder, without ..`,
      `datasets/f-key-link.yaml:${line}: distributions.0.file: files/key-link.csv is a symbolic link that leads outside the files folder (files)`,
      `datasets/g-outside-link.yaml:${line}: distributions.0.file: files/outside-link.csv is a symbolic link that leads outside the files folder (files)`,
    ]

    const validate = await cli(['catalog', 'validate', folder.dir])
    expect(validate.code).toBe(1)
    for (const message of expected) expect(validate.output).toContain(message)
    expect(validate.output).toContain('12 files, 5 valid, 7 problems')

    const doctor = await cli(['doctor', '--config', folder.configFile])
    expect(doctor.code).toBe(1)
    for (const message of expected) expect(doctor.output).toContain(`PROBLEM  ${message}`)

    const connector = await startConnectorProcess(folder, { env: { PASSERELLE_LOG_LEVEL: 'warn' } })
    cleanups.push(() => connector.stop('SIGKILL'))
    // The catalog is read as the connector starts its areas, just after it listens.
    const problemsLogged = () => connector.output.filter((l) => l.includes('dataset file problem')).map((l) => JSON.parse(l).problem as string)
    await until(async () => (problemsLogged().length >= expected.length ? true : undefined), 10_000).catch(() => undefined)
    expect(problemsLogged().sort()).toEqual(expected)
    const listed = await management(folder, 'GET', '/datasets?limit=100')
    expect(listed.status).toBe(200)
    const seedIds = [
      'arctic-sea-ice-extent',
      'quebec-daily-precipitation',
      'quebec-daily-temperature',
      'quebec-wildfire-risk-index',
      'st-lawrence-water-temperature',
    ].map((name) => parse(readFileSync(fromRoot(`seeds/datasets/${name}.yaml`), 'utf8')).id)
    expect(listed.body.items.map((d: { id: string }) => d.id).sort()).toEqual(seedIds.sort())
    expect(listed.body.items).toHaveLength(5)

    // Through the management API: the same refusals, 400, nothing stored.
    const description = parse(datasetNaming(99, 'identity/private-key.jwk'))
    const refused = await management(folder, 'POST', '/datasets', description)
    expect(refused.status).toBe(400)
    expect(refused.body.error.message).toBe(
      'distributions.0.file: identity/private-key.jwk is outside the files folder (files): only files under it can be published',
    )
    const linked = await management(folder, 'POST', '/datasets', {
      ...description,
      distributions: [{ ...description.distributions[0], file: 'files/key-link.csv' }],
    })
    expect(linked.status).toBe(400)
    expect(linked.body.error.message).toContain('symbolic link that leads outside the files folder')
    expect((await management(folder, 'GET', `/datasets/${encodeURIComponent(description.id)}`)).status).toBe(404)
    expect((await management(folder, 'GET', '/datasets?limit=100')).body.items).toHaveLength(5)
  }, 120_000)

  it('a file swapped for a link to the private key after validation is never served; the provider logs why', async () => {
    const [providerPort, consumerPort] = [await freePort(), await freePort()]
    const did = (port: number) => `did:web:127.0.0.1%3A${port}`
    const identity = { mode: 'static', staticTokens: { 'provider-token': did(providerPort), 'consumer-token': did(consumerPort) } }
    const provider = await copyParticipant({ port: providerPort, config: { identity } })
    const consumer = await copyParticipant({ port: consumerPort, config: { identity } })
    cleanups.push(provider.remove, consumer.remove)
    const env = { PASSERELLE_DISPATCH_BASE_DELAY_MS: '100', PASSERELLE_LOG_LEVEL: 'warn' }
    const providerProcess = await startConnectorProcess(provider, { env })
    cleanups.push(() => providerProcess.stop('SIGKILL'))
    const consumerProcess = await startConnectorProcess(consumer, { env })
    cleanups.push(() => consumerProcess.stop('SIGKILL'))

    const offer = (await loadPolicies(fromRoot('seeds/policies'))).policies.get('open-with-attribution')!.odrl
    const started = await management(consumer, 'POST', '/negotiations', {
      peerUrl: `${provider.url}/dsp/2025-1`,
      peerId: provider.did,
      datasetId: arctic,
      offer,
    })
    expect(started.status).toBe(201)
    const { agreementId } = await until(async () => {
      const { body } = await management(consumer, 'GET', `/negotiations/${started.body.id}`)
      return body.state === 'FINALIZED' ? body : undefined
    })
    const transfer = await management(consumer, 'POST', '/transfers', { agreementId })
    expect(transfer.status).toBe(201)
    await until(async () => ((await management(consumer, 'GET', `/transfers/${transfer.body.id}`)).body.state === 'STARTED' ? true : undefined))
    const download = () =>
      fetch(`${consumer.url}/management/v1/transfers/${transfer.body.id}/data`, { headers: { authorization: `Bearer ${consumer.managementKey}` } })

    const original = readFileSync(join(provider.dir, arcticFile))
    const first = await download()
    expect(first.status).toBe(200)
    expect(Buffer.from(await first.arrayBuffer()).equals(original)).toBe(true)

    // Validated and served once; now the file becomes a link to the key.
    const served = join(provider.dir, arcticFile)
    unlinkSync(served)
    symlinkSync('../identity/private-key.jwk', served)
    const key = JSON.parse(readFileSync(join(provider.dir, 'identity/private-key.jwk'), 'utf8')) as { d: string }
    const swapped = await download()
    const body = await swapped.text()
    expect(swapped.status).toBe(403)
    expect(body).not.toContain(key.d)
    expect(body).toContain('the dataset file cannot be served')
    expect(body).not.toContain('identity')
    await until(async () => (providerProcess.output.some((l) => l.includes('dataset file refused at serve time')) ? true : undefined), 5000)
    const logged = JSON.parse(providerProcess.output.find((l) => l.includes('dataset file refused at serve time'))!)
    expect(logged).toMatchObject({ level: 'warn', datasetId: arctic, reason: `${arcticFile} is a symbolic link that leads outside the files folder (files)` })

    // The same file put back is served again: the refusal came from the link.
    unlinkSync(served)
    writeFileSync(served, original)
    const restored = await download()
    expect(restored.status).toBe(200)
    expect(Buffer.from(await restored.arrayBuffer()).equals(original)).toBe(true)
    expect(existsSync(served)).toBe(true)
  }, 120_000)
})
