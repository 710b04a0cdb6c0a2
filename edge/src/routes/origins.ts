/**
 * GET /v1/admin/origins[?format=prometheus]: what this isolate knows of the origin pools (origin-client/router.ts):
 * per pool its region, breaker state, observed RTT per colo, p95, reported queue depth and capacity, error rate,
 * recovery ramp, and the attempts, errors, hedges, spill-overs, failovers and probes it counted; plus the first and
 * extra attempts (retries + hedges) and what the budgets refused. Learned passively from answers, per isolate (no
 * shared store): a scrape sees the isolate that answered it. Keys with the `admin` scope only (403 otherwise).
 */
import type { Context } from 'hono';
import { InferenceError, InvalidInputError } from '../../../shared/errors/index.ts';
import type { AnswerDeps } from '../cascade/index.ts';
import type { RouterSnapshot } from '../origin-client/index.ts';
import { escapeLabelValue, PROMETHEUS_CONTENT_TYPE } from '../stats/prometheus.ts';
import type { AppEnv } from '../types.ts';

/** The series of `?format=prometheus`, with their help text. */
export const ORIGIN_POOL_METRICS = {
  edge_origin_pool_requests_total:
    'Attempts this isolate sent to the pool (first attempts, retries and hedges).',
  edge_origin_pool_errors_total: 'Requests to the pool that failed (after its own retry).',
  edge_origin_pool_hedges_total: 'Hedges sent to the pool (a first attempt elsewhere outlived its p95).',
  edge_origin_pool_spills_total: 'Requests the pool would have taken but shed to others by spill-over.',
  edge_origin_pool_failovers_total: 'Requests that failed elsewhere and were retried on this pool.',
  edge_origin_pool_probes_total:
    'Background readiness probes of the pool (after its breaker opened, or stale).',
  edge_origin_pool_breaker_open: 'Whether the pool breaker is open (1), half-open (0.5) or closed (0).',
  edge_origin_pool_rtt_ms:
    'Estimated RTT to the pool from a colo (lower quartile of answer time minus origin compute; fades to the seed).',
  edge_origin_pool_p95_ms:
    "The pool's p95 answer time from a colo (the hedge delay), over its last 200 answers.",
  edge_origin_pool_queue_depth: 'Queue depth (rows) the pool last reported, mean over its origins.',
  edge_origin_pool_ramp: "A recovered pool's share cap while it ramps back (1 = full).",
  edge_origin_first_attempts_total: 'Escalated requests routed by this isolate.',
  edge_origin_extra_attempts_total: 'Retries and hedges this isolate made (the retry budget granted).',
} as const;

export function toPrometheusOrigins(s: RouterSnapshot): string {
  const lines: string[] = [];
  const family = (name: keyof typeof ORIGIN_POOL_METRICS, type: 'counter' | 'gauge', rows: string[]) => {
    if (rows.length === 0) return;
    lines.push(`# HELP ${name} ${ORIGIN_POOL_METRICS[name]}`, `# TYPE ${name} ${type}`, ...rows);
  };
  const label = (p: { id: string; region: string }, extra = '') =>
    `{pool="${escapeLabelValue(p.id)}",region="${escapeLabelValue(p.region)}"${extra}}`;
  const per = (
    name: keyof typeof ORIGIN_POOL_METRICS,
    type: 'counter' | 'gauge',
    value: (p: RouterSnapshot['pools'][number]) => number | null,
  ) =>
    family(
      name,
      type,
      s.pools.flatMap((p) => {
        const v = value(p);
        return v === null ? [] : [`${name}${label(p)} ${v}`];
      }),
    );
  per('edge_origin_pool_requests_total', 'counter', (p) => p.requests);
  per('edge_origin_pool_errors_total', 'counter', (p) => p.errors);
  per('edge_origin_pool_hedges_total', 'counter', (p) => p.hedges);
  per('edge_origin_pool_spills_total', 'counter', (p) => p.spills);
  per('edge_origin_pool_failovers_total', 'counter', (p) => p.failovers);
  per('edge_origin_pool_probes_total', 'counter', (p) => p.probes);
  per('edge_origin_pool_breaker_open', 'gauge', (p) =>
    p.breaker === 'open' ? 1 : p.breaker === 'half-open' ? 0.5 : 0,
  );
  family(
    'edge_origin_pool_rtt_ms',
    'gauge',
    s.pools.flatMap((p) =>
      Object.entries(p.rtt_ms).map(
        ([colo, ms]) => `edge_origin_pool_rtt_ms${label(p, `,colo="${escapeLabelValue(colo)}"`)} ${ms}`,
      ),
    ),
  );
  family(
    'edge_origin_pool_p95_ms',
    'gauge',
    s.pools.flatMap((p) =>
      Object.entries(p.p95_ms).map(
        ([colo, ms]) => `edge_origin_pool_p95_ms${label(p, `,colo="${escapeLabelValue(colo)}"`)} ${ms}`,
      ),
    ),
  );
  per('edge_origin_pool_queue_depth', 'gauge', (p) => p.queue_depth);
  per('edge_origin_pool_ramp', 'gauge', (p) => p.ramp);
  family('edge_origin_first_attempts_total', 'counter', [
    `edge_origin_first_attempts_total ${s.first_attempts}`,
  ]);
  family('edge_origin_extra_attempts_total', 'counter', [
    `edge_origin_extra_attempts_total ${s.extra_attempts}`,
  ]);
  return `${lines.join('\n')}\n`;
}

export function originsHandler(deps: Pick<AnswerDeps, 'pool'>) {
  return function origins(c: Context<AppEnv>): Response {
    if (!c.get('principal').scopes.includes('admin')) {
      throw new InferenceError('forbidden', 'this API key has no admin scope');
    }
    const format = c.req.query('format') ?? 'json';
    if (format !== 'json' && format !== 'prometheus') {
      throw new InvalidInputError(
        `format must be json or prometheus, got ${JSON.stringify(format.slice(0, 20))}`,
      );
    }
    const snapshot = deps.pool(c).snapshot();
    if (format === 'prometheus') {
      return c.body(toPrometheusOrigins(snapshot), 200, { 'content-type': PROMETHEUS_CONTENT_TYPE });
    }
    return c.json(snapshot);
  };
}
