import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The installed package's root folder, found from this module's location so that the same code
 * works from sources (tests, tsx) and from the built bundle in dist/. Bundled read-only assets
 * (migrations, JSON-LD contexts, schemas, seeds) are resolved from here.
 */
function findPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'connector'))) return dir
    const parent = dirname(dir)
    if (parent === dir) throw new Error('cannot find the Passerelle package root')
    dir = parent
  }
}

export const packageRoot = findPackageRoot()
export const fromRoot = (...segments: string[]) => join(packageRoot, ...segments)
