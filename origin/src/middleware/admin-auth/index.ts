/**
 * The operator's calls (the repository extension, POST /v2/repository/...): `Authorization: Bearer <token>` with
 * ORIGIN_ADMIN_TOKEN, compared in constant time. The edge never makes these calls, so they take no edge signature
 * (edge-signature's needsSignature leaves them to this check). Runs before the body is read.
 *
 *   token set                        missing header: 401, malformed header: 400 invalid_header,
 *                                    wrong token: 401 (both 401s with WWW-Authenticate: Bearer)
 *   no token, unsigned use allowed   open (local use, like every other call then)
 *   no token                         403 forbidden: the admin calls are off
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { InferenceError } from '../../../../shared/errors/index.ts';
import type { AppEnv } from '../../env.ts';

export interface AdminAuthOptions {
  /** The admin bearer token (>= 16 characters); undefined turns the admin calls off unless `open`. */
  token: string | undefined;
  /** Without a token, let every call through (ORIGIN_ALLOW_UNSIGNED). @default false */
  open?: boolean;
}

/** RFC 6750 b64token. */
const BEARER = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/;

const digest = (s: string) => createHash('sha256').update(s).digest();

function unauthorized(message: string, error?: 'invalid_token'): InferenceError {
  return new InferenceError('unauthorized', message, {
    headers: {
      'WWW-Authenticate':
        error === undefined ? 'Bearer realm="origin-admin"' : `Bearer realm="origin-admin", error="${error}"`,
    },
  });
}

export function adminAuth(options: AdminAuthOptions): MiddlewareHandler<AppEnv> {
  if (options.token !== undefined && options.token.length < 16) {
    throw new TypeError(`adminAuth: token must have at least 16 characters, got ${options.token.length}`);
  }
  // Hashes have one length, so timingSafeEqual never sees a length difference to leak.
  const expected = options.token === undefined ? undefined : digest(options.token);
  const open = options.open ?? false;
  return async function adminAuthCheck(c, next) {
    if (expected === undefined) {
      if (open) return next();
      throw new InferenceError(
        'forbidden',
        'admin calls are off on this origin: set ORIGIN_ADMIN_TOKEN and send Authorization: Bearer <token>',
      );
    }
    const header = c.req.header('authorization');
    if (header === undefined || header === '')
      throw unauthorized('admin calls need Authorization: Bearer <token>');
    const m = BEARER.exec(header);
    if (m === null) {
      throw new InferenceError('invalid_header', 'authorization must be `Bearer <token>`');
    }
    if (!timingSafeEqual(digest(m[1] as string), expected)) {
      throw unauthorized('the admin token is not valid', 'invalid_token');
    }
    return next();
  };
}
