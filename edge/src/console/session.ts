/**
 * The web console's sessions: a user pastes an API key once; the edge checks it like any request's and answers a
 * short-lived session cookie (`__Host-console`: HttpOnly, Secure, SameSite=Strict, signed with
 * CONSOLE_SESSION_SECRET by hono/cookie) holding only a random session id. The session (the key's SHA-256, a CSRF
 * token, its expiry) lives in the shared store (Upstash) for CONSOLE_SESSION_SECONDS; the key itself is stored
 * nowhere, and signing out deletes the session, so the cookie is worthless at once.
 *
 *   POST   /console/session   {"key": "sk_..."} (JSON, or a form field `key`)  -> 200 {csrf_token, expires_at, ...}
 *                                                                               (a form post: 303 to /console)
 *   GET    /console/session   the session's principal and CSRF token (the console's pages ask on load)
 *   DELETE /console/session   signs out (same-origin + x-csrf-token, like every state-changing cookie call)
 *
 * A request with the cookie and no Authorization header is the session's key's request (`sessionPrincipal`): the
 * key's scopes, models and revocation apply as if it had been sent; a state-changing one (not GET/HEAD) must come
 * from the same origin (Origin, or Sec-Fetch-Site) and carry the session's `x-csrf-token`.
 */
import type { Context } from 'hono';
import { deleteCookie, getCookie, getSignedCookie, setSignedCookie } from 'hono/cookie';
import { z } from 'zod';
import { InferenceError, InvalidInputError } from '../../../shared/errors/index.ts';
import { sha256Hex } from '../../../shared/hash/index.ts';
import { mediaType, parseJsonBody } from '../../../shared/http/index.ts';
import { type AuthOptions, principalOfKey } from '../middleware/auth/index.ts';
import { readBody } from '../routes/request.ts';
import type { AppEnv, Principal } from '../types.ts';
import { redisFor } from '../upstash.ts';
import { CONSOLE_VIEWS } from './pages.tsx';

/** The cookie's name; sent as `__Host-console` (Secure, Path=/, no Domain: this host only). */
export const SESSION_COOKIE = 'console';
export const CSRF_HEADER = 'x-csrf-token';
/** Bytes a sign-in body may hold (a key is ~60). */
const MAX_SIGN_IN_BYTES = 4096;

export const SessionRecord = z.object({ hash: z.string(), csrf: z.string(), expires: z.number() });
export type SessionRecord = z.infer<typeof SessionRecord>;

const SignIn = z.object({ key: z.string().min(1).max(512) }).strict();
/** Why a form sign-in went back to the form; the page maps these to its own words (nothing is reflected). */
export type SignInError = 'missing' | 'rejected' | 'unavailable';

/** The sign-in page with a reason and the view to go back to. */
export function signInPath(error: SignInError | undefined, next: string | undefined): string {
  const q = new URLSearchParams();
  if (error !== undefined) q.set('error', error);
  if (next !== undefined) q.set('next', next);
  const s = q.toString();
  return s === '' ? '/console' : `/console?${s}`;
}

/** A console path a sign-in may go back to: the home or a view (pages.tsx CONSOLE_VIEWS), nothing else. */
export const NEXT_PATH = new RegExp(`^/console(/(${CONSOLE_VIEWS.map((v) => v.id).join('|')}))?$`);

/** The sign-in form's fields: the key, and the console page to go back to (a view path, nothing else). */
const SignInForm = z.object({
  key: z.string().max(512),
  next: z.string().regex(NEXT_PATH).optional().catch(undefined),
});

/** The shared store's commands a session needs (the Upstash client; tests may pass a fake). */
export type SessionStore = {
  get(key: string): Promise<unknown>;
  set(key: string, value: string, opts: { ex: number }): Promise<unknown>;
  del(key: string): Promise<unknown>;
};

export interface SessionOptions extends Pick<AuthOptions, 'keys' | 'resolve'> {
  /** Clock, ms. @default Date.now */
  now?: () => number;
}

const storeKey = (id: string) => `console:session:${id}`;

function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes))
    .replaceAll('+', '-')
    .replaceAll('/', '_')
    .replace(/=+$/, '');
}

function secretOf(c: Context<AppEnv>): string {
  const secret = (c.env as Partial<Env>).CONSOLE_SESSION_SECRET ?? '';
  if (secret.length < 16) {
    throw new InferenceError(
      'unavailable',
      'the console is not configured on this edge (CONSOLE_SESSION_SECRET)',
    );
  }
  return secret;
}

function storeOf(c: Context<AppEnv>): SessionStore {
  const upstash = c.get('config').upstash;
  if (upstash === undefined) {
    throw new InferenceError('unavailable', 'console sessions need the shared store (Upstash) on this edge');
  }
  return redisFor(upstash) as unknown as SessionStore;
}

async function storeCall<T>(op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    if (err instanceof InferenceError) throw err;
    throw new InferenceError('unavailable', 'the session store did not answer; retry shortly', {
      cause: err,
    });
  }
}

async function readSession(
  c: Context<AppEnv>,
  now: number,
): Promise<{ id: string; record: SessionRecord } | undefined> {
  const id = await getSignedCookie(c, secretOf(c), SESSION_COOKIE, 'host');
  if (typeof id !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(id)) return undefined;
  const raw = await storeCall(() => storeOf(c).get(storeKey(id)));
  // Upstash hands back the JSON it stored; a value that is not a session (or not JSON) is no session, never a 500.
  let value: unknown = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw);
    } catch {
      return undefined;
    }
  }
  const parsed = SessionRecord.safeParse(value);
  if (!parsed.success || parsed.data.expires <= now) return undefined;
  return { id, record: parsed.data };
}

const expired = () =>
  new InferenceError('unauthorized', 'no console session (or it has ended): sign in again', {
    headers: { 'WWW-Authenticate': 'Bearer realm="edge"' },
  });

/** True when the request carries a console session cookie (checked by sessionPrincipal). */
export function hasSessionCookie(c: Context<AppEnv>): boolean {
  return getCookie(c, SESSION_COOKIE, 'host') !== undefined;
}

/** The CSRF token check, in time that does not depend on where the strings differ (STYLE: secrets). */
export function sameToken(given: string | undefined, expected: string): boolean {
  if (given === undefined || given.length !== expected.length) return false;
  let diff = 0;
  for (let i = 0; i < expected.length; i++) diff |= given.charCodeAt(i) ^ expected.charCodeAt(i);
  return diff === 0;
}

/** True when the request comes from this origin (Origin header, else Sec-Fetch-Site); false when it says otherwise. */
function sameOrigin(c: Context<AppEnv>): boolean {
  const origin = c.req.header('origin');
  // `Origin: null` (an opaque origin: a form post under a no-referrer policy, a sandboxed frame) says nothing;
  // Sec-Fetch-Site, which a page's script cannot set, decides then, as it does when there is no Origin.
  if (origin !== undefined && origin !== 'null') return origin === new URL(c.req.url).origin;
  return c.req.header('sec-fetch-site') === 'same-origin';
}

/**
 * The principal of the request's console session (a request with the cookie and no Authorization header); for a
 * state-changing method, after the same-origin and CSRF checks. 401 when the session is missing or over.
 */
export async function sessionPrincipal(
  options: SessionOptions,
  c: Context<AppEnv>,
): Promise<{ principal: Principal; hash: string }> {
  const now = (options.now ?? Date.now)();
  const session = await readSession(c, now);
  if (session === undefined) throw expired();
  const method = c.req.method;
  if (method !== 'GET' && method !== 'HEAD') {
    if (!sameOrigin(c) || !sameToken(c.req.header(CSRF_HEADER), session.record.csrf)) {
      throw new InferenceError(
        'forbidden',
        'cross-site request refused: send it from the console with x-csrf-token',
      );
    }
  }
  const principal = await principalOfKey(options, c, undefined, session.record.hash);
  if (principal === undefined) throw expired();
  return { principal, hash: session.record.hash };
}

function view(principal: Principal, record: SessionRecord) {
  return {
    csrf_token: record.csrf,
    expires_at: new Date(record.expires).toISOString(),
    principal: {
      name: principal.name,
      tenant: principal.tenant,
      scopes: principal.scopes,
      models: principal.models,
    },
  };
}

/** POST /console/session: a key in, a session cookie out. */
export function signInHandler(options: SessionOptions) {
  return async function signIn(c: Context<AppEnv>): Promise<Response> {
    const now = (options.now ?? Date.now)();
    const secret = secretOf(c);
    const type = mediaType(c.req.header('content-type'));
    const body = await readBody(c, MAX_SIGN_IN_BYTES);
    let input: unknown;
    let next: string | undefined;
    const form = type === 'application/x-www-form-urlencoded';
    if (type === 'application/json') input = parseJsonBody(body);
    else if (form) {
      const fields = SignInForm.safeParse(
        Object.fromEntries(new URLSearchParams(new TextDecoder().decode(body))),
      );
      if (!fields.success) throw new InvalidInputError('expected the sign-in form: key (and next)');
      next = fields.data.next;
      input = { key: fields.data.key };
    } else {
      throw new InferenceError('unsupported_media_type', 'sign in with application/json or a form post');
    }
    const parsed = SignIn.safeParse(input);
    if (!parsed.success) {
      if (form) return c.redirect(signInPath('missing', next), 303);
      throw new InvalidInputError('expected {"key": "<your API key>"}');
    }
    const hash = await sha256Hex(parsed.data.key);
    // A form goes back to the sign-in page, which says why (post/redirect/get: no answer to re-post).
    const backToForm = (err: unknown): SignInError => {
      if (form && err instanceof InferenceError && (err.status === 401 || err.status === 403))
        return 'rejected';
      if (form && err instanceof InferenceError && err.status === 503) return 'unavailable';
      throw err;
    };
    const principal = await principalOfKey(options, c, parsed.data.key, hash).catch(backToForm);
    if (typeof principal === 'string') return c.redirect(signInPath(principal, next), 303);
    if (principal === undefined && form) return c.redirect(signInPath('rejected', next), 303);
    if (principal === undefined) {
      throw new InferenceError('unauthorized', 'invalid API key', {
        headers: { 'WWW-Authenticate': 'Bearer realm="edge", error="invalid_token"' },
      });
    }
    const ttl = c.get('config').consoleSessionSeconds;
    const id = randomToken();
    const record: SessionRecord = { hash, csrf: randomToken(), expires: now + ttl * 1000 };
    const stored = await storeCall(() =>
      storeOf(c).set(storeKey(id), JSON.stringify(record), { ex: ttl }),
    ).then(() => undefined, backToForm);
    if (stored !== undefined) return c.redirect(signInPath(stored, next), 303);
    await setSignedCookie(c, SESSION_COOKIE, id, secret, {
      prefix: 'host',
      httpOnly: true,
      secure: true,
      sameSite: 'Strict',
      path: '/',
      maxAge: ttl,
    });
    c.get('log').principal = principal.name;
    if (form) return c.redirect(next ?? '/console', 303);
    return c.json(view(principal, record));
  };
}

/** GET /console/session: who is signed in, and the CSRF token the pages send. */
export function sessionHandler(options: SessionOptions) {
  return async function session(c: Context<AppEnv>): Promise<Response> {
    const now = (options.now ?? Date.now)();
    const found = await readSession(c, now);
    if (found === undefined) throw expired();
    const principal = await principalOfKey(options, c, undefined, found.record.hash);
    if (principal === undefined) throw expired();
    c.header('cache-control', 'no-store');
    return c.json(view(principal, found.record));
  };
}

/**
 * The request's session and its principal, or undefined when there is none (no cookie, a bad signature, ended, or
 * its key no longer answers).
 */
export async function consoleSession(
  options: SessionOptions,
  c: Context<AppEnv>,
): Promise<{ principal: Principal; record: SessionRecord } | undefined> {
  if (!hasSessionCookie(c)) return undefined;
  const found = await readSession(c, (options.now ?? Date.now)());
  if (found === undefined) return undefined;
  const principal = await principalOfKey(options, c, undefined, found.record.hash).catch((err: unknown) => {
    if (err instanceof InferenceError && err.status === 401) return undefined;
    throw err;
  });
  return principal === undefined ? undefined : { principal, record: found.record };
}

/**
 * Ends the request's session (deleted from the store: its cookie is worthless at once) and clears the cookie; the
 * call must come from the same origin with the session's CSRF token (403 otherwise). No session: only the cookie
 * is cleared.
 */
export async function endSession(
  options: SessionOptions,
  c: Context<AppEnv>,
  csrf: string | undefined,
): Promise<void> {
  const found = await readSession(c, (options.now ?? Date.now)());
  if (found !== undefined) {
    if (!sameOrigin(c) || !sameToken(csrf, found.record.csrf)) {
      throw new InferenceError(
        'forbidden',
        'cross-site request refused: send it from the console with x-csrf-token',
      );
    }
    await storeCall(() => storeOf(c).del(storeKey(found.id)));
  }
  deleteCookie(c, SESSION_COOKIE, { prefix: 'host', path: '/', secure: true });
}

/** DELETE /console/session: signs out (see endSession). */
export function signOutHandler(options: SessionOptions) {
  return async function signOut(c: Context<AppEnv>): Promise<Response> {
    await endSession(options, c, c.req.header(CSRF_HEADER));
    return c.json({ signed_out: true });
  };
}
