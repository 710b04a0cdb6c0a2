/**
 * The headers that tie an origin request to the edge request: `x-request-id`, and the W3C trace with the edge's
 * span as the parent (`traceparent`, plus `tracestate` when the caller's trace was continued).
 */

import type { Context } from 'hono';
import { formatTraceparent } from '../../../shared/http/index.ts';
import { rateTierOf } from '../config.ts';
import { jobCaller } from '../lib/job-caller.ts';
import type { AppEnv, Trace } from '../types.ts';
import type { RouteHints } from './router.ts';

/**
 * `extra` (content type, accept, ...) plus the request id and trace headers, which take precedence; a tracestate
 * is sent only with a continued trace (W3C), never from `extra`.
 */
export function originHeaders(
  requestId: string,
  trace: Trace,
  extra: Record<string, string> = {},
): Record<string, string> {
  const headers: Record<string, string> = {
    ...extra,
    'x-request-id': requestId,
    traceparent: formatTraceparent(trace),
  };
  delete headers.tracestate;
  if (trace.tracestate !== undefined) headers.tracestate = trace.tracestate;
  return headers;
}

/**
 * The origin priority of the caller's tier (RATE_LIMIT_TIERS `priority`), or undefined for the origin's default
 * (its lowest level), which jobs always get.
 */
export function tierPriority(c: Context<AppEnv>): number | undefined {
  // A job's escalations go at the origin's default priority, its lowest level (jobs/caller.ts).
  if (jobCaller(c.env) !== undefined) return undefined;
  return rateTierOf(c.get('config').rateTiers, c.get('principal').tier)?.priority;
}

/**
 * Where the request entered Cloudflare (request.cf: colo, country, continent), the regions the caller's tenant
 * allows, whether it is a job's (batch pools first), and the Worker's waitUntil for background probes.
 */
export function routeHints(c: Context<AppEnv>): RouteHints {
  const cf = (c.req.raw as { cf?: { colo?: unknown; country?: unknown; continent?: unknown } }).cf;
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  let waitUntil: RouteHints['waitUntil'];
  try {
    const ctx = c.executionCtx;
    waitUntil = (p) => ctx.waitUntil(p);
  } catch {
    // No execution context (a plain app.request in a test): the probe runs detached.
  }
  const hints: RouteHints = { regions: c.get('principal')?.regions, batch: jobCaller(c.env) !== undefined };
  // Local stacks and benchmarks: the colo from a header (DEV_COLO_HEADER), wrangler dev's cf being a mock.
  const dev = c.get('config').devColoHeader;
  const colo = (dev === '' ? undefined : str(c.req.header(dev))?.toUpperCase().slice(0, 8)) ?? str(cf?.colo);
  const country = str(cf?.country);
  const continent = str(cf?.continent);
  if (colo !== undefined) hints.colo = colo;
  if (country !== undefined) hints.country = country;
  if (continent !== undefined) hints.continent = continent;
  if (waitUntil !== undefined) hints.waitUntil = waitUntil;
  return hints;
}
