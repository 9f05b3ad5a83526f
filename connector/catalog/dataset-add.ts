import { createHash, randomUUID } from 'node:crypto'
import { createReadStream, existsSync } from 'node:fs'
import { lstat, mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises'
import { basename, dirname, extname, join, relative, resolve } from 'node:path'
import type { Readable } from 'node:stream'
import { parseArgs } from 'node:util'
import { parseDocument, stringify } from 'yaml'
import {
  checkDatasetText,
  formatFileError,
  locateDistributionFile,
  parseDatasetText,
  readDatasetsDir,
  within,
  type DatasetDescriptionInput,
  type DatasetFileError,
  type Distribution,
  type FilesRoot,
  type ReadOptions,
} from '../../catalog/index.ts'
import { UsageError, type CliIo } from '../cli/io.ts'
import { configFileName } from '../cli/participant-config.ts'
import { absolute, ConfigError, loadConfig, type Config } from '../config/config.ts'
import { egressPolicy, endpointCheck } from '../http/egress.ts'
import { createPeerClient, isEgressRefusal } from '../http/peer-client.ts'
import { distributionFiles } from '../private-places.ts'
import { loadCatalogPolicies } from './policy-source.ts'
import { mediaTypeOf } from './media-types.ts'
import { datasetHelp } from './cli-help.ts'

export async function runDatasetCommand(args: string[], io: CliIo): Promise<number> {
  const [command, ...rest] = args
  switch (command) {
    case 'add':
      return add(rest, io)
    case undefined:
    case '--help':
    case '-h':
      io.stdout(datasetHelp)
      return command ? 0 : 2
    default:
      throw new UsageError(`unknown dataset command '${command}'\n\n${datasetHelp}`)
  }
}

/** What a steward's participant folder gives this command. */
interface Participant {
  config: Config
  root: string
  datasetsDir: string
  files: FilesRoot
  check: ReadOptions
}

async function participant(explicit: string | undefined, io: CliIo): Promise<Participant> {
  const file = resolve(io.cwd, explicit ?? io.env.PASSERELLE_CONFIG ?? configFileName)
  if (!existsSync(file)) throw new UsageError(`no configuration at ${file}: run this in the participant folder, or pass --config FILE`)
  let config: Config
  try {
    config = loadConfig(file, { env: io.env })
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(error.message)
    throw error
  }
  const files = distributionFiles(config)
  const policies = await loadCatalogPolicies(absolute(config.root, config.catalog.policiesDir))
  return {
    config,
    root: config.root,
    datasetsDir: absolute(config.root, config.catalog.datasetsDir),
    files,
    // The checks of `catalog validate`, checksums included.
    check: { root: config.root, files, verifyChecksums: true, checkEndpoint: endpointCheck(egressPolicy(config.egress)), policyIds: policies.ids },
  }
}

async function add(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      update: { type: 'string' },
      id: { type: 'string' },
      title: { type: 'string' },
      description: { type: 'string' },
      license: { type: 'string' },
      contact: { type: 'string' },
      'media-type': { type: 'string' },
      policy: { type: 'string', multiple: true },
      out: { type: 'string' },
      force: { type: 'boolean' },
    },
  })
  const here = await participant(values.config, io)
  if (values.update !== undefined) {
    if (positionals.length > 0) throw new UsageError('--update takes the dataset file alone')
    return update(here, resolve(io.cwd, values.update), io)
  }
  if (positionals.length !== 1) throw new UsageError(`expected one FILE, FOLDER or URL\n\n${datasetHelp}`)
  const source = positionals[0]!

  const known = [...(here.check.policyIds ?? [])].sort()
  const knownText = known.length > 0 ? `known: ${known.join(', ')}` : 'no policy could be loaded from the policy folder'
  const policies = values.policy ?? []
  if (policies.length === 0) throw new UsageError(`give the dataset's offers with --policy ID (${knownText})`)
  for (const id of policies) if (!known.includes(id)) throw new UsageError(`unknown policy ${id}: no policy file with that id (${knownText})`)

  const measured = /^https?:\/\//i.test(source) ? await measureUrl(here, source, io) : await measureLocal(here, resolve(io.cwd, source), source)
  const contact = values.contact === undefined ? undefined : parseContact(values.contact)
  const existing = await readDatasetsDir(here.datasetsDir, { root: here.root })
  const template = await newest(here.root, existing.datasets)
  const id = values.id ?? `urn:uuid:${randomUUID()}`
  const taken = existing.datasets.find((d) => d.dataset.id === id)
  if (taken) throw new UsageError(`dataset id ${id} is already used by ${taken.file}`)
  const title = values.title ?? titleFrom(measured.name)
  const today = new Date().toISOString().slice(0, 10)
  const dataset: DatasetDescriptionInput = {
    id,
    title,
    description: values.description ?? title,
    publisher: template?.publisher ?? { name: here.config.participant.name },
    ...((contact ?? template?.contactPoint) ? { contactPoint: (contact ?? template?.contactPoint)! } : {}),
    ...((values.license ?? template?.license) ? { license: (values.license ?? template?.license)! } : {}),
    issued: today,
    modified: today,
    distributions: [{ ...measured.distribution, ...(values['media-type'] ? { mediaType: values['media-type'] } : {}) }],
    policies,
  } as DatasetDescriptionInput

  const target = values.out !== undefined ? resolve(io.cwd, values.out) : join(here.datasetsDir, `${slug(measured.name)}.yaml`)
  // Only a dataset file is ever written: never the configuration, a key or anything else of the folder.
  if (!within(here.root, target)) throw new UsageError(`${values.out ?? target} is outside the participant folder ${here.root}`)
  const file = relative(here.root, target)
  if (!within(here.datasetsDir, target) || !/\.ya?ml$/.test(target))
    throw new UsageError(`--out ${values.out}: expected a .yaml file in the datasets folder (${relative(here.root, here.datasetsDir)})`)
  const present = await lstat(target).catch(() => undefined)
  if (present?.isSymbolicLink()) throw new UsageError(`${file} is a symbolic link: not written through`)
  if (present && !values.force) throw new UsageError(`${file} already exists: pass --force to replace it, or refresh it with --update ${file}`)
  const text = `# ${typeof title === 'string' ? title : id}\n${stringify(dataset, { lineWidth: 0 })}`
  const checked = await checkDatasetText(text, file, here.check)
  if (checked.errors.length > 0) return refused(checked.errors, io, 'nothing was written')
  await mkdir(dirname(target), { recursive: true })
  await writeFile(target, text, { flag: values.force ? 'w' : 'wx' })
  const d = measured.distribution
  io.stdout(`wrote ${file}: ${id}`)
  io.stdout(
    `  ${d.mediaType}${d.byteSize !== undefined ? `, ${d.byteSize} bytes` : ''}${d.sha256 ? `, sha256 ${d.sha256}` : ''}, offers: ${policies.join(', ')}`,
  )
  io.stdout('A running connector publishes it by itself; its problems, if any, are at /management/v1/catalog/problems.')
  return 0
}

async function update(here: Participant, path: string, io: CliIo): Promise<number> {
  if (!within(here.root, path)) throw new UsageError(`${path} is outside the participant folder ${here.root}`)
  const file = relative(here.root, path)
  if ((await lstat(path).catch(() => undefined))?.isSymbolicLink()) throw new UsageError(`${file} is a symbolic link: not written through`)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch {
    throw new UsageError(`no such dataset file: ${file}`)
  }
  const parsed = parseDatasetText(text, file)
  if (!parsed.dataset) return refused(parsed.errors, io, 'fix the file first')
  const document = parseDocument(text)
  const changes: string[] = []
  for (const [i, d] of parsed.dataset.distributions.entries()) {
    let measured: Pick<Distribution, 'byteSize' | 'sha256'>
    if (d.file !== undefined) measured = (await measureLocal(here, resolve(here.root, d.file), d.file)).distribution
    else if (d.url !== undefined) measured = (await measureUrl(here, d.url, io)).distribution
    else continue // a folder or an S3 object has no size or checksum of its own here
    for (const field of ['byteSize', 'sha256'] as const) {
      if (measured[field] === d[field]) continue
      document.setIn(['distributions', i, field], measured[field])
      changes.push(`distributions.${i}.${field}: ${d[field] ?? '(none)'} → ${measured[field]}`)
    }
  }
  if (changes.length === 0) {
    io.stdout(`${file}: unchanged`)
    return 0
  }
  const today = new Date().toISOString().slice(0, 10)
  if (parsed.dataset.modified < today) {
    document.set('modified', today)
    changes.push(`modified: ${parsed.dataset.modified} → ${today}`)
  }
  const next = document.toString({ lineWidth: 0 })
  const checked = await checkDatasetText(next, file, here.check)
  if (checked.errors.length > 0) return refused(checked.errors, io, 'the file is unchanged')
  await writeFile(`${path}.tmp`, next)
  await rename(`${path}.tmp`, path)
  io.stdout(`updated ${file}:`)
  for (const change of changes) io.stdout(`  ${change}`)
  return 0
}

function refused(errors: DatasetFileError[], io: CliIo, outcome: string): number {
  for (const e of errors) io.stdout(formatFileError(e))
  if (errors.some((e) => e.field === 'contactPoint' || e.field === 'license'))
    io.stdout('give --contact "NAME <EMAIL>" and --license IRI (they are taken from the newest dataset file when there is one)')
  io.stdout(`${errors.length} problem${errors.length === 1 ? '' : 's'}: ${outcome}`)
  return 1
}

/** A local file or folder, checked against the files folder and its private places. */
async function measureLocal(here: Participant, path: string, spelled: string): Promise<{ name: string; distribution: Distribution }> {
  if (!within(here.root, path)) throw new UsageError(`${spelled} is outside the participant folder ${here.root}: put the data under its files folder`)
  const shown = relative(here.root, path)
  let info: Awaited<ReturnType<typeof stat>>
  try {
    info = await stat(path)
  } catch {
    throw new UsageError(`no such file or folder: ${spelled}`)
  }
  const located = await locateDistributionFile(here.files, here.root, shown)
  if ('problem' in located) throw new UsageError(located.problem)
  const name = basename(path)
  if (info.isDirectory()) return { name, distribution: { folder: shown, mediaType: await folderMediaType(located.path) } as Distribution }
  if (!info.isFile()) throw new UsageError(`${spelled} is neither a file nor a folder`)
  const { byteSize, sha256 } = await digest(createReadStream(located.path))
  return { name, distribution: { file: shown, mediaType: mediaTypeOf(name), byteSize, sha256 } as Distribution }
}

/** A URL, fetched once through the connector's HTTP client and egress policy: its size and checksum as served. */
async function measureUrl(here: Participant, url: string, io: CliIo): Promise<{ name: string; distribution: Distribution }> {
  const client = createPeerClient({ egress: egressPolicy(here.config.egress), connections: 1 })
  try {
    let answer: Awaited<ReturnType<typeof client.open>>
    try {
      answer = await client.open({ url, timeout: 30_000 })
    } catch (error) {
      if (isEgressRefusal(error))
        throw new UsageError(
          `the connector may not read ${url}: ${String((error as { details?: { egress?: string } }).details?.egress)} (see egress.allow in ${configFileName})`,
        )
      throw new UsageError(`${url} could not be fetched: ${(error as Error).message}`)
    }
    if (answer.status !== 200) {
      answer.body.destroy()
      throw new UsageError(`${url} answered ${answer.status}, not 200: nothing was written`)
    }
    io.stderr(`fetching ${url} to measure it…`)
    const { byteSize, sha256 } = await digest(answer.body)
    const declared = Number(answer.headers['content-length'])
    if (Number.isInteger(declared) && declared !== byteSize) throw new UsageError(`${url} declared ${declared} bytes and sent ${byteSize}`)
    const type = String(answer.headers['content-type'] ?? '')
      .split(';')[0]!
      .trim()
      .toLowerCase()
    const path = new URL(url).pathname
    const name = basename(path) || new URL(url).hostname
    return { name, distribution: { url, mediaType: /^[a-z]+\/[a-z0-9.+-]+$/.test(type) ? type : mediaTypeOf(path), byteSize, sha256 } as Distribution }
  } finally {
    await client.close()
  }
}

async function digest(stream: Readable): Promise<{ byteSize: number; sha256: string }> {
  const hash = createHash('sha256')
  let byteSize = 0
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk)
    byteSize += chunk.length
  }
  return { byteSize, sha256: hash.digest('hex') }
}

/** The dataset file written last: its publisher, contact point and licence are most likely this one's too. */
async function newest(root: string, datasets: Array<{ file: string; dataset: DatasetDescriptionInput }>) {
  let best: { at: number; dataset: DatasetDescriptionInput } | undefined
  for (const { file, dataset } of datasets) {
    const at = (await stat(join(root, file))).mtimeMs
    if (!best || at > best.at) best = { at, dataset }
  }
  return best?.dataset
}

function parseContact(text: string) {
  const match = /^(.+?)\s*<([^<>\s]+@[^<>\s]+)>$/.exec(text.trim())
  if (!match) throw new UsageError(`--contact: expected "NAME <EMAIL>", not ${text}`)
  return { name: match[1]!, email: match[2]! }
}

/** A folder's media type: that of most of the files in it (its first level). */
async function folderMediaType(path: string): Promise<string> {
  const counts = new Map<string, number>()
  for (const entry of await readdir(path, { withFileTypes: true }))
    if (entry.isFile()) counts.set(mediaTypeOf(entry.name), (counts.get(mediaTypeOf(entry.name)) ?? 0) + 1)
  return [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]?.[0] ?? 'application/octet-stream'
}

const stem = (name: string) => basename(name, extname(name))
const slug = (name: string) =>
  stem(name)
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '') || 'dataset'
const titleFrom = (name: string) => {
  const words = stem(name).replace(/[-_]+/g, ' ').trim() || name
  return words.charAt(0).toUpperCase() + words.slice(1)
}
