import { createHash } from 'node:crypto'
import { readdir, readFile, stat } from 'node:fs/promises'
import { join, relative, resolve } from 'node:path'
import { isMap, isPair, isScalar, LineCounter, parseDocument, type Document, type Node } from 'yaml'
import type { z } from 'zod'
import { DatasetDescription } from './dataset.ts'
import { locateDistributionFile, type FilesRoot } from './files-root.ts'

/**
 * Reads the stewards' `datasets/*.yaml` files. Every problem is reported with the file, the line and
 * the dotted field it concerns; reading never throws for a bad file.
 */

export interface DatasetFileError {
  file: string
  line: number
  field: string
  message: string
}

export interface DatasetFile {
  file: string
  dataset: DatasetDescription
}

export interface ReadOptions {
  /** The participant folder: distribution `file` paths are relative to it. */
  root: string
  /** Known policy ids; when given, every reference must be one of them. */
  policyIds?: ReadonlySet<string>
  /** Where distribution files may be (default: `files/` under root, nothing private declared). */
  files?: FilesRoot
  /** Also compute each local file's sha256 (the byte size is always checked). */
  verifyChecksums?: boolean
  /** Whether the connector may reach an S3 endpoint (the egress policy); a problem to report, or undefined. */
  checkEndpoint?: (url: string) => Promise<string | undefined>
}

export interface ReadResult {
  /** Files that are valid, with their dataset. */
  datasets: DatasetFile[]
  errors: DatasetFileError[]
  /** Every file read (valid or not), relative to the participant folder. */
  files: string[]
}

export const formatFileError = (e: DatasetFileError) => `${e.file}:${e.line}: ${e.field ? `${e.field}: ` : ''}${e.message}`

/** Parses and validates one file's text (no file-system checks). */
export function parseDatasetText(
  text: string,
  file: string,
): { dataset?: DatasetDescription; errors: DatasetFileError[]; locate: (path: PropertyKey[]) => number } {
  const lineCounter = new LineCounter()
  const document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true })
  const lineAt = (offset: number | undefined) => (offset === undefined ? 1 : lineCounter.linePos(offset).line)
  if (document.errors.length > 0) {
    return {
      errors: document.errors.map((e) => ({ file, line: lineAt(e.pos[0]), field: '', message: `not valid YAML: ${e.message.split('\n')[0]}` })),
      locate: () => 1,
    }
  }
  const locate = (path: PropertyKey[]) => lineAt(nodeOffset(document, path))
  const raw = document.toJS()
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return { errors: [{ file, line: 1, field: '', message: 'expected a mapping of dataset fields' }], locate }
  }
  const parsed = DatasetDescription.safeParse(raw)
  if (parsed.success) return { dataset: parsed.data, errors: [], locate }
  return { errors: parsed.error.issues.flatMap((issue) => issueErrors(issue, file, document, lineAt)), locate }
}

/** Reads every `*.yaml` / `*.yml` file of a folder. A missing folder is an empty catalog. */
export async function readDatasetsDir(dir: string, options: ReadOptions): Promise<ReadResult> {
  let names: string[]
  try {
    names = (await readdir(dir)).filter((n) => /\.ya?ml$/.test(n)).sort()
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { datasets: [], errors: [], files: [] }
    throw error
  }
  const result: ReadResult = { datasets: [], errors: [], files: [] }
  const seen = new Map<string, string>()
  for (const name of names) {
    const path = join(dir, name)
    const file = relative(options.root, path) || name
    result.files.push(file)
    const one = await readDatasetFile(path, file, options)
    if (one.dataset) {
      const previous = seen.get(one.dataset.id)
      if (previous) {
        result.errors.push({ file, line: one.locate(['id']), field: 'id', message: `dataset id ${one.dataset.id} is already used by ${previous}` })
        continue
      }
      seen.set(one.dataset.id, file)
      result.datasets.push({ file, dataset: one.dataset })
    }
    result.errors.push(...one.errors)
  }
  return result
}

/** One file: syntax, schema and references (policies, local files with their size and checksum). */
export async function readDatasetFile(path: string, file: string, options: ReadOptions) {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    return { errors: [{ file, line: 1, field: '', message: `cannot read: ${(error as NodeJS.ErrnoException).code ?? error}` }], locate: () => 1 }
  }
  return checkDatasetText(text, file, options)
}

/** One file's text, checked as a file of the datasets folder is: syntax, schema and references. */
export async function checkDatasetText(text: string, file: string, options: ReadOptions) {
  const parsed = parseDatasetText(text, file)
  if (!parsed.dataset) return parsed
  const errors = await referenceErrors(parsed.dataset, options, (path) => ({ file, line: parsed.locate(path), field: path.join('.') }))
  return errors.length > 0 ? { errors, locate: parsed.locate } : parsed
}

/** Broken references of a valid description; `at(path)` says where a field is. */
export async function referenceErrors(
  dataset: DatasetDescription,
  options: ReadOptions,
  at: (path: Array<string | number>) => { file: string; line: number; field: string },
): Promise<DatasetFileError[]> {
  const errors: DatasetFileError[] = []
  if (options.policyIds) {
    const known = options.policyIds
    const unknown = (id: string) =>
      `unknown policy ${id}: no policy file with that id${known.size === 0 ? ' (no policy could be loaded)' : ` (known: ${[...known].sort().slice(0, 12).join(', ')}${known.size > 12 ? ', …' : ''})`}`
    dataset.policies.forEach((id, i) => {
      if (!known.has(id)) errors.push({ ...at(['policies', i]), message: unknown(id) })
    })
    if (dataset.visibility && !known.has(dataset.visibility)) errors.push({ ...at(['visibility']), message: unknown(dataset.visibility) })
    for (const [offer, gate] of Object.entries(dataset.offerVisibility ?? {}))
      if (!known.has(gate)) errors.push({ ...at(['offerVisibility', offer]), message: unknown(gate) })
  }
  const root = resolve(options.root)
  const files = options.files ?? { root: join(root, 'files'), private: [] }
  for (const [i, d] of dataset.distributions.entries()) {
    if (d.s3?.endpoint !== undefined && options.checkEndpoint) {
      const problem = await options.checkEndpoint(d.s3.endpoint)
      if (problem) errors.push({ ...at(['distributions', i, 's3', 'endpoint']), message: problem })
    }
    if (d.folder !== undefined) {
      const located = await locateDistributionFile(files, root, d.folder)
      if ('problem' in located) errors.push({ ...at(['distributions', i, 'folder']), message: located.problem })
      else if (!(await stat(located.path)).isDirectory()) errors.push({ ...at(['distributions', i, 'folder']), message: `${d.folder} is not a folder` })
    }
    if (d.file === undefined) continue
    const located = await locateDistributionFile(files, root, d.file)
    if ('problem' in located) {
      errors.push({ ...at(['distributions', i, 'file']), message: located.problem })
      continue
    }
    const path = located.path
    try {
      const info = await stat(path)
      if (!info.isFile()) errors.push({ ...at(['distributions', i, 'file']), message: `${d.file} is not a file` })
      else if (info.size !== d.byteSize)
        errors.push({ ...at(['distributions', i, 'byteSize']), message: `${d.file} has ${info.size} bytes, not ${d.byteSize}` })
      else if (options.verifyChecksums) {
        const actual = createHash('sha256')
          .update(await readFile(path))
          .digest('hex')
        if (actual !== d.sha256) errors.push({ ...at(['distributions', i, 'sha256']), message: `${d.file} has sha256 ${actual}` })
      }
    } catch {
      errors.push({ ...at(['distributions', i, 'file']), message: `no such file: ${d.file}` })
    }
  }
  return errors
}

function issueErrors(issue: z.core.$ZodIssue, file: string, document: Document, lineAt: (offset: number | undefined) => number): DatasetFileError[] {
  const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol')
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({
      file,
      line: lineAt(keyOffset(document, path, key) ?? nodeOffset(document, path)),
      field: [...path, key].join('.'),
      message: `unknown key ${key}`,
    }))
  }
  const present = document.hasIn(path)
  const message =
    issue.code === 'invalid_type' && !present
      ? 'missing mandatory field'
      : issue.code === 'invalid_union'
        ? 'expected a text, or texts by language (e.g. en: …, fr: …)'
        : issue.message.replace(/^Invalid input: /, '')
  return [{ file, line: lineAt(nodeOffset(document, present ? path : path.slice(0, -1))), field: path.join('.'), message }]
}

function nodeOffset(document: Document, path: PropertyKey[]): number | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = (n === 0 ? document.contents : document.getIn(path.slice(0, n), true)) as Node | undefined
    if (node && typeof node === 'object' && 'range' in node && node.range) {
      // For a scalar value, its own line; for a mapping value, the line of its key is more useful.
      if (n > 0 && !isScalar(node)) return keyOffset(document, path.slice(0, n - 1), path[n - 1]!) ?? node.range[0]
      return node.range[0]
    }
  }
  return undefined
}

function keyOffset(document: Document, parentPath: PropertyKey[], key: PropertyKey): number | undefined {
  const parent = parentPath.length === 0 ? document.contents : document.getIn(parentPath, true)
  if (!isMap(parent)) return undefined
  const pair = parent.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === key)
  return pair && isScalar(pair.key) ? pair.key.range?.[0] : undefined
}
