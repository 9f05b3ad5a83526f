import { cpSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fakePolicies, offerBodies } from './catalog-fixtures.ts'
import { defaultRegistry } from '../../policies/index.ts'
import { fromRoot } from '../../connector/paths.ts'
import type { CatalogPolicySource } from '../../connector/catalog/policy-source.ts'

/** Test helpers for the catalog area. */
export function testPolicySource(): CatalogPolicySource {
  return {
    ...fakePolicies(),
    ids: new Set(Object.keys(offerBodies)),
    errors: [],
    policy: () => undefined,
    credentialTypes: () => ['MembershipCredential'],
    registry: defaultRegistry(),
  }
}

/** A participant folder with the seed datasets and files, plus extra dataset files. */
export function participantFolder(extra: Record<string, string> = {}) {
  const root = mkdtempSync(join(tmpdir(), 'catalog-routes-'))
  cpSync(fromRoot('seeds/datasets'), join(root, 'datasets'), { recursive: true })
  cpSync(fromRoot('seeds/files'), join(root, 'files'), { recursive: true })
  for (const [name, text] of Object.entries(extra)) writeFileSync(join(root, 'datasets', name), text)
  return root
}
