/**
 * The edge's configuration: wrangler vars and secrets (strings) parsed and validated once per `env` object.
 * Bad values throw a TypeError naming the variable, the expected range and the value received. Nothing here
 * runs at import time; `loadConfig(c.env)` is called per request and memoized per env object.
 */

import { memoize } from './lib/memo.ts';
import { parseRegions, type RegionsConfig } from './origin-client/regions.ts';
import defaultRateTiers from './rate-tiers.json' with { type: 'json' };
import { KEY_ENVS, type KeyEnv } from './tenants/key-format.ts';
import { KEY_SCOPES, type KeyScope } from './tenants/schemas.ts';

/** One tier: `limit` requests per `window` (an @upstash/ratelimit duration such as "60 s"), and its priority. */
export interface RateTier {
  limit: number;
  window: `${number} ${'ms' | 's' | 'm' | 'h' | 'd'}`;
  /**
   * Scheduling priority of this tier's escalations at the origin (1 = highest), sent signed as `x-priority`; a
   * client cannot set its own. @default none (the origin's default, its lowest level)
   */
  priority?: number;
  /** Rows this tier's keys may submit in asynchronous jobs per UTC day. @default DEFAULT_JOB_ROWS_PER_DAY */
  job_rows_per_day?: number;
  /**
   * Items per `window` shared by all keys of one tenant (store keys; bootstrap keys have no tenant limit).
   * @default none: each key's own `limit` only
   */
  tenant_limit?: number;
}

/** Job rows per key and UTC day when its tier names none. */
export const DEFAULT_JOB_ROWS_PER_DAY = 100_000;

export interface EdgeConfig {
  /** Origin base URLs (ORIGIN_URLS, comma-separated). Empty: every escalation degrades to the edge answer. */
  originUrls: string[];
  /** Per-attempt origin timeout (ORIGIN_TIMEOUT_MS). @default 2000 */
  originTimeoutMs: number;
  /**
   * Origin pools and the nearby map (ORIGIN_POOLS, ORIGIN_NEARBY, ORIGIN_REGION; origin-client/regions.ts). Without
   * ORIGIN_POOLS: one pool `default` of ORIGIN_URLS.
   */
  regions: RegionsConfig;
  /** Hedges per escalation at most (ORIGIN_HEDGE_SHARE, 0..0.5; 0 turns hedging off). @default 0.05 */
  originHedgeShare: number;
  /**
   * DEV_COLO_HEADER: local stacks and benchmarks only, a request header the edge takes the colo from instead of
   * request.cf (wrangler dev's cf is a fixed mock). Empty: off (production). @default ''
   */
  devColoHeader: string;
  /** Default and maximum request deadline (REQUEST_DEADLINE_MS); clients may ask for less. @default 3000 */
  requestDeadlineMs: number;
  /** Result cache TTL (CACHE_TTL_SECONDS); 0 turns the cache off. @default 300 */
  cacheTtlSeconds: number;
  /**
   * Who shares cached answers (CACHE_SCOPE): 'tenant' keys entries by API key (a HIT never tells one key what
   * another asked), 'shared' lets every key hit every entry (more hits, for single-tenant deployments). @default 'tenant'
   */
  cacheScope: 'tenant' | 'shared';
  /** Rate tiers by name (RATE_LIMIT_TIERS, JSON). */
  rateTiers: Record<string, RateTier>;
  /** RATE_LIMIT_ALGORITHM: 'sliding' (sliding window) or 'token-bucket'. @default 'sliding' */
  rateAlgorithm: 'sliding' | 'token-bucket';
  /** RATE_LIMIT_FAIL_MODE: on a Redis error or timeout, 'open' lets the request through. @default 'open' */
  rateFailMode: 'open' | 'closed';
  /** RATE_LIMIT_TIMEOUT_MS: longest wait for the rate limiter before the fail mode applies. @default 200 */
  rateTimeoutMs: number;
  /**
   * EDGE_MAX_ITEMS: more items (texts or tensor rows) than this in one request go to the origin; per model with
   * `8;digits=64` (limitFor). @default 8
   */
  edgeMaxItems: PerModelLimit;
  /**
   * Most texts in one request to the origin (ORIGIN_MAX_ITEMS): larger escalations are split into parallel requests
   * of at most this many and merged in order. Keep it <= the origin's ORIGIN_MAX_BATCH. @default 64
   */
  originMaxItems: number;
  /**
   * EDGE_MAX_BYTES: more input bytes (UTF-8 text, tensor data) than this in one request go to the origin; per model
   * like EDGE_MAX_ITEMS. @default 65536
   */
  edgeMaxBytes: PerModelLimit;
  /** MAX_BODY_BYTES: larger request bodies get 413. @default 1048576 */
  maxBodyBytes: number;
  /** JOB_MAX_ROWS: most rows in one asynchronous job. @default 50000 */
  jobMaxRows: number;
  /** REVIEW_MAX_PENDING: most unlabelled review items per model (a weighted sample above it). @default 10000 */
  reviewMaxPending: number;
  /** REVIEW_PENDING_TTL_DAYS: unlabelled review items older than this expire, days. @default 30 */
  reviewPendingTtlDays: number;
  /** CONSOLE_SESSION_SECONDS: how long a console session lasts (sign in again after). @default 28800 */
  consoleSessionSeconds: number;
  /** REVIEW_LEASE_SECONDS: how long a reviewer holds the item `next` gave them. @default 300 */
  reviewLeaseSeconds: number;
  /** REVIEW_DOUBLE_SHARE: the share of review items two reviewers label (their agreement measured). @default 0 */
  reviewDoubleShare: number;
  /** JOB_MAX_BYTES: most (decompressed) body bytes of one job (streamed to R2, never held whole). @default 268435456 */
  jobMaxBytes: number;
  /** JOB_CHUNK_ROWS: rows per queue message (chunk), at most a synchronous request's 256. @default 256 */
  jobChunkRows: number;
  /** BREAKER_FAILURE_THRESHOLD: consecutive failures that open an origin's circuit. @default 5 */
  breakerFailureThreshold: number;
  /** BREAKER_COOLDOWN_MS: how long a circuit stays open before one half-open probe. @default 10000 */
  breakerCooldownMs: number;
  /** API_KEYS secret, parsed: sha256 hex of a key -> principal (the bootstrap keys; the rest live in D1). */
  apiKeys: Map<string, KeyRecord>;
  /** KEY_ENV: the environment marker of the keys this edge creates (`sk_<env>_...`). @default 'live' */
  keyEnv: KeyEnv;
  /** ORIGIN_SIGNING_SECRET: HMAC secret shared with the origin. */
  signingSecret: string;
  /** Upstash REST endpoint and token; undefined: rate limiting and the L2 cache are off (local dev only). */
  upstash: { url: string; token: string } | undefined;
}

/** What a key may do (tenants/schemas.ts, where the admin API validates them). */
export { KEY_SCOPES, type KeyScope };

/**
 * One API key's record in API_KEYS (`{"<sha256 hex of the key>": record}`): the bootstrap keys (root/admin keys that
 * exist before any tenant does); every other key lives in D1 (edge/src/tenants/). The key itself is never stored.
 * `id` is unique and is what rate limits and tenancy count by; `name` is for people and logs.
 */
export interface KeyRecord {
  /** Unique id. @default `key_` + the first 16 hex of the key's hash */
  id: string;
  name: string;
  /** Model names the key may call; ['*'] for all. */
  models: string[];
  tier: string;
  /** @default ['infer'] */
  scopes: KeyScope[];
  /** The tenant it acts for. @default 'bootstrap' */
  tenant?: string;
  /** Origin regions its data may go to (residency; store keys take their tenant's). @default ['*'] */
  regions?: string[];
}

const KEY_FIELDS = new Set(['id', 'name', 'models', 'tier', 'scopes', 'tenant', 'regions']);
const REGION_ID = /^(\*|[a-z][a-z0-9-]{0,31})$/;
const KEY_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** The env fields this module reads (wrangler vars and secrets are strings; missing ones are undefined). */
export type ConfigEnv = { [K in keyof EdgeVars]?: string };
type EdgeVars = Pick<
  Env,
  | 'ORIGIN_URLS'
  | 'ORIGIN_POOLS'
  | 'ORIGIN_NEARBY'
  | 'ORIGIN_REGION'
  | 'ORIGIN_HEDGE_SHARE'
  | 'DEV_COLO_HEADER'
  | 'ORIGIN_TIMEOUT_MS'
  | 'REQUEST_DEADLINE_MS'
  | 'CACHE_TTL_SECONDS'
  | 'CACHE_SCOPE'
  | 'RATE_LIMIT_TIERS'
  | 'RATE_LIMIT_ALGORITHM'
  | 'RATE_LIMIT_FAIL_MODE'
  | 'RATE_LIMIT_TIMEOUT_MS'
  | 'EDGE_MAX_ITEMS'
  | 'ORIGIN_MAX_ITEMS'
  | 'EDGE_MAX_BYTES'
  | 'MAX_BODY_BYTES'
  | 'BREAKER_FAILURE_THRESHOLD'
  | 'BREAKER_COOLDOWN_MS'
  | 'JOB_MAX_ROWS'
  | 'REVIEW_MAX_PENDING'
  | 'REVIEW_PENDING_TTL_DAYS'
  | 'REVIEW_LEASE_SECONDS'
  | 'CONSOLE_SESSION_SECONDS'
  | 'REVIEW_DOUBLE_SHARE'
  | 'JOB_MAX_BYTES'
  | 'JOB_CHUNK_ROWS'
  | 'API_KEYS'
  | 'KEY_ENV'
  | 'ORIGIN_SIGNING_SECRET'
  | 'UPSTASH_REDIS_REST_URL'
  | 'UPSTASH_REDIS_REST_TOKEN'
>;

function int(env: ConfigEnv, name: keyof ConfigEnv, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new TypeError(`${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(raw)}`);
  }
  return n;
}

/** A limit with per-model overrides (`8;digits=64`): the default, and the models that differ. */
export interface PerModelLimit {
  default: number;
  models: ReadonlyMap<string, number>;
}

/** The limit that applies to `model`. */
export function limitFor(limit: PerModelLimit, model: string): number {
  return limit.models.get(model) ?? limit.default;
}

const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** `n` or `n;model=m;...` (the default may be left out: `digits=64` keeps `fallback` for the others). */
function perModelInt(
  env: ConfigEnv,
  name: keyof ConfigEnv,
  fallback: number,
  min: number,
  max: number,
): PerModelLimit {
  const raw = env[name];
  if (raw === undefined || raw === '') return { default: fallback, models: new Map() };
  const bad = (why: string): never => {
    throw new TypeError(
      `${name} must be an integer in [${min}, ${max}], optionally followed by ;<model>=<integer> overrides: ${why}`,
    );
  };
  const number = (v: string) => {
    const n = Number(v);
    return /^\d{1,12}$/.test(v) && n >= min && n <= max ? n : bad(`got ${JSON.stringify(v)}`);
  };
  let value: number | undefined;
  const models = new Map<string, number>();
  for (const part of raw.split(';').map((p) => p.trim())) {
    const eq = part.indexOf('=');
    if (eq < 0) {
      if (value !== undefined) bad('two defaults');
      value = number(part);
      continue;
    }
    const model = part.slice(0, eq).trim();
    if (!MODEL_NAME.test(model)) bad(`${JSON.stringify(model)} is not a model name`);
    if (models.has(model)) bad(`${model} is given twice`);
    models.set(model, number(part.slice(eq + 1).trim()));
  }
  return { default: value ?? fallback, models };
}

function oneOf<T extends string>(
  env: ConfigEnv,
  name: keyof ConfigEnv,
  allowed: readonly T[],
  fallback: T,
): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new TypeError(`${name} must be one of ${allowed.join(' | ')}, got ${JSON.stringify(raw)}`);
  }
  return raw as T;
}

function parseJson(name: string, raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    throw new TypeError(`${name} must be JSON, got ${raw.length} characters that do not parse`);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function parseOriginUrls(raw: string | undefined): string[] {
  if (raw === undefined || raw.trim() === '') return [];
  return raw.split(',').map((s) => {
    const url = s.trim().replace(/\/+$/, '');
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new TypeError(
        `ORIGIN_URLS must be comma-separated http(s) URLs, got ${JSON.stringify(s.trim())}`,
      );
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new TypeError(
        `ORIGIN_URLS must be comma-separated http(s) URLs, got ${JSON.stringify(s.trim())}`,
      );
    }
    return url;
  });
}

const WINDOW = /^\d+ ?(ms|s|m|h|d)$/;
const TIER_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,31}$/;

/** The tier of that name, by own property only (a key's tier "constructor" is not Object's). */
export function rateTierOf(tiers: Record<string, RateTier>, name: string): RateTier | undefined {
  return Object.hasOwn(tiers, name) ? tiers[name] : undefined;
}

/**
 * Rate tiers from RATE_LIMIT_TIERS; unset, the defaults in rate-tiers.json (their one copy, which the local stack,
 * scripts/stack.ts, reads too: wrangler.toml sets RATE_LIMIT_TIERS only to override them).
 */
export function parseRateTiers(raw: string | undefined): Record<string, RateTier> {
  const json: unknown =
    raw === undefined || raw === '' ? defaultRateTiers : parseJson('RATE_LIMIT_TIERS', raw);
  if (!isRecord(json))
    throw new TypeError('RATE_LIMIT_TIERS must be a JSON object of {tier: {limit, window}}');
  const tiers: Record<string, RateTier> = {};
  for (const [tier, v] of Object.entries(json)) {
    if (!TIER_NAME.test(tier) || tier in Object.prototype) {
      throw new TypeError(
        `RATE_LIMIT_TIERS: tier names are 1-32 letters, digits, _ or - starting with a letter (and not a name objects already have), got ${JSON.stringify(tier.slice(0, 40))}`,
      );
    }
    if (!isRecord(v) || !Number.isInteger(v.limit) || (v.limit as number) < 1) {
      throw new TypeError(
        `RATE_LIMIT_TIERS.${tier}.limit must be an integer >= 1, got ${JSON.stringify(isRecord(v) ? v.limit : v)}`,
      );
    }
    if (typeof v.window !== 'string' || !WINDOW.test(v.window)) {
      throw new TypeError(
        `RATE_LIMIT_TIERS.${tier}.window must be a duration like "60 s", got ${JSON.stringify(v.window)}`,
      );
    }
    if (
      v.priority !== undefined &&
      (!Number.isInteger(v.priority) || (v.priority as number) < 1 || (v.priority as number) > 16)
    ) {
      throw new TypeError(
        `RATE_LIMIT_TIERS.${tier}.priority must be an integer from 1 (highest) to 16, got ${JSON.stringify(v.priority)}`,
      );
    }
    if (
      v.job_rows_per_day !== undefined &&
      (!Number.isInteger(v.job_rows_per_day) || (v.job_rows_per_day as number) < 0)
    ) {
      throw new TypeError(
        `RATE_LIMIT_TIERS.${tier}.job_rows_per_day must be an integer >= 0, got ${JSON.stringify(v.job_rows_per_day)}`,
      );
    }
    if (
      v.tenant_limit !== undefined &&
      (!Number.isInteger(v.tenant_limit) || (v.tenant_limit as number) < 1)
    ) {
      throw new TypeError(
        `RATE_LIMIT_TIERS.${tier}.tenant_limit must be an integer >= 1, got ${JSON.stringify(v.tenant_limit)}`,
      );
    }
    tiers[tier] = {
      limit: v.limit as number,
      window: v.window as RateTier['window'],
      ...(v.priority === undefined ? {} : { priority: v.priority as number }),
      ...(v.job_rows_per_day === undefined ? {} : { job_rows_per_day: v.job_rows_per_day as number }),
      ...(v.tenant_limit === undefined ? {} : { tenant_limit: v.tenant_limit as number }),
    };
  }
  return tiers;
}

export function parseApiKeys(raw: string | undefined): Map<string, KeyRecord> {
  const keys = new Map<string, KeyRecord>();
  if (raw === undefined || raw === '') return keys;
  const json = parseJson('API_KEYS', raw);
  if (!isRecord(json))
    throw new TypeError('API_KEYS must be a JSON object of {sha256hex: {id?, name, models, tier, scopes?}}');
  const ids = new Set<string>();
  for (const [hash, v] of Object.entries(json)) {
    if (!/^[0-9a-f]{64}$/.test(hash)) {
      throw new TypeError(
        `API_KEYS keys must be lowercase sha256 hex of the API key, got ${JSON.stringify(hash.slice(0, 12))}...`,
      );
    }
    if (!isRecord(v) || typeof v.name !== 'string' || v.name === '') {
      throw new TypeError(`API_KEYS.${hash.slice(0, 8)}….name must be a non-empty string`);
    }
    if (!Array.isArray(v.models) || v.models.some((m) => typeof m !== 'string')) {
      throw new TypeError(`API_KEYS (${v.name}).models must be an array of model names or ["*"]`);
    }
    if (typeof v.tier !== 'string' || v.tier === '') {
      throw new TypeError(`API_KEYS (${v.name}).tier must be a non-empty string`);
    }
    const unknown = Object.keys(v).filter((f) => !KEY_FIELDS.has(f));
    if (unknown.length > 0) {
      throw new TypeError(
        `API_KEYS (${v.name}) has unknown field(s) ${unknown.join(', ')}; a record has id, name, models, tier, scopes, tenant, regions`,
      );
    }
    const id = v.id ?? `key_${hash.slice(0, 16)}`;
    if (typeof id !== 'string' || !KEY_ID.test(id)) {
      throw new TypeError(`API_KEYS (${v.name}).id must be 1-64 letters, digits, _ or -`);
    }
    if (ids.has(id)) throw new TypeError(`API_KEYS (${v.name}).id "${id}" is used by another key`);
    ids.add(id);
    const scopes = v.scopes ?? ['infer'];
    if (
      !Array.isArray(scopes) ||
      scopes.length === 0 ||
      scopes.some((x) => !(KEY_SCOPES as readonly unknown[]).includes(x))
    ) {
      throw new TypeError(
        `API_KEYS (${v.name}).scopes must be a non-empty array of ${KEY_SCOPES.join(' | ')}`,
      );
    }
    if (
      v.regions !== undefined &&
      (!Array.isArray(v.regions) ||
        v.regions.length === 0 ||
        v.regions.some((r) => typeof r !== 'string' || !REGION_ID.test(r)))
    ) {
      throw new TypeError(
        `API_KEYS (${v.name}).regions must be a non-empty array of region ids (e.g. "eu") or ["*"]`,
      );
    }
    if (v.tenant !== undefined && (typeof v.tenant !== 'string' || !KEY_ID.test(v.tenant))) {
      throw new TypeError(`API_KEYS (${v.name}).tenant must be 1-64 letters, digits, _ or -`);
    }
    keys.set(hash, {
      id,
      name: v.name,
      models: v.models as string[],
      tier: v.tier,
      scopes: [...new Set(scopes as KeyScope[])],
      ...(v.tenant === undefined ? {} : { tenant: v.tenant as string }),
      ...(v.regions === undefined ? {} : { regions: v.regions as string[] }),
    });
  }
  return keys;
}

/** A share in [0, max] (a plain decimal), `fallback` when unset. */
function share(env: ConfigEnv, name: keyof ConfigEnv, fallback: number, max = 1): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const v = Number(raw);
  if (!/^\d*\.?\d+$/.test(raw.trim()) || !(v >= 0 && v <= max)) {
    throw new TypeError(`${name} must be a number from 0 to ${max}, got ${JSON.stringify(raw)}`);
  }
  return v;
}

function devColoHeader(raw: string | undefined): string {
  const name = (raw ?? '').trim().toLowerCase();
  if (name !== '' && !/^x-[a-z0-9-]{1,60}$/.test(name)) {
    throw new TypeError(`DEV_COLO_HEADER must be a header name starting with x-, got ${JSON.stringify(raw)}`);
  }
  return name;
}

function keyEnvOf(raw: string | undefined): KeyEnv {
  if (raw === undefined || raw === '') return 'live';
  if (!(KEY_ENVS as readonly string[]).includes(raw))
    throw new TypeError(`KEY_ENV must be one of ${KEY_ENVS.join(' | ')}, got ${JSON.stringify(raw)}`);
  return raw as KeyEnv;
}

export function parseConfig(env: ConfigEnv): EdgeConfig {
  const rateTiers = parseRateTiers(env.RATE_LIMIT_TIERS);
  const apiKeys = parseApiKeys(env.API_KEYS);
  for (const k of apiKeys.values()) {
    if (rateTierOf(rateTiers, k.tier) === undefined) {
      throw new TypeError(
        `API_KEYS (${k.name}).tier must be one of ${Object.keys(rateTiers).join(' | ')}, got "${k.tier}"`,
      );
    }
  }
  const url = env.UPSTASH_REDIS_REST_URL ?? '';
  const token = env.UPSTASH_REDIS_REST_TOKEN ?? '';
  if ((url === '') !== (token === '')) {
    throw new TypeError('UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN must be set together');
  }
  const originUrls = parseOriginUrls(env.ORIGIN_URLS);
  const regions = parseRegions({ ...env, originUrls });
  const signingSecret = env.ORIGIN_SIGNING_SECRET ?? '';
  if (regions.pools.length > 0 && signingSecret.length < 16) {
    throw new TypeError(
      `ORIGIN_SIGNING_SECRET must be at least 16 characters when origins are configured, got ${signingSecret.length}`,
    );
  }
  return {
    originUrls,
    regions,
    originHedgeShare: share(env, 'ORIGIN_HEDGE_SHARE', 0.05, 0.5),
    devColoHeader: devColoHeader(env.DEV_COLO_HEADER),
    originTimeoutMs: int(env, 'ORIGIN_TIMEOUT_MS', 2000, 1, 600_000),
    requestDeadlineMs: int(env, 'REQUEST_DEADLINE_MS', 3000, 1, 600_000),
    cacheTtlSeconds: int(env, 'CACHE_TTL_SECONDS', 300, 0, 31_536_000),
    cacheScope: oneOf(env, 'CACHE_SCOPE', ['tenant', 'shared'] as const, 'tenant'),
    rateTiers,
    rateAlgorithm: oneOf(env, 'RATE_LIMIT_ALGORITHM', ['sliding', 'token-bucket'] as const, 'sliding'),
    rateFailMode: oneOf(env, 'RATE_LIMIT_FAIL_MODE', ['open', 'closed'] as const, 'open'),
    rateTimeoutMs: int(env, 'RATE_LIMIT_TIMEOUT_MS', 200, 1, 60_000),
    edgeMaxItems: perModelInt(env, 'EDGE_MAX_ITEMS', 8, 1, 10_000),
    originMaxItems: int(env, 'ORIGIN_MAX_ITEMS', 64, 1, 256),
    edgeMaxBytes: perModelInt(env, 'EDGE_MAX_BYTES', 65_536, 1, 100_000_000),
    maxBodyBytes: int(env, 'MAX_BODY_BYTES', 1_048_576, 1, 100_000_000),
    jobMaxRows: int(env, 'JOB_MAX_ROWS', 50_000, 1, 1_000_000),
    reviewMaxPending: int(env, 'REVIEW_MAX_PENDING', 10_000, 1, 10_000_000),
    reviewPendingTtlDays: int(env, 'REVIEW_PENDING_TTL_DAYS', 30, 1, 3650),
    reviewLeaseSeconds: int(env, 'REVIEW_LEASE_SECONDS', 300, 1, 86_400),
    consoleSessionSeconds: int(env, 'CONSOLE_SESSION_SECONDS', 28_800, 60, 604_800),
    reviewDoubleShare: share(env, 'REVIEW_DOUBLE_SHARE', 0),
    jobMaxBytes: int(env, 'JOB_MAX_BYTES', 256 * 1024 * 1024, 1, 4 * 1024 * 1024 * 1024),
    jobChunkRows: int(env, 'JOB_CHUNK_ROWS', 256, 1, 256),
    breakerFailureThreshold: int(env, 'BREAKER_FAILURE_THRESHOLD', 5, 1, 1000),
    breakerCooldownMs: int(env, 'BREAKER_COOLDOWN_MS', 10_000, 1, 3_600_000),
    apiKeys,
    keyEnv: keyEnvOf(env.KEY_ENV),
    signingSecret,
    upstash: url === '' ? undefined : { url, token },
  };
}

const memo = new WeakMap<object, EdgeConfig>();

/** `parseConfig` memoized per env object (one parse per isolate in production). */
export function loadConfig(env: ConfigEnv): EdgeConfig {
  return memoize(memo, env, parseConfig);
}
