/**
 * The usage meter: after each authenticated request, what it used (from the request's log fields: items by
 * served_by, job rows, origin compute, the refusal code) is counted per tenant, key, model and hour by the
 * isolate's UsageRecorder (off the request path), and written as one Analytics Engine data point indexed by tenant
 * when the `USAGE` binding is there.
 *
 * Data point: `indexes [tenant]`, `blobs [tenant, key id, model ('-' when none), served_by ('' when none), refused
 * code ('' when served)]`, `doubles [requests, items, job rows, origin compute ms, edge items, origin items, cache
 * items, edge-degraded items]`.
 */
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../types.ts';
import type { UsageRecorder, UsageStore } from './recorder.ts';

export interface MeterOptions {
  recorder: UsageRecorder;
  /** The Upstash store, undefined without one (usage then goes to Analytics Engine only). */
  store: (c: Parameters<MiddlewareHandler<AppEnv>>[0]) => UsageStore | undefined;
  /** Whether this request is a job chunk's internal request (its rows were counted at submission). */
  internal: (c: Parameters<MiddlewareHandler<AppEnv>>[0]) => boolean;
}

const PATHS = ['edge', 'origin', 'cache', 'edge-degraded'] as const;
const MODEL_PATH = /^\/v[12]\/models\/([A-Za-z0-9][A-Za-z0-9._-]{0,63})(?:\/|$)/;

/** The model a request was for: the route's, else its path's (a request refused before its route), else '-'. */
function modelOf(logged: string | undefined, path: string): string {
  return logged ?? MODEL_PATH.exec(path)?.[1] ?? '-';
}

export function meterUsage(options: MeterOptions): MiddlewareHandler<AppEnv> {
  return async function meter(c, next) {
    await next();
    const principal = c.get('principal');
    if (principal === undefined) return;
    const log = c.get('log');
    const internal = options.internal(c);
    const served = c.res.status < 400;
    let servedBy: Record<string, number> | undefined;
    if (served) {
      if (log.served_by_counts !== undefined) servedBy = log.served_by_counts;
      else if (log.served_by === 'proxy' && log.items !== undefined) servedBy = { origin: log.items };
    }
    const answered =
      servedBy === undefined ? 0 : Object.values(servedBy).reduce((sum, n) => sum + (n ?? 0), 0);
    const event = {
      tenant: principal.tenant,
      key: principal.id,
      model: modelOf(log.model, c.req.path),
      requests: internal ? 0 : 1,
      items: internal ? 0 : answered,
      rows: served && !internal ? (log.job_rows ?? 0) : 0,
      servedBy,
      refused: served ? undefined : (log.error_code ?? `http_${c.res.status}`),
      originComputeMs: log.origin_compute_ms ?? 0,
    };
    // A job chunk's internal request writes at once: its queue invocation must not wait for a flush timer.
    options.recorder.record(event, options.store(c), (p) => c.executionCtx.waitUntil(p), internal);
    const points = c.env.USAGE;
    if (points === undefined) return;
    try {
      points.writeDataPoint({
        indexes: [event.tenant],
        blobs: [event.tenant, event.key, event.model, log.served_by ?? '', event.refused ?? ''],
        doubles: [
          event.requests,
          event.items,
          event.rows,
          event.originComputeMs,
          ...PATHS.map((p) => servedBy?.[p] ?? 0),
        ],
      });
    } catch (err) {
      console.warn(
        JSON.stringify({ level: 'warn', msg: 'usage data point not written', error: String(err) }),
      );
    }
  };
}
