/**
 * Stewards' regression tests: YAML files named `*.test.yaml` beside the policies, each naming a
 * policy, a base context, and cases (context overrides + expected decision).
 *
 *   policy: research-only
 *   context: { scope: negotiation, assignee: did:web:lab.example, now: 2026-06-01T00:00:00Z }
 *   cases:
 *     - name: climate research is research
 *       context: { purpose: climate-research }
 *       expect: allow
 *     - name: marketing is refused
 *       context: { purpose: marketing }
 *       expect: deny
 *       reason: not a kind of      # optional: a part of the expected reason
 *
 * `expect` may also be written `{ allowed: false, reason: …, obligations: [attribute] }`.
 */
import { readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import type { CompiledPolicy, LintError } from './types.ts'
import { loadPolicies } from './loader.ts'
import { evaluate } from './evaluate.ts'
import { contextFromData } from './context-file.ts'

/** `expect: allow` / `expect: deny`, or `expect: { allowed, reason?, obligations? }`. */
const Expectation = z.union([
  z.enum(['allow', 'deny']),
  z.strictObject({ allowed: z.boolean(), reason: z.string().optional(), obligations: z.array(z.string()).optional() }),
])

export const StewardTestFile = z.strictObject({
  policy: z.string(),
  context: z.record(z.string(), z.unknown()).default({}),
  cases: z
    .array(
      z.strictObject({
        name: z.string(),
        context: z.record(z.string(), z.unknown()).default({}),
        expect: Expectation,
        reason: z.string().optional(),
        obligations: z.array(z.string()).optional(),
      }),
    )
    .min(1),
})
export type StewardTestFile = z.infer<typeof StewardTestFile>

export interface StewardTestResult {
  file: string
  policy: string
  name: string
  passed: boolean
  /** What happened, when it is not what was expected. */
  message?: string
  reason: string
}

export interface StewardTestRun {
  results: StewardTestResult[]
  /** Problems that stop cases from running (bad test files, policies that do not compile). */
  errors: LintError[]
}

const isTestFile = (name: string) => /\.test\.ya?ml$/i.test(name)

/** Runs every `*.test.yaml` of a folder against the folder's policies. `now` is the default request time. */
export async function runStewardTests(dir: string, now: Date): Promise<StewardTestRun> {
  const loaded = await loadPolicies(dir)
  const errors: LintError[] = [...loaded.errors]
  const results: StewardTestResult[] = []
  let names: string[] = []
  try {
    names = (await readdir(dir)).filter(isTestFile).sort()
  } catch {
    return { results, errors: [{ file: dir, line: 1, field: '(file)', message: 'no such folder' }] }
  }
  for (const name of names) {
    const file = join(dir, name)
    let data: unknown
    try {
      data = parseYaml(await readFile(file, 'utf8'))
    } catch (error) {
      errors.push({ file, line: 1, field: '(file)', message: `not valid YAML: ${(error as Error).message.split('\n')[0]}` })
      continue
    }
    const parsed = StewardTestFile.safeParse(data)
    if (!parsed.success) {
      for (const issue of parsed.error.issues) errors.push({ file, line: 1, field: issue.path.join('.') || '(file)', message: issue.message })
      continue
    }
    const policy: CompiledPolicy | undefined = loaded.policies.get(parsed.data.policy)
    if (!policy) {
      errors.push({
        file,
        line: 1,
        field: 'policy',
        message: `no policy \`${parsed.data.policy}\` compiled in ${dir}`,
        suggestion: 'check its id, and fix its lint errors first',
      })
      continue
    }
    for (const c of parsed.data.cases) {
      // A case can remove a field of the shared context by setting it to null.
      const merged = Object.fromEntries(Object.entries({ ...parsed.data.context, ...c.context }).filter(([, v]) => v !== null))
      const built = contextFromData(merged, now)
      if (!built.context) {
        results.push({ file, policy: policy.id, name: c.name, passed: false, message: `bad context: ${built.errors.join('; ')}`, reason: '' })
        continue
      }
      const decision = evaluate(policy, built.context)
      const got = decision.allowed ? 'allow' : 'deny'
      const expected = typeof c.expect === 'string' ? c.expect : c.expect.allowed ? 'allow' : 'deny'
      const reason = typeof c.expect === 'string' ? c.reason : (c.expect.reason ?? c.reason)
      const obligations = typeof c.expect === 'string' ? c.obligations : (c.expect.obligations ?? c.obligations)
      const problems: string[] = []
      if (got !== expected) problems.push(`expected ${expected}, got ${got}`)
      if (reason && !decision.reason.toLowerCase().includes(reason.toLowerCase())) problems.push(`the reason does not contain "${reason}"`)
      const duties = decision.obligations.map((o) => o.action)
      for (const o of obligations ?? []) if (!duties.includes(o)) problems.push(`no obligation \`${o}\``)
      results.push({
        file,
        policy: policy.id,
        name: c.name,
        passed: problems.length === 0,
        ...(problems.length > 0 ? { message: problems.join('; ') } : {}),
        reason: decision.reason,
      })
    }
  }
  return { results, errors }
}
