/**
 * API-key auth: `Authorization: Bearer <key>`. Keys are stored only as SHA-256 hashes; the lookup is by hash, never
 * a scan, so its cost does not depend on how many keys exist:
 *
 *   sha256(key) -> the bootstrap table (API_KEYS secret: root/admin keys, a Map lookup)
 *               -> the key format and checksum (tenants/key-format.ts: junk is refused here, with no I/O)
 *               -> `resolve` (tenants/: isolate cache -> KV projection -> D1)
 *
 * (A hash-keyed Map needs no constant-time compare: timing can only say which hash prefixes exist, and choosing a
 * key whose hash has a given prefix is a preimage search.)
 *
 * - no Authorization header          -> 401 unauthorized, `WWW-Authenticate: Bearer realm="..."`
 * - not `Bearer <token68>`           -> 400 invalid_header, `WWW-Authenticate: Bearer error="invalid_request"`
 * - unknown or malformed key         -> 401 unauthorized, `WWW-Authenticate: Bearer error="invalid_token"`
 * - revoked / disabled / expired key -> 401 key_revoked / key_disabled / key_expired (tenants/principal.ts)
 * - model outside the key's scope    -> 403 forbidden (`assertModelAllowed`, called once the model is known)
 */
import type { Context, MiddlewareHandler } from 'hono';
import { InferenceError } from '../../../../shared/errors/index.ts';
import { sha256Hex } from '../../../../shared/hash/index.ts';
import type { KeyRecord } from '../../config.ts';
import { parseKey } from '../../tenants/key-format.ts';
import { bootstrapPrincipal } from '../../tenants/principal.ts';
import type { AppEnv, Principal } from '../../types.ts';

export interface AuthOptions {
  /** The bootstrap key table (sha256 hex -> record), read per request (the API_KEYS secret via config). */
  keys: (c: Context<AppEnv>) => ReadonlyMap<string, KeyRecord>;
  /**
   * A well-formed key's principal by its hash, or undefined when no key has it; throws the refusal of a key that
   * exists but may not be used (revoked, disabled, expired). @default none: only bootstrap keys
   */
  resolve?: (c: Context<AppEnv>, hash: string) => Promise<Principal | undefined>;
  /** Realm named in WWW-Authenticate. @default 'edge' */
  realm?: string;
}

/** `Bearer <token68>`; the scheme name is case-insensitive (RFC 7235 section 2.1). */
const BEARER = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i;

export function auth(options: AuthOptions): MiddlewareHandler<AppEnv> {
  if (typeof options?.keys !== 'function') {
    throw new TypeError(`auth: keys must be a function returning the key table, got ${typeof options?.keys}`);
  }
  if (options.resolve !== undefined && typeof options.resolve !== 'function') {
    throw new TypeError(`auth: resolve must be a function, got ${typeof options.resolve}`);
  }
  const realm = options.realm ?? 'edge';
  if (!/^[\w .-]{1,64}$/.test(realm))
    throw new TypeError(`auth: realm must be 1-64 word characters, got ${JSON.stringify(realm)}`);
  const invalid = () =>
    new InferenceError('unauthorized', 'invalid API key', {
      headers: { 'WWW-Authenticate': `Bearer realm="${realm}", error="invalid_token"` },
    });
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
    const token = m[1] as string;
    const hash = await sha256Hex(token);
    const principal = await principalOfKey(options, c, token, hash);
    if (principal === undefined) throw invalid();
    c.set('principal', principal);
    c.set('keyHash', hash);
    c.get('log').principal = principal.name;
    await next();
  };
}

/**
 * The principal of an API key (`token`, its sha256 `hash`), or undefined when no key has it: the bootstrap table,
 * then (well-formed keys only) `resolve`. Throws the refusal of a key that exists but may not be used. The console's
 * sign-in and its sessions use it too (they hold the hash, never the key: `token` undefined skips the format check).
 */
export async function principalOfKey(
  options: Pick<AuthOptions, 'keys' | 'resolve'>,
  c: Context<AppEnv>,
  token: string | undefined,
  hash: string,
): Promise<Principal | undefined> {
  const bootstrap = options.keys(c).get(hash);
  if (bootstrap !== undefined) return bootstrapPrincipal(bootstrap);
  if (options.resolve === undefined || (token !== undefined && parseKey(token) === undefined))
    return undefined;
  return options.resolve(c, hash);
}

/** 403 unless the principal's key has the infer scope and covers the model. */
export function assertModelAllowed(principal: Principal, model: string): void {
  if (!principal.scopes.includes('infer')) {
    throw new InferenceError('forbidden', 'this API key has no infer scope: it may not call models');
  }
  if (principal.models.includes('*') || principal.models.includes(model)) return;
  throw new InferenceError('forbidden', `this API key may not call model '${model}'`);
}
