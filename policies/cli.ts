/**
 * `policy lint [FILES]`, `policy explain FILE`, `policy eval FILE --as CONTEXT.yaml`, `policy test [DIR]`.
 * Exit codes: 0 success (lint clean, tests pass, eval allowed); 1 lint errors, failing tests or a
 * refused eval; 2 bad usage or unreadable input.
 */
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { isAbsolute, join, relative } from 'node:path'
import { parse as parseYaml } from 'yaml'
import type { Decision, EvaluationContext, LintError, TraceEntry } from './types.ts'
import { loadPolicies, loadRegistry } from './loader.ts'
import { closest } from './suggest.ts'
import { evaluate } from './evaluate.ts'
import { contextFromData } from './context-file.ts'
import { runStewardTests } from './steward-tests.ts'
import { timeWarnings } from './time-lint.ts'
import { taxonomyTree } from './taxonomy-tree.ts'
import { policyHelp } from './cli-help.ts'

export interface PolicyCommandIo {
  stdout: (s: string) => void
  stderr: (s: string) => void
  cwd: string
}

export async function runPolicyCommand(args: string[], io: PolicyCommandIo): Promise<number> {
  const [command = '', ...rest] = args
  if (command === '' || command === '--help' || command === '-h' || command === 'help') {
    io.stdout(policyHelp['']!)
    return command === '' ? 2 : 0
  }
  if (!(command in policyHelp)) {
    io.stderr(`unknown policy command \`${command}\`\n${policyHelp['']}`)
    return 2
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout(policyHelp[command]!)
    return 0
  }
  const at = (p: string) => (isAbsolute(p) ? p : join(io.cwd, p))
  const show = (p: string) => (isAbsolute(p) && p.startsWith(io.cwd) ? relative(io.cwd, p) || p : p)
  const printErrors = (errors: LintError[], out: (s: string) => void) => {
    for (const e of errors) {
      out(`${show(e.file)}:${e.line}${e.column !== undefined ? `:${e.column}` : ''}  ${e.field}  ${e.message}${e.suggestion ? ` (${e.suggestion})` : ''}\n`)
    }
  }
  const defaultFolder = () => (existsSync(join(io.cwd, 'policies')) ? join(io.cwd, 'policies') : io.cwd)
  const { positional, flags } = parseArgs(rest)
  const unknownFlag = Object.keys(flags).find((f) => !['as', 'json', 'policy'].includes(f))
  if (unknownFlag) {
    io.stderr(`unknown option --${unknownFlag}\n${policyHelp[command]}`)
    return 2
  }

  switch (command) {
    case 'lint': {
      const paths = positional.length > 0 ? positional.map(at) : [defaultFolder()]
      const result = await loadPolicies(paths)
      if (result.errors.length > 0) {
        printErrors(result.errors, io.stdout)
        io.stdout(`${result.errors.length} error${result.errors.length === 1 ? '' : 's'}\n`)
        return 1
      }
      // Valid, yet refusing everything for ever: said, without failing the lint.
      const warnings = [...result.policies.values()].flatMap((p) => timeWarnings(p, new Date()))
      for (const w of warnings) io.stdout(`${show(w.file)}  ${w.field}  warning: ${w.message}\n`)
      if (result.policies.size === 0) io.stdout(`no policy files in ${paths.map(show).join(', ')}\n`)
      else io.stdout(`${result.policies.size} polic${result.policies.size === 1 ? 'y' : 'ies'} OK: ${[...result.policies.keys()].join(', ')}\n`)
      return 0
    }
    case 'explain': {
      if (positional.length !== 1) {
        io.stderr(policyHelp.explain!)
        return 2
      }
      const result = await loadPolicies(at(positional[0]!))
      if (result.errors.length > 0) {
        printErrors(result.errors, io.stderr)
        return 1
      }
      const policies = [...result.policies.values()]
      if (policies.length === 0) {
        io.stderr('no policy to explain (an abstract baseline is only explained through the policies that extend it)\n')
        return 1
      }
      if (typeof flags.as === 'string') {
        const wanted = typeof flags.policy === 'string' ? flags.policy : undefined
        const policy = wanted ? result.policies.get(wanted) : policies.length === 1 ? policies[0] : undefined
        if (!policy) {
          io.stderr(
            wanted ? `no policy \`${wanted}\` in ${positional[0]}\n` : `${positional[0]} holds ${policies.length} policies: choose one with --policy ID\n`,
          )
          return 2
        }
        const built = await readContext(at(flags.as), flags.as, io)
        if (!built) return 2
        const decision = evaluate(policy, built)
        io.stdout(flags.json ? `${JSON.stringify(decision, null, 2)}\n` : `${policy.plainText}\n\n${renderDecision(decision)}`)
        return decision.allowed ? 0 : 1
      }
      if (flags.json)
        io.stdout(
          `${JSON.stringify(
            policies.map((p) => ({ id: p.id, title: p.title, plainText: p.plainText, odrl: p.odrl })),
            null,
            2,
          )}\n`,
        )
      else io.stdout(`${policies.map((p) => p.plainText).join('\n\n')}\n`)
      return 0
    }
    case 'eval': {
      const contextPath = typeof flags.as === 'string' ? flags.as : undefined
      if (positional.length !== 1 || !contextPath) {
        io.stderr(policyHelp.eval!)
        return 2
      }
      const result = await loadPolicies(at(positional[0]!))
      if (result.errors.length > 0) {
        printErrors(result.errors, io.stderr)
        return 2
      }
      const wanted = typeof flags.policy === 'string' ? flags.policy : undefined
      const policy = wanted ? result.policies.get(wanted) : result.policies.size === 1 ? [...result.policies.values()][0] : undefined
      if (!policy) {
        io.stderr(
          wanted ? `no policy \`${wanted}\` in ${positional[0]}\n` : `${positional[0]} holds ${result.policies.size} policies: choose one with --policy ID\n`,
        )
        return 2
      }
      const context = await readContext(at(contextPath), contextPath, io)
      if (!context) return 2
      const decision = evaluate(policy, context)
      io.stdout(flags.json ? `${JSON.stringify(decision, null, 2)}\n` : renderDecision(decision))
      return decision.allowed ? 0 : 1
    }
    case 'operands': {
      const [first, second] = positional
      const dirGiven = first !== undefined && existsSync(at(first))
      const dir = dirGiven ? at(first!) : defaultFolder()
      const name = dirGiven ? second : first
      const { registry, errors } = await loadRegistry([dir])
      printErrors(errors, io.stderr)
      if (name) {
        const entry = registry.get(name)
        if (!entry) {
          const near = closest(
            name,
            registry.list().map((e) => e.name),
          )
          io.stderr(`no operand \`${name}\`${near ? ` (did you mean \`${near}\`?)` : ''}\n`)
          return 1
        }
        io.stdout(
          `${[
            `${entry.name} — ${entry.label}`,
            `  ${entry.description}`,
            `  IRI: ${entry.iri}`,
            `  type: ${entry.dataType}`,
            `  operators: ${entry.operators.join(', ')}`,
            `  value required at: ${entry.scopes.join(', ')}`,
            ...(entry.values ? [`  values: ${entry.values.join(', ')}`] : []),
          ].join('\n')}\n`,
        )
        if (entry.taxonomy) {
          // What is a kind of what: `isA` follows these lines upwards, never downwards.
          const tree = taxonomyTree(entry.taxonomy)
          io.stdout(
            tree
              ? `  concepts (each under the broader ones it is a kind of):\n${tree.map((l) => `    ${l}`).join('\n')}\n`
              : `  ${entry.taxonomy.size} concepts (too many to print as a tree)\n`,
          )
        }
        return 0
      }
      for (const entry of registry.list())
        io.stdout(`${entry.name.padEnd(14)} ${entry.dataType.padEnd(9)} ${entry.operators.join(' ')}  (required at: ${entry.scopes.join(', ')})\n`)
      io.stdout('credential.<Type>.<claim>  any claim of a verified credential, e.g. credential.MembershipCredential.memberOf\n')
      return errors.length > 0 ? 1 : 0
    }
    case 'test': {
      const dir = positional.length > 0 ? at(positional[0]!) : defaultFolder()
      const run = await runStewardTests(dir, new Date())
      printErrors(run.errors, io.stdout)
      for (const r of run.results) {
        io.stdout(`${r.passed ? 'pass' : 'FAIL'}  ${r.policy}: ${r.name}${r.passed ? '' : `\n      ${r.message}\n      reason: ${r.reason}`}\n`)
      }
      const failed = run.results.filter((r) => !r.passed).length
      io.stdout(
        `${run.results.length - failed} passed, ${failed} failed${run.errors.length > 0 ? `, ${run.errors.length} error${run.errors.length === 1 ? '' : 's'}` : ''}\n`,
      )
      if (run.results.length === 0 && run.errors.length === 0) {
        io.stdout(`no *.test.yaml cases in ${show(dir)}\n`)
      }
      return failed > 0 || run.errors.length > 0 ? 1 : 0
    }
  }
  return 2
}

async function readContext(path: string, shown: string, io: PolicyCommandIo): Promise<EvaluationContext | undefined> {
  let data: unknown
  try {
    data = parseYaml(await readFile(path, 'utf8'))
  } catch (error) {
    io.stderr(`cannot read the context ${shown}: ${(error as Error).message.split('\n')[0]}\n`)
    return undefined
  }
  const built = contextFromData(data, new Date())
  if (!built.context) io.stderr(`${shown}: ${built.errors.join('\n')}\n`)
  return built.context
}

function parseArgs(args: string[]): { positional: string[]; flags: Record<string, string | true> } {
  const positional: string[] = []
  const flags: Record<string, string | true> = {}
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg.startsWith('--')) {
      const [name, inline] = arg.slice(2).split('=', 2) as [string, string | undefined]
      if (inline !== undefined) flags[name] = inline
      else if (name === 'as' || name === 'policy') flags[name] = args[++i] ?? ''
      else flags[name] = true
    } else positional.push(arg)
  }
  return { positional, flags }
}

const outcomeMark: Record<TraceEntry['outcome'], string> = { satisfied: 'ok', violated: 'NO', unknown: '??', deferred: '..' }

/** One trace entry as a line (without its place in the tree). */
function traceLine(t: TraceEntry): string {
  const actual = t.actual === null || t.actual === undefined ? '-' : Array.isArray(t.actual) ? t.actual.join(', ') : String(t.actual)
  const step = t.constraint.split('.').pop()
  const mark = `[${outcomeMark[t.outcome]}]`
  if (t.leftOperand === '(invalid)') return `${mark} ${t.constraint}: ${t.note}`
  if (t.leftOperand === '(applies)') return `${mark} ${t.operator}: ${t.note}`
  if (t.leftOperand === '(duty)') return `${mark} ${step}: ${t.operator}, ${actual}${t.note ? ` — ${t.note}` : ''}`
  if (t.leftOperand.startsWith('(')) return `${mark} ${step}: ${t.operator}, ${t.expected} of its constraints must hold (${actual} do)`
  return `${mark} ${step}: ${t.leftOperand} ${t.operator} ${JSON.stringify(t.expected)} (actual: ${actual})${t.note ? ` — ${t.note}` : ''}`
}

/** One entry of a trace in its place: the members of a logical constraint (or a duty's conditions) under it. */
export interface TraceNode {
  entry: TraceEntry
  /** The entry as one line, as `policy eval` prints it. */
  text: string
  children: TraceNode[]
}

/**
 * The trace as a tree, per rule: its constraints, the members of logical constraints under them
 * (`constraint 2.or[1]` under `constraint 2`), duties with their own conditions.
 */
export function traceNodes(trace: TraceEntry[]): Array<{ rule: string; nodes: TraceNode[] }> {
  const rules = new Map<string, TraceEntry[]>()
  for (const t of trace) rules.set(t.rule, [...(rules.get(t.rule) ?? []), t])
  return [...rules].map(([rule, entries]) => {
    const byPath = new Map(entries.map((e) => [e.constraint, e]))
    const children = new Map<string, string[]>()
    const roots: string[] = []
    const parentOf = (path: string) => {
      const cut = path.lastIndexOf('.')
      return cut > 0 && byPath.has(path.slice(0, cut)) ? path.slice(0, cut) : undefined
    }
    for (const e of entries) {
      const parent = parentOf(e.constraint)
      const list = parent ? (children.get(parent) ?? children.set(parent, []).get(parent)!) : roots
      if (!list.includes(e.constraint)) list.push(e.constraint)
    }
    // Members are traced before their logical constraint: roots keep the order of their first appearance.
    const node = (path: string): TraceNode => {
      const entry = byPath.get(path)!
      return { entry, text: traceLine(entry), children: (children.get(path) ?? []).map(node) }
    }
    return { rule, nodes: roots.map(node) }
  })
}

/** The trace as indented lines (see `traceNodes`). */
export function traceTree(trace: TraceEntry[]): string[] {
  const lines: string[] = []
  const walk = (n: TraceNode, depth: number) => {
    lines.push(`${'  '.repeat(depth + 2)}${n.text}`)
    for (const child of n.children) walk(child, depth + 1)
  }
  for (const { rule, nodes } of traceNodes(trace)) {
    lines.push(`  ${rule}`)
    for (const n of nodes) walk(n, 0)
  }
  return lines
}

/** A decision for a terminal: verdict, reason, explanation, trace (as a tree), obligations. */
export function renderDecision(decision: Decision): string {
  const lines = [decision.allowed ? 'ALLOWED' : decision.invalid ? 'REFUSED (the policy is invalid)' : 'REFUSED', decision.reason]
  if (decision.explanation.length > 1) lines.push('')
  for (const sentence of decision.explanation.slice(1)) lines.push(`  ${sentence}`)
  if (decision.trace.length > 0) lines.push('', 'Trace:', ...traceTree(decision.trace))
  if (decision.obligations.length > 0) {
    lines.push('', 'Obligations:')
    for (const o of decision.obligations) {
      lines.push(
        `  - \`${o.id}\`: ${o.text} (${o.rule}; ${o.state}, ${o.checkedBy === 'consumer' ? 'performed by the requester' : 'checked by the connector'}${o.blocking ? ', BLOCKS' : ''})`,
      )
    }
  }
  return `${lines.join('\n')}\n`
}
