import { readFileSync, statSync } from 'node:fs'
import { parse } from 'yaml'
import { PasserelleError } from '../../errors.ts'

/**
 * The values of the secrets distributions name (an upstream's token), resolved when a transfer
 * reads the upstream, never stored in the catalog, agreements, logs or answers. First from the
 * environment variable `PASSERELLE_SECRET_<NAME>` (upper-cased, dots and dashes as underscores),
 * then from the secrets file named by `PASSERELLE_SECRETS_FILE`: a YAML map of name to value,
 * readable by its owner only (mode 0600), read again when it changes (so a rotated token is used).
 */
export type SecretLookup = (name: string) => string

export const secretVariable = (name: string) => `PASSERELLE_SECRET_${name.toUpperCase().replace(/[.-]/g, '_')}`

export function secretLookup(env: Record<string, string | undefined> = process.env): SecretLookup {
  let cached: { path: string; mtimeMs: number; size: number; values: Record<string, unknown> } | undefined
  const fromFile = (path: string): Record<string, unknown> => {
    const info = statSync(path)
    // Others who can read it can read every upstream's token.
    if ((info.mode & 0o077) !== 0)
      throw new PasserelleError('unavailable', `the secrets file is readable by others (mode ${(info.mode & 0o777).toString(8)}); make it 0600`)
    if (cached?.path === path && cached.mtimeMs === info.mtimeMs && cached.size === info.size) return cached.values
    const parsed = parse(readFileSync(path, 'utf8')) as unknown
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
      throw new PasserelleError('unavailable', 'the secrets file is not a map of secret names to values')
    cached = { path, mtimeMs: info.mtimeMs, size: info.size, values: parsed as Record<string, unknown> }
    return cached.values
  }
  return (name) => {
    const variable = secretVariable(name)
    const direct = env[variable]
    if (direct) return direct
    const file = env.PASSERELLE_SECRETS_FILE
    if (file) {
      let values: Record<string, unknown>
      try {
        values = fromFile(file)
      } catch (error) {
        if (error instanceof PasserelleError) throw error
        throw new PasserelleError('unavailable', `the secrets file cannot be read (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`)
      }
      const value = values[name]
      if (typeof value === 'string' && value.length > 0) return value
    }
    throw new PasserelleError('unavailable', `the secret ${name} is not set (${variable}${file ? ' or the secrets file' : ''})`)
  }
}
