import { relative } from 'node:path'
import { z } from 'zod'
import { emptyFilter, type PolicyUsage } from '../../catalog/index.ts'
import {
  evaluate,
  policyLabelOf,
  runStewardTests,
  timeWarnings,
  traceNodes,
  type CompiledPolicy,
  type CredentialInfo,
  type LintError,
  type TraceNode,
} from '../../policies/index.ts'
import type { Area } from '../area.ts'
import type { CatalogService } from '../catalog/catalog-service.ts'
import { absolute } from '../config/config.ts'
import type { Ctx } from '../context.ts'
import { PasserelleError } from '../errors.ts'
import { parseInput, readJson } from '../http/validate.ts'
import {
  CatalogPreview,
  EvaluateAnswer,
  EvaluateRequest,
  type LintProblem,
  PolicyDetail,
  PolicyList,
  type PolicySummary,
  PolicyTestRun,
  type TraceNodeView,
  PreviewQuery,
} from './policy-views.ts'

/** Datasets named per policy in a list (the total is always given). */
const datasetsPerPolicy = 20
/** Credentials are taken as verified by this connector: the engine decides on their type, claims and expiry, not on who issued them. */
const assumedIssuer = 'urn:passerelle:assumed-verified'

/**
 * The stewards' policies through the management API, so that the console and scripts see what the
 * connector enforces: `GET /policies` and `/policies/:id` (plain language, lint results with
 * lines, the datasets that use each), `POST /policies/:id/evaluate` (a request decided by the same
 * engine and policies as negotiation and the catalog, with its trace), `POST /policies/:id/test`
 * (the stewards' `*.test.yaml` cases, as `passerelle policy test` runs them) and
 * `GET /catalog/preview` (this catalog as one participant sees it, by the DSP catalog's own
 * visibility decisions). Nothing here changes anything.
 */
export function policyArea(catalog: CatalogService): Area {
  return {
    name: 'policies',
    routes({ management, openapi }, ctx) {
      const policiesDir = absolute(ctx.config.root, ctx.config.catalog.policiesDir)
      const shown = (file: string) => relative(ctx.config.root, absolute(ctx.config.root, file)) || file
      const problem = (e: LintError): LintProblem => ({
        severity: 'error',
        file: shown(e.file),
        line: e.line,
        ...(e.column !== undefined ? { column: e.column } : {}),
        field: e.field,
        message: e.message,
        ...(e.suggestion ? { suggestion: e.suggestion } : {}),
      })
      const compiled = (id: string): CompiledPolicy => {
        const policy = catalog.policies.policy(id)
        if (!policy) throw new PasserelleError('not_found', `no policy ${id} (policies are the files of ${shown(policiesDir)}; see GET /policies)`)
        return policy
      }
      // Which datasets name which policy: a range of the references' index per policy, kept until the catalog's version moves.
      let usage: { version: number; byPolicy: Promise<Map<string, PolicyUsage>> } | undefined
      const datasetsUsing = async (id: string) => {
        const version = await catalog.catalog.rows.version()
        if (usage?.version !== version) usage = { version, byPolicy: catalog.catalog.rows.policyUsage([...catalog.policies.ids], datasetsPerPolicy) }
        const reading = usage.byPolicy
        const byPolicy = await reading.catch((error) => {
          if (usage?.byPolicy === reading) usage = undefined
          throw error
        })
        return byPolicy.get(id) ?? { ids: [], total: 0 }
      }
      const summary = async (policy: CompiledPolicy): Promise<PolicySummary> => ({
        id: policy.id,
        title: policy.title,
        ...(policy.description ? { description: policy.description.trim() } : {}),
        file: shown(policy.sourceFile),
        plainText: policy.plainText,
        lint: [
          ...catalog.policies.errors.filter((e) => e.file === policy.sourceFile).map(problem),
          ...timeWarnings(policy, ctx.clock.now()).map((w): LintProblem => ({ severity: 'warning', file: shown(w.file), field: w.field, message: w.message })),
        ],
        datasets: await datasetsUsing(policy.id),
      })
      const IdParam = z.object({ id: z.string() })

      openapi.add({
        method: 'get',
        path: '/policies',
        summary: "The stewards' policies: plain language, lint results with line numbers, the datasets that use each",
        tags: ['policies'],
        responses: { 200: { description: 'the policies, and the problems of files that did not compile', schema: PolicyList } },
      })
      management.get('/policies', async (c) => {
        const source = catalog.policies
        const items = await Promise.all([...source.ids].sort().map((id) => summary(compiled(id))))
        const ownFiles = new Set(items.map((p) => p.file))
        return c.json({ items, problems: source.errors.map(problem).filter((p) => !ownFiles.has(p.file)) } satisfies PolicyList)
      })

      openapi.add({
        method: 'get',
        path: '/policies/{id}',
        summary: 'One policy, with its ODRL offer',
        tags: ['policies'],
        params: IdParam,
        responses: { 200: { description: 'the policy', schema: PolicyDetail }, 404: { description: 'no such policy' } },
      })
      management.get('/policies/:id', async (c) => {
        const policy = compiled(c.req.param('id'))
        return c.json({ ...(await summary(policy)), odrl: policy.odrl } satisfies PolicyDetail)
      })

      openapi.add({
        method: 'post',
        path: '/policies/{id}/evaluate',
        summary: 'Try a request against a policy: the decision, its reason and its trace, as negotiation (or the catalog) would decide',
        tags: ['policies'],
        params: IdParam,
        body: EvaluateRequest,
        responses: {
          200: { description: 'the decision (allowed or not)', schema: EvaluateAnswer },
          400: { description: 'the request is not valid' },
          404: { description: 'no such policy' },
        },
      })
      management.post('/policies/:id/evaluate', async (c) => {
        const policy = compiled(c.req.param('id'))
        const input = parseInput(EvaluateRequest, await readJson(c), 'body')
        return c.json(decide(ctx, policy, input))
      })

      openapi.add({
        method: 'post',
        path: '/policies/{id}/test',
        summary: "Run the stewards' test cases (*.test.yaml beside the policies) for this policy",
        tags: ['policies'],
        params: IdParam,
        responses: { 200: { description: 'the cases and their outcome', schema: PolicyTestRun }, 404: { description: 'no such policy' } },
      })
      management.post('/policies/:id/test', async (c) => {
        const policy = compiled(c.req.param('id'))
        const run = await runStewardTests(policiesDir, ctx.clock.now())
        const results = run.results
          .filter((r) => r.policy === policy.id)
          .map((r) => ({ file: shown(r.file), name: r.name, passed: r.passed, ...(r.message ? { message: r.message } : {}), reason: r.reason }))
        const passed = results.filter((r) => r.passed).length
        return c.json({
          policy: policy.id,
          files: [...new Set(results.map((r) => r.file))],
          results,
          // Problems of test files only: the policies' own are in their lint results.
          errors: run.errors.filter((e) => /\.test\.ya?ml$/i.test(e.file)).map(problem),
          passed,
          failed: results.length - passed,
        } satisfies PolicyTestRun)
      })

      openapi.add({
        method: 'get',
        path: '/catalog/preview',
        summary:
          'This catalog as one participant sees it (with the credentials it would present): the datasets and offers it sees, the visibility policies that refuse it and why',
        tags: ['catalog', 'policies'],
        query: PreviewQuery,
        responses: { 200: { description: 'what the participant sees', schema: CatalogPreview } },
      })
      management.get('/catalog/preview', async (c) => {
        const query = parseInput(PreviewQuery, { ...c.req.query(), credential: c.req.queries('credential') ?? [] }, 'query')
        const requester = {
          participantId: query.participant,
          credentials: query.credential.map((type): CredentialInfo => ({ types: ['VerifiableCredential', type], issuer: assumedIssuer, claims: {} })),
        }
        const now = ctx.clock.now()
        // The DSP catalog's own answer to this requester: the same decisions, the same page.
        const page = await catalog.catalog.page({ requester, now, filter: emptyFilter, offset: query.offset, limit: query.limit })
        const body = JSON.parse(page.body) as { dataset?: Array<Record<string, unknown>> }
        const datasets = (body.dataset ?? []).map((d) => {
          const title = localized(d['dct:title'])
          return {
            id: String(d['@id']),
            ...(title !== undefined ? { title } : {}),
            offers: ((d.hasPolicy ?? []) as Array<Record<string, unknown>>).map((offer) => {
              const label = policyLabelOf(offer)
              return { id: String(offer['@id']), ...(label ? { policy: label.id, ...(label.title ? { title: label.title } : {}) } : {}) }
            }),
          }
        })
        const refused = []
        for (const id of await catalog.catalog.visibilityPolicies()) {
          const decision = catalog.policies.visible(id, requester, now)
          if (!decision.allowed) {
            const title = catalog.policies.policy(id)?.title
            refused.push({ policy: id, ...(title ? { title } : {}), reason: decision.reason })
          }
        }
        return c.json({
          participant: query.participant,
          credentials: query.credential,
          total: page.total,
          offset: query.offset,
          limit: query.limit,
          datasets,
          refused,
        } satisfies CatalogPreview)
      })
    },
  }
}

/**
 * The decision negotiation (`negotiation/policy-check.ts`) or the catalog (`catalog/policy-source.ts`)
 * would take on this request: the same engine, the same compiled policy, the same context fields.
 */
function decide(ctx: Ctx, policy: CompiledPolicy, input: z.output<typeof EvaluateRequest>): EvaluateAnswer {
  const now = input.date ? new Date(input.date) : ctx.clock.now()
  const credentials = input.credentials.map(
    (cr): CredentialInfo => ({
      types: ['VerifiableCredential', cr.type],
      issuer: cr.issuer ?? assumedIssuer,
      claims: cr.claims ?? {},
      ...(cr.expiresAt ? { expiresAt: Date.parse(cr.expiresAt) } : {}),
    }),
  )
  const declared = {
    ...(input.purpose !== undefined ? { purpose: input.purpose } : {}),
    ...(input.spatial !== undefined ? { spatial: input.spatial } : {}),
    ...(input.industry !== undefined ? { industry: input.industry } : {}),
  }
  const decision =
    input.scope === 'catalog'
      ? evaluate(policy, { scope: 'catalog', action: 'use', assignee: input.participant, credentials, now, ...declared })
      : evaluate(policy, {
          scope: 'negotiation',
          action: 'use',
          assignee: input.participant,
          assigner: ctx.config.participant.id,
          ...(input.dataset ? { target: input.dataset } : {}),
          credentials,
          ...declared,
          now,
        })
  const view = (n: TraceNode): TraceNodeView => ({ constraint: n.entry.constraint, outcome: n.entry.outcome, text: n.text, children: n.children.map(view) })
  return {
    policy: { id: policy.id, title: policy.title },
    scope: input.scope,
    at: now.toISOString(),
    allowed: decision.allowed,
    reason: decision.reason,
    explanation: decision.explanation,
    ...(decision.invalid ? { invalid: decision.invalid } : {}),
    obligations: decision.obligations.map((o) => ({ id: o.id, action: o.action, text: o.text, state: o.state, blocking: o.blocking })),
    trace: traceNodes(decision.trace).map(({ rule, nodes }) => ({ rule, nodes: nodes.map(view) })),
  }
}

/** A JSON-LD text as the DSP catalog writes it (a string, a value with its language, or several) → one text or one per language. */
function localized(value: unknown): string | Record<string, string> | undefined {
  const values = Array.isArray(value) ? value : value === undefined ? [] : [value]
  const byLanguage: Record<string, string> = {}
  for (const v of values) {
    if (typeof v === 'string') return v
    if (v && typeof v === 'object' && typeof (v as { '@value'?: unknown })['@value'] === 'string') {
      const { '@value': text, '@language': language } = v as { '@value': string; '@language'?: string }
      byLanguage[language ?? 'und'] = text
    }
  }
  return Object.keys(byLanguage).length > 0 ? byLanguage : undefined
}
