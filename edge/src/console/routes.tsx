/**
 * The console's pages (GET /console) and its no-script sign-out (POST /console/sign-out, a form with the session's
 * CSRF token, same origin only). Every console answer carries a strict Content-Security-Policy (no inline script or
 * style, nothing framed, forms only to this origin), nosniff, a same-origin referrer policy and no-store.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { InferenceError } from '../../../shared/errors/index.ts';
import { mediaType } from '../../../shared/http/index.ts';
import { readBody } from '../routes/request.ts';
import type { AppEnv, Principal } from '../types.ts';
import {
  CONSOLE_VIEWS,
  type ConsoleUser,
  type ConsoleView,
  canOpen,
  ForbiddenPage,
  HomePage,
  SignInPage,
  UnavailablePage,
  ViewPage,
} from './pages.tsx';
import { consoleSession, endSession, NEXT_PATH, type SessionOptions, signInPath } from './session.ts';

export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** The console's security headers on every answer under /console. */
export const consoleHeaders: MiddlewareHandler<AppEnv> = async function consoleHeaders(c, next) {
  await next();
  c.res.headers.set('content-security-policy', CONSOLE_CSP);
  c.res.headers.set('x-content-type-options', 'nosniff');
  // same-origin, not no-referrer: under no-referrer a browser's form posts say `Origin: null`.
  c.res.headers.set('referrer-policy', 'same-origin');
  c.res.headers.set('cache-control', 'no-store');
};

function userOf(session: { principal: Principal; record: { csrf: string; expires: number } }): ConsoleUser {
  return {
    name: session.principal.name,
    tenant: session.principal.tenant,
    scopes: session.principal.scopes,
    csrf: session.record.csrf,
    expiresAt: new Date(session.record.expires).toISOString(),
  };
}

const SIGN_IN_ERRORS = new Map([
  ['missing', 'Paste an API key to sign in.'],
  ['unavailable', 'The session store is not answering: retry in a few seconds.'],
  ['rejected', 'That key was not accepted (unknown, revoked, disabled or expired): check it and try again.'],
]);

/**
 * The request's session for a page: a store that does not answer becomes the HTML 503 page (a person reads it, not
 * a script), everything else as consoleSession answers.
 */
async function pageSession(options: SessionOptions, c: Context<AppEnv>) {
  try {
    return { session: await consoleSession(options, c) };
  } catch (err) {
    if (!(err instanceof InferenceError) || err.status !== 503) throw err;
    return {
      down: c.html(<UnavailablePage path={new URL(c.req.url).pathname} />, 503, { 'Retry-After': '5' }),
    };
  }
}

export function consolePageHandler(options: SessionOptions) {
  return async function consolePage(c: Context<AppEnv>): Promise<Response> {
    const { session, down } = await pageSession(options, c);
    if (down !== undefined) return down;
    if (session !== undefined) return c.html(<HomePage user={userOf(session)} />);
    const error = c.req.query('error');
    const next = c.req.query('next');
    return c.html(
      <SignInPage
        message={SIGN_IN_ERRORS.get(error ?? '')}
        next={next !== undefined && NEXT_PATH.test(next) ? next : undefined}
      />,
    );
  };
}

/** The console view paths: /console/review, /console/models, /console/jobs, /console/keys. */
export const VIEW_PATH = `/console/:view{${CONSOLE_VIEWS.map((v) => v.id).join('|')}}`;

/**
 * GET /console/{view}: the view's page for a session whose key's scopes open it; without a session, 303 to the
 * sign-in page (which comes back here); the 403 page when the scopes do not open it. `models` lists the models the edge serves (the page
 * offers those the key may use).
 */
export function consoleViewHandler(options: SessionOptions, models: () => readonly string[]) {
  return async function consoleView(c: Context<AppEnv>): Promise<Response> {
    const view = CONSOLE_VIEWS.find((v) => v.id === c.req.param('view')) as ConsoleView;
    const { session, down } = await pageSession(options, c);
    if (down !== undefined) return down;
    if (session === undefined) return c.redirect(signInPath(undefined, `/console/${view.id}`), 303);
    const user = userOf(session);
    if (!canOpen(view, user.scopes)) return c.html(<ForbiddenPage user={user} view={view} />, 403);
    const allowed = session.principal.models;
    const visible = models().filter((m) => allowed.includes('*') || allowed.includes(m));
    return c.html(<ViewPage user={user} view={view} models={visible} />);
  };
}

/** POST /console/sign-out: the form's `csrf_token` (same origin) ends the session; then to /console. */
export function signOutFormHandler(options: SessionOptions) {
  return async function signOutForm(c: Context<AppEnv>): Promise<Response> {
    if (mediaType(c.req.header('content-type')) !== 'application/x-www-form-urlencoded') {
      throw new InferenceError('unsupported_media_type', 'sign out with the console form');
    }
    const body = new URLSearchParams(new TextDecoder().decode(await readBody(c, 4096)));
    await endSession(options, c, body.get('csrf_token') ?? undefined);
    return c.redirect('/console', 303);
  };
}
