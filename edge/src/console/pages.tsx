/**
 * The console's server-rendered pages (Hono JSX): one layout, one stylesheet (a static asset), no inline script
 * or style, so the Content-Security-Policy can forbid them. Text from users (key names, review items) is always
 * rendered as text: JSX escapes it here, and the client modules only ever set `textContent`.
 *
 * Each view is a page: the server renders its frame (title, navigation for the key's scopes, the loading state,
 * the CSRF token in a meta tag); its small client module (/console/assets/<view>.js) loads the data from the same
 * JSON API a script would call, with the session cookie. Sign-in and sign-out are form posts (no script needed).
 */
import type { Child } from 'hono/jsx';

export interface ConsoleUser {
  name: string;
  tenant: string;
  scopes: readonly string[];
  csrf: string;
  expiresAt: string;
}

/** A console view: its path, the scopes that open it (any of them), and what it is for. */
export interface ConsoleView {
  id: 'review' | 'models' | 'jobs' | 'keys';
  title: string;
  scopes: readonly string[];
  about: string;
  /** Its client module draws charts with uPlot (a static asset under vendor/). */
  charts: boolean;
}

export const CONSOLE_VIEWS: readonly ConsoleView[] = [
  {
    id: 'review',
    title: 'Review',
    scopes: ['reviewer', 'admin'],
    about: 'Label what no model is sure of, one item at a time, from the keyboard.',
    charts: false,
  },
  {
    id: 'models',
    title: 'Models',
    scopes: ['admin'],
    about: 'Versions served, the rollout policy and its actions, traffic and drift charts per version.',
    charts: true,
  },
  {
    id: 'jobs',
    title: 'Jobs',
    scopes: ['infer', 'admin'],
    about: "Your key's batch jobs: progress, results, cancel.",
    charts: false,
  },
  {
    id: 'keys',
    title: 'Keys & usage',
    scopes: ['tenant_admin', 'admin'],
    about: "The tenant's API keys (create, rotate, revoke) and its usage per day and model.",
    charts: true,
  },
];

export function canOpen(view: ConsoleView, scopes: readonly string[]): boolean {
  return view.scopes.some((s) => scopes.includes(s));
}

export function Layout(props: {
  title: string;
  user?: ConsoleUser;
  active?: ConsoleView['id'];
  view?: ConsoleView;
  children: Child;
}) {
  const views =
    props.user === undefined ? [] : CONSOLE_VIEWS.filter((v) => canOpen(v, props.user?.scopes ?? []));
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${props.title} · Edge inference console`}</title>
        {props.user === undefined ? null : <meta name="csrf-token" content={props.user.csrf} />}
        <link rel="icon" href="data:," />
        <link rel="stylesheet" href="/console/assets/console.css" />
        {props.view?.charts === true ? (
          <>
            <link rel="stylesheet" href="/console/assets/vendor/uPlot.min.css" />
            <script src="/console/assets/vendor/uPlot.iife.min.js" defer />
          </>
        ) : null}
        {props.view === undefined ? null : (
          <script type="module" src={`/console/assets/${props.view.id}.js`} />
        )}
      </head>
      <body>
        <header>
          <a class="brand" href="/console">
            Edge inference console
          </a>
          <nav aria-label="Console">
            {views.map((v) => (
              <a href={`/console/${v.id}`} aria-current={props.active === v.id ? 'page' : undefined}>
                {v.title}
              </a>
            ))}
            <a href="/docs">API reference</a>
          </nav>
          {props.user === undefined ? null : (
            <form method="post" action="/console/sign-out" class="sign-out">
              <span class="muted">{props.user.name}</span>
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

export function SignInPage(props: { message?: string; next?: string }) {
  return (
    <Layout title="Sign in">
      <h1>Sign in</h1>
      <p>Paste an API key once: the console keeps a short-lived session, never the key.</p>
      {props.message === undefined ? null : (
        <p role="alert" class="error">
          {props.message}
        </p>
      )}
      <form method="post" action="/console/session">
        <label for="key">API key</label>
        <input id="key" name="key" type="password" autocomplete="off" required />
        {props.next === undefined ? null : <input type="hidden" name="next" value={props.next} />}
        <button type="submit">Sign in</button>
      </form>
    </Layout>
  );
}

export function HomePage(props: { user: ConsoleUser }) {
  const views = CONSOLE_VIEWS.filter((v) => canOpen(v, props.user.scopes));
  return (
    <Layout title="Home" user={props.user}>
      <h1>Signed in as {props.user.name}</h1>
      <p class="muted">
        Tenant {props.user.tenant}; scopes {props.user.scopes.join(', ')}; session until{' '}
        {props.user.expiresAt}.
      </p>
      {views.length === 0 ? (
        <p>This key's scopes open no console view; the API reference lists what they allow.</p>
      ) : (
        <ul class="views">
          {views.map((v) => (
            <li>
              <a href={`/console/${v.id}`}>{v.title}</a>: {v.about}
            </li>
          ))}
        </ul>
      )}
      <p>
        The API calls this browser makes carry the session, not the key: the <a href="/docs">API reference</a>{' '}
        lists what the scopes open.
      </p>
    </Layout>
  );
}

/** A view's frame: its client module fills `#app` (`data-models`: the models this key may use). */
export function ViewPage(props: { user: ConsoleUser; view: ConsoleView; models: readonly string[] }) {
  return (
    <Layout title={props.view.title} user={props.user} active={props.view.id} view={props.view}>
      <h1>{props.view.title}</h1>
      <p class="muted">{props.view.about}</p>
      <div
        id="app"
        data-view={props.view.id}
        data-models={props.models.join(',')}
        data-scopes={props.user.scopes.join(',')}
        data-tenant={props.user.tenant}
      >
        <p role="status" class="state">
          Loading…
        </p>
      </div>
      <noscript>
        <p class="state">
          This view needs JavaScript; the same data is in the JSON API (see the API reference).
        </p>
      </noscript>
    </Layout>
  );
}

/** 403: the key's scopes do not open this view (the navigation never links to it). */
export function ForbiddenPage(props: { user: ConsoleUser; view: ConsoleView }) {
  return (
    <Layout title="Not allowed" user={props.user}>
      <h1>Not allowed</h1>
      <p role="alert" class="error">
        {props.view.title} needs a key with the {props.view.scopes.join(' or ')} scope; this key has{' '}
        {props.user.scopes.join(', ')}.
      </p>
      <p>
        <a href="/console">Back to the console</a>
      </p>
    </Layout>
  );
}

/** 503: the session store (Upstash) does not answer, so no session can be read; retrying is the remedy. */
export function UnavailablePage(props: { path: string }) {
  return (
    <Layout title="Unavailable">
      <h1>The console is unavailable</h1>
      <p role="alert" class="error">
        Its session store is not answering, so no one can be signed in right now. The API itself keeps serving
        predictions. Retry in a few seconds.
      </p>
      <p>
        <a href={props.path}>Retry</a>
      </p>
    </Layout>
  );
}
