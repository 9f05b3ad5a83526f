import { readFile, readdir, stat } from 'node:fs/promises'
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path'
import { parse as parseYaml } from 'yaml'
import type { CompiledPolicy, LintError, LoadResult } from './types.ts'
import { createRegistry, defaultRegistry, RegistryFile, type Registry } from './registry.ts'
import { compileSources, parseSource, type PolicySource } from './compile.ts'
import { buildTaxonomies, type TaxonomySource } from './taxonomy-sources.ts'
import { maxTaxonomyBytes } from './taxonomy-files.ts'

export interface LoadOptions {
  /** Use this registry instead of the built-ins plus the folder's `registry.yaml`. */
  registry?: Registry
  /** Vocabularies from elsewhere (the data space's published one), applied before the folder's own. */
  taxonomies?: TaxonomySource[]
  /**
   * The participant offering the policies. An ODRL Offer has an assigner: given here, it is set on
   * each compiled policy's model and in its catalog offer (`assigner`); without it, the evaluator
   * takes the provider from the request's context.
   */
  assigner?: string
}

/** The file of a policy folder that adds operands to the registry. */
export const registryFileName = 'registry.yaml'
const maxFileBytes = 1_000_000

/** Policy files: YAML, or raw ODRL as .json / .jsonld; steward test files (`*.test.yaml`) and the registry file are not. */
export const isPolicyFile = (name: string) =>
  /\.(ya?ml|json|jsonld)$/i.test(name) && !/\.test\.ya?ml$/i.test(name) && basename(name) !== registryFileName && !basename(name).startsWith('.')

/** Expands folders (not recursively) into their policy files, sorted; files are kept as given. */
async function expand(paths: string[]): Promise<{ files: string[]; folders: string[]; errors: LintError[] }> {
  const files: string[] = []
  const folders: string[] = []
  const errors: LintError[] = []
  for (const path of paths) {
    try {
      if ((await stat(path)).isDirectory()) {
        folders.push(path)
        files.push(
          ...(await readdir(path))
            .filter(isPolicyFile)
            .sort()
            .map((name) => join(path, name)),
        )
      } else files.push(path)
    } catch {
      errors.push({ file: path, line: 1, field: '(file)', message: 'no such file or folder' })
    }
  }
  return { files, folders, errors }
}

/**
 * Built-in operands plus those of `registry.yaml` in the given folders, with the taxonomies it
 * declares (files inside the folder) added to those of `taxonomies`.
 */
export async function loadRegistry(
  folders: string[],
  taxonomies: TaxonomySource[] = [],
): Promise<{ registry: Registry; errors: LintError[]; vocabularyFiles: string[] }> {
  const errors: LintError[] = []
  const extensions = []
  const sources = [...taxonomies]
  for (const folder of folders) {
    const file = join(folder, registryFileName)
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch {
      continue
    }
    try {
      const parsed = RegistryFile.safeParse(parseYaml(text))
      if (!parsed.success) {
        for (const issue of parsed.error.issues) errors.push({ file, line: 1, field: issue.path.map(String).join('.') || '(file)', message: issue.message })
        continue
      }
      extensions.push(...parsed.data.operands)
      for (const [i, declared] of parsed.data.taxonomies.entries()) {
        const path = resolve(folder, declared.file)
        const field = `taxonomies.${i}.file`
        const inside = relative(resolve(folder), path)
        if (isAbsolute(declared.file) || inside.startsWith('..')) {
          errors.push({
            file,
            line: 1,
            field,
            message: `\`${declared.file}\` is outside the policy folder`,
            suggestion: 'keep vocabularies beside the policies',
          })
          continue
        }
        try {
          if ((await stat(path)).size > maxTaxonomyBytes) {
            errors.push({ file: path, line: 1, field: '(file)', message: `the vocabulary is larger than ${maxTaxonomyBytes} bytes` })
            continue
          }
          sources.push({ operand: declared.operand, file: path, text: await readFile(path, 'utf8') })
        } catch {
          errors.push({ file, line: 1, field, message: `cannot read \`${declared.file}\`` })
        }
      }
    } catch (error) {
      errors.push({ file, line: 1, field: '(file)', message: `not valid YAML: ${(error as Error).message.split('\n')[0]}` })
    }
  }
  const vocabularyFiles = sources.slice(taxonomies.length).map((s) => s.file)
  if (sources.length === 0) return { registry: createRegistry(extensions), errors, vocabularyFiles }
  const built = await buildTaxonomies(
    sources,
    extensions.filter((e) => e.dataType === 'taxonomy').map((e) => e.name),
  )
  return { registry: createRegistry(extensions, built.taxonomies), errors: [...errors, ...built.errors], vocabularyFiles }
}

/**
 * Compile every policy file of a folder (or the given files). Never throws for bad files. Given
 * files are compiled with the other policy files of their folder (which `extends` may name), but
 * only the given files' policies and errors are returned.
 */
export async function loadPolicies(paths: string | string[], options: LoadOptions = {}): Promise<LoadResult> {
  const list = Array.isArray(paths) ? paths : [paths]
  const { files: requested, folders, errors } = await expand(list)
  const fileFolders = [...new Set(requested.map((f) => dirname(f)))].filter((f) => !folders.includes(f))
  const loaded = options.registry
    ? { registry: options.registry, errors: [], vocabularyFiles: [] }
    : await loadRegistry([...folders, ...fileFolders], options.taxonomies)
  errors.push(...loaded.errors)
  // Vocabularies the registry file declares are not policies, wherever they sit.
  const vocabularies = new Set(loaded.vocabularyFiles.map((f) => resolve(f)))
  const wanted = new Set(requested.map((f) => resolve(f)).filter((f) => !vocabularies.has(f)))
  const siblings: string[] = []
  for (const folder of fileFolders) {
    try {
      siblings.push(
        ...(await readdir(folder))
          .filter(isPolicyFile)
          .map((name) => join(folder, name))
          .filter((f) => !wanted.has(resolve(f))),
      )
    } catch {
      // the folder's own errors were reported by expand
    }
  }
  const sources: PolicySource[] = []
  for (const file of [...requested, ...siblings]) {
    if (vocabularies.has(resolve(file))) continue
    const isWanted = wanted.has(resolve(file))
    let text: string
    try {
      const info = await stat(file)
      if (info.size > maxFileBytes) {
        if (isWanted) errors.push({ file, line: 1, field: '(file)', message: `the file is larger than ${maxFileBytes} bytes` })
        continue
      }
      text = await readFile(file, 'utf8')
    } catch {
      if (isWanted) errors.push({ file, line: 1, field: '(file)', message: 'cannot read the file' })
      continue
    }
    const parsed = await parseSource(text, file, loaded.registry)
    if (isWanted) errors.push(...parsed.errors)
    if (parsed.source) sources.push(parsed.source)
  }
  const compiled = compileSources(sources, loaded.registry, options.assigner)
  errors.push(...compiled.errors.filter((e) => wanted.has(resolve(e.file))))
  const policies = new Map([...compiled.policies].filter(([, p]) => wanted.has(resolve(p.sourceFile))))
  return { policies, errors, registry: loaded.registry }
}

/** Lint only: the errors `loadPolicies` would report. */
export async function lintPolicies(paths: string | string[], options: LoadOptions = {}): Promise<LintError[]> {
  return (await loadPolicies(paths, options)).errors
}

/**
 * Compile one file's text (YAML policy or raw ODRL JSON-LD, by the file name's extension).
 * `others` are policies `extends` may name.
 */
export async function compilePolicyText(
  text: string,
  file: string,
  options: { registry?: Registry; others?: { text: string; file: string }[] } = {},
): Promise<{ policy?: CompiledPolicy; errors: LintError[] }> {
  const registry = options.registry ?? defaultRegistry()
  const parsed = await parseSource(text, file, registry)
  if (!parsed.source) return { errors: parsed.errors }
  const sources = [parsed.source]
  for (const other of options.others ?? []) {
    const o = await parseSource(other.text, other.file, registry)
    if (o.source) sources.push(o.source)
  }
  const compiled = compileSources(sources, registry)
  return {
    ...(compiled.policies.has(parsed.source.id) ? { policy: compiled.policies.get(parsed.source.id)! } : {}),
    errors: [...parsed.errors, ...compiled.errors.filter((e) => e.file === file)],
  }
}
