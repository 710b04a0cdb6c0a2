/**
 * The edge's timestamped HMAC signature on every POST (shared/signing), in two steps around the body read:
 * `signatureHeaders` refuses missing, malformed and stale signature headers before a byte of the body is read, and
 * `edgeSignature` verifies the signature over the body and records the nonce (wrong or replayed: refused). Each
 * refusal is 401 `unauthorized`. Probes, server metadata and /metrics stay open (see needsSignature). With
 * allowUnsigned neither is installed (local use; the server logs a loud warning at start).
 */
import type { MiddlewareHandler } from 'hono';
import { InferenceError } from '../../../../shared/errors/index.ts';
import {
  checkSignatureHeaders,
  MemoryNonceStore,
  type NonceStore,
  verifyRequest,
} from '../../../../shared/signing/index.ts';
import type { AppEnv } from '../../env.ts';

export interface EdgeSignatureOptions {
  /** Shared secret(s); required unless allowUnsigned. */
  secret: string | readonly string[] | undefined;
  /** Skip verification. @default false */
  allowUnsigned?: boolean;
  /** Replay window, ms. @default 300000 */
  windowMs?: number;
  /** @default a MemoryNonceStore */
  nonceStore?: NonceStore;
  /** Unix ms clock. @default Date.now */
  now?: () => number;
}

function refused(message: string): InferenceError {
  return new InferenceError('unauthorized', `request signature refused: ${message}`, {
    headers: {
      'WWW-Authenticate': 'HMAC-SHA256 headers="x-signature-timestamp x-signature-nonce x-signature"',
    },
  });
}

/**
 * Every POST, and model metadata and readiness (GET /v2/models/...): only the edge's signed calls get answers.
 * Probes (/v2/health/*), server metadata (/v2) and /metrics stay open inside the cluster (the ingress routes none of
 * them). The operator's repository calls (/v2/repository/...) are checked by admin-auth instead.
 */
const needsSignature = (method: string, path: string) =>
  ((method !== 'GET' && method !== 'HEAD') || path.startsWith('/v2/models/')) &&
  !path.startsWith(ADMIN_PREFIX);

/** The operator's calls (routes/repository.ts), which carry a bearer token instead of the edge's signature. */
export const ADMIN_PREFIX = '/v2/repository/';

/** Refuses a POST whose signature headers are missing, malformed or stale; runs before the body is read. */
export function signatureHeaders(
  options: Pick<EdgeSignatureOptions, 'windowMs' | 'now'> = {},
): MiddlewareHandler<AppEnv> {
  const windowMs = options.windowMs ?? 300_000;
  const now = options.now ?? Date.now;
  return async function signatureHeadersCheck(c, next) {
    if (needsSignature(c.req.method, c.req.path)) {
      const checked = checkSignatureHeaders(c.req.raw.headers, now(), windowMs);
      if (!checked.ok) throw refused(checked.message);
    }
    return next();
  };
}

export function edgeSignature(options: EdgeSignatureOptions): MiddlewareHandler<AppEnv> {
  const allowUnsigned = options.allowUnsigned ?? false;
  const secret = options.secret;
  if (!allowUnsigned && (secret === undefined || secret.length === 0)) {
    throw new TypeError('edgeSignature: secret is required unless allowUnsigned is set');
  }
  const windowMs = options.windowMs ?? 300_000;
  const nonceStore = options.nonceStore ?? new MemoryNonceStore();
  const now = options.now ?? Date.now;
  return async function edgeSignatureCheck(c, next) {
    if (allowUnsigned || !needsSignature(c.req.method, c.req.path)) return next();
    const url = c.req.url;
    const path = url.slice(url.indexOf('/', url.indexOf('//') + 2));
    const result = await verifyRequest({
      secret: secret as string | readonly string[],
      method: c.req.method,
      path,
      body: c.get('body') ?? null,
      headers: c.req.raw.headers,
      now: now(),
      windowMs,
      nonceStore,
    });
    if (!result.ok) throw refused(result.message);
    return next();
  };
}
