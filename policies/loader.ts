import type { CompiledPolicy, LintError, LoadResult } from './types.ts'
import type { Registry } from './registry.ts'

export interface LoadOptions {
  registry?: Registry
}

/** Compile every policy file of a folder (or the given files). Never throws for bad files. */
export async function loadPolicies(_paths: string | string[], _options: LoadOptions = {}): Promise<LoadResult> {
  throw new Error('not implemented yet')
}

/** Lint only: the errors `loadPolicies` would report. */
export async function lintPolicies(paths: string | string[], options: LoadOptions = {}): Promise<LintError[]> {
  return (await loadPolicies(paths, options)).errors
}

/** Compile one file's text (YAML policy or raw ODRL JSON-LD). `resolve` finds `extends` baselines by id. */
export function compilePolicyText(
  _text: string,
  _file: string,
  _options: LoadOptions & { resolve?: (id: string) => CompiledPolicy | undefined } = {},
): { policy?: CompiledPolicy; errors: LintError[] } {
  throw new Error('not implemented yet')
}
