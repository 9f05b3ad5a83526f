import { CsrfField, Layout, type PageContext } from './layout.tsx'

/** The sign-in form: the management key, exchanged for a session; the key is never shown back. */
export function SignInPage(props: { page: PageContext; error?: string; notice?: string }) {
  const { words } = props.page
  return (
    <Layout page={props.page} title={words.t('signin.title')}>
      {props.notice ? (
        <p class="notice" role="status">
          {props.notice}
        </p>
      ) : null}
      <p>{words.t('signin.intro')}</p>
      <form method="post" action="/console/sign-in">
        <CsrfField page={props.page} />
        <p>
          <label for="key">{words.t('signin.key')}</label>
          <br />
          <input
            id="key"
            name="key"
            type="password"
            autocomplete="current-password"
            required
            size={40}
            aria-invalid={props.error ? 'true' : undefined}
            aria-describedby={props.error ? 'key-error' : undefined}
          />
        </p>
        {props.error ? (
          <p id="key-error" class="field-error" role="alert">
            {props.error}
          </p>
        ) : null}
        <button type="submit">{words.t('signin.submit')}</button>
      </form>
    </Layout>
  )
}
