/**
 * The console's server-rendered pages (Hono JSX): one layout, one stylesheet (a static asset), no inline script
 * or style, so the Content-Security-Policy can forbid them. Text from users (key names, later review items) is
 * always rendered as text: JSX escapes it. The pages work without script: sign-in and sign-out are form posts.
 */
import type { Child } from 'hono/jsx';

export interface ConsoleUser {
  name: string;
  tenant: string;
  scopes: readonly string[];
  csrf: string;
  expiresAt: string;
}

export function Layout(props: { title: string; user?: ConsoleUser; children: Child }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${props.title} · Edge inference console`}</title>
        <link rel="stylesheet" href="/console/assets/console.css" />
      </head>
      <body>
        <header>
          <strong>Edge inference console</strong>
          <nav aria-label="Console">
            <a href="/console">Home</a>
            <a href="/docs">API reference</a>
          </nav>
          {props.user === undefined ? null : (
            <form method="post" action="/console/sign-out">
              <input type="hidden" name="csrf_token" value={props.user.csrf} />
              <button type="submit">Sign out</button>
            </form>
          )}
        </header>
        <main>{props.children}</main>
      </body>
    </html>
  );
}

export function SignInPage(props: { message?: string }) {
  return (
    <Layout title="Sign in">
      <h1>Sign in</h1>
      <p>Paste an API key once: the console keeps a short-lived session, never the key.</p>
      {props.message === undefined ? null : <p role="alert">{props.message}</p>}
      <form method="post" action="/console/session">
        <label for="key">API key</label>
        <input id="key" name="key" type="password" autocomplete="off" required />
        <button type="submit">Sign in</button>
      </form>
    </Layout>
  );
}

export function HomePage(props: { user: ConsoleUser }) {
  return (
    <Layout title="Home" user={props.user}>
      <h1>Signed in as {props.user.name}</h1>
      <p class="muted">
        Tenant {props.user.tenant}; scopes {props.user.scopes.join(', ')}; session until{' '}
        {props.user.expiresAt}.
      </p>
      <p>
        The API calls this browser makes carry the session, not the key: the <a href="/docs">API reference</a>{' '}
        lists what the scopes open.
      </p>
    </Layout>
  );
}
