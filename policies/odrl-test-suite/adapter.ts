/**
 * Reads the public ODRL test suite (Turtle) and runs each case through the engine's evaluator:
 * policy → jsonld (flattened with the ODRL context) → the same reader as peers' policies;
 * request and state of the world → an evaluation context; the expected compliance report → the
 * expected decision (any active prohibition report: deny; else any active permission report:
 * allow; else deny).
 */
import { readFileSync, readdirSync } from 'node:fs'
import { Parser, Store, Writer, DataFactory, type Quad } from 'n3'
import { graphFromNQuads, nest } from '../jsonld.ts'
import { readPolicy } from '../odrl-read.ts'
import { policyProblems } from '../validate.ts'
import { defaultRegistry } from '../registry.ts'
import type { DutyState, EvaluationContext, PolicyModel, Rule } from '../types.ts'

const { namedNode } = DataFactory
const odrl = (term: string) => namedNode(`http://www.w3.org/ns/odrl/2/${term}`)
const rdfType = namedNode('http://www.w3.org/1999/02/22-rdf-syntax-ns#type')
const report = (term: string) => namedNode(`https://w3id.org/force/compliance-report#${term}`)
const ex = (term: string) => namedNode(`http://example.org/${term}`)
const dctIssued = namedNode('http://purl.org/dc/terms/issued')
const dctTitle = namedNode('http://purl.org/dc/terms/title')

export const suiteRoot = new URL('../../spec/odrl-test-suite/data/', import.meta.url)

export interface SuiteCase {
  name: string
  title: string
  policy: PolicyModel
  context: EvaluationContext
  expected: 'allow' | 'deny'
}

function parseTurtle(text: string): Quad[] {
  return new Parser({ format: 'text/turtle' }).parse(text)
}

function toNQuads(quads: Quad[]): string {
  return new Writer({ format: 'N-Quads' }).quadsToString(quads)
}

const local = (url: string) =>
  new URL(url.replace(/^https:\/\/raw\.githubusercontent\.com\/SolidLabResearch\/ODRL-Test-Suite\/refs\/heads\/main\/data\//, ''), suiteRoot)

/** Which files each case uses, from the suite's index (its raw URLs rewritten to the local copy). */
function index(): Map<string, { policy: URL; request: URL; sotw: URL }> {
  const store = new Store(parseTurtle(readFileSync(new URL('index.ttl', suiteRoot), 'utf8')))
  const cases = new Map<string, { policy: URL; request: URL; sotw: URL }>()
  for (const q of store.getQuads(null, ex('expectedReportSource'), null, null)) {
    const file = q.object.value.split('/').pop()!
    const one = (p: string) => local(store.getQuads(q.subject, ex(p), null, null)[0]!.object.value)
    cases.set(file, { policy: one('policySource'), request: one('requestSource'), sotw: one('sotwSource') })
  }
  return cases
}

function expectedDecision(store: Store): 'allow' | 'deny' {
  const active = (type: string) =>
    store.getSubjects(rdfType, report(type), null).some((s) => store.has(DataFactory.quad(s as never, report('activationState'), report('Active'))))
  if (active('ProhibitionReport')) return 'deny'
  return active('PermissionReport') ? 'allow' : 'deny'
}

/**
 * The suite writes "every action" as a rule without an action (its policy-1). ODRL 2.2 requires one
 * action per rule, and the engine refuses a rule without one, so the convention is written here as
 * ODRL says it: one rule per root action (`use` and `transfer`, which include every other one).
 */
function everyAction(model: PolicyModel): PolicyModel {
  const expand = (rules: Rule[]) =>
    rules.flatMap((r) =>
      r.action
        ? [r]
        : [
            { ...r, action: 'use' },
            { ...r, action: 'transfer' },
          ],
    )
  return { ...model, permissions: expand(model.permissions), prohibitions: expand(model.prohibitions) }
}

export async function loadSuite(): Promise<SuiteCase[]> {
  const files = index()
  const cases: SuiteCase[] = []
  const policyCache = new Map<string, PolicyModel>()
  for (const name of readdirSync(new URL('test_cases/', suiteRoot))
    .filter((f) => f.endsWith('.ttl'))
    .sort()) {
    const sources = files.get(name)
    if (!sources) throw new Error(`${name} is not in the suite's index`)
    const caseStore = new Store(parseTurtle(readFileSync(new URL(`test_cases/${name}`, suiteRoot), 'utf8')))
    const title = caseStore.getObjects(null, dctTitle, null)[0]?.value ?? name

    let policy = policyCache.get(sources.policy.href)
    if (!policy) {
      const quads = parseTurtle(readFileSync(sources.policy, 'utf8'))
      const policyNode = quads.find((q) => q.predicate.equals(rdfType) && q.object.equals(odrl('Set')))
      if (!policyNode) throw new Error(`${sources.policy.pathname}: no odrl:Set`)
      const graph = await graphFromNQuads(toNQuads(quads))
      const nested = nest(graph, policyNode.subject.value)
      const read = readPolicy(nested, { structureOnly: true })
      if (!read.model) throw new Error(`${sources.policy.pathname}: ${read.errors.join('; ')}`)
      policy = everyAction(read.model)
      const problems = policyProblems(policy, defaultRegistry())
      if (problems.length > 0) throw new Error(`${sources.policy.pathname}: ${problems.map((p) => `${p.where}: ${p.message}`).join('; ')}`)
      policyCache.set(sources.policy.href, policy)
    }

    const request = new Store(parseTurtle(readFileSync(sources.request, 'utf8')))
    const sotw = new Store(parseTurtle(readFileSync(sources.sotw, 'utf8')))
    const permission = request.getObjects(null, odrl('permission'), null)[0]!
    const one = (p: string) => request.getObjects(permission, odrl(p), null)[0]?.value
    const assignee = one('assignee')!
    const target = one('target')
    const now = sotw.getObjects(namedNode('http://example.com/request/currentTime'), dctIssued, null)[0]!.value
    const partOf = (subject: string) => sotw.getObjects(namedNode(subject), odrl('partOf'), null).map((o) => o.value)
    // The suite's state of the world reports each duty's deontic state. `NonSet` is a duty reported
    // active, neither fulfilled nor violated yet ("eventually fulfilled"): the obligated party has
    // taken it on, which the engine calls `acknowledged`. A duty with no report has no record.
    const duties: Record<string, DutyState> = {}
    for (const dutyReport of sotw.getSubjects(rdfType, report('DutyReport'), null)) {
      const rule = sotw.getObjects(dutyReport, report('rule'), null)[0]?.value
      const state = sotw.getObjects(dutyReport, report('deonticState'), null)[0]?.value.split('#').pop()
      if (rule) duties[rule] = state === 'Fulfilled' ? 'fulfilled' : state === 'Violated' ? 'violated' : 'acknowledged'
    }
    // In the compliance report model a duty's deontic state is `NonSet` until it is reported
    // otherwise, so a duty the state of the world does not report on is `NonSet` too (case 065
    // reports on a rule that is not in its policy and expects the duty "eventually fulfilled").
    for (const rule of policy.permissions) for (const duty of rule.duties) if (duty.uid && !(duty.uid in duties)) duties[duty.uid] = 'acknowledged'
    cases.push({
      name,
      title,
      policy,
      context: {
        scope: 'negotiation',
        // Each case asks whether the action is permitted at the state of the world's instant.
        decideDatesNow: true,
        action: one('action')!,
        assignee,
        ...(target ? { target, targetCollections: partOf(target) } : {}),
        assigneeCollections: partOf(assignee),
        credentials: [],
        now: new Date(now),
        duties,
      },
      expected: expectedDecision(caseStore),
    })
  }
  return cases
}
