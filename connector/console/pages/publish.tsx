import type { PolicyList } from '../views.ts'
import { CsrfField, Layout, type PageContext } from './layout.tsx'
import { Field, FormProblem, type FormState } from './policies.tsx'

/**
 * The steward publishes a dataset: its description, the policy of its offer, and its data, either
 * a file uploaded with the form or a link to existing storage. A plain form (multipart, so it works
 * without JavaScript); the file input comes last, so the fields are read before the file streams.
 */
export function PublishPage({ page, form, policies }: { page: PageContext; form: FormState; policies: PolicyList['items'] }) {
  const { words } = page
  const error = (name: string) =>
    form.errors[name] ? (
      <span id={`${name}-error`} class="field-error">
        {form.errors[name]}
      </span>
    ) : null
  return (
    <Layout page={page} title={words.t('publish.title')}>
      <p>{words.t('publish.intro')}</p>
      <FormProblem page={page} form={form} />
      <form method="post" action="/console/datasets/new" enctype="multipart/form-data">
        <CsrfField page={page} />
        <Field page={page} form={form} name="titleEn" label="field.titleEn" required />
        <Field page={page} form={form} name="titleFr" label="field.titleFr" />
        <div>
          <label for="description">{words.t('field.description')}</label>
          <textarea
            id="description"
            name="description"
            rows={3}
            cols={40}
            maxlength={2048}
            aria-invalid={form.errors.description ? 'true' : undefined}
            aria-describedby={form.errors.description ? 'description-error' : undefined}
          >
            {form.values.description ?? ''}
          </textarea>
          {error('description')}
        </div>
        <div>
          <label for="policy">{words.t('field.policy')}</label>
          <select
            id="policy"
            name="policy"
            aria-invalid={form.errors.policy ? 'true' : undefined}
            aria-describedby={form.errors.policy ? 'policy-error' : undefined}
          >
            {policies.map((p) => (
              <option value={p.id} selected={form.values.policy === p.id}>
                {p.id}
              </option>
            ))}
          </select>
          {error('policy')}
        </div>
        <Field page={page} form={form} name="license" label="field.license" type="url" required />
        <Field page={page} form={form} name="contactName" label="field.contactName" required />
        <Field page={page} form={form} name="contactEmail" label="field.contactEmail" type="email" required />
        <fieldset>
          <legend>{words.t('publish.link')}</legend>
          <Field page={page} form={form} name="url" label="field.url" type="url" />
          <Field page={page} form={form} name="byteSize" label="field.byteSize" />
          <Field page={page} form={form} name="sha256" label="field.sha256" />
          <Field page={page} form={form} name="bucket" label="field.bucket" />
          <Field page={page} form={form} name="key" label="field.key" />
          <Field page={page} form={form} name="mediaType" label="field.mediaType" />
        </fieldset>
        <fieldset>
          <legend>{words.t('publish.upload')}</legend>
          <div>
            <label for="upload">{words.t('field.upload')}</label>
            <input
              id="upload"
              name="upload"
              type="file"
              aria-invalid={form.errors.upload ? 'true' : undefined}
              aria-describedby={form.errors.upload ? 'upload-error' : undefined}
            />
            {error('upload')}
          </div>
        </fieldset>
        <button type="submit">{words.t('publish.submit')}</button>
      </form>
    </Layout>
  )
}
