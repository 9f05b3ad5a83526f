import { createHash } from 'node:crypto'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { z } from 'zod'
import { buildTaxonomies, maxTaxonomyBytes, taxonomyFormat, type TaxonomySource } from '../../policies/index.ts'
import type { Config } from '../config/config.ts'
import type { PeerClient } from '../http/peer-client.ts'
import type { Logger } from '../telemetry/logger.ts'

/**
 * The vocabularies a data space publishes (`vocabularies.sources` in the configuration): SKOS
 * concept schemes (Turtle, JSON-LD or YAML) whose concepts members' policies may name. Each is
 * fetched through the connector's one HTTP client, checked as a whole against the shipped
 * taxonomies, and only then put in force and cached on disk (0600 under the data folder), so a
 * restart without network starts with the last good version. A fetch that fails, or a vocabulary
 * with any problem, changes nothing: the previous version stays in force and the reason is logged.
 */
export interface VocabularySources {
  /** The vocabularies in force (the last good version of each source that has one). */
  current(): TaxonomySource[]
  /** Fetches every source once; true when a vocabulary in force changed. */
  refresh(): Promise<boolean>
  /** Refreshes now and then every `refreshMs`; `onChange` runs after a change. Returns the stop function. */
  start(onChange: () => Promise<void>): () => void
}

const Cached = z.strictObject({ url: z.string(), operand: z.string(), format: z.enum(['turtle', 'jsonld', 'yaml']), text: z.string(), fetchedAt: z.string() })
type Cached = z.infer<typeof Cached>

const accept = 'text/turtle, application/ld+json;q=0.9, application/yaml;q=0.8, application/json;q=0.5'

export async function createVocabularySources(deps: { config: Config; peers: PeerClient; logger: Logger; now?: () => Date }): Promise<VocabularySources> {
  const { config, peers, logger } = deps
  const { sources, refreshMs } = config.vocabularies
  const folder = join(config.dataDir, 'vocabularies')
  const fileOf = (url: string) => join(folder, `${createHash('sha256').update(url).digest('hex').slice(0, 32)}.json`)
  const inForce = new Map<string, Cached>()

  // The cached versions, each checked again (a cache written by an older version may no longer pass).
  for (const source of sources) {
    let cached: Cached
    try {
      cached = Cached.parse(JSON.parse(await readFile(fileOf(source.url), 'utf8')))
    } catch {
      continue
    }
    if (cached.url !== source.url || cached.operand !== source.operand) continue
    const problem = await check(cached)
    if (problem) logger.warn('cached data-space vocabulary not used', { url: source.url, problem })
    else inForce.set(source.url, cached)
  }

  async function check(candidate: Cached): Promise<string | undefined> {
    const { errors } = await buildTaxonomies(
      [{ operand: candidate.operand, file: candidate.url, text: candidate.text, format: candidate.format }],
      [candidate.operand],
    )
    const e = errors[0]
    return e ? `${e.file}:${e.line}${e.column ? `:${e.column}` : ''}: ${e.message}${e.suggestion ? ` (${e.suggestion})` : ''}` : undefined
  }

  async function fetchOne(source: Config['vocabularies']['sources'][number]): Promise<boolean> {
    let candidate: Cached
    try {
      const response = await peers.request({ url: source.url, headers: { accept }, maxBytes: maxTaxonomyBytes, timeout: 15_000 })
      if (response.status !== 200) throw new Error(`answered ${response.status}`)
      const type = response.headers['content-type']
      const format = taxonomyFormat(typeof type === 'string' ? type : '') ?? taxonomyFormat(new URL(source.url).pathname)
      if (!format) throw new Error(`answered ${String(type)}, which is not Turtle, JSON-LD or YAML`)
      candidate = { url: source.url, operand: source.operand, format, text: response.text, fetchedAt: (deps.now?.() ?? new Date()).toISOString() }
    } catch (error) {
      logger.warn('data-space vocabulary not fetched; the previous version stays in force', { url: source.url, problem: (error as Error).message })
      return false
    }
    const previous = inForce.get(source.url)
    if (previous && previous.text === candidate.text && previous.format === candidate.format) return false
    const problem = await check(candidate)
    if (problem) {
      logger.warn('data-space vocabulary refused; the previous version stays in force', { url: source.url, problem })
      return false
    }
    inForce.set(source.url, candidate)
    try {
      await mkdir(folder, { recursive: true, mode: 0o700 })
      const file = fileOf(source.url)
      await writeFile(`${file}.tmp`, JSON.stringify(candidate), { mode: 0o600 })
      await rename(`${file}.tmp`, file)
    } catch (error) {
      logger.warn('data-space vocabulary not cached', { url: source.url, problem: (error as Error).message })
    }
    logger.info('data-space vocabulary in force', { url: source.url, operand: source.operand })
    return true
  }

  let running: Promise<boolean> | undefined
  const refresh = () =>
    (running ??= (async () => {
      let changed = false
      for (const source of sources) if (await fetchOne(source)) changed = true
      return changed
    })().finally(() => (running = undefined)))

  return {
    current: () =>
      sources.flatMap((s) => {
        const c = inForce.get(s.url)
        return c ? [{ operand: c.operand, file: c.url, text: c.text, format: c.format }] : []
      }),
    refresh,
    start(onChange) {
      if (sources.length === 0) return () => {}
      const run = () => {
        refresh()
          .then((changed) => (changed ? onChange() : undefined))
          .catch((error) => logger.error('data-space vocabularies could not be applied', { error }))
      }
      run()
      const timer = setInterval(run, refreshMs)
      timer.unref()
      return () => clearInterval(timer)
    },
  }
}
