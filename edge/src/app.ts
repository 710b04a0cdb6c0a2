/**
 * The edge app: Hono on workerd.
 *
 *   request id + trace (+ one log line) -> config -> [auth -> rate limit] -> cache-control -> route
 *
 * Health and server metadata need no key; `/v1/*` and `/v2/models/*` do. Exactly one `onError` turns every
 * error into the shared JSON body `{error: {code, message, request_id}}`; unknown routes are 404 `not_found`.
 */
import { type Context, Hono, type MiddlewareHandler } from 'hono';
import { errorBody, InferenceError } from '../../shared/errors/index.ts';
import { PATHS } from '../../shared/protocol/paths.ts';
import { type L1Cache, MemoryCache, ResultCache } from './cache/index.ts';
import { type Answer, type AnswerDeps, type CachedAnswer, validCachedAnswer } from './cascade/index.ts';
import { type EdgeConfig, loadConfig } from './config.ts';
import {
  consoleHeaders,
  consolePageHandler,
  consoleViewHandler,
  signOutFormHandler,
  VIEW_PATH,
} from './console/routes.tsx';
import {
  hasSessionCookie,
  sessionHandler,
  sessionPrincipal,
  signInHandler,
  signOutHandler,
} from './console/session.ts';
import { JOB_DEADLINE_MS, jobCaller, jobConfig } from './jobs/caller.ts';
import {
  type JobRouteDeps,
  jobCancelHandler,
  jobListHandler,
  jobResultsHandler,
  jobStatusHandler,
  jobSubmitHandler,
  type QuotaStore,
  webhookSecretHandler,
} from './jobs/routes.ts';
import { auth } from './middleware/auth/index.ts';
import { cacheControl } from './middleware/cache-control/index.ts';
import { rateLimit, type TripReads } from './middleware/rate-limit/index.ts';
import { type RequestIdOptions, requestId } from './middleware/request-id/index.ts';
import { EdgeModel, type EdgeRelease } from './model/edge-model.ts';
import { RegistryReader, type RegistryReaderOptions } from './model/registry.ts';
import { edgeReleases } from './model/release.ts';
import { docsHandler, OPENAPI_PATH, openapiHandler } from './openapi/routes.ts';
import { type OriginRouterOptions, poolFor } from './origin-client/index.ts';
import {
  reviewDecideHandler,
  reviewExportHandler,
  reviewItemHandler,
  reviewLabelHandler,
  reviewListHandler,
  reviewNextHandler,
  reviewQueue,
  reviewUndoHandler,
} from './review/routes.ts';
import { createGuard, type GuardOptions, type HealthBackend } from './rollout/guard.ts';
import { type RolloutBackend, RolloutStore, type RolloutStoreOptions } from './rollout/store.ts';
import { statsHandler } from './routes/admin.ts';
import { classifyHandler } from './routes/classify.ts';
import {
  inferHandler,
  liveHandler,
  modelMetadataHandler,
  modelReadyHandler,
  readyHandler,
  serverMetadataHandler,
} from './routes/oip.ts';
import { originsHandler } from './routes/origins.ts';
import { registryListHandler, registryPublishHandler, registryPutHandler } from './routes/registry.ts';
import { quotaItems, requestWeight } from './routes/request.ts';
import {
  rolloutGetHandler,
  rolloutPromoteHandler,
  rolloutPutHandler,
  rolloutRollbackHandler,
} from './routes/rollout.ts';
import { StatsRecorder, type StatsRecorderOptions, type StatsStore } from './stats/recorder.ts';
import { epochKeys, isStale } from './tenants/epochs.ts';
import { principalOf } from './tenants/principal.ts';
import { KeyResolver, type ResolverOptions } from './tenants/resolver.ts';
import { tenantRoutes } from './tenants/routes.ts';
import { TenantStore } from './tenants/store.ts';
import type { AppEnv } from './types.ts';
import { redisFor, sameTrip, tierLimiter, usageStore } from './upstash.ts';
import { meterUsage } from './usage/meter.ts';
import { quotaCounters } from './usage/quota.ts';
import { UsageRecorder, type UsageRecorderOptions } from './usage/recorder.ts';
import { type UsageReader, usageHandler } from './usage/routes.ts';

export interface AppOptions {
  /** The releases whose students the edge serves. @default the bundle's (model/release.ts) */
  releases?: () => EdgeRelease[];
  /** The L1 cache. @default caches.default */
  l1?: () => L1Cache | undefined;
  /** Entries of the per-isolate L0 result cache (in front of L1); 0 turns it off. @default 1000 */
  memoryCacheEntries?: number;
  /** Extra origin pool options (tests: clock, random). @default none */
  pool?: Partial<OriginRouterOptions>;
  /** Where the per-request log line goes. @default console.log */
  log?: RequestIdOptions['write'];
  /** Clock, ms since the epoch. @default Date.now */
  now?: () => number;
  /** The traffic and drift counters' flush policy (stats/recorder.ts). @default flush at most once a second */
  stats?: StatsRecorderOptions;
  /** The rollout policy cache (rollout/store.ts). @default policies at most 5 s old */
  rollout?: RolloutStoreOptions;
  /** How often a candidate's health counts are written and judged (rollout/guard.ts). @default at most once a second */
  guard?: GuardOptions;
  /** The key resolver's isolate cache (tenants/resolver.ts). @default records trusted 10 s, 10,000 of them */
  keys?: ResolverOptions;
  /** The usage meter's flush and retry policy (usage/recorder.ts). @default flush at most once a second */
  usage?: UsageRecorderOptions;
  /** Where job chunks are sent (tests capture them). @default the JOBS_QUEUE binding */
  jobsQueue?: (c: Context<AppEnv>) => Queue;
  /**
   * Versions pulled from the model registry (model/registry.ts). @default 2 loaded versions per isolate, indexes
   * trusted 30 s, sessions created by EdgeModel.load
   */
  registry?: Partial<RegistryReaderOptions>;
}

/** The job submission routes (edge only: the origin has no jobs). */
const JOB_PATHS = ['/v1/models/:model/jobs', '/v1/models/:model/versions/:version/jobs'];

export function createApp(options: AppOptions = {}): Hono<AppEnv> {
  const releases = options.releases ?? edgeReleases;
  const now = options.now ?? Date.now;
  const l1 = options.l1 ?? (() => (typeof caches === 'undefined' ? undefined : caches.default));
  // One per app, and the Worker builds one app per isolate: hot answers skip the cache round trip.
  const l0 = new MemoryCache<unknown>({ maxEntries: options.memoryCacheEntries ?? 1000 });
  // One per app (one app per isolate): counts are summed here and flushed to Upstash in one pipeline.
  const recorder = new StatsRecorder({ now, ...options.stats });
  // One per app (one app per isolate): usage summed here, written in batches that are retried until they land.
  const usage = new UsageRecorder({ now, ...options.usage });
  // One per app (one app per isolate): rollout policies cached for their TTL, the last known one kept.
  const rollout = new RolloutStore({ now, ...options.rollout });
  const rolloutBackend = (c: Context<AppEnv>): RolloutBackend | undefined => {
    const upstash = c.get('config').upstash;
    return upstash === undefined ? undefined : (redisFor(upstash) as unknown as RolloutBackend);
  };
  // One per app (one app per isolate): registry versions loaded here, a bounded number at a time.
  const registry = new RegistryReader({ load: (r) => EdgeModel.load(r), now, ...options.registry });
  const deps: AnswerDeps = {
    releases,
    registry: (c, model, version) =>
      registry.lookup(c.env.MODELS, model, version, (p) => c.executionCtx.waitUntil(p)),
    registryVersions: (model) => ({
      published: registry.knownVersions(model),
      loaded: registry
        .loaded()
        .filter((v) => v.model === model)
        .map((v) => v.version),
    }),
    now,
    rollout: (c, model) => rollout.current(rolloutBackend(c), model),
    review: (c, items) => {
      c.executionCtx.waitUntil(
        reviewQueue(c.env)
          .add(items, {
            maxPending: c.get('config').reviewMaxPending,
            pendingTtlMs: c.get('config').reviewPendingTtlDays * 86_400_000,
            doubleShare: c.get('config').reviewDoubleShare,
          })
          .then(() => undefined)
          .catch((err: unknown) => {
            console.error(
              JSON.stringify({ level: 'warn', msg: 'review items not queued', error: String(err) }),
            );
          }),
      );
    },
    guard: createGuard(rollout, (c) => rolloutBackend(c) as HealthBackend | undefined, {
      now,
      ...options.guard,
    }),
    countFields: (c, model, version, fields) => {
      const upstash = c.get('config').upstash;
      const store = upstash === undefined ? undefined : (redisFor(upstash) as unknown as StatsStore);
      recorder.count(model, version, fields, store, (p) => c.executionCtx.waitUntil(p));
    },
    record: (c, answer, meta) => {
      const config = c.get('config');
      const sinks = {
        store: config.upstash === undefined ? undefined : (redisFor(config.upstash) as unknown as StatsStore),
        points: c.env.PREDICTIONS,
      };
      // Per version: a request's items may come from the edge's release and from the origin's.
      const byVersion = new Map<string, Answer['predictions']>();
      answer.predictions.forEach((p, i) => {
        const v = answer.item_versions[i] as string;
        const items = byVersion.get(v);
        if (items === undefined) byVersion.set(v, [p]);
        else items.push(p);
      });
      // A job chunk's counts are written at once: its queue invocation must not stay open for the flush timer.
      const flushNow = jobCaller(c.env) !== undefined;
      for (const [version, items] of byVersion) {
        recorder.record(answer.model, version, items, sinks, (p) => c.executionCtx.waitUntil(p), {
          ...meta,
          flushNow,
        });
      }
    },
    pool: (c) => poolFor(c.get('config'), options.pool),
    cache: (c) => {
      const config = c.get('config');
      return new ResultCache<CachedAnswer>({
        l0: l0.maxEntries === 0 ? undefined : l0,
        l1: l1(),
        l2: config.upstash === undefined ? undefined : redisFor(config.upstash),
        ttlSeconds: config.cacheTtlSeconds,
        waitUntil: (p) => c.executionCtx.waitUntil(p),
        validate: validCachedAnswer,
      });
    },
  };

  const app = new Hono<AppEnv>();
  app.use(requestId({ write: options.log }));
  app.use(async function config(c, next) {
    const caller = jobCaller(c.env);
    let config: EdgeConfig;
    try {
      config = loadConfig(c.env);
    } catch (err) {
      if (!(err instanceof TypeError)) throw err;
      // A bad var or secret is the operator's fault: logged with its message (it names the variable, never a
      // secret's value), answered 503 so clients retry elsewhere instead of seeing a crash.
      console.error(JSON.stringify({ level: 'error', msg: 'edge configuration error', error: err.message }));
      throw new InferenceError(
        'unavailable',
        'the edge is misconfigured (its operators have the details in the log)',
        {
          headers: { 'Retry-After': '30' },
        },
      );
    }
    c.set('config', caller === undefined ? config : jobConfig(config, JOB_DEADLINE_MS));
    await next();
  });

  app.get(PATHS.live, liveHandler);
  app.get(PATHS.ready, readyHandler(deps));
  app.get(PATHS.server, serverMetadataHandler);
  app.get(OPENAPI_PATH, openapiHandler);
  app.get('/docs', docsHandler);

  // One per app (one app per isolate): key records cached for `freshMs`, then KV, then D1.
  const resolver = new KeyResolver({ now, ...options.keys });
  const keySources = (c: Context<AppEnv>, db: D1Database) => ({
    store: new TenantStore(db, now),
    kv: c.env.KEYS,
    waitUntil: (p: Promise<unknown>) => c.executionCtx.waitUntil(p),
  });
  const keyLookup = {
    keys: (c: Context<AppEnv>) => c.get('config').apiKeys,
    resolve: async (c: Context<AppEnv>, hash: string) => {
      if (c.env.DB === undefined) return undefined; // no tenant store bound: bootstrap keys only
      const found = await resolver.resolve(hash, keySources(c, c.env.DB));
      return found === undefined ? undefined : principalOf(found, now());
    },
  };
  const byKey = auth(keyLookup);
  const sessions = { ...keyLookup, now };
  /**
   * The key's and tenant's revocation epochs, read in the rate limiter's round trip: newer than the cached record
   * means it changed (revoked, disabled, rotated, re-scoped) at some PoP: read it again from D1 and apply it.
   */
  const epochReads = (c: Context<AppEnv>): TripReads | undefined => {
    const p = c.get('principal');
    const db = c.env.DB;
    if (p.source !== 'store' || p.versions === undefined || db === undefined) return undefined;
    const versions = p.versions;
    return {
      keys: [epochKeys.key(p.id), epochKeys.tenant(p.tenant)],
      check: async (values) => {
        if (!isStale(versions, [values[0], values[1]])) return;
        const fresh = await resolver.refresh(c.get('keyHash'), keySources(c, db));
        if (fresh === undefined) {
          throw new InferenceError('unauthorized', 'invalid API key', {
            headers: { 'WWW-Authenticate': 'Bearer realm="edge", error="invalid_token"' },
          });
        }
        c.set('principal', principalOf(fresh, now()));
      },
    };
  };
  // A job's chunk (jobs/caller.ts) runs as its owner, with no key to present; every HTTP request presents one.
  const authenticate: MiddlewareHandler<AppEnv> = async (c, next) => {
    const caller = jobCaller(c.env);
    // The console's pages: its session cookie stands for the key it was made from (console/session.ts).
    if (caller === undefined && c.req.header('authorization') === undefined && hasSessionCookie(c)) {
      const { principal, hash } = await sessionPrincipal(sessions, c);
      c.set('principal', principal);
      c.set('keyHash', hash);
      c.get('log').principal = principal.name;
      return next();
    }
    if (caller === undefined) return byKey(c, next);
    c.set('principal', caller.principal);
    c.get('log').principal = caller.principal.name;
    await next();
  };
  const limit = rateLimit({
    settings: (c) => {
      const config = c.get('config');
      const principal = c.get('principal');
      const upstash = config.upstash;
      const reads = epochReads(c);
      // Bootstrap keys share the pseudo-tenant 'bootstrap': no tenant limit, no quota.
      const store = principal.source === 'store';
      const tenantLimiter = store ? tierLimiter(config, principal.tier, 'tenant') : undefined;
      return {
        limiter: tierLimiter(config, principal.tier),
        identifier: principal.id,
        failMode: config.rateFailMode,
        timeoutMs: config.rateTimeoutMs,
        ...(tenantLimiter === undefined
          ? {}
          : { shared: { limiter: tenantLimiter, identifier: principal.tenant } }),
        ...(upstash === undefined
          ? {}
          : {
              trip: sameTrip(upstash),
              ...(reads === undefined ? {} : { reads }),
              ...(store ? { quotas: quotaCounters(principal.tenant, principal.quotas, now()) } : {}),
            }),
      };
    },
    weight: requestWeight,
    quotaWeight: quotaItems,
  });
  // Jobs count against the daily row quota, not the request rate: a chunk's internal request is not limited.
  const limitHttp: MiddlewareHandler<AppEnv> = (c, next) =>
    jobCaller(c.env) === undefined ? limit(c, next) : next();
  // Between auth and the limits: refusals by the limits and quotas are metered too.
  const meter = meterUsage({
    recorder: usage,
    store: (c) => {
      const upstash = c.get('config').upstash;
      return upstash === undefined ? undefined : usageStore(upstash);
    },
    internal: (c) => jobCaller(c.env) !== undefined,
  });
  app.use('/v1/*', authenticate, meter, limitHttp, cacheControl());
  app.use('/v2/models/*', authenticate, meter, limitHttp, cacheControl());

  app.use('/console/*', consoleHeaders);
  app.use('/console', consoleHeaders);
  app.get('/console', consolePageHandler(sessions));
  app.get(
    VIEW_PATH,
    consoleViewHandler(sessions, () => [...new Set(releases().map((r) => r.manifest.name))].sort()),
  );
  app.post('/console/sign-out', signOutFormHandler(sessions));
  app.post('/console/session', signInHandler(sessions));
  app.get('/console/session', sessionHandler(sessions));
  app.delete('/console/session', signOutHandler(sessions));

  app.on('POST', PATHS.classify, classifyHandler(deps));
  app.get('/v1/admin/models/:model/stats', statsHandler(deps));
  app.get('/v1/admin/origins', originsHandler(deps));

  const tenants = tenantRoutes({ resolver, now });
  app.post('/v1/admin/tenants', tenants.createTenant);
  app.get('/v1/admin/tenants', tenants.listTenants);
  app.get('/v1/admin/tenants/:id', tenants.getTenant);
  app.patch('/v1/admin/tenants/:id', tenants.patchTenant);
  app.post('/v1/admin/keys', tenants.createKey);
  app.get('/v1/admin/keys', tenants.listKeys);
  app.get('/v1/admin/keys/:id', tenants.getKey);
  app.patch('/v1/admin/keys/:id', tenants.patchKey);
  app.post('/v1/admin/keys/:id/rotate', tenants.rotateKey);
  app.post('/v1/admin/keys/:id/revoke', tenants.revokeKey);
  app.get('/v1/admin/audit', tenants.audit);
  app.get(
    '/v1/usage',
    usageHandler({
      now,
      reader: (c) => {
        const upstash = c.get('config').upstash;
        return upstash === undefined ? undefined : (redisFor(upstash) as unknown as UsageReader);
      },
    }),
  );
  const rolloutDeps = {
    releases,
    now,
    rollout,
    published: (c: Context<AppEnv>, model: string) =>
      c.env.MODELS === undefined ? Promise.resolve([]) : registry.publishedVersions(c.env.MODELS, model),
  };
  const registryDeps = { releases, now, reader: registry };
  app.get('/v1/admin/registry/:model', registryListHandler(registryDeps));
  app.put('/v1/admin/registry/:model/:version/:file', registryPutHandler());
  app.post('/v1/admin/registry/:model/:version/publish', registryPublishHandler(registryDeps));
  app.get('/v1/admin/models/:model/rollout', rolloutGetHandler(rolloutDeps));
  app.put('/v1/admin/models/:model/rollout', rolloutPutHandler(rolloutDeps));
  app.post('/v1/admin/models/:model/rollout/promote', rolloutPromoteHandler(rolloutDeps));
  app.post('/v1/admin/models/:model/rollout/rollback', rolloutRollbackHandler(rolloutDeps));
  const jobDeps: JobRouteDeps = {
    releases,
    now,
    queue: options.jobsQueue,
    quotaStore: (c) => {
      const upstash = c.get('config').upstash;
      return upstash === undefined ? undefined : (redisFor(upstash) as unknown as QuotaStore);
    },
  };
  app.on('POST', JOB_PATHS, jobSubmitHandler(jobDeps));
  app.get('/v1/jobs', jobListHandler());
  app.get('/v1/jobs/webhook-secret', webhookSecretHandler());
  app.get('/v1/jobs/:id', jobStatusHandler());
  app.delete('/v1/jobs/:id', jobCancelHandler());
  app.get('/v1/jobs/:id/results', jobResultsHandler());
  app.get('/v1/review', reviewListHandler());
  app.get('/v1/review/export', reviewExportHandler());
  app.post('/v1/review/next', reviewNextHandler());
  app.get('/v1/review/:id', reviewItemHandler());
  app.post('/v1/review/:id', reviewLabelHandler());
  app.delete('/v1/review/:id/label', reviewUndoHandler());
  app.post('/v1/review/:id/decide', reviewDecideHandler());
  app.on('GET', PATHS.modelMetadata, modelMetadataHandler(deps));
  app.on('GET', PATHS.modelReady, modelReadyHandler(deps));
  app.on('POST', PATHS.infer, inferHandler(deps));

  const notAllowed = (c: Context<AppEnv>) => {
    throw new InferenceError('method_not_allowed', `${c.req.method} is not allowed here`);
  };
  for (const path of [...PATHS.classify, ...PATHS.infer, ...JOB_PATHS]) app.all(path, notAllowed);

  app.notFound((c) => {
    const { status, body } = errorBody(
      new InferenceError('not_found', `no route for ${c.req.method} ${new URL(c.req.url).pathname}`),
      c.get('requestId') ?? crypto.randomUUID(),
    );
    c.get('log').error_code = body.error.code;
    return c.json(body, status);
  });
  app.onError((err, c) => {
    const requestIdValue = c.get('requestId') ?? crypto.randomUUID();
    const { status, body, headers } = errorBody(err, requestIdValue);
    const log = c.get('log');
    if (log !== undefined) log.error_code = body.error.code;
    if (status === 500) {
      console.error(
        JSON.stringify({
          level: 'error',
          msg: 'unhandled error',
          request_id: requestIdValue,
          error: String(err),
          stack: err instanceof Error ? err.stack : undefined,
        }),
      );
    }
    return c.json(body, status, headers);
  });
  return app;
}
