import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { textEntries, formatFileError, readDatasetsDir, type FilesRoot, emptyFilter } from '../../catalog/index.ts'
import { policyLabelOf, policyPhrase } from '../../policies/index.ts'
import { absolute, ConfigError, loadConfig } from '../config/config.ts'
import { systemClock } from '../clock.ts'
import { distributionFiles, octal, securePrivatePlaces } from '../private-places.ts'
import { UsageError, type CliIo } from '../cli/io.ts'
import { configFileName, findConfigFile } from '../cli/participant-config.ts'
import { openStore } from '../store/store.ts'
import { endpointCheck, egressPolicy } from '../http/egress.ts'
import { silentLogger } from '../telemetry/logger.ts'
import { createCatalogService } from './catalog-service.ts'
import { loadCatalogPolicies } from './policy-source.ts'
import { catalogHelp } from './cli-help.ts'

export async function runCatalogCommand(args: string[], io: CliIo): Promise<number> {
  const [command, ...rest] = args
  switch (command) {
    case 'validate':
      return validate(rest, io)
    case 'show':
      return show(rest, io)
    case undefined:
    case '--help':
    case '-h':
      io.stdout(catalogHelp)
      return command ? 0 : 2
    default:
      throw new UsageError(`unknown catalog command '${command}'\n\n${catalogHelp}`)
  }
}

async function validate(args: string[], io: CliIo): Promise<number> {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: {} })
  if (positionals.length > 1) throw new UsageError('expected at most one folder')
  const root = resolve(io.cwd, positionals[0] ?? '.')
  let datasetsDir = join(root, 'datasets')
  let policiesDir = join(root, 'policies')
  // Without a configuration, the default places.
  let files: FilesRoot = {
    root: join(root, 'files'),
    private: [
      { path: join(root, 'identity'), what: 'the identity folder' },
      { path: join(root, 'data'), what: 'the data folder (database, received data)' },
    ],
  }
  let egress = {}
  if (existsSync(join(root, configFileName))) {
    try {
      const config = loadConfig(join(root, configFileName), { env: {} })
      egress = config.egress
      datasetsDir = absolute(config.root, config.catalog.datasetsDir)
      policiesDir = absolute(config.root, config.catalog.policiesDir)
      files = distributionFiles(config)
    } catch (error) {
      if (error instanceof ConfigError) throw new UsageError(error.message)
      throw error
    }
  }
  if (!existsSync(datasetsDir)) throw new UsageError(`no datasets folder at ${datasetsDir}`)
  const policies = await loadCatalogPolicies(policiesDir)
  // A dataset naming a policy that is not there would be published with no offer: always an error.
  if (policies.ids.size === 0) io.stderr(`note: no policy could be loaded from ${policiesDir}; every policy a dataset names is unknown`)
  const result = await readDatasetsDir(datasetsDir, {
    root,
    files,
    verifyChecksums: true,
    checkEndpoint: endpointCheck(egressPolicy(egress)),
    policyIds: policies.ids,
  })
  for (const error of result.errors) io.stdout(formatFileError(error))
  io.stdout(
    `${result.files.length} file${result.files.length === 1 ? '' : 's'}, ${result.datasets.length} valid, ${result.errors.length} problem${result.errors.length === 1 ? '' : 's'}`,
  )
  return result.errors.length > 0 ? 1 : 0
}

async function show(args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { config: { type: 'string' }, as: { type: 'string' }, credential: { type: 'string', multiple: true }, json: { type: 'boolean' } },
  })
  let config
  try {
    config = loadConfig(findConfigFile(values.config, io), { env: io.env })
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(error.message)
    throw error
  }
  for (const change of securePrivatePlaces(config))
    io.stderr(
      `warning: ${change.path} (${change.what}) had mode ${octal(change.from)}${change.error ? `; could not narrow it (${change.error})` : `; now ${octal(change.to)}`}`,
    )
  const store = await openStore({ url: config.database.url, poolSize: 1 })
  try {
    const service = await createCatalogService({ config, store, clock: systemClock, logger: silentLogger })
    const requester = {
      participantId: values.as ?? 'did:web:anonymous.invalid',
      credentials: (values.credential ?? []).map((type) => ({ types: ['VerifiableCredential', type], issuer: 'trusted', claims: {} })),
    }
    const page = await service.catalog.page({ requester, now: systemClock.now(), filter: emptyFilter, offset: 0, limit: 1_000_000 })
    if (values.json) {
      io.stdout(page.body)
      return 0
    }
    for (const problem of service.fileErrors()) io.stderr(`problem: ${formatFileError(problem)}`)
    const body = JSON.parse(page.body) as { dataset?: Array<{ '@id': string; hasPolicy: Array<{ '@id': string }> }> }
    io.stdout(`${requester.participantId} sees ${page.total} of ${await service.catalog.rows.size()} datasets:`)
    for (const dataset of body.dataset ?? []) {
      const entry = (await service.catalog.get(dataset['@id']))!
      const title =
        textEntries(entry.dataset.title).find(([language]) => language === 'en' || language === undefined)?.[1] ?? textEntries(entry.dataset.title)[0]![1]
      io.stdout(`  ${dataset['@id']}  ${title}`)
      // The offers this requester sees, by the policy's readable id, title and description.
      for (const offer of dataset.hasPolicy) {
        const label = policyLabelOf(offer)
        const policy = label ? service.policies.policy(label.id) : undefined
        io.stdout(
          `    offer ${label ? policyPhrase(label).replace(/^policy /, '') : offer['@id']}${policy?.description ? `: ${policy.description.trim()}` : ''}`,
        )
      }
    }
    return 0
  } finally {
    await store.close()
  }
}
