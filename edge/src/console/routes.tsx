/**
 * The console's pages (GET /console) and its no-script sign-out (POST /console/sign-out, a form with the session's
 * CSRF token, same origin only). Every console answer carries a strict Content-Security-Policy (no inline script or
 * style, nothing framed, forms only to this origin), nosniff, no-referrer and no-store.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { InferenceError } from '../../../shared/errors/index.ts';
import { mediaType } from '../../../shared/http/index.ts';
import { readBody } from '../routes/request.ts';
import type { AppEnv } from '../types.ts';
import { HomePage, SignInPage } from './pages.tsx';
import { consoleSession, endSession, type SessionOptions } from './session.ts';

export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** The console's security headers on every answer under /console. */
export const consoleHeaders: MiddlewareHandler<AppEnv> = async function consoleHeaders(c, next) {
  await next();
  c.res.headers.set('content-security-policy', CONSOLE_CSP);
  c.res.headers.set('x-content-type-options', 'nosniff');
  c.res.headers.set('referrer-policy', 'no-referrer');
  c.res.headers.set('cache-control', 'no-store');
};

export function consolePageHandler(options: SessionOptions) {
  return async function consolePage(c: Context<AppEnv>): Promise<Response> {
    const session = await consoleSession(options, c);
    if (session === undefined) return c.html(<SignInPage />);
    return c.html(
      <HomePage
        user={{
          name: session.principal.name,
          tenant: session.principal.tenant,
          scopes: session.principal.scopes,
          csrf: session.record.csrf,
          expiresAt: new Date(session.record.expires).toISOString(),
        }}
      />,
    );
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
