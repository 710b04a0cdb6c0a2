/**
 * What the edge's route documents share: the API-key security, the errors every authenticated route can answer
 * (auth, the limits, the config check), and the headers of limited routes.
 */
import { type ErrorsByStatus, errorsOf, LIMITED_HEADERS, mergeErrors } from '../../../shared/openapi/spec.ts';

/** Errors of any route: the edge's configuration check (503 unavailable + Retry-After). */
export const ANY_ROUTE_ERRORS: ErrorsByStatus = errorsOf('unavailable');

/**
 * Errors of every `/v1/*` and `/v2/models/*` route before its handler runs: auth (401, 400 for a malformed
 * Authorization; 403 for a console-session call that fails the same-origin/CSRF check), the rate limits and quotas
 * (429), the limiter failing closed or the config (503), and a malformed cache-control (400).
 */
export const AUTH_ERRORS: ErrorsByStatus = mergeErrors(
  ANY_ROUTE_ERRORS,
  errorsOf(
    'invalid_header',
    'unauthorized',
    'key_expired',
    'key_disabled',
    'key_revoked',
    'forbidden',
    'rate_limited',
    'quota_exceeded',
  ),
);

/** Errors of an authenticated route plus its own. */
export function authErrors(...own: ErrorsByStatus[]): ErrorsByStatus {
  return mergeErrors(AUTH_ERRORS, ...own);
}

export { LIMITED_HEADERS };
