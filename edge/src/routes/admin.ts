/**
 * GET /v1/admin/models/{model}/stats[?minutes=60][&points=N]: the edge's traffic and drift counters per model version
 * over the last minutes (1 to 10,080, a week), read from the shared Upstash store (stats/report.ts), with the release's
 * planned edge share (`expected_edge_share`) beside the observed one (`model_edge_share`: of the items a model
 * answered, cache hits excluded, the share the edge answered itself). `?format=prometheus` returns the same in the
 * Prometheus text format (stats/prometheus.ts) for a scrape job. `points` (1 to 360; JSON only) adds to each version
 * a `series` over the same window in at most that many buckets of ceil(minutes / points) minutes, oldest first
 * (charts over time). Keys with the `admin` scope only (403 otherwise);
 * 503 `unavailable` when the edge has no Upstash store configured.
 */
import type { Context } from 'hono';
import { InferenceError, InvalidInputError } from '../../../shared/errors/index.ts';
import type { AnswerDeps } from '../cascade/index.ts';
import { modelEdgeShare, PROMETHEUS_CONTENT_TYPE, toPrometheus } from '../stats/prometheus.ts';
import { readStats, type StatsReader } from '../stats/report.ts';
import type { AppEnv } from '../types.ts';
import { redisFor } from '../upstash.ts';

const MAX_MINUTES = 7 * 24 * 60;
const MAX_POINTS = 360;

export function statsHandler(deps: Pick<AnswerDeps, 'releases' | 'now' | 'registryVersions'>) {
  return async function stats(c: Context<AppEnv>): Promise<Response> {
    if (!c.get('principal').scopes.includes('admin')) {
      throw new InferenceError('forbidden', 'this API key has no admin scope');
    }
    const model = c.req.param('model') as string;
    const raw = c.req.query('minutes') ?? '60';
    const minutes = Number(raw);
    if (!/^\d{1,5}$/.test(raw) || minutes < 1 || minutes > MAX_MINUTES) {
      throw new InvalidInputError(
        `minutes must be an integer from 1 to ${MAX_MINUTES}, got ${JSON.stringify(raw.slice(0, 20))}`,
      );
    }
    const rawPoints = c.req.query('points');
    let points: number | undefined;
    if (rawPoints !== undefined) {
      points = Number(rawPoints);
      if (!/^\d{1,3}$/.test(rawPoints) || points < 1 || points > MAX_POINTS) {
        throw new InvalidInputError(
          `points must be an integer from 1 to ${MAX_POINTS}, got ${JSON.stringify(rawPoints.slice(0, 20))}`,
        );
      }
    }
    const format = c.req.query('format') ?? 'json';
    if (format !== 'json' && format !== 'prometheus') {
      throw new InvalidInputError(
        `format must be json or prometheus, got ${JSON.stringify(format.slice(0, 20))}`,
      );
    }
    const upstash = c.get('config').upstash;
    if (upstash === undefined) {
      throw new InferenceError(
        'unavailable',
        'edge stats live in the shared Upstash store, which is not configured',
      );
    }
    const manifestOf = (version: string) =>
      deps.releases().find((r) => r.manifest.name === model && r.manifest.version === version)?.manifest;
    const baseline = (version: string) => manifestOf(version)?.baseline?.edge;
    const versions = await readStats(
      redisFor(upstash) as unknown as StatsReader,
      model,
      minutes,
      deps.now(),
      baseline,
      format === 'json' ? points : undefined,
    ).catch((err: unknown) => {
      throw new InferenceError('unavailable', 'the stats store (Upstash) did not answer; retry shortly', {
        headers: { 'Retry-After': '5' },
        cause: err,
      });
    });
    // The plan beside what happened: the share of items the release expected the edge to answer (validation),
    // and the share it did answer of the items a model answered (the plan counts no cache hits).
    const withPlan = versions.map((v) => {
      const share = modelEdgeShare(v.served_by);
      return {
        ...v,
        model_edge_share: share === null ? null : Number(share.toFixed(6)),
        expected_edge_share: manifestOf(v.version)?.expected_edge_share ?? null,
      };
    });
    if (format === 'prometheus') {
      return c.body(toPrometheus(model, minutes, withPlan), 200, { 'content-type': PROMETHEUS_CONTENT_TYPE });
    }
    // Where this isolate's versions come from: the bundle, or the model registry (R2) at run time.
    const embedded = deps
      .releases()
      .filter((r) => r.manifest.name === model)
      .map((r) => r.manifest.version);
    const registry = deps.registryVersions?.(model);
    return c.json({
      model,
      minutes,
      versions: withPlan.map(({ series, ...v }) => ({
        ...v,
        source: embedded.includes(v.version)
          ? 'embedded'
          : registry?.published.includes(v.version) === true
            ? 'registry'
            : null,
        ...(series === undefined ? {} : { series }),
      })),
      sources: {
        embedded,
        registry_loaded: registry?.loaded ?? [],
        registry_published: registry?.published ?? [],
      },
    });
  };
}
