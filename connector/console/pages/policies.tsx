import type { MessageKey } from '../i18n.ts'
import type { EvaluateAnswer, LintProblem, PolicyDetail, PolicyList, PolicyTestRun, TraceNodeView } from '../views.ts'
import { CsrfField, Layout, type PageContext } from './layout.tsx'

/** A form's values as typed, and the API's complaints about them, by field. */
export interface FormState {
  values: Record<string, string>
  errors: Record<string, string>
}

/** A labelled text field with its error beside it (announced with the field). */
export function Field(props: { page: PageContext; form: FormState; name: string; label: MessageKey; type?: string; required?: boolean }) {
  const { page, form, name } = props
  const error = form.errors[name]
  return (
    <div>
      <label for={name}>{page.words.t(props.label)}</label>
      <input
        id={name}
        name={name}
        type={props.type ?? 'text'}
        value={form.values[name] ?? ''}
        size={40}
        maxlength={2048}
        required={props.required}
        aria-invalid={error ? 'true' : undefined}
        aria-describedby={error ? `${name}-error` : undefined}
      />
      {error ? (
        <span id={`${name}-error`} class="field-error">
          {error}
        </span>
      ) : null}
    </div>
  )
}

export function FormProblem({ page, form }: { page: PageContext; form: FormState }) {
  return Object.keys(form.errors).length > 0 ? (
    <p class="problem" role="alert">
      {page.words.t('form.invalid')}
      {form.errors._form ? <span lang="en">{` ${form.errors._form}`}</span> : null}
    </p>
  ) : null
}

function LintTable({ page, problems }: { page: PageContext; problems: LintProblem[] }) {
  const { words } = page
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">{words.t('field.severity')}</th>
          <th scope="col">{words.t('field.file')}</th>
          <th scope="col">{words.t('field.line')}</th>
          <th scope="col">{words.t('field.field')}</th>
          <th scope="col">{words.t('field.problem')}</th>
        </tr>
      </thead>
      <tbody>
        {problems.map((p) => (
          <tr>
            <td class={p.severity === 'error' ? 'reason' : ''}>{words.t(p.severity === 'error' ? 'severity.error' : 'severity.warning')}</td>
            <td class="id">{p.file}</td>
            <td class="num">{p.line !== undefined ? `${p.line}${p.column !== undefined ? `:${p.column}` : ''}` : '—'}</td>
            <td class="id">{p.field}</td>
            <td lang="en">{`${p.message}${p.suggestion ? ` (${p.suggestion})` : ''}`}</td>
          </tr>
        ))}
      </tbody>
    </table>
  )
}

/** The steward's policies: what each says, whether its file is sound, who uses it. */
export function PoliciesPage({ page, list }: { page: PageContext; list: PolicyList }) {
  const { words } = page
  return (
    <Layout page={page} title={words.t('policies.title')}>
      <p>{words.t('policies.intro')}</p>
      {list.items.length ? (
        <table>
          <thead>
            <tr>
              <th scope="col">{words.t('field.id')}</th>
              <th scope="col">{words.t('field.title')}</th>
              <th scope="col">{words.t('field.file')}</th>
              <th scope="col">{words.t('policy.lint')}</th>
              <th scope="col">{words.t('field.datasets')}</th>
            </tr>
          </thead>
          <tbody>
            {list.items.map((p) => (
              <tr>
                <td>
                  <a class="id" href={`/console/policies/${encodeURIComponent(p.id)}`}>
                    {p.id}
                  </a>
                </td>
                <td lang="en">{p.title}</td>
                <td class="id">{p.file}</td>
                <td class={p.lint.length ? 'reason' : ''}>{p.lint.length ? words.number(p.lint.length) : words.t('policy.lint.clean')}</td>
                <td class="num">{words.number(p.datasets.total)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p>{words.t('list.empty')}</p>
      )}
      {list.problems.length ? (
        <section aria-labelledby="problems">
          <h2 id="problems">{words.t('policies.problems')}</h2>
          <LintTable page={page} problems={list.problems} />
        </section>
      ) : null}
    </Layout>
  )
}

/** The trace as nested lists: each step with its outcome, the steps it is made of under it. */
function TraceList({ page, nodes }: { page: PageContext; nodes: TraceNodeView[] }) {
  return (
    <ul class="trace">
      {nodes.map((n) => (
        <li>
          <span class={`state state-${n.outcome}`}>{page.words.t(`outcome.${n.outcome}` as MessageKey)}</span> <code lang="en">{n.text}</code>
          {n.children.length ? <TraceList page={page} nodes={n.children} /> : null}
        </li>
      ))}
    </ul>
  )
}

function DecisionView({ page, decision }: { page: PageContext; decision: EvaluateAnswer }) {
  const { words } = page
  return (
    <section aria-labelledby="decision" id="result">
      <h2 id="decision">{words.t('policy.decision')}</h2>
      <p class={decision.allowed ? 'notice' : 'problem'} role="status">
        <span class={`state state-${decision.allowed ? 'ok' : 'TERMINATED'}`}>{words.t(decision.allowed ? 'policy.allowed' : 'policy.refused')}</span>{' '}
        <span lang="en" class={decision.allowed ? '' : 'reason'}>
          {decision.reason.replace(/^(Refused|Allowed): /, '')}
        </span>
        <span class="muted">{` · ${words.date(decision.at)}`}</span>
      </p>
      {decision.explanation.length > 1 ? (
        <>
          <h3>{words.t('policy.explanation')}</h3>
          <ul lang="en">
            {decision.explanation.slice(1).map((sentence) => (
              <li>{sentence}</li>
            ))}
          </ul>
        </>
      ) : null}
      {decision.trace.length ? (
        <>
          <h3>{words.t('policy.trace')}</h3>
          <ul class="trace">
            {decision.trace.map((rule) => (
              <li>
                <strong lang="en">{rule.rule}</strong>
                <TraceList page={page} nodes={rule.nodes} />
              </li>
            ))}
          </ul>
        </>
      ) : null}
      {decision.obligations.length ? (
        <>
          <h3>{words.t('policy.obligations')}</h3>
          <ul lang="en">
            {decision.obligations.map((o) => (
              <li>{`${o.text} (${o.id})`}</li>
            ))}
          </ul>
        </>
      ) : null}
    </section>
  )
}

function TestsView({ page, run }: { page: PageContext; run: PolicyTestRun }) {
  const { words } = page
  return (
    <div id="tests-result">
      {run.results.length ? (
        <>
          <p role="status" class={run.failed ? 'problem' : 'notice'}>
            {words.t('policy.tests.summary', { passed: words.number(run.passed), failed: words.number(run.failed) })}
          </p>
          <table>
            <thead>
              <tr>
                <th scope="col">{words.t('field.case')}</th>
                <th scope="col">{words.t('field.file')}</th>
                <th scope="col">{words.t('field.result')}</th>
                <th scope="col">{words.t('field.reason')}</th>
              </tr>
            </thead>
            <tbody>
              {run.results.map((r) => (
                <tr>
                  <td lang="en">{r.name}</td>
                  <td class="id">{r.file}</td>
                  <td>
                    <span class={`state state-${r.passed ? 'ok' : 'TERMINATED'}`}>{words.t(r.passed ? 'policy.tests.passed' : 'policy.tests.failed')}</span>
                  </td>
                  <td lang="en">{r.message ? `${r.message} — ${r.reason}` : r.reason}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : (
        <p role="status">{words.t('policy.tests.none')}</p>
      )}
      {run.errors.length ? <LintTable page={page} problems={run.errors} /> : null}
    </div>
  )
}

/** One policy: its text, its lint results, who uses it, its tests, and a request to try on it. */
export function PolicyPage(props: { page: PageContext; policy: PolicyDetail; form: FormState; decision?: EvaluateAnswer; tests?: PolicyTestRun }) {
  const { page, policy, form } = props
  const { words } = page
  const base = `/console/policies/${encodeURIComponent(policy.id)}`
  return (
    <Layout page={page} title={`${words.t('policy.title')}: ${policy.id}`}>
      <p lang="en">
        <strong>{policy.title}</strong>
        {policy.description ? ` — ${policy.description}` : ''}
      </p>
      <p class="muted id">{policy.file}</p>
      <h2>{words.t('policy.text')}</h2>
      <pre class="plain" lang="en">
        {policy.plainText}
      </pre>
      <h2>{words.t('policy.lint')}</h2>
      {policy.lint.length ? <LintTable page={page} problems={policy.lint} /> : <p>{words.t('policy.lint.clean')}</p>}
      <h2>{words.t('policy.usedBy')}</h2>
      {policy.datasets.total ? (
        <ul>
          {policy.datasets.ids.map((id) => (
            <li class="id">{id}</li>
          ))}
          {policy.datasets.total > policy.datasets.ids.length ? (
            <li>{words.t('policy.usedBy.more', { count: words.number(policy.datasets.total - policy.datasets.ids.length) })}</li>
          ) : null}
        </ul>
      ) : (
        <p>{words.t('policy.usedBy.none')}</p>
      )}
      <h2>{words.t('policy.tests')}</h2>
      <p>{words.t('policy.tests.intro')}</p>
      <form method="post" action={`${base}/test`}>
        <CsrfField page={page} />
        <button type="submit">{words.t('policy.tests.run')}</button>
      </form>
      {props.tests ? <TestsView page={page} run={props.tests} /> : null}
      <h2 id="try">{words.t('policy.try')}</h2>
      <p>{words.t('policy.try.intro')}</p>
      <FormProblem page={page} form={form} />
      <form method="post" action={`${base}/evaluate`} class="filters" aria-labelledby="try">
        <CsrfField page={page} />
        <Field page={page} form={form} name="participant" label="field.participant" required />
        <Field page={page} form={form} name="purpose" label="field.purpose" />
        <Field page={page} form={form} name="region" label="field.region" />
        <Field page={page} form={form} name="industry" label="field.industry" />
        <Field page={page} form={form} name="date" label="field.date" type="datetime-local" />
        <Field page={page} form={form} name="credentials" label="field.credentials" />
        <div>
          <label for="scope">{words.t('field.scope')}</label>
          <select id="scope" name="scope">
            <option value="negotiation" selected={form.values.scope !== 'catalog'}>
              {words.t('scope.negotiation')}
            </option>
            <option value="catalog" selected={form.values.scope === 'catalog'}>
              {words.t('scope.catalog')}
            </option>
          </select>
          {form.errors.scope ? <span class="field-error">{form.errors.scope}</span> : null}
        </div>
        <button type="submit">{words.t('policy.try.submit')}</button>
      </form>
      {props.decision ? <DecisionView page={page} decision={props.decision} /> : null}
    </Layout>
  )
}
