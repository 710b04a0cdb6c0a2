/** GET /metrics: the Prometheus text exposition of the origin's registry (metrics.ts). */
import type { Context } from 'hono';
import type { AppEnv } from '../env.ts';
import type { OriginMetrics } from '../metrics.ts';

export function metricsHandler(metrics: Pick<OriginMetrics, 'registry'>) {
  return async function scrape(c: Context<AppEnv>): Promise<Response> {
    const text = await metrics.registry.metrics();
    return c.body(text, 200, { 'content-type': metrics.registry.contentType });
  };
}
