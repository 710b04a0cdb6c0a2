import type { OriginConfig } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { OriginMetrics } from '../metrics.ts';
import type { ModelRegistry } from '../registry.ts';

/** What the route modules need from the server. */
export interface RouteDeps {
  config: OriginConfig;
  logger: Logger;
  metrics: OriginMetrics;
  /** The loaded registry; throws 503 not_ready while models are still loading. */
  registry(): ModelRegistry;
  /** Loaded, warmed up and not draining. */
  ready(): boolean;
  /** Model versions that lost every worker for good (empty while loading): liveness fails when any is listed. */
  unserviceable(): string[];
}
