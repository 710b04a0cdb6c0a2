/** The Hono environment of the edge app: bindings from wrangler.toml, per-request variables set by middleware. */
import type { EdgeConfig, KeyRecord } from './config.ts';
import type { CacheControl } from './middleware/cache/index.ts';
import type { RequestLog } from './middleware/request-id/index.ts';
import type { Trace } from './middleware/request-id/trace.ts';

/** Who called: the API key's record (never the key itself). */
export type Principal = KeyRecord;

export interface AppVariables {
  requestId: string;
  trace: Trace;
  /** Request start, ms (Date.now()). */
  startedAt: number;
  /** Fields of the one structured log line written when the response is ready. */
  log: RequestLog;
  config: EdgeConfig;
  principal: Principal;
  cacheControl: CacheControl;
}

export interface AppEnv {
  Bindings: Env;
  Variables: AppVariables;
}
