/**
 * API-key auth: `Authorization: Bearer <key>`. Keys are stored only as SHA-256 hashes (the API_KEYS secret), each
 * with a name, allowed models and a rate tier. The presented key is hashed and compared in constant time with
 * every stored hash (no early exit), so response time does not depend on which bytes matched.
 *
 * - no Authorization header          -> 401 unauthorized, `WWW-Authenticate: Bearer realm="..."`
 * - not `Bearer <token68>`           -> 400 invalid_header, `WWW-Authenticate: Bearer error="invalid_request"`
 * - unknown key                      -> 401 unauthorized, `WWW-Authenticate: Bearer error="invalid_token"`
 * - model outside the key's scope    -> 403 forbidden (`assertModelAllowed`, called once the model is known)
 */
import type { Context, MiddlewareHandler } from 'hono';
import { InferenceError } from '../../../../shared/errors/index.ts';
import { hexToBytes, toBytes } from '../../../../shared/hash/index.ts';
import type { KeyRecord } from '../../config.ts';
import { memoize } from '../../lib/memo.ts';
import type { AppEnv, Principal } from '../../types.ts';

export interface AuthOptions {
  /** The key table (sha256 hex -> record), read per request (e.g. from the API_KEYS secret via config). */
  keys: (c: Context<AppEnv>) => ReadonlyMap<string, KeyRecord>;
  /** Realm named in WWW-Authenticate. @default 'edge' */
  realm?: string;
}

/** `Bearer <token68>`; the scheme name is case-insensitive (RFC 7235 section 2.1). */
const BEARER = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i;

/** Constant-time equality of two equal-length byte arrays (workerd's timingSafeEqual when present). */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  const subtle = crypto.subtle as SubtleCrypto & {
    timingSafeEqual?: (a: Uint8Array, b: Uint8Array) => boolean;
  };
  if (typeof subtle.timingSafeEqual === 'function') return subtle.timingSafeEqual(a, b);
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}

async function sha256Bytes(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', toBytes(text) as Uint8Array<ArrayBuffer>));
}

const decoded = new WeakMap<ReadonlyMap<string, KeyRecord>, Array<[Uint8Array, KeyRecord]>>();

function table(keys: ReadonlyMap<string, KeyRecord>): Array<[Uint8Array, KeyRecord]> {
  return memoize(decoded, keys, () => [...keys].map(([hex, rec]) => [hexToBytes(hex), rec]));
}

/** Finds the key's record by comparing its hash with every stored hash in constant time. */
export async function findKey(
  keys: ReadonlyMap<string, KeyRecord>,
  token: string,
): Promise<KeyRecord | undefined> {
  const digest = await sha256Bytes(token);
  let found: KeyRecord | undefined;
  for (const [hash, rec] of table(keys)) {
    if (constantTimeEqual(hash, digest) && found === undefined) found = rec;
  }
  return found;
}

export function auth(options: AuthOptions): MiddlewareHandler<AppEnv> {
  if (typeof options?.keys !== 'function') {
    throw new TypeError(`auth: keys must be a function returning the key table, got ${typeof options?.keys}`);
  }
  const realm = options.realm ?? 'edge';
  if (!/^[\w .-]{1,64}$/.test(realm))
    throw new TypeError(`auth: realm must be 1-64 word characters, got ${JSON.stringify(realm)}`);
  return async function authMiddleware(c, next) {
    const header = c.req.header('authorization');
    if (header === undefined || header === '') {
      throw new InferenceError('unauthorized', 'missing API key: send Authorization: Bearer <key>', {
        headers: { 'WWW-Authenticate': `Bearer realm="${realm}"` },
      });
    }
    const m = BEARER.exec(header);
    if (m === null) {
      throw new InferenceError('invalid_header', 'malformed Authorization header: expected Bearer <key>', {
        headers: { 'WWW-Authenticate': `Bearer realm="${realm}", error="invalid_request"` },
      });
    }
    const principal = await findKey(options.keys(c), m[1] as string);
    if (principal === undefined) {
      throw new InferenceError('unauthorized', 'invalid API key', {
        headers: { 'WWW-Authenticate': `Bearer realm="${realm}", error="invalid_token"` },
      });
    }
    c.set('principal', principal);
    c.get('log').principal = principal.name;
    await next();
  };
}

/** 403 unless the principal's key has the infer scope and covers the model. */
export function assertModelAllowed(principal: Principal, model: string): void {
  if (!principal.scopes.includes('infer')) {
    throw new InferenceError('forbidden', 'this API key has no infer scope: it may not call models');
  }
  if (principal.models.includes('*') || principal.models.includes(model)) return;
  throw new InferenceError('forbidden', `this API key may not call model '${model}'`);
}
