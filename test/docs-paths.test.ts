/**
 * The architecture page and the contributors' guide name files so that a newcomer can open them:
 * every repository path they name (in backquotes, or as a relative link) must exist. A renamed or
 * moved module makes this fail until the page says where it went.
 */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'
import { fromRoot } from '../connector/paths.ts'

const pages = ['docs/architecture.md', 'CONTRIBUTING.md']

/** A repository path: words joined by `/` (a trailing `/` for a folder), or a file of the repository's own kinds at its root. */
const pathLike = /^\.?[\w@.-]+(\/[\w@.-]+)*\/?$/
// A bare `registry.yaml` or `passerelle.yaml` is a participant's file, not one of the repository.
const rootFile = /\.(ts|js|cjs|mjs|jsonc|md)$/

/** Paths named in backquotes (relative to the repository) and relative link targets (relative to the page). */
function namedPaths(page: string, text: string): string[] {
  const found = new Set<string>()
  for (const [, quoted] of text.matchAll(/`([^`\n]+)`/g)) {
    const candidate = quoted!.trim()
    if (!pathLike.test(candidate)) continue
    if (candidate.includes('/') ? !candidate.startsWith('/') : rootFile.test(candidate)) found.add(candidate)
  }
  for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
    const path = target!.split('#')[0]!
    if (!path || /^[a-z]+:/.test(path)) continue
    found.add(relative(fromRoot(), join(fromRoot(), dirname(page), path)) || '.')
  }
  return [...found]
}

const missing = (paths: string[]) => paths.filter((path) => !existsSync(fromRoot(path)))

describe('files named by the architecture page and the contributors guide', () => {
  for (const page of pages) {
    it(`every path ${page} names exists`, () => {
      const paths = namedPaths(page, readFileSync(fromRoot(page), 'utf8'))
      expect(paths.length, `${page} names files`).toBeGreaterThan(10)
      expect(missing(paths), `paths named in ${page} that do not exist`).toEqual([])
    })
  }

  it('a path that does not exist is caught, in backquotes and in links; commands, routes and globs are not paths', () => {
    const text = [
      'See `connector/negotiation/gone.ts` and [the old page](old-page.md#top), `vitest.config.ts`.',
      'Not paths: `POST /negotiations/request`, `/dsp/2025-1`, `*repository.ts`, `npm run lint`, `https://example.org/a`, `ContractRequestMessage`.',
    ].join('\n')
    const paths = namedPaths('docs/architecture.md', text)
    expect(paths.sort()).toEqual(['connector/negotiation/gone.ts', 'docs/old-page.md', 'vitest.config.ts'])
    expect(missing(paths).sort()).toEqual(['connector/negotiation/gone.ts', 'docs/old-page.md'])
  })
})
