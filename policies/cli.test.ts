import { mkdtempSync, writeFileSync, readFileSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { parse as parseYaml } from 'yaml'
import { runPolicyCommand } from './cli.ts'
import { schemaText } from './write-schema.ts'

const root = new URL('..', import.meta.url).pathname
const seeds = join(root, 'seeds/policies')

async function run(args: string[], cwd = root) {
  let stdout = ''
  let stderr = ''
  const code = await runPolicyCommand(args, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), cwd })
  return { code, stdout, stderr }
}

function scratch(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'policy-cli-'))
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text)
  return dir
}

describe('policy lint', () => {
  it('passes the seed policies', async () => {
    const r = await run(['lint', 'seeds/policies'])
    expect(r).toMatchObject({ code: 0, stderr: '' })
    expect(r.stdout).toMatch(/^6 policies OK: .*research-only/)
  })

  it('prints file:line:column, field, message and suggestion, and exits 1', async () => {
    const dir = scratch({
      'bad.yaml':
        'id: bad\ntitle: Bad\npermissions:\n  - action: use\n    constraints:\n      - { leftOperand: purpos, operator: isA, rightOperand: research }\n',
    })
    const r = await run(['lint', 'bad.yaml'], dir)
    expect(r.code).toBe(1)
    expect(r.stdout).toBe('bad.yaml:6:24  permissions[0].constraints[0].leftOperand  unknown left operand `purpos` (did you mean `purpose`?)\n1 error\n')
  })

  it('refuses an unknown scope name in a scope override, with the nearest one', async () => {
    const dir = scratch({
      'scoped.yaml':
        'id: scoped\ntitle: Scoped\nscopes:\n  dateTime: [negotiation, acces]\npermissions:\n  - action: use\n    constraints:\n      - { leftOperand: dateTime, operator: gteq, rightOperand: "2099-01-01T00:00:00Z" }\n',
    })
    const r = await run(['lint', 'scoped.yaml'], dir)
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/^scoped\.yaml:4:\d+ +scopes\.dateTime\[1\] +`acces` is not a scope \(the scopes are catalog, negotiation, transfer, monitor\)/)
    expect(r.stdout).toMatch(/1 error\n$/)
  })

  it('warns, and passes, when a policy can never be met any more (an end date in the past)', async () => {
    const dir = scratch({
      'ended.yaml':
        'id: ended\ntitle: Ended\npermissions:\n  - action: use\n    constraints:\n      - { leftOperand: dateTime, operator: lt, rightOperand: "2020-01-01T00:00:00Z" }\n',
      'embargo.yaml':
        'id: embargo\ntitle: Embargo\npermissions:\n  - action: use\n    constraints:\n      - { leftOperand: dateTime, operator: gteq, rightOperand: "2020-01-01T00:00:00Z" }\n',
    })
    const r = await run(['lint', '.'], dir)
    expect(r.code).toBe(0)
    expect(r.stdout).toContain(
      'ended.yaml  permissions[0].constraints[0]  warning: permission 1 (use) can never be met: the date and time must be before 2020-01-01T00:00:00Z, which has passed',
    )
    expect(r.stdout).not.toContain('embargo.yaml')
  })

  it('reports a missing file instead of failing', async () => {
    const r = await run(['lint', 'no-such.yaml'], scratch({}))
    expect(r.code).toBe(1)
    expect(r.stdout).toContain('no-such.yaml:1  (file)  no such file or folder')
  })

  it("lints the participant folder's policies/ by default", async () => {
    const dir = scratch({})
    const r = await run(['lint'], join(root, 'seeds'))
    expect(r.code).toBe(0)
    expect((await run(['lint'], dir)).stdout).toBe(`no policy files in ${dir}\n`)
  })
})

describe('policy explain', () => {
  it('renders a policy in plain language', async () => {
    const r = await run(['explain', 'seeds/policies/research-only.yaml'])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('Permitted: `use`, provided that the purpose is a kind of `research`.')
  })

  it('--json gives the ODRL offer too', async () => {
    const r = await run(['explain', 'seeds/policies/open-with-attribution.yaml', '--json'])
    const [policy] = JSON.parse(r.stdout)
    expect(policy.odrl).toMatchObject({ '@type': 'Offer', permission: [{ action: 'use', duty: [{ action: 'odrl:attribute' }] }] })
  })

  it('refuses to explain a broken policy and shows why', async () => {
    const dir = scratch({ 'p.yaml': 'id: p\ntitle: P\npermissions: [{ action: usse }]\n' })
    const r = await run(['explain', 'p.yaml'], dir)
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('unknown action `usse` (did you mean `use`?)')
  })
})

describe('policy eval', () => {
  const context = (text: string) => scratch({ 'context.yaml': text })

  it('prints the decision, its reason and the trace; exit 0 when allowed', async () => {
    const dir = context('scope: negotiation\nassignee: did:web:lab.example\npurpose: climate-research\nnow: 2026-06-01T00:00:00Z\n')
    const r = await run(['eval', join(seeds, 'research-only.yaml'), '--as', join(dir, 'context.yaml')])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^ALLOWED\nAllowed: permission 1 \(use\) of policy `research-only` \(“Research use only”\) permits `use`/)
    expect(r.stdout).toContain('Trace:\n  permission 1 (use)\n    [ok] constraint 1: purpose isA "research" (actual: climate-research)')
  })

  it("explain --as prints the policy, then the decision's trace as a tree: members of a logical constraint under it, duties under their rule", async () => {
    const dir = scratch({
      'tree.yaml':
        'id: tree\ntitle: Tree\npermissions:\n  - action: use\n    constraints:\n      - or:\n          - { leftOperand: spatial, operator: isPartOf, rightOperand: EU }\n          - { leftOperand: purpose, operator: isA, rightOperand: research }\n    duties:\n      - action: attribute\n',
      'context.yaml': 'purpose: marketing\nspatial: CA\nnow: 2026-06-01T00:00:00Z\n',
    })
    const r = await run(['explain', 'tree.yaml', '--as', 'context.yaml'], dir)
    expect(r.code).toBe(1)
    expect(r.stdout).toContain('Permitted: `use`')
    expect(r.stdout).toContain(
      [
        'Trace:',
        '  permission 1 (use)',
        '    [NO] constraint 1: or, at least 1 of its constraints must hold (0 of 2 do)',
        '      [NO] or[1]: spatial isPartOf "EU" (actual: CA)',
        '      [NO] or[2]: purpose isA "research" (actual: marketing)',
      ].join('\n'),
    )
  })

  it('an invalid policy read from a peer is shown as invalid, every problem in the trace', async () => {
    const { renderDecision } = await import('./cli.ts')
    const { evaluate } = await import('./evaluate.ts')
    const text = renderDecision(
      evaluate(
        {
          uid: 'urn:p',
          type: 'Set',
          profile: ['https://example.org/p'],
          permissions: [{ action: 'frobnicate', constraints: [], duties: [] }],
          prohibitions: [],
          obligations: [],
        },
        { scope: 'negotiation', action: 'use', assignee: 'did:web:a', credentials: [], now: new Date() },
      ),
    )
    expect(text).toMatch(
      /^REFUSED \(the policy is invalid\)\nRefused: policy `urn:p` is invalid, so it permits nothing: profile: the profile `https:\/\/example.org\/p` is not one/,
    )
    expect(text).toContain('[??] permission[0].action: unknown action `frobnicate`')
  })

  it('exit 1 when refused, with the reason a peer would get', async () => {
    const dir = context('purpose: marketing\n')
    const r = await run(['eval', join(seeds, 'research-only.yaml'), '--as', join(dir, 'context.yaml')])
    expect(r.code).toBe(1)
    expect(r.stdout).toContain(
      'REFUSED\nRefused: purpose `marketing` is not a kind of `research`; required by permission 1 (use) of policy `research-only` (“Research use only”).',
    )
  })

  it('--json prints the decision as JSON', async () => {
    const dir = context('scope: negotiation\nspatial: CA-QC\n')
    const r = await run(['eval', join(seeds, 'eu-or-canada-processing.yaml'), '--as', join(dir, 'context.yaml'), '--json'])
    const decision = JSON.parse(r.stdout)
    expect(decision).toMatchObject({ allowed: true, obligations: [] })
    expect(decision.trace.map((t: { outcome: string }) => t.outcome)).toEqual(['violated', 'satisfied', 'satisfied'])
  })

  it('accepts odrl: names for operators and credentials without an issuer', async () => {
    const dir = scratch({
      'p.yaml':
        'id: p\ntitle: P\npermissions:\n  - action: odrl:use\n    constraints: [{ leftOperand: odrl:purpose, operator: odrl:isA, rightOperand: research }, { leftOperand: membership, operator: eq, rightOperand: active }]\n',
      'context.yaml': 'purpose: climate-research\ncredentials: [{ types: [MembershipCredential] }]\n',
    })
    const r = await run(['eval', 'p.yaml', '--as', 'context.yaml'], dir)
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
  })

  it('a folder needs --policy to choose', async () => {
    const dir = context('purpose: research\n')
    expect((await run(['eval', seeds, '--as', join(dir, 'context.yaml')])).code).toBe(2)
    expect((await run(['eval', seeds, '--policy', 'research-only', '--as', join(dir, 'context.yaml')])).code).toBe(0)
  })

  it('a bad context names the field; exit 2', async () => {
    const dir = context('scope: everywhere\nnow: yesterday\n')
    const r = await run(['eval', join(seeds, 'research-only.yaml'), '--as', join(dir, 'context.yaml')])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('scope:')
    expect(r.stderr).toContain('now: `yesterday` is not a date-time')
  })

  it('without --as shows the usage; exit 2', async () => {
    const r = await run(['eval', join(seeds, 'research-only.yaml')])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('Usage: passerelle policy eval FILE --as CONTEXT.yaml')
  })
})

describe('policy test', () => {
  it("runs the stewards' cases beside the seed policies", async () => {
    const r = await run(['test', 'seeds/policies'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/\n\d+ passed, 0 failed\n$/)
    expect(r.stdout).toContain('pass  research-only: marketing is refused, and the reason says why')
  })

  it('reports a failing case with what happened; exit 1', async () => {
    const dir = scratch({
      'p.yaml': 'id: p\ntitle: P\npermissions:\n  - action: use\n    constraints: [{ leftOperand: purpose, operator: isA, rightOperand: research }]\n',
      'p.test.yaml': 'policy: p\ncases:\n  - { name: marketing is fine, context: { purpose: marketing }, expect: allow }\n',
    })
    const r = await run(['test'], dir)
    expect(r.code).toBe(1)
    expect(r.stdout).toContain('FAIL  p: marketing is fine\n      expected allow, got deny')
  })

  it('reports a test file naming an unknown policy', async () => {
    const dir = scratch({ 'p.test.yaml': 'policy: nope\ncases:\n  - { name: x, expect: allow }\n' })
    const r = await run(['test', dir])
    expect(r.code).toBe(1)
    expect(r.stdout).toContain('policy  no policy `nope`')
  })
})

describe('policy operands', () => {
  it('shows a taxonomy as a tree: what each purpose is a kind of', async () => {
    const r = await run(['operands', 'seeds/policies', 'purpose'])
    expect(r.code).toBe(0)
    const lines = r.stdout.split('\n').filter((l) => / {4}\S/.test(l.slice(0, 5)) || /^ {6,}\S/.test(l))
    /** Every chain of broader concepts a name is printed under. */
    const chains = (name: string) => {
      const out: string[][] = []
      const stack: string[] = []
      for (const line of lines) {
        const depth = (line.length - line.trimStart().length - 4) / 2
        const concept = line.trim().split(' — ')[0]!
        stack.length = depth
        if (concept === name) out.push([...stack])
        stack[depth] = concept
      }
      return out
    }
    expect(chains('market-research').some((c) => c.includes('commercial-research') && c.includes('commercial'))).toBe(true)
    expect(chains('climate-research').length).toBeGreaterThan(0)
    expect(chains('climate-research').some((c) => c.includes('scientific-research'))).toBe(true)
    expect(chains('climate-research').some((c) => c.includes('non-commercial-research'))).toBe(false)
    // Places are too many to print.
    expect((await run(['operands', 'seeds/policies', 'spatial'])).stdout).toMatch(/\d+ concepts \(too many to print as a tree\)/)
  })

  it('lists the operands, with those a registry.yaml adds', async () => {
    const dir = scratch({ 'registry.yaml': 'operands:\n  - { name: project, dataType: string, values: [arctic-ice] }\n' })
    const r = await run(['operands', dir])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^purpose +taxonomy +eq neq isA hasPart isAnyOf isAllOf isNoneOf +\(required at: negotiation\)$/m)
    expect(r.stdout).toMatch(/^project +string /m)
  })

  it('describes one operand, or suggests a name', async () => {
    expect((await run(['operands', 'count'])).stdout).toContain('count — number of accesses')
    const r = await run(['operands', 'purpos'])
    expect(r).toMatchObject({ code: 1, stderr: 'no operand `purpos` (did you mean `purpose`?)\n' })
  })
})

describe('help and usage', () => {
  it.each(['lint', 'explain', 'eval', 'test', 'operands'])('%s --help exits 0 with its usage', async (command) => {
    const r = await run([command, '--help'])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain(`Usage: passerelle policy ${command}`)
  })

  it('an unknown command or option exits 2', async () => {
    expect((await run(['frobnicate'])).code).toBe(2)
    expect((await run(['lint', '--fast'])).code).toBe(2)
    expect((await run(['--help'])).code).toBe(0)
  })
})

describe('the policy file JSON Schema', () => {
  it('is up to date with the file format', () => {
    expect(readFileSync(join(root, 'policies/policy-file.schema.json'), 'utf8')).toBe(schemaText())
  })

  it('accepts every seed policy and refuses a misspelt field', () => {
    const validate = new Ajv2020({ strict: false }).compile(JSON.parse(schemaText()))
    for (const name of readdirSync(seeds).filter((f) => f.endsWith('.yaml') && !f.endsWith('.test.yaml'))) {
      expect(validate(parseYaml(readFileSync(join(seeds, name), 'utf8'))), name).toBe(true)
    }
    expect(validate({ id: 'x', title: 'X', permisions: [] })).toBe(false)
  })
})
