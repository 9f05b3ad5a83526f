import { existsSync, watch, type FSWatcher } from 'node:fs'
import { join, relative } from 'node:path'
import { Catalog } from '../../catalog/catalog.ts'
import type { CatalogEntry } from '../../catalog/catalog-index.ts'
import { DatasetDescription } from '../../catalog/dataset.ts'
import { readDatasetFile, readDatasetsDir, referenceErrors, formatFileError, type DatasetFileError } from '../../catalog/dataset-files.ts'
import { absolute, type Config } from '../config/config.ts'
import type { Clock } from '../context.ts'
import { PasserelleError } from '../errors.ts'
import type { Store } from '../store/store.ts'
import type { Logger } from '../telemetry/logger.ts'
import { datasetRepository, type DatasetRepository } from './dataset-repository.ts'
import { loadCatalogPolicies, type CatalogPolicySource } from './policy-source.ts'

/**
 * The catalog of this participant, from two sources:
 * - the stewards' files (`catalog.datasetsDir`): their source of truth, re-read when they change,
 *   read-only through the management API;
 * - the management API: stored in the database, created, replaced and deleted through the API.
 * Ids are unique across both: the API cannot take a file's id, and a file that takes an API
 * dataset's id is reported and not published. Every change publishes at once, one dataset at a time.
 */
export interface CatalogDeps {
  config: Config
  store: Store
  clock: Clock
  logger: Logger
  /** The compiled policies; loaded from `catalog.policiesDir` when not given. */
  policies?: CatalogPolicySource
}

export interface ManagedDataset {
  id: string
  source: 'file' | 'api'
  /** For file datasets: the file, relative to the participant folder. */
  file?: string
  /** Whether peers can see it now (file datasets with problems keep their last published version). */
  published: boolean
  description: DatasetDescription
  createdAt?: string
  updatedAt?: string
}

export interface CatalogService {
  readonly catalog: Catalog
  readonly policies: CatalogPolicySource
  /** Problems found in the files at the last read. */
  fileErrors(): DatasetFileError[]
  reloadFiles(): Promise<DatasetFileError[]>
  /** Re-reads only these files (names inside the datasets folder); others stay as they are. */
  reloadChanged(names: string[]): Promise<DatasetFileError[]>
  reloadPolicies(): Promise<void>
  /** Credential types to ask requesters for (those the visibility policies refer to). */
  credentialTypes(): string[]
  create(input: { input: unknown }): Promise<ManagedDataset>
  replace(input: { id: string; input: unknown }): Promise<ManagedDataset>
  remove(input: { id: string }): Promise<void>
  get(id: string): Promise<ManagedDataset>
  list(input: { offset: number; limit: number }): { items: ManagedDataset[]; total: number }
  /** Watches the datasets and policies folders; returns a function that stops watching. */
  watch(): () => void
}

export async function createCatalogService(deps: CatalogDeps): Promise<CatalogService> {
  const { config, logger } = deps
  const datasetsDir = absolute(config.root, config.catalog.datasetsDir)
  const policiesDir = absolute(config.root, config.catalog.policiesDir)
  let policies = deps.policies ?? (await loadCatalogPolicies(policiesDir))
  for (const e of policies.errors) logger.warn('policy file problem', { file: e.file, line: e.line, field: e.field, message: e.message })
  const repository: DatasetRepository = datasetRepository(deps.store)
  const catalog = new Catalog({
    participantId: config.participant.id,
    catalogId: `${config.dspUrl}/catalog`,
    service: { id: `${config.dspUrl}#data-service`, endpointURL: config.dspUrl },
    policies,
    dcat: {
      title: config.participant.name,
      description: `Datasets published by ${config.participant.name} over the Dataspace Protocol.`,
      publisher: { ...(isIri(config.participant.id) ? { id: config.participant.id } : {}), name: config.participant.name },
      homepage: `${config.server.publicUrl}/`,
      base: `${config.server.publicUrl}/catalog/datasets/`,
      serviceTitle: `${config.participant.name}: Dataspace Protocol endpoint`,
    },
  })
  const rowTimes = new Map<string, { createdAt: number; updatedAt: number }>()
  /** Problems per file, as of the last read of each file. */
  let fileErrors = new Map<string, DatasetFileError[]>()
  const allFileErrors = () => [...fileErrors.values()].flat()

  // API datasets first, then files (a file cannot take an API dataset's id).
  const loadStored = async (initial: boolean) => {
    // At start, sort once; later (policies reloaded) only a few are missing: insert those.
    const collected: CatalogEntry[] = []
    const invalid = (id: string, message: string) => logger.error('stored dataset is not valid and is not published', { id, problem: message })
    for await (const batch of repository.all(invalid)) {
      for (const row of batch) {
        rowTimes.set(row.id, { createdAt: row.createdAt, updatedAt: row.updatedAt })
        if (!initial && catalog.index.get(row.id)) continue
        let entry: CatalogEntry | undefined
        try {
          const problems = catalog.problems(row.description)
          if (problems.length > 0) {
            logger.warn('stored dataset not published', { id: row.id, problems })
            continue
          }
          entry = catalog.entryFor(row.description, { kind: 'api' })
        } catch (error) {
          logger.error('stored dataset cannot be published', { id: row.id, error })
          continue
        }
        if (initial) collected.push(entry)
        else catalog.index.upsert(entry)
      }
    }
    if (initial) catalog.index.replaceAll(collected)
  }
  await loadStored(true)

  // Serialised: two reloads never interleave.
  let reloading: Promise<unknown> = Promise.resolve()
  const reloadFiles = () => {
    const run = reloading.then(async () => {
      const read = await readDatasetsDir(datasetsDir, { root: config.root, policyIds: policies.ids })
      const errors = catalog.applyFiles(read)
      fileErrors = new Map()
      for (const e of errors) fileErrors.set(e.file, [...(fileErrors.get(e.file) ?? []), e])
      logProblems(errors)
      return errors
    })
    reloading = run.catch(() => undefined)
    return run
  }
  const logProblems = (errors: DatasetFileError[]) => {
    for (const e of errors) logger.warn('dataset file problem: what it published before stays published', { problem: formatFileError(e) })
  }
  /** Re-reads only the named files of the datasets folder (what the watcher saw change). */
  const reloadChanged = (names: string[]) => {
    const run = reloading.then(async () => {
      const errors: DatasetFileError[] = []
      for (const name of names.filter((n) => /\.ya?ml$/.test(n) && !n.includes('/') && !n.includes('\\'))) {
        const path = join(datasetsDir, name)
        const file = relative(config.root, path)
        const found = existsSync(path)
        const one = found ? await readDatasetFile(path, file, { root: config.root, policyIds: policies.ids }) : undefined
        const problems = !one ? catalog.applyFile(file, 'deleted') : one.dataset ? catalog.applyFile(file, { dataset: one.dataset }) : one.errors
        if (problems.length > 0) fileErrors.set(file, problems)
        else fileErrors.delete(file)
        errors.push(...problems)
      }
      logProblems(errors)
      return errors
    })
    reloading = run.catch(() => undefined)
    return run
  }
  await reloadFiles()
  logger.info('catalog published', { datasets: catalog.index.size, problems: allFileErrors().length })

  const managed = (id: string): ManagedDataset | undefined => {
    const entry = catalog.index.get(id)
    if (!entry) return undefined
    const times = rowTimes.get(id)
    return {
      id,
      source: entry.source.kind,
      ...(entry.source.kind === 'file' ? { file: entry.source.file } : {}),
      published: true,
      description: entry.dataset,
      ...(times ? { createdAt: new Date(times.createdAt).toISOString(), updatedAt: new Date(times.updatedAt).toISOString() } : {}),
    }
  }

  const validate = async (input: unknown): Promise<DatasetDescription> => {
    const parsed = DatasetDescription.safeParse(input)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!
      const field = issue.path.map(String).join('.')
      throw new PasserelleError('bad_request', `${field || 'body'}: ${issue.message.replace(/^Invalid input: /, '')}`, {
        issues: parsed.error.issues.map((i) => ({ field: i.path.map(String).join('.'), message: i.message })),
      })
    }
    const problems = [
      ...catalog.problems(parsed.data),
      ...(await referenceErrors(parsed.data, { root: config.root }, (path) => ({ file: '', line: 0, field: path.join('.') }))).map((e) => ({ field: e.field, message: e.message })),
    ]
    if (problems.length > 0) throw new PasserelleError('bad_request', `${problems[0]!.field}: ${problems[0]!.message}`, { issues: problems })
    return parsed.data
  }

  const readOnly = (id: string) => {
    const entry = catalog.index.get(id)
    if (entry?.source.kind === 'file')
      throw new PasserelleError('conflict', `dataset ${id} is described in ${entry.source.file}: change the file, not the API`, { file: entry.source.file })
  }

  const service: CatalogService = {
    catalog,
    get policies() {
      return policies
    },
    fileErrors: allFileErrors,
    reloadFiles,
    reloadChanged,
    async reloadPolicies() {
      policies = await loadCatalogPolicies(policiesDir)
      catalog.setPolicies(policies)
      // Stored datasets whose policies were missing may be publishable now.
      await loadStored(false)
      await reloadFiles()
    },
    credentialTypes: () => policies.credentialTypes(catalog.index.visibilityPolicies()),

    async create({ input }) {
      const dataset = await validate(input)
      readOnly(dataset.id)
      if (catalog.index.get(dataset.id)) throw new PasserelleError('conflict', `dataset ${dataset.id} already exists`)
      const now = deps.clock.now().getTime()
      if (!(await repository.insert({ id: dataset.id, description: dataset, createdAt: now, updatedAt: now })))
        throw new PasserelleError('conflict', `dataset ${dataset.id} already exists`)
      rowTimes.set(dataset.id, { createdAt: now, updatedAt: now })
      catalog.publish(dataset, { kind: 'api' })
      return managed(dataset.id)!
    },

    async replace({ id, input }) {
      readOnly(id)
      const body = input && typeof input === 'object' && !Array.isArray(input) && !('id' in input) ? { ...input, id } : input
      const dataset = await validate(body)
      if (dataset.id !== id) throw new PasserelleError('bad_request', `id: the body's id ${dataset.id} is not the dataset ${id} of the path`)
      const now = deps.clock.now().getTime()
      if (!(await repository.update(id, dataset, now))) throw new PasserelleError('not_found', `no dataset ${id}`)
      rowTimes.set(id, { createdAt: rowTimes.get(id)?.createdAt ?? now, updatedAt: now })
      catalog.publish(dataset, { kind: 'api' })
      return managed(id)!
    },

    async remove({ id }) {
      readOnly(id)
      if (!(await repository.delete(id))) throw new PasserelleError('not_found', `no dataset ${id}`)
      rowTimes.delete(id)
      catalog.unpublish(id)
    },

    async get(id) {
      const found = managed(id)
      if (found) return found
      // Stored but not published (its policies are gone): still manageable.
      const row = await repository.get(id)
      if (!row) throw new PasserelleError('not_found', `no dataset ${id}`)
      return {
        id,
        source: 'api',
        published: false,
        description: row.description,
        createdAt: new Date(row.createdAt).toISOString(),
        updatedAt: new Date(row.updatedAt).toISOString(),
      }
    },

    list({ offset, limit }) {
      const all = catalog.index.all()
      return { items: all.slice(offset, offset + limit).map((e) => managed(e.id)!), total: all.length }
    },

    watch() {
      const watchers: FSWatcher[] = []
      let timer: NodeJS.Timeout | undefined
      // What changed since the last reload: file names, or everything (policies, or an unnamed event).
      let changed = new Set<string>()
      let everything: 'files' | 'policies' | undefined
      const schedule = () => {
        clearTimeout(timer)
        timer = setTimeout(() => {
          const names = [...changed]
          const what = everything
          changed = new Set()
          everything = undefined
          const run = what === 'policies' ? service.reloadPolicies() : what === 'files' ? reloadFiles() : reloadChanged(names)
          run.catch((error) => logger.error('catalog reload failed; the published catalog is unchanged', { error }))
        }, 150)
      }
      const onDatasets = (_event: string, name: string | Buffer | null) => {
        if (typeof name === 'string' && name) changed.add(name)
        else everything ??= 'files'
        schedule()
      }
      const onPolicies = () => {
        everything = 'policies'
        schedule()
      }
      for (const [dir, listener] of [[datasetsDir, onDatasets], [policiesDir, onPolicies]] as const) {
        try {
          const w = watch(dir, listener)
          w.on('error', () => w.close())
          watchers.push(w)
        } catch {
          // A folder that does not exist is not watched; a restart picks it up.
        }
      }
      return () => {
        clearTimeout(timer)
        for (const w of watchers) w.close()
      }
    },
  }
  return service
}

const isIri = (value: string) => /^[a-zA-Z][a-zA-Z0-9+.-]*:[^\s<>"{}|\\^`]+$/.test(value)
