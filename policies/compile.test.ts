import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { expectDspValid } from '../test/support/dsp-schemas.ts'
import { agreementFor, compilePolicyText, createRegistry, evaluate, loadPolicies, offerFor, policyFromOdrl, readPolicy, samePolicy } from './index.ts'
import type { EvaluationContext, LintError } from './index.ts'
import { graphFromJsonLd } from './jsonld.ts'

const seeds = new URL('../seeds/policies/', import.meta.url).pathname
const now = new Date('2026-06-01T12:00:00Z')
const context = (extra: Partial<EvaluationContext> = {}): EvaluationContext => ({
  scope: 'negotiation',
  action: 'use',
  assignee: 'did:web:lab.example',
  credentials: [],
  now,
  ...extra,
})

function folder(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'policies-'))
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true })
    writeFileSync(join(dir, name), text)
  }
  return dir
}

const researchOnly = `id: research-only
title: Research only
permissions:
  - action: use
    constraints:
      - { leftOperand: purpose, operator: isA, rightOperand: research }
`

describe('compiled offers in the DSP 2025-1 shape', async () => {
  const { policies, errors } = await loadPolicies(seeds)

  it('compiles every seed policy without errors, with the ids datasets use', () => {
    expect(errors).toEqual([])
    expect([...policies.keys()]).toEqual(expect.arrayContaining(['research-only', 'eu-or-canada-processing', 'members-only', 'open-with-attribution']))
  })

  it.each(['research-only', 'eu-or-canada-processing', 'members-only', 'open-with-attribution', 'members-climate-research', 'embargo-2027'])(
    '%s: the offer is valid inside a catalog Dataset, in a ContractRequestMessage and as an agreement',
    (id) => {
      const policy = policies.get(id)!
      expect(policy.odrl).not.toHaveProperty('target')
      expect(policy.odrl).not.toHaveProperty('@context')
      expect(policy.odrl['@id']).toMatch(/^urn:uuid:[0-9a-f-]{36}$/)
      expectDspValid('catalog/dataset-schema.json', {
        '@context': ['https://w3id.org/dspace/2025/1/context.jsonld'],
        '@id': 'urn:uuid:3afeadd8-ed2d-569e-d634-8394a8836d57',
        '@type': 'Dataset',
        hasPolicy: [policy.odrl],
        distribution: [
          {
            '@type': 'Distribution',
            format: 'HttpData-PULL',
            accessService: { '@id': 'urn:uuid:1', '@type': 'DataService', endpointURL: 'https://ocsl.example/dsp' },
          },
        ],
      })
      expectDspValid('negotiation/contract-request-message-schema.json', {
        '@context': ['https://w3id.org/dspace/2025/1/context.jsonld'],
        '@type': 'ContractRequestMessage',
        consumerPid: 'urn:uuid:32541fe6-c580-409e-85a8-8a9a32fbe833',
        offer: offerFor(policy, 'urn:uuid:3afeadd8-ed2d-569e-d634-8394a8836d57'),
        callbackAddress: 'https://lab.example/callback',
      })
      const agreement = agreementFor(policy, {
        id: 'urn:uuid:e8dc8655-44c2-46ef-b701-4cffdc2faa44',
        target: 'urn:uuid:3afeadd8-ed2d-569e-d634-8394a8836d57',
        assigner: 'did:web:ocsl.example',
        assignee: 'did:web:lab.example',
        timestamp: now,
      })
      expect(agreement.timestamp).toBe('2026-06-01T12:00:00.000Z')
      expectDspValid('negotiation/contract-agreement-message-schema.json', {
        '@context': ['https://w3id.org/dspace/2025/1/context.jsonld'],
        '@type': 'ContractAgreementMessage',
        providerPid: 'urn:uuid:a343fcbf-99fc-4ce8-8e9b-148c97605aab',
        consumerPid: 'urn:uuid:32541fe6-c580-409e-85a8-8a9a32fbe833',
        agreement,
      })
    },
  )

  it('are sound JSON-LD: every term of a Dataset carrying them resolves under the DSP context (safe mode)', async () => {
    for (const policy of policies.values()) {
      const dataset = { '@context': ['https://w3id.org/dspace/2025/1/context.jsonld'], '@id': 'urn:uuid:1', '@type': 'Dataset', hasPolicy: [policy.odrl] }
      const graph = await graphFromJsonLd(dataset)
      expect(JSON.stringify(graph), policy.id).toContain('Offer')
    }
  })

  it('reads its own offers and agreements back to the same decisions', () => {
    const requests = [
      context({ purpose: 'climate-research', spatial: 'CA-QC' }),
      context({ purpose: 'marketing', spatial: 'US' }),
      context({
        credentials: [{ types: ['MembershipCredential'], issuer: 'did:web:a', claims: {} }],
        purpose: 'climate-research',
        scope: 'transfer',
        usage: { count: 3 },
        agreement: { signedAt: now },
      }),
    ]
    for (const policy of policies.values()) {
      const agreement = agreementFor(policy, {
        id: 'urn:uuid:1',
        target: 'urn:dataset:1',
        assigner: 'did:web:ocsl.example',
        assignee: 'did:web:lab.example',
        timestamp: now,
      })
      for (const body of [offerFor(policy, 'urn:dataset:1'), agreement]) {
        const read = policyFromOdrl(body)
        expect(read.errors).toEqual([])
        for (const request of requests) {
          expect(evaluate(read.model!, { ...request, target: 'urn:dataset:1' }).allowed, `${policy.id} ${body['@type']}`).toBe(
            evaluate(policy, request).allowed,
          )
        }
      }
    }
  })

  it('reads offers whose operands are bare, as the DSP examples write them', () => {
    const read = policyFromOdrl({
      '@id': 'urn:x',
      '@type': 'Offer',
      permission: [{ action: 'use', constraint: [{ leftOperand: 'dateTime', operator: 'lteq', rightOperand: '2023-12-31T06:00Z' }] }],
    })
    expect(evaluate(read.model!, context()).allowed).toBe(false)
    expect(evaluate(read.model!, context({ now: new Date('2023-06-01T00:00:00Z') })).allowed).toBe(true)
  })

  it('refuses to read what is not an ODRL policy, with a reason', () => {
    expect(policyFromOdrl('nonsense').errors).toEqual(['the policy must be a JSON object'])
    expect(
      policyFromOdrl({ '@id': 'urn:x', permission: [{ action: 'use', constraint: [{ leftOperand: 'purpose', operator: 'like', rightOperand: 'x' }] }] }).errors,
    ).toEqual(['permission[0].constraint[0].operator `like` is not an ODRL operator'])
  })
})

describe('stable offer ids', () => {
  it('the same file and content give the same id; other content or another policy id give another', async () => {
    const a = await compilePolicyText(researchOnly, 'research-only.yaml')
    const b = await compilePolicyText(researchOnly, 'elsewhere/research-only.yaml')
    const changed = await compilePolicyText(researchOnly.replace('research }', 'climate-research }'), 'research-only.yaml')
    const renamed = await compilePolicyText(researchOnly.replace('id: research-only', 'id: research-only-2'), 'research-only.yaml')
    expect(a.policy!.odrl['@id']).toBe(b.policy!.odrl['@id'])
    expect(changed.policy!.odrl['@id']).not.toBe(a.policy!.odrl['@id'])
    expect(renamed.policy!.odrl['@id']).not.toBe(a.policy!.odrl['@id'])
    expect(a.policy!.odrl).toEqual({
      '@id': a.policy!.odrl['@id'],
      '@type': 'Offer',
      'https://w3id.org/passerelle/ns#policyId': 'research-only',
      'https://w3id.org/passerelle/ns#policyTitle': 'Research only',
      permission: [{ action: 'use', constraint: [{ leftOperand: 'odrl:purpose', operator: 'isA', rightOperand: 'research' }] }],
    })
  })

  it('a new title names the same offer: the title is an annotation, not a term', async () => {
    const a = await compilePolicyText(researchOnly, 'research-only.yaml')
    const retitled = await compilePolicyText(researchOnly.replace('title: Research only', 'title: Research of any kind'), 'research-only.yaml')
    expect(retitled.policy!.odrl['https://w3id.org/passerelle/ns#policyTitle']).toBe('Research of any kind')
    expect(retitled.policy!.odrl['@id']).toBe(a.policy!.odrl['@id'])
  })
})

const lint = async (text: string, name = 'policy.yaml'): Promise<LintError[]> => (await compilePolicyText(text, name)).errors

describe('lint', () => {
  it.each([
    [
      'an unknown operand, with a suggestion',
      researchOnly.replace('leftOperand: purpose', 'leftOperand: purpos'),
      {
        line: 6,
        column: 24,
        field: 'permissions[0].constraints[0].leftOperand',
        message: 'unknown left operand `purpos`',
        suggestion: 'did you mean `purpose`?',
      },
    ],
    [
      'an operator that does not fit the type',
      researchOnly.replace('operator: isA', 'operator: gt'),
      { line: 6, field: 'permissions[0].constraints[0].operator', message: 'operator `gt` does not fit the purpose (taxonomy)' },
    ],
    ['isPartOf on a taxonomy suggests isA', researchOnly.replace('operator: isA', 'operator: isPartOf'), { suggestion: 'use `isA`' }],
    [
      'an unknown operator',
      researchOnly.replace('operator: isA', 'operator: equals'),
      { message: 'unknown operator `equals`', suggestion: 'did you mean `eq`?' },
    ],
    [
      'a value outside the vocabulary',
      researchOnly.replace('rightOperand: research', 'rightOperand: reserch'),
      { field: 'permissions[0].constraints[0].rightOperand', message: '`reserch` is not a known purpose', suggestion: 'did you mean `research`?' },
    ],
    [
      'an unknown action',
      researchOnly.replace('action: use', 'action: uze'),
      { line: 4, column: 13, field: 'permissions[0].action', suggestion: 'did you mean `use`?' },
    ],
    [
      'a misspelt field',
      researchOnly.replace('permissions:', 'permisions:'),
      { line: 3, column: 1, field: 'permisions', message: 'unknown field `permisions`', suggestion: 'did you mean `permissions`?' },
    ],
    [
      'an id that is not a name',
      researchOnly.replace('id: research-only', 'id: research only!'),
      { field: 'id', message: '`id` must be letters, digits, `.`, `_` and `-`' },
    ],
    ['no id, and a file name that cannot be one', researchOnly.replace('id: research-only\n', ''), { field: 'id' }, 'my policy.yaml'],
    [
      'a malformed date',
      researchOnly.replace(
        '{ leftOperand: purpose, operator: isA, rightOperand: research }',
        '{ leftOperand: dateTime, operator: lt, rightOperand: next-year }',
      ),
      { message: '`next-year` is not a date-time (expected e.g. 2027-01-01T00:00:00Z)' },
    ],
    [
      'a malformed duration',
      researchOnly.replace(
        '{ leftOperand: purpose, operator: isA, rightOperand: research }',
        '{ leftOperand: elapsedTime, operator: lt, rightOperand: 30 days }',
      ),
      { message: '`30 days` is not an ISO 8601 duration (expected e.g. P30D, PT12H, P1Y)' },
    ],
    [
      'a negative count',
      researchOnly.replace('{ leftOperand: purpose, operator: isA, rightOperand: research }', '{ leftOperand: count, operator: lteq, rightOperand: -1 }'),
      { message: '`-1` is not a whole number' },
    ],
    [
      'an unknown place',
      researchOnly.replace(
        '{ leftOperand: purpose, operator: isA, rightOperand: research }',
        '{ leftOperand: spatial, operator: isPartOf, rightOperand: [EU, Europe] }',
      ),
      { field: 'permissions[0].constraints[0].rightOperand[1]' },
    ],
    [
      'a list where one value is compared',
      researchOnly.replace('{ leftOperand: purpose, operator: isA, rightOperand: research }', '{ leftOperand: count, operator: lt, rightOperand: [1, 2] }'),
      { message: '`lt` compares with one value, not a list' },
    ],
    ['a constraint without operator', researchOnly.replace('operator: isA, ', ''), { message: 'the constraint has no `operator`' }],
    [
      'a logical constraint with nothing in it',
      researchOnly.replace('{ leftOperand: purpose, operator: isA, rightOperand: research }', '{ or: [] }'),
      { message: '`or` needs a list of constraints' },
    ],
    ['a policy without rules', 'id: empty\ntitle: Empty\n', { message: 'the policy has no rules: a DSP offer needs at least one permission or prohibition' }],
    [
      'duties on a prohibition',
      'id: p\ntitle: P\nprohibitions:\n  - action: use\n    duties: [{ action: attribute }]\n',
      { field: 'prohibitions[0].duties', message: 'prohibitions have no duties' },
    ],
    ['an unknown parameter', researchOnly.replace('rightOperand: research', 'rightOperand: "${purposes}"'), { message: 'unknown parameter `purposes`' }],
    ['not YAML', 'id: [unclosed\n', { field: '(file)', message: expect.stringMatching(/^not valid YAML: /) }],
    ['not a mapping', '- just\n- a list\n', { message: 'a policy file must be a mapping with at least `id`, `title` and `permissions` or `prohibitions`' }],
  ] as [string, string, Record<string, unknown>, string?][])('reports %s', async (_what, text, expected, file = 'policy.yaml') => {
    const errors = await lint(text, file)
    expect(errors.length).toBeGreaterThan(0)
    expect(errors).toContainEqual(expect.objectContaining({ file, ...expected }))
  })

  it('takes the id from the file name and the title from the id when they are left out', async () => {
    const { policy, errors } = await compilePolicyText('permissions: [{ action: use }]\n', 'open-data.yaml')
    expect(errors).toEqual([])
    expect(policy).toMatchObject({ id: 'open-data', title: 'open-data' })
  })

  it('reports every problem of a file in one run', async () => {
    const text = researchOnly.replace('permissions:', 'permissions:\n  - action: uze').replace('title:', 'titel: x\ntitle:')
    const fields = (await lint(text)).map((e) => e.field)
    expect(fields).toEqual(['titel', 'permissions[0].action'])
  })

  it('refuses a YAML alias bomb with a lint error instead of expanding it', async () => {
    const bomb = [
      'a: &a ["x","x","x","x","x","x","x","x","x"]',
      ...'bcdefghi'.split('').map((k, i) => `${k}: &${k} [${Array(9).fill(`*${'abcdefghi'[i]}`).join(',')}]`),
      'id: bomb',
      'title: Bomb',
      'permissions: [{ action: use }]',
    ].join('\n')
    const errors = await lint(bomb)
    expect(errors).toHaveLength(1)
    expect(errors[0]!.message).toMatch(/cannot read the YAML|not valid YAML/)
  })

  it('a bad file never throws out of the loader and does not stop the good ones', async () => {
    const dir = folder({
      'good.yaml': researchOnly,
      'bad.yaml': 'id: bad\ntitle: Bad\npermissions: [{ action: use, constraints: [{ leftOperand: purpose, operator: isA, rightOperand: marketting }] }]\n',
      'binary.yaml': '\u0000\u0001\u0002garbage: [',
      'huge.yaml': `id: huge\ntitle: Huge\n# ${'x'.repeat(1_100_000)}\npermissions: [{ action: use }]\n`,
      'notes.txt': 'not a policy file',
    })
    const result = await loadPolicies(dir)
    expect([...result.policies.keys()]).toEqual(['research-only'])
    expect(result.errors.map((e) => e.file.split('/').pop())).toEqual(expect.arrayContaining(['bad.yaml', 'binary.yaml', 'huge.yaml']))
    expect(result.errors.find((e) => e.file.endsWith('huge.yaml'))!.message).toBe('the file is larger than 1000000 bytes')
  })

  it('reports duplicate ids', async () => {
    const result = await loadPolicies(folder({ 'a.yaml': researchOnly, 'b.yaml': researchOnly }))
    expect(result.errors).toContainEqual(expect.objectContaining({ field: 'id', message: expect.stringContaining('is already used by') }))
  })
})

describe('extends and templates', () => {
  const baseline =
    'id: members-only\ntitle: Members\npermissions:\n  - action: use\n    constraints: [{ leftOperand: membership, operator: eq, rightOperand: active }]\n'
  const template = `id: research-template
title: Research template
parameters:
  purposes: { description: allowed purposes }
permissions:
  - action: use
    constraints: [{ leftOperand: purpose, operator: isAnyOf, rightOperand: "\${purposes}" }]
`
  const member = { types: ['MembershipCredential'], issuer: 'did:web:a', claims: {} }

  it('a baseline restricts the permissions of the policy that extends it', async () => {
    const dir = folder({ 'members-only.yaml': baseline, 'research.yaml': `${researchOnly}extends: members-only\n` })
    const { policies, errors } = await loadPolicies(dir)
    expect(errors).toEqual([])
    const policy = policies.get('research-only')!
    expect(evaluate(policy, context({ purpose: 'research' })).allowed).toBe(false)
    expect(evaluate(policy, context({ purpose: 'marketing', credentials: [member] })).allowed).toBe(false)
    expect(evaluate(policy, context({ purpose: 'research', credentials: [member] })).allowed).toBe(true)
  })

  it("a baseline whose permissions cover none of the policy's is a lint error, not silently ignored", async () => {
    const readOnly =
      'id: read-members\ntitle: Read by members\nabstract: true\npermissions:\n  - action: read\n    constraints: [{ leftOperand: membership, operator: eq, rightOperand: active }]\n'
    const dir = folder({ 'read-members.yaml': readOnly, 'research.yaml': `${researchOnly}extends: read-members\n` })
    const { policies, errors } = await loadPolicies(dir)
    expect(policies.has('research-only')).toBe(false)
    expect(errors).toEqual([
      expect.objectContaining({
        field: 'extends',
        message: expect.stringContaining("baseline `read-members` permits `read`, which covers none of this policy's permissions (`use`)"),
      }),
    ])
  })

  it('a template without defaults is abstract: instantiated through `with`, never offered itself', async () => {
    const dir = folder({
      'template.yaml': template,
      'climate.yaml': 'id: climate\ntitle: Climate\nextends: research-template\nwith: { purposes: [climate-research] }\n',
    })
    const { policies, errors } = await loadPolicies(dir)
    expect(errors).toEqual([])
    expect([...policies.keys()]).toEqual(['climate'])
    expect(evaluate(policies.get('climate')!, context({ purpose: 'climate-research' })).allowed).toBe(true)
    expect(evaluate(policies.get('climate')!, context({ purpose: 'health-research' })).allowed).toBe(false)
  })

  it('checks values given through `with` and names the baseline', async () => {
    const dir = folder({
      'template.yaml': template,
      'climate.yaml': 'id: climate\ntitle: Climate\nextends: research-template\nwith: { purposes: [climat-research] }\n',
    })
    const { errors } = await loadPolicies(dir)
    expect(errors).toContainEqual(
      expect.objectContaining({
        field: 'with',
        message: expect.stringContaining('in baseline `research-template`'),
        suggestion: 'did you mean `climate-research`?',
      }),
    )
  })

  it('reports unknown baselines, cycles and unknown parameters', async () => {
    const { errors } = await loadPolicies(
      folder({
        'a.yaml': 'id: a\ntitle: A\nextends: b\npermissions: [{ action: use }]\n',
        'b.yaml': 'id: b\ntitle: B\nextends: a\npermissions: [{ action: use }]\n',
        'c.yaml': 'id: c\ntitle: C\nextends: members-onyl\npermissions: [{ action: use }]\n',
        'members-only.yaml': baseline,
        'd.yaml': 'id: d\ntitle: D\nextends: members-only\nwith: { colour: blue }\n',
      }),
    )
    expect(errors).toContainEqual(expect.objectContaining({ message: expect.stringContaining('`extends` makes a cycle') }))
    expect(errors).toContainEqual(
      expect.objectContaining({
        file: expect.stringContaining('c.yaml'),
        message: 'no policy with id `members-onyl`',
        suggestion: 'did you mean `members-only`?',
      }),
    )
    expect(errors).toContainEqual(expect.objectContaining({ field: 'with.colour', message: '`members-only` has no parameter `colour`' }))
  })
})

describe('raw ODRL JSON-LD files', () => {
  const raw = {
    '@context': 'http://www.w3.org/ns/odrl.jsonld',
    '@type': 'Offer',
    uid: 'http://ocsl.example/policy/eu',
    'dct:title': 'EU processing',
    permission: [{ action: 'use', constraint: [{ leftOperand: 'spatial', operator: 'isPartOf', rightOperand: 'EU' }] }],
  }

  it('are accepted and evaluated like YAML files', async () => {
    const { policy, errors } = await compilePolicyText(JSON.stringify(raw), 'eu.jsonld')
    expect(errors).toEqual([])
    expect(policy).toMatchObject({ id: 'eu', title: 'EU processing' })
    expect(evaluate(policy!, context({ spatial: 'FR' })).allowed).toBe(true)
    expect(evaluate(policy!, context({ spatial: 'US' })).allowed).toBe(false)
  })

  it('are accepted in the DSP shape too: no @context, bare operand names, numbers', async () => {
    const dspShape = {
      '@id': 'urn:uuid:1',
      '@type': 'Offer',
      permission: [{ action: 'use', constraint: [{ leftOperand: 'count', operator: 'lteq', rightOperand: 5 }] }],
    }
    const { policy, errors } = await compilePolicyText(JSON.stringify(dspShape), 'five-downloads.json')
    expect(errors).toEqual([])
    expect(evaluate(policy!, context({ scope: 'transfer', usage: { count: 4 } })).allowed).toBe(true)
    expect(evaluate(policy!, context({ scope: 'transfer', usage: { count: 5 } })).allowed).toBe(false)
  })

  it('refuse unknown terms, with a suggestion, and contexts from the network', async () => {
    const misspelt = { ...raw, permission: [{ action: 'use', constraint: [{ leftOperand: 'spatiall', operator: 'isPartOf', rightOperand: 'EU' }] }] }
    expect((await compilePolicyText(JSON.stringify(misspelt, null, 2), 'eu.jsonld')).errors[0]).toMatchObject({
      line: 11,
      field: 'permission[0].constraint[0].leftOperand',
      message: 'unknown left operand `spatiall`',
      suggestion: 'did you mean `spatial`?',
    })
    const remote = { ...raw, '@context': 'https://attacker.example/context.jsonld' }
    expect((await compilePolicyText(JSON.stringify(remote), 'eu.jsonld')).errors[0]!.message).toMatch(/^not valid ODRL JSON-LD/)
    expect((await compilePolicyText('{ not json', 'eu.json')).errors[0]!.message).toMatch(/^not valid JSON/)
  })
})

describe('registry extended by configuration', () => {
  const registryYaml = `operands:
  - name: project
    label: research project
    dataType: string
    values: [arctic-ice, st-lawrence-flow]
    scopes: [negotiation, transfer]
  - name: clearance
    dataType: integer
    credential: { type: ClearanceCredential, claim: level }
`
  const policyYaml = `id: projects
title: Projects
permissions:
  - action: use
    constraints:
      - { leftOperand: project, operator: isAnyOf, rightOperand: [st-lawrence-flow] }
      - { leftOperand: clearance, operator: gteq, rightOperand: 2 }
`
  it('adds operands that lint knows and the evaluator reads', async () => {
    const dir = folder({ 'registry.yaml': registryYaml, 'projects.yaml': policyYaml })
    const { policies, errors, registry } = await loadPolicies(dir)
    expect(errors).toEqual([])
    expect(registry.get('project')).toMatchObject({ label: 'research project', scopes: ['negotiation', 'transfer'] })
    const policy = policies.get('projects')!
    const clearance = (level: number) => [{ types: ['ClearanceCredential'], issuer: 'did:web:a', claims: { level } }]
    expect(evaluate(policy, context({ attributes: { project: 'st-lawrence-flow' }, credentials: clearance(3) })).allowed).toBe(true)
    expect(evaluate(policy, context({ attributes: { project: 'arctic-ice' }, credentials: clearance(3) })).allowed).toBe(false)
    expect(evaluate(policy, context({ attributes: { project: 'st-lawrence-flow' }, credentials: clearance(1) })).allowed).toBe(false)
  })

  it('lints values against the configured vocabulary, and reports a bad registry file', async () => {
    const dir = folder({ 'registry.yaml': registryYaml, 'projects.yaml': policyYaml.replace('[st-lawrence-flow]', '[st-lawrence-flw]') })
    expect((await loadPolicies(dir)).errors).toContainEqual(expect.objectContaining({ suggestion: 'did you mean `st-lawrence-flow`?' }))
    const broken = folder({ 'registry.yaml': 'operands:\n  - name: x\n    dataType: colour\n', 'projects.yaml': researchOnly })
    expect((await loadPolicies(broken)).errors).toContainEqual(
      expect.objectContaining({ file: expect.stringContaining('registry.yaml'), field: 'operands.0.dataType' }),
    )
  })
})

describe("the stewards' guide", () => {
  it('documents every built-in operand with the scopes where it is required', () => {
    const guide = readFileSync(new URL('./README.md', import.meta.url), 'utf8')
    for (const entry of createRegistry().list()) {
      const row = guide.split('\n').find((line) => line.startsWith(`| \`${entry.name}\` |`))
      expect(row, entry.name).toBeDefined()
      const required = entry.scopes.length === 4 ? 'everywhere' : entry.scopes.join(', ')
      expect(row!.endsWith(`| ${required} |`), `${entry.name}: ${row}`).toBe(true)
    }
  })

  it('its policy example compiles without errors', async () => {
    const guide = readFileSync(new URL('./README.md', import.meta.url), 'utf8')
    const example = /```yaml\n(# yaml-language-server[^\n]*\nid: research-only[\s\S]*?)```/.exec(guide)![1]!
    const { policy, errors } = await compilePolicyText(example, 'research-only.yaml')
    expect(errors).toEqual([])
    expect(policy!.plainText).toContain('Forbidden: `distribute`.')
  })
})

describe('ODRL names in YAML', () => {
  it('accepts `permission`, `constraint`, `duty` for the plural keys, with the right lines', async () => {
    const text =
      'id: p\ntitle: P\npermission:\n  - action: use\n    constraint:\n      - { leftOperand: purpose, operator: isA, rightOperand: reserch }\n    duty: [{ action: attribute }]\n'
    const { errors } = await compilePolicyText(text, 'p.yaml')
    expect(errors).toEqual([expect.objectContaining({ line: 6, field: 'permissions[0].constraints[0].rightOperand', suggestion: 'did you mean `research`?' })])
    const fixed = await compilePolicyText(text.replace('reserch', 'research'), 'p.yaml')
    expect(fixed.policy!.odrl.permission![0]).toMatchObject({ action: 'use', duty: [{ action: 'odrl:attribute' }] })
  })
})

describe('hostile ODRL from peers', () => {
  it('deep nesting and huge policies are refused with a reason, never thrown', () => {
    let deep: Record<string, unknown> = { leftOperand: 'purpose', operator: 'eq', rightOperand: 'research' }
    for (let i = 0; i < 10_000; i++) deep = { and: [deep] }
    const nested = policyFromOdrl({ '@id': 'urn:x', '@type': 'Offer', permission: [{ action: 'use', constraint: [deep] }] })
    expect(nested.model).toBeUndefined()
    expect(nested.errors[0]).toMatch(/nested more than 16 deep/)
    const many = policyFromOdrl({ '@id': 'urn:x', '@type': 'Offer', permission: Array.from({ length: 600 }, () => ({ action: 'use' })) })
    expect(many.errors).toEqual(['the policy has more than 500 rules'])
  })

  it('a deeply nested YAML policy is a lint error', async () => {
    let text = '{ leftOperand: purpose, operator: eq, rightOperand: research }'
    for (let i = 0; i < 30; i++) text = `{ and: [${text}] }`
    const { errors } = await compilePolicyText(`id: deep\ntitle: Deep\npermissions: [{ action: use, constraints: [${text}] }]\n`, 'deep.yaml')
    expect(errors.some((e) => e.message.startsWith('constraints are nested too deeply'))).toBe(true)
  })
})

describe('what cannot be enforced cannot be published', () => {
  it('an action refinement in a raw ODRL file is refused: DSP actions are plain names', async () => {
    const odrl = {
      '@id': 'urn:uuid:r',
      '@type': 'Offer',
      permission: [{ action: { 'rdf:value': { '@id': 'odrl:use' }, refinement: [{ leftOperand: 'count', operator: 'lteq', rightOperand: 5 }] } }],
    }
    const { errors } = await compilePolicyText(JSON.stringify(odrl), 'refined.json')
    expect(errors).toEqual([expect.objectContaining({ message: expect.stringContaining('an action refinement cannot be published in a DSP offer') })])
  })

  it('units, unknown profiles and deprecated actions are lint errors with a suggestion', async () => {
    const { errors } = await compilePolicyText(
      [
        'id: u',
        'title: U',
        'profile: https://example.org/p',
        'permissions:',
        '  - action: write',
        '    constraints: [{ leftOperand: count, operator: lteq, rightOperand: 5, unit: http://example.org/furlong }]',
        '',
      ].join('\n'),
      'u.yaml',
    )
    expect(errors.map((e) => [e.field, e.message.split(' (')[0], e.suggestion])).toEqual([
      [
        'profile',
        expect.stringContaining('the profile `https://example.org/p` is not one this connector implements'),
        expect.stringContaining('https://w3id.org/dspace/2025/1/odrl-profile'),
      ],
      ['permissions[0].action', 'the action `write` is deprecated in ODRL 2.2', 'use `modify`'],
      ['permissions[0].constraints[0].unit', 'units are not enforced by this connector', expect.any(String)],
    ])
  })

  it('with the participant as assigner, each offer and model carries it (ODRL: an Offer has an assigner)', async () => {
    const { policies } = await loadPolicies(folder({ 'research.yaml': researchOnly }), { assigner: 'did:web:provider.example' })
    const policy = policies.get('research-only')!
    expect(policy.odrl.assigner).toBe('did:web:provider.example')
    expect(policy.model.assigner).toBe('did:web:provider.example')
    expectDspValid('catalog/dataset-schema.json', {
      '@context': ['https://w3id.org/dspace/2025/1/context.jsonld'],
      '@id': 'urn:uuid:d',
      '@type': 'Dataset',
      hasPolicy: [policy.odrl],
      distribution: [
        {
          '@type': 'Distribution',
          format: 'HttpData-PULL',
          accessService: { '@id': 'urn:uuid:s', '@type': 'DataService', endpointURL: 'https://example.org/' },
        },
      ],
    })
    expect(evaluate(policy, context({ purpose: 'research', assigner: 'did:web:someone-else.example' })).allowed).toBe(false)
    expect(evaluate(policy, context({ purpose: 'research', assigner: 'did:web:provider.example' })).allowed).toBe(true)
  })

  it("an agreement is built from the provider's own model, with the identity the caller gives, and reads back the same", async () => {
    const { policies } = await loadPolicies(folder({ 'research.yaml': researchOnly }), { assigner: 'did:web:provider.example' })
    const policy = policies.get('research-only')!
    const agreement = agreementFor(policy, {
      id: 'urn:uuid:ag',
      target: 'urn:dataset:1',
      assigner: 'did:web:p2.example',
      assignee: 'did:web:lab.example',
      timestamp: now,
    })
    expect(agreement).toMatchObject({
      '@id': 'urn:uuid:ag',
      '@type': 'Agreement',
      target: 'urn:dataset:1',
      assigner: 'did:web:p2.example',
      assignee: 'did:web:lab.example',
    })
    const back = readPolicy(agreement, { expect: 'Agreement' })
    expect(samePolicy(back.model!, policy.model, { ignore: ['uid', 'type', 'target', 'assigner', 'assignee', 'timestamp'] })).toBe(true)
    const offer = offerFor(policy, 'urn:dataset:1')
    expect(samePolicy(readPolicy(offer, { expect: 'Offer' }).model!, policy.model, { ignore: ['target', 'assigner'] })).toBe(true)
  })
})
