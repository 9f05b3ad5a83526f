import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { fromRoot } from '../paths.ts'

export const configFileName = 'passerelle.yaml'

/**
 * Which configuration a command uses: `--config FILE`, else PASSERELLE_CONFIG, else
 * `./passerelle.yaml`, else the seed participant that ships with Passerelle.
 */
export function findConfigFile(explicit: string | undefined, io: { cwd: string; env: Record<string, string | undefined> }): string {
  if (explicit) return resolve(io.cwd, explicit)
  if (io.env.PASSERELLE_CONFIG) return resolve(io.cwd, io.env.PASSERELLE_CONFIG)
  const local = resolve(io.cwd, configFileName)
  if (existsSync(local)) return local
  return fromRoot('seeds', configFileName)
}
