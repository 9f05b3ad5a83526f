import { cpSync, mkdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { emptyFilter } from '../../catalog/filter.ts'
import { member } from '../../test/support/catalog-fixtures.ts'
import { participantFolder } from '../../test/support/catalog.ts'
import { testClock, testConfig } from '../../test/support/context.ts'
import { createTestStore } from '../../test/support/stores.ts'
import { fromRoot } from '../paths.ts'
import type { Store } from '../store/store.ts'
import { createLogger } from '../telemetry/logger.ts'
import { createCatalogService, type CatalogService } from './catalog-service.ts'

/**
 * The policy folder read again while the connector runs: validated first, a broken file keeps its
 * previous version in force (and is listed with the problems), a broken vocabulary or registry file
 * keeps every previous policy, and the log says which policies and which datasets' offers changed.
 */
const iceId = 'urn:uuid:0f3cee7e-e077-4be0-9365-3a791567f70e' // open-with-attribution
const openPolicy = 'policies/open-with-attribution.yaml'

describe('policy files reloaded while running', () => {
  let store: Store
  let root: string
  let service: CatalogService
  let logs: Array<Record<string, any>>
  const offersOf = async (id: string) => {
    const body = JSON.parse((await service.catalog.page({ requester: member, now: new Date(), filter: emptyFilter, offset: 0, limit: 1000 })).body)
    return body.dataset.find((d: { '@id': string }) => d['@id'] === id)?.hasPolicy as Array<Record<string, unknown>> | undefined
  }
  const edit = (file: string, change: (text: string) => string) => writeFileSync(join(root, file), change(readFileSync(join(root, file), 'utf8')))

  beforeEach(async () => {
    store = await createTestStore('sqlite')
    root = participantFolder()
    cpSync(fromRoot('seeds/policies'), join(root, 'policies'), { recursive: true, filter: (f) => !f.endsWith('.test.yaml') })
    logs = []
    service = await createCatalogService({
      config: testConfig({}, root),
      store,
      clock: testClock(),
      logger: createLogger({ write: (line) => void logs.push(JSON.parse(line)) }),
    })
    logs = []
  })
  afterEach(async () => {
    await store.close()
    rmSync(root, { recursive: true, force: true })
  })

  it('a changed policy changes the offers of the datasets that use it, and the log names both', async () => {
    const before = await offersOf(iceId)
    expect(JSON.stringify(before)).not.toContain('Share and share alike')
    edit(openPolicy, (t) => t.replace('title: Open data, with attribution', 'title: Share and share alike'))
    await service.reloadPolicies()
    const after = await offersOf(iceId)
    expect(JSON.stringify(after)).toContain('Share and share alike')
    expect(service.fileErrors()).toEqual([])
    const changed = logs.find((l) => l.msg === 'policies changed')
    expect(changed).toMatchObject({ added: [], changed: ['open-with-attribution'], removed: [] })
    expect(changed!.offersChangedFor).toContain(iceId)
  })

  it('a broken policy file is refused with its error; its previous version stays in force, other files still change', async () => {
    const before = await offersOf(iceId)
    writeFileSync(
      join(root, openPolicy),
      'id: open-with-attribution\npermissions:\n  - action: use\n    constraints: [{ leftOperand: purpose, operator: isA, rightOperand: no-such-purpose }]\n',
    )
    edit('policies/research-only.yaml', (t) => t.replace('title: Research use only', 'title: Research only, nothing else'))
    await service.reloadPolicies()
    expect(await offersOf(iceId)).toEqual(before)
    expect(service.policies.policy('research-only')!.title).toBe('Research only, nothing else')
    const problems = service.fileErrors()
    expect(problems.length).toBeGreaterThan(0)
    expect(problems.every((p) => p.file === openPolicy)).toBe(true)
    expect(problems[0]!.message).toContain('no-such-purpose')
    expect(problems[0]!.message).toContain('the previous version of this file stays in force')
    expect(logs.some((l) => l.level === 'warn' && l.msg === 'policy file problem' && l.problem.startsWith(`${openPolicy}:`))).toBe(true)

    // Fixed: the problem goes, the fixed version is in force.
    edit(openPolicy, () => readFileSync(fromRoot('seeds/policies/open-with-attribution.yaml'), 'utf8').replace('Open data, with attribution', 'Open, credited'))
    await service.reloadPolicies()
    expect(service.fileErrors()).toEqual([])
    expect(JSON.stringify(await offersOf(iceId))).toContain('Open, credited')
  })

  it('a broken vocabulary keeps every previous policy in force, even those whose files changed', async () => {
    writeFileSync(
      join(root, 'policies/registry.yaml'),
      'operands:\n  - { name: crop, dataType: taxonomy }\ntaxonomies:\n  - { operand: crop, file: vocabularies/crops.yaml }\n',
    )
    mkdirSync(join(root, 'policies/vocabularies'))
    writeFileSync(join(root, 'policies/vocabularies/crops.yaml'), 'concepts:\n  - id: https://crops.example/Wheat\n    notation: wheat\n')
    await service.reloadPolicies()
    expect(service.fileErrors()).toEqual([])
    const before = await offersOf(iceId)

    writeFileSync(
      join(root, 'policies/vocabularies/crops.yaml'),
      'concepts:\n  - id: https://crops.example/Wheat\n    notation: wheat\n    broader: [nowhere]\n',
    )
    edit(openPolicy, (t) => t.replace('title: Open data, with attribution', 'title: Not yet'))
    await service.reloadPolicies()
    expect(await offersOf(iceId)).toEqual(before)
    expect(service.policies.policy('open-with-attribution')!.title).toBe('Open data, with attribution')
    const problems = service.fileErrors()
    expect(
      problems.some((p) => p.file === 'policies/vocabularies/crops.yaml' && p.message.endsWith('the change is refused, the previous policies stay in force')),
    ).toBe(true)
  })

  it('a deleted policy file withdraws the datasets that name it, which are listed as problems', async () => {
    unlinkSync(join(root, openPolicy))
    await service.reloadPolicies()
    expect(await offersOf(iceId)).toBeUndefined()
    expect(service.fileErrors()).toContainEqual(expect.objectContaining({ file: 'datasets/arctic-sea-ice-extent.yaml', field: 'policies.0' }))
    expect(logs.find((l) => l.msg === 'policies changed')).toMatchObject({ removed: ['open-with-attribution'] })
  })

  it('notices a broken vocabulary in a subfolder of the policy folder by itself while watching', async () => {
    writeFileSync(
      join(root, 'policies/registry.yaml'),
      'operands:\n  - { name: crop, dataType: taxonomy }\ntaxonomies:\n  - { operand: crop, file: vocabularies/crops.yaml }\n',
    )
    mkdirSync(join(root, 'policies/vocabularies'))
    writeFileSync(join(root, 'policies/vocabularies/crops.yaml'), 'concepts:\n  - id: https://crops.example/Wheat\n    notation: wheat\n')
    await service.reloadPolicies()
    const stop = service.watch()
    try {
      writeFileSync(join(root, 'policies/vocabularies/crops.yaml'), 'concepts:\n  - id: https://crops.example/Wheat\n    broader: [nowhere]\n')
      const deadline = Date.now() + 10_000
      const listed = () => service.fileErrors().some((p) => p.file === 'policies/vocabularies/crops.yaml')
      while (!listed() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
      expect(listed()).toBe(true)
    } finally {
      stop()
    }
  })

  it('notices a policy change by itself while watching', async () => {
    const stop = service.watch()
    try {
      edit(openPolicy, (t) => t.replace('title: Open data, with attribution', 'title: Watched'))
      const deadline = Date.now() + 10_000
      while (service.policies.policy('open-with-attribution')?.title !== 'Watched' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
      expect(JSON.stringify(await offersOf(iceId))).toContain('Watched')
    } finally {
      stop()
    }
  })
})
