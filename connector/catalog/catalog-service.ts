import { endpointCheck, egressPolicy } from '../http/egress.ts'
import { existsSync, watch, type FSWatcher } from 'node:fs'
import { join, relative } from 'node:path'
import {
  Catalog,
  type FileChange,
  type CatalogEntry,
  DatasetDescription,
  emptyFilter,
  readDatasetFile,
  readDatasetsDir,
  referenceErrors,
  formatFileError,
  type DatasetFileError,
} from '../../catalog/index.ts'
import type { TaxonomySource } from '../../policies/index.ts'
import { absolute, type Config } from '../config/config.ts'
import { distributionFiles } from '../private-places.ts'
import type { Clock } from '../clock.ts'
import { PasserelleError } from '../errors.ts'
import type { Store } from '../store/store.ts'
import type { Logger } from '../telemetry/logger.ts'
import { databaseCatalogRows } from './catalog-repository.ts'
import { loadCatalogPolicies, policiesInForce, type CatalogPolicySource } from './policy-source.ts'

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
  /** The data space's vocabularies in force, given to the policies at every (re)load. */
  vocabularies?: () => TaxonomySource[]
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
  /** Problems found in the policy and dataset files at the last read (a refused change is one). */
  fileErrors(): DatasetFileError[]
  reloadFiles(): Promise<DatasetFileError[]>
  /** Re-reads only these files (names inside the datasets folder); others stay as they are. */
  reloadChanged(names: string[]): Promise<DatasetFileError[]>
  /**
   * Reads the policy folder (and its vocabularies) again, validated first: a file that no longer
   * compiles keeps its previous version in force; offers of the datasets using a changed policy change.
   */
  reloadPolicies(): Promise<void>
  /** Credential types to ask requesters for (those the visibility policies refer to). */
  credentialTypes(): Promise<string[]>
  create(input: { input: unknown }): Promise<ManagedDataset>
  replace(input: { id: string; input: unknown }): Promise<ManagedDataset>
  remove(input: { id: string }): Promise<void>
  get(id: string): Promise<ManagedDataset>
  /** Every dataset, published or not, in id order. */
  list(input: { offset: number; limit: number; after?: string }): Promise<{ items: ManagedDataset[]; total: number }>
  /** Watches the datasets and policies folders (vocabularies included); returns a function that stops watching. */
  watch(): () => void
}

export async function createCatalogService(deps: CatalogDeps): Promise<CatalogService> {
  const { config, logger } = deps
  const datasetsDir = absolute(config.root, config.catalog.datasetsDir)
  const policiesDir = absolute(config.root, config.catalog.policiesDir)
  const files = distributionFiles(config)
  // Storage endpoints are judged by the egress policy when a dataset is read, not first at transfer time.
  const checkEndpoint = endpointCheck(egressPolicy(config.egress))
  const loadOwnPolicies = () => loadCatalogPolicies(policiesDir, { assigner: config.participant.id, taxonomies: deps.vocabularies?.() })
  let policies = deps.policies ?? (await loadOwnPolicies())
  /** Problems of the policy folder as of its last read, as dataset-file problems are reported. */
  let policyProblems: DatasetFileError[] = []
  const setPolicyProblems = (errors: CatalogPolicySource['errors'], note: (file: string) => string) => {
    policyProblems = errors.map((e) => ({
      file: relative(config.root, e.file) || e.file,
      line: e.line,
      field: e.field === '(file)' ? '' : e.field,
      message: `${e.message}${e.suggestion ? ` (${e.suggestion})` : ''}${note(e.file)}`,
    }))
    for (const p of policyProblems) logger.warn('policy file problem', { problem: formatFileError(p) })
  }
  setPolicyProblems(policies.errors, () => '')
  const rows = databaseCatalogRows(deps.store, {
    onInvalid: (id, message) => logger.error('stored dataset is not valid and is not published', { id, problem: message }),
  })
  const catalog = new Catalog({
    participantId: config.participant.id,
    catalogId: `${config.dspUrl}/catalog`,
    service: { id: `${config.dspUrl}#data-service`, endpointURL: config.dspUrl },
    policies,
    rows,
    cache: config.catalog.cache,
    dcat: {
      title: config.participant.name,
      description: `Datasets published by ${config.participant.name} over the Dataspace Protocol.`,
      publisher: { ...(isIri(config.participant.id) ? { id: config.participant.id } : {}), name: config.participant.name },
      homepage: `${config.server.publicUrl}/`,
      base: `${config.server.publicUrl}/catalog/datasets/`,
      serviceTitle: `${config.participant.name}: Dataspace Protocol endpoint`,
    },
  })
  /** Problems per file, as of the last read of each file. */
  let fileErrors = new Map<string, DatasetFileError[]>()
  const allFileErrors = () => [...policyProblems, ...[...fileErrors.values()].flat()]

  // The catalog answers from its rows: nothing is loaded here. Rows written before the catalog kept
  // its query columns get them once; the published flags are checked only when the policy set changed.
  if ((await rows.ensureState()) || (await rows.underived())) {
    for await (const batch of rows.scan()) for (const entry of batch) await catalog.publish(entry.dataset, entry.source, { now: entry.updatedAt })
  }
  await catalog.checkPublished(policies.ids)

  // Serialised: two reloads never interleave.
  let reloading: Promise<unknown> = Promise.resolve()
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const run = reloading.then(work)
    reloading = run.catch(() => undefined)
    return run
  }
  const logProblems = (errors: DatasetFileError[]) => {
    for (const e of errors) logger.warn('dataset file problem: what it published before stays published', { problem: formatFileError(e) })
  }
  /** Collects what file changes did, and says it in one log line (the first datasets of each kind by name, and how many). */
  const changeLog = () => {
    const seen: FileChange[] = []
    return {
      report: (change: FileChange) => void seen.push(change),
      log() {
        if (seen.length === 0) return
        const of = (kind: FileChange['kind']) => seen.filter((c) => c.kind === kind)
        const named = (kind: FileChange['kind']) =>
          of(kind)
            .slice(0, logged)
            .map((c) => `${c.id} (${c.file})`)
        logger.info('catalog changed', {
          added: named('added'),
          changed: named('changed'),
          removed: named('removed'),
          counts: { added: of('added').length, changed: of('changed').length, removed: of('removed').length },
        })
      },
    }
  }
  const readAllFiles = async () => {
    const read = await readDatasetsDir(datasetsDir, { root: config.root, files, policyIds: policies.ids, checkEndpoint })
    const changes = changeLog()
    const errors = await catalog.applyFiles(read, changes.report)
    fileErrors = new Map()
    for (const e of errors) fileErrors.set(e.file, [...(fileErrors.get(e.file) ?? []), e])
    logProblems(errors)
    changes.log()
    return errors
  }
  const reloadFiles = () => serial(readAllFiles)
  /** Re-reads only the named files of the datasets folder (what the watcher saw change). */
  const reloadChanged = (names: string[]) =>
    serial(async () => {
      const errors: DatasetFileError[] = []
      const changes = changeLog()
      for (const name of names.filter((n) => /\.ya?ml$/.test(n) && !n.includes('/') && !n.includes('\\'))) {
        const path = join(datasetsDir, name)
        const file = relative(config.root, path)
        const found = existsSync(path)
        const one = found ? await readDatasetFile(path, file, { root: config.root, files, policyIds: policies.ids, checkEndpoint }) : undefined
        const problems = !one
          ? await catalog.applyFile(file, 'deleted', undefined, changes.report)
          : one.dataset
            ? await catalog.applyFile(file, { dataset: one.dataset }, undefined, changes.report)
            : one.errors
        if (problems.length > 0) fileErrors.set(file, problems)
        else fileErrors.delete(file)
        errors.push(...problems)
      }
      logProblems(errors)
      changes.log()
      return errors
    })
  /** The datasets whose offers name one of these policies (what a policy change changes in the catalog). */
  const datasetsUsing = async (ids: ReadonlySet<string>) => {
    const found: string[] = []
    for await (const batch of catalog.rows.scan())
      for (const entry of batch)
        if (
          [...entry.dataset.policies, ...Object.values(entry.dataset.offerVisibility ?? {}), entry.dataset.visibility].some(
            (id) => id !== undefined && ids.has(id),
          )
        )
          found.push(entry.id)
    return found
  }
  const reloadPolicies = () =>
    serial(async () => {
      const { next, kept, refused, changes } = policiesInForce(policies, await loadOwnPolicies(), policiesDir)
      setPolicyProblems(next.errors, (file) =>
        refused
          ? ': the change is refused, the previous policies stay in force'
          : kept.some((id) => policies.policy(id)?.sourceFile === file)
            ? ': the previous version of this file stays in force'
            : '',
      )
      if (refused) return
      const touched = new Set([...changes.added, ...changes.changed, ...changes.removed])
      policies = next
      // Datasets whose policies appeared or vanished are published or withdrawn; renderings are redone.
      await catalog.setPolicies(policies)
      if (touched.size > 0) {
        const datasets = await datasetsUsing(touched)
        logger.info('policies changed', { ...changes, offersChangedFor: datasets.slice(0, logged), datasets: datasets.length })
      }
      await readAllFiles()
    })
  await reloadFiles()
  logger.info('catalog published', { problems: allFileErrors().length })

  const managed = (entry: CatalogEntry): ManagedDataset => ({
    id: entry.id,
    source: entry.source.kind,
    ...(entry.source.kind === 'file' ? { file: entry.source.file } : {}),
    published: entry.published,
    description: entry.dataset,
    createdAt: new Date(entry.createdAt).toISOString(),
    updatedAt: new Date(entry.updatedAt).toISOString(),
  })

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
      ...(await referenceErrors(parsed.data, { root: config.root, files, checkEndpoint }, (path) => ({ file: '', line: 0, field: path.join('.') }))).map(
        (e) => ({
          field: e.field,
          message: e.message,
        }),
      ),
    ]
    if (problems.length > 0) throw new PasserelleError('bad_request', `${problems[0]!.field}: ${problems[0]!.message}`, { issues: problems })
    return parsed.data
  }

  const readOnly = (entry: CatalogEntry | undefined) => {
    if (entry?.source.kind === 'file')
      throw new PasserelleError('conflict', `dataset ${entry.id} is described in ${entry.source.file}: change the file, not the API`, {
        file: entry.source.file,
      })
  }
  const found = async (id: string) => {
    const entry = await catalog.get(id)
    if (!entry) throw new PasserelleError('not_found', `no dataset ${id}`)
    return managed(entry)
  }

  const service: CatalogService = {
    catalog,
    get policies() {
      return policies
    },
    fileErrors: allFileErrors,
    reloadFiles,
    reloadChanged,
    reloadPolicies,
    credentialTypes: async () => policies.credentialTypes(await catalog.visibilityPolicies()),

    async create({ input }) {
      const dataset = await validate(input)
      readOnly(await catalog.get(dataset.id))
      if (!(await catalog.publish(dataset, { kind: 'api' }, { now: deps.clock.now().getTime(), onlyIfAbsent: true })))
        throw new PasserelleError('conflict', `dataset ${dataset.id} already exists`)
      return found(dataset.id)
    },

    async replace({ id, input }) {
      const existing = await catalog.get(id)
      readOnly(existing)
      const body = input && typeof input === 'object' && !Array.isArray(input) && !('id' in input) ? { ...input, id } : input
      const dataset = await validate(body)
      if (dataset.id !== id) throw new PasserelleError('bad_request', `id: the body's id ${dataset.id} is not the dataset ${id} of the path`)
      // The same description again writes nothing, so the caches of every replica stay warm.
      if (existing?.published && JSON.stringify(existing.dataset) === JSON.stringify(dataset)) return managed(existing)
      if (!(await catalog.publish(dataset, { kind: 'api' }, { now: deps.clock.now().getTime(), onlyIfExists: true })))
        throw new PasserelleError('not_found', `no dataset ${id}`)
      return found(id)
    },

    async remove({ id }) {
      readOnly(await catalog.get(id))
      if (!(await catalog.unpublish(id))) throw new PasserelleError('not_found', `no dataset ${id}`)
    },

    get: found,

    async list({ offset, limit, after }) {
      const page = await catalog.rows.page({ hiddenGroups: [], filter: emptyFilter, offset, limit, ...(after !== undefined ? { after } : {}), all: true })
      return { items: page.map(managed), total: await catalog.rows.size() }
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
      // The policy folder is watched with its subfolders, where the vocabularies its registry names may sit.
      for (const [dir, listener, recursive] of [
        [datasetsDir, onDatasets, false],
        [policiesDir, onPolicies, true],
      ] as const) {
        try {
          const w = watch(dir, { recursive }, listener)
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

/** How many datasets a change log line names (the count says how many there were). */
const logged = 50

const isIri = (value: string) => /^[a-zA-Z][a-zA-Z0-9+.-]*:[^\s<>"{}|\\^`]+$/.test(value)
