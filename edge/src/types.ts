/**
 * The Hono environment of the edge app (bindings from wrangler.toml, per-request variables set by middleware) and
 * the plain data those variables hold. Imports no middleware: middleware imports this.
 */
import type { Trace } from '../../shared/http/index.ts';
import type { EdgeConfig, KeyRecord } from './config.ts';
import type { Quotas } from './tenants/store.ts';

/** Who called: the API key's record and its tenant's (never the key itself). */
export interface Principal extends KeyRecord {
  tenant: string;
  /** Origin regions the tenant's data may go to; ['*'] = any. */
  regions: string[];
  quotas: Quotas;
  /** The API_KEYS bootstrap secret, or the key store (D1 through KV and the isolate cache). */
  source: 'bootstrap' | 'store';
  /** A store key's and its tenant's versions when read: older than their revocation epochs means stale. */
  versions?: { key: number; tenant: number };
}

/** A request's W3C trace context (shared/http parses and formats it). */
export type { Trace } from '../../shared/http/index.ts';

/** The client's cache directives (middleware/cache-control). */
export interface CacheControl {
  /** Skip cache reads (`Cache-Control: no-cache`, `max-age=0`, or `Pragma: no-cache`). */
  noCache: boolean;
  /** Skip cache writes (`Cache-Control: no-store`). */
  noStore: boolean;
}

/** Fields of the one structured log line per request (middleware/request-id writes it). */
export interface RequestLog {
  principal?: string;
  model?: string;
  version?: string;
  /** The most expensive path any item took ('proxy': passed to the origin as is). */
  served_by?: 'cache' | 'edge' | 'origin' | 'edge-degraded' | 'proxy';
  /** Items per path. */
  served_by_counts?: Record<string, number>;
  cache?: 'HIT' | 'MISS' | 'BYPASS';
  /** Lowest top-class probability over the request's items, from the edge model. */
  confidence?: number;
  escalation_reason?: string;
  /** Items sent to the origin. */
  escalated?: number;
  /** The model run time the origin reported for this request's escalated items, ms (usage: origin compute). */
  origin_compute_ms?: number;
  /** Rows of a job this request submitted. */
  job_rows?: number;
  /** The origin's status when it refused escalated items the edge then answered (degraded). */
  origin_status?: number;
  degraded_reason?: string;
  origin?: string;
  origin_attempts?: number;
  /** Origin pool(s) that answered (comma-separated ids), and whether a hedge went to a second pool. */
  origin_pool?: string;
  origin_hedged?: boolean;
  rate_limit?: string;
  error_code?: string;
  items?: number;
  /** Which arm of the model's rollout answered (unpinned requests under a stored policy), and its revision. */
  rollout_arm?: 'stable' | 'candidate';
  /** A version the bundle does not embed, looked up in the model registry: hit, loading, absent or refused. */
  registry?: 'hit' | 'loading' | 'absent' | 'refused';
  rollout_revision?: number;
  /** An admin's rollout change: who, what, from which revision to which. */
  rollout_change?: Record<string, unknown>;
  /** A release published to the model registry through the admin API (`model/version`). */
  registry_publish?: string;
}

export interface AppVariables {
  requestId: string;
  trace: Trace;
  /** Request start, ms (Date.now()). */
  startedAt: number;
  /** Fields of the one structured log line written when the response is ready. */
  log: RequestLog;
  config: EdgeConfig;
  principal: Principal;
  /** The presented secret's SHA-256 (hex): how a store key is looked up again (never the secret; never logged). */
  keyHash: string;
  cacheControl: CacheControl;
  /** The request body once read (routes/request.ts readBody). */
  body: Uint8Array | undefined;
  /** The body once parsed as JSON (routes/request.ts readJson); boxed, since JSON may be null. */
  json: { value: unknown } | undefined;
}

export interface AppEnv {
  Bindings: Env;
  Variables: AppVariables;
}
