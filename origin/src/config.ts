/**
 * Origin configuration: from environment variables (and mirroring command-line flags), validated once at start-up.
 * Every message names the setting. Nothing here reads the environment at import time.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';

/** Which versions of a model the origin serves. */
export type SingleVersionPolicy =
  | { kind: 'latest'; count: number }
  | { kind: 'all' }
  | { kind: 'specific'; versions: string[] };

/** One policy for every model, or one per model (a rollout's stable and candidate for one, the latest for others). */
export type VersionPolicy =
  | SingleVersionPolicy
  | { kind: 'per-model'; default: SingleVersionPolicy; models: Record<string, SingleVersionPolicy> };

/** The policy that applies to `model`. */
export function policyFor(policy: VersionPolicy, model: string): SingleVersionPolicy {
  if (policy.kind !== 'per-model') return policy;
  return Object.hasOwn(policy.models, model) ? (policy.models[model] as SingleVersionPolicy) : policy.default;
}

export type ExecutionProviderSetting = 'cpu' | 'cuda' | 'auto';

export interface OriginConfig {
  /** @default 8000 */
  port: number;
  /** @default '0.0.0.0' */
  host: string;
  /** Folder of models/<name>/<version>/manifest.json. @default './models' */
  modelRepository: string;
  /** @default { kind: 'latest', count: 1 } */
  versionPolicy: VersionPolicy;
  /** Shared HMAC secret for edge signatures; required unless allowUnsigned. */
  signingSecret: string | undefined;
  /** Accept unsigned requests (local use only; logged loudly at start). @default false */
  allowUnsigned: boolean;
  /** Replay window of signatures, ms. @default 300000 */
  signatureWindowMs: number;
  /** @default 'auto' */
  executionProvider: ExecutionProviderSetting;
  /** ORT intra-op threads per session. @default 1 */
  intraOpThreads: number;
  /** Worker threads (one ORT session each) per served model version. @default 1 */
  workersPerModel: number;
  /**
   * Crashed workers replaced per model version within workerRestartWindowMs; past it the worker is given up, and a
   * version with none left fails liveness (the pod is restarted). @default 3
   */
  maxWorkerRestarts: number;
  /** The window worker restarts are counted over, ms. @default 600000 */
  workerRestartWindowMs: number;
  /** Most rows in one executed batch. @default 64 */
  maxBatch: number;
  /** Batch sizes the batcher prefers (each <= maxBatch). @default [] */
  preferredBatch: number[];
  /** How long an idle runner may wait to fill a preferred batch, ms (0 = flush at once). @default 0 */
  maxQueueDelayMs: number;
  /** Most rows queued per model version before 429. @default 1024 */
  maxQueue: number;
  /** Deadline of a request without x-deadline-ms, ms. @default 30000 */
  defaultTimeoutMs: number;
  /**
   * On stop (SIGTERM): how long running and queued work may take to finish before it is cut (its callers get 503)
   * and the cut is logged, ms. Keep it below the pod's termination grace period. @default 25000
   */
  drainTimeoutMs: number;
  /** Largest request body, bytes. @default 8388608 */
  maxBodyBytes: number;
  /** Priority levels (1 = highest). @default 2 */
  priorityLevels: number;
  /** Priority of a request that names none. @default priorityLevels (the lowest) */
  defaultPriority: number;
  /**
   * Threads that featurize large text requests off the event loop (per model version with a featurizer); 0
   * featurizes every request inline. @default 1
   */
  featurizeWorkers: number;
  /** Text requests of fewer characters (all texts together) are featurized inline, larger ones on a thread. @default 4096 */
  featurizeInlineChars: number;
  /**
   * A batch whose measured run time is at most this many ms runs on the event loop instead of a runner worker when
   * its request is the only one in flight (CPU only): it saves the two thread hand-offs at low load and blocks the
   * loop no longer than this. 0 turns it off. @default 0.5
   */
  inlineMaxMs: number;
  /** Serve POST .../echo: decode the request and answer zeros without inference (benchmark ceiling). @default false */
  echoRoute: boolean;
  /**
   * The model registry's S3 endpoint without the bucket (R2: `https://<account>.r2.cloudflarestorage.com`). Set, the
   * origin pulls the releases of `registryModels` from the bucket at run time (origin/src/registry-s3). @default none
   */
  registryEndpoint: string | undefined;
  /** @default 'models' */
  registryBucket: string;
  /** Signing region (R2: `auto`). @default 'auto' */
  registryRegion: string;
  /** S3 access key id (falls back to AWS_ACCESS_KEY_ID); required with registryEndpoint. */
  registryAccessKeyId: string | undefined;
  /** S3 secret access key (falls back to AWS_SECRET_ACCESS_KEY); required with registryEndpoint. */
  registrySecretAccessKey: string | undefined;
  /** Models whose registry index the origin follows; required with registryEndpoint. @default [] */
  registryModels: string[];
  /** Seconds between two reads of each followed index; 0 reads them only at start and on the admin load call. @default 30 */
  registryPollSeconds: number;
  /** Where pulled releases are written, as {dir}/{model}/{version}/... @default `${os.tmpdir()}/origin-registry` */
  registryCacheDir: string;
  /**
   * Bearer token of the admin calls (POST /v2/repository/...), compared in constant time. Without it those calls
   * answer 403, unless unsigned use is allowed (then they are open). @default none
   */
  adminToken: string | undefined;
  /** The pool this origin belongs to (the edge ORIGIN_POOLS id), answered as `x-origin-pool`. @default none */
  poolId: string | undefined;
  /** @default 'info' */
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

/** Environment variable of each setting (flags mirror them: ORIGIN_MAX_BATCH -> --max-batch). */
export const ENV_NAMES: Record<keyof OriginConfig, string> = {
  port: 'ORIGIN_PORT',
  host: 'ORIGIN_HOST',
  modelRepository: 'MODEL_REPOSITORY',
  versionPolicy: 'MODEL_VERSION_POLICY',
  signingSecret: 'ORIGIN_SIGNING_SECRET',
  allowUnsigned: 'ORIGIN_ALLOW_UNSIGNED',
  signatureWindowMs: 'ORIGIN_SIGNATURE_WINDOW_MS',
  executionProvider: 'ORIGIN_EXECUTION_PROVIDER',
  intraOpThreads: 'ORIGIN_INTRA_OP_THREADS',
  workersPerModel: 'ORIGIN_WORKERS_PER_MODEL',
  maxWorkerRestarts: 'ORIGIN_MAX_WORKER_RESTARTS',
  workerRestartWindowMs: 'ORIGIN_WORKER_RESTART_WINDOW_MS',
  maxBatch: 'ORIGIN_MAX_BATCH',
  preferredBatch: 'ORIGIN_PREFERRED_BATCH',
  maxQueueDelayMs: 'ORIGIN_MAX_QUEUE_DELAY_MS',
  maxQueue: 'ORIGIN_MAX_QUEUE',
  defaultTimeoutMs: 'ORIGIN_DEFAULT_TIMEOUT_MS',
  drainTimeoutMs: 'ORIGIN_DRAIN_TIMEOUT_MS',
  maxBodyBytes: 'ORIGIN_MAX_BODY_BYTES',
  priorityLevels: 'ORIGIN_PRIORITY_LEVELS',
  defaultPriority: 'ORIGIN_DEFAULT_PRIORITY',
  featurizeWorkers: 'ORIGIN_FEATURIZE_WORKERS',
  featurizeInlineChars: 'ORIGIN_FEATURIZE_INLINE_CHARS',
  inlineMaxMs: 'ORIGIN_INLINE_MAX_MS',
  echoRoute: 'ORIGIN_ECHO_ROUTE',
  registryEndpoint: 'MODEL_REGISTRY_S3_ENDPOINT',
  registryBucket: 'MODEL_REGISTRY_BUCKET',
  registryRegion: 'MODEL_REGISTRY_REGION',
  registryAccessKeyId: 'MODEL_REGISTRY_ACCESS_KEY_ID',
  registrySecretAccessKey: 'MODEL_REGISTRY_SECRET_ACCESS_KEY',
  registryModels: 'MODEL_REGISTRY_MODELS',
  registryPollSeconds: 'MODEL_REGISTRY_POLL_SECONDS',
  registryCacheDir: 'MODEL_REGISTRY_CACHE_DIR',
  adminToken: 'ORIGIN_ADMIN_TOKEN',
  poolId: 'ORIGIN_POOL_ID',
  logLevel: 'LOG_LEVEL',
};

/** Variables read when the setting's own variable is absent (the AWS SDKs' names for the same credentials). */
export const ENV_FALLBACKS: Readonly<Partial<Record<keyof OriginConfig, string>>> = {
  registryAccessKeyId: 'AWS_ACCESS_KEY_ID',
  registrySecretAccessKey: 'AWS_SECRET_ACCESS_KEY',
};

const int = (min: number, max: number) =>
  z.coerce
    .number({ error: `expected an integer between ${min} and ${max}` })
    .int(`expected an integer between ${min} and ${max}`)
    .min(min, `expected an integer between ${min} and ${max}`)
    .max(max, `expected an integer between ${min} and ${max}`);

const flag = z.union([
  z.boolean(),
  z
    .enum(['1', 'true', 'yes', 'on', '0', 'false', 'no', 'off', ''], { error: 'expected 1/0, true/false' })
    .transform((v) => ['1', 'true', 'yes', 'on'].includes(v)),
]);

const VERSION_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

const MODEL_RE = /^[a-z0-9][a-z0-9_.-]*$/;

/**
 * Parses `latest:N`, `latest`, `all` or `specific:v1,v2` for every model, or a `;`-separated list of per-model
 * policies with an optional default: `latest:1;spam=latest:2;digits=specific:v1,v2`.
 */
export function parseVersionPolicy(text: string): VersionPolicy {
  if (!text.includes('=')) return parseSinglePolicy(text);
  let fallback: SingleVersionPolicy = { kind: 'latest', count: 1 };
  const models: Record<string, SingleVersionPolicy> = {};
  for (const part of text
    .split(';')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq < 0) {
      fallback = parseSinglePolicy(part);
      continue;
    }
    const model = part.slice(0, eq).trim();
    if (!MODEL_RE.test(model)) throw new Error(`'${model}' is not a model name (in '${text}')`);
    if (Object.hasOwn(models, model)) throw new Error(`model '${model}' is given twice (in '${text}')`);
    models[model] = parseSinglePolicy(part.slice(eq + 1));
  }
  return { kind: 'per-model', default: fallback, models };
}

function parseSinglePolicy(text: string): SingleVersionPolicy {
  const t = text.trim();
  if (t === 'all') return { kind: 'all' };
  if (t === 'latest') return { kind: 'latest', count: 1 };
  const latest = /^latest:([0-9]+)$/.exec(t);
  if (latest) {
    const count = Number(latest[1]);
    if (count >= 1) return { kind: 'latest', count };
  }
  const specific = /^specific:(.+)$/.exec(t);
  if (specific) {
    const versions = (specific[1] as string).split(',').map((v) => v.trim());
    if (versions.every((v) => VERSION_RE.test(v))) return { kind: 'specific', versions };
  }
  throw new Error(`expected 'latest:N' (N >= 1), 'all' or 'specific:v1,v2', got '${text}'`);
}

const SinglePolicyObject = z.union([
  z.object({ kind: z.literal('latest'), count: z.number().int().min(1) }),
  z.object({ kind: z.literal('all') }),
  z.object({ kind: z.literal('specific'), versions: z.array(z.string().regex(VERSION_RE)).min(1) }),
]);

const PolicyObject = z.union([
  SinglePolicyObject,
  z.object({
    kind: z.literal('per-model'),
    default: SinglePolicyObject,
    models: z.record(z.string().regex(MODEL_RE), SinglePolicyObject),
  }),
]);

const policy = z.unknown().transform((v, ctx): VersionPolicy => {
  if (typeof v !== 'string') {
    const parsed = PolicyObject.safeParse(v);
    if (parsed.success) return parsed.data;
  }
  try {
    return parseVersionPolicy(String(v));
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

const batchList = z.union([
  z.array(z.number().int().min(1)),
  z
    .string()
    .transform((s) => (s.trim() === '' ? [] : s.split(',').map((v) => Number(v.trim()))))
    .pipe(z.array(z.number({ error: 'expected a comma-separated list of integers' }).int().min(1))),
]);

const httpUrl = z.string().refine(
  (s) => {
    try {
      const u = new URL(s);
      return (u.protocol === 'http:' || u.protocol === 'https:') && u.search === '' && u.username === '';
    } catch {
      return false;
    }
  },
  { error: 'expected an http(s) URL without query or credentials' },
);

const modelList = z.union([
  z.array(z.string()),
  z.string().transform((s) =>
    s
      .split(',')
      .map((v) => v.trim())
      .filter(Boolean),
  ),
]);

const Schema = z
  .object({
    port: int(0, 65_535).default(8000),
    host: z.string().min(1).default('0.0.0.0'),
    modelRepository: z.string().min(1).default('./models'),
    versionPolicy: policy.default({ kind: 'latest', count: 1 }),
    signingSecret: z.string().min(16, 'expected at least 16 characters').optional(),
    allowUnsigned: flag.default(false),
    signatureWindowMs: int(1_000, 3_600_000).default(300_000),
    executionProvider: z
      .enum(['cpu', 'cuda', 'auto'], { error: "expected 'cpu', 'cuda' or 'auto'" })
      .default('auto'),
    intraOpThreads: int(1, 256).default(1),
    workersPerModel: int(1, 64).default(1),
    maxWorkerRestarts: int(0, 1000).default(3),
    workerRestartWindowMs: int(1000, 86_400_000).default(600_000),
    maxBatch: int(1, 4096).default(64),
    preferredBatch: batchList.default([]),
    maxQueueDelayMs: z.coerce.number({ error: 'expected a number of ms >= 0' }).min(0).max(60_000).default(0),
    maxQueue: int(1, 1_000_000).default(1024),
    defaultTimeoutMs: int(1, 3_600_000).default(30_000),
    drainTimeoutMs: int(0, 3_600_000).default(25_000),
    maxBodyBytes: int(1024, 1024 * 1024 * 1024).default(8 * 1024 * 1024),
    priorityLevels: int(1, 16).default(2),
    defaultPriority: int(1, 16).optional(),
    featurizeWorkers: int(0, 64).default(1),
    featurizeInlineChars: int(0, 1 << 30).default(4096),
    inlineMaxMs: z.coerce.number({ error: 'expected a number of ms >= 0' }).min(0).max(1000).default(0.5),
    echoRoute: flag.default(false),
    registryEndpoint: httpUrl.optional(),
    registryBucket: z
      .string()
      .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'expected an S3 bucket name (3-63 of a-z 0-9 . -)')
      .default('models'),
    registryRegion: z
      .string()
      .regex(/^[a-z0-9-]{1,32}$/, "expected a region name such as 'auto' or 'us-east-1'")
      .default('auto'),
    registryAccessKeyId: z.string().min(1).optional(),
    registrySecretAccessKey: z.string().min(1).optional(),
    registryModels: modelList.default([]),
    registryPollSeconds: z.coerce
      .number({ error: 'expected a number of seconds between 0 and 86400' })
      .min(0, 'expected a number of seconds between 0 and 86400')
      .max(86_400, 'expected a number of seconds between 0 and 86400')
      .default(30),
    registryCacheDir: z.string().min(1).optional(),
    adminToken: z.string().min(16, 'expected at least 16 characters').optional(),
    poolId: z
      .string()
      .regex(
        /^[a-z][a-z0-9-]{0,31}$/,
        'expected a pool id (lower case letters, digits and -, as in the edge ORIGIN_POOLS)',
      )
      .optional(),
    logLevel: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
        error: 'expected fatal, error, warn, info, debug, trace or silent',
      })
      .default('info'),
  })
  .strict();

export type OriginConfigInput = { [K in keyof OriginConfig]?: OriginConfig[K] | string };

function describe(field: string, fromEnv: boolean): string {
  const env = ENV_NAMES[field as keyof OriginConfig];
  if (env === undefined) return field;
  return fromEnv ? env : `${field} (${env})`;
}

/** Settings whose values must never appear in an error or a log line. */
const SECRET_FIELDS: ReadonlySet<string> = new Set([
  'signingSecret',
  'registryAccessKeyId',
  'registrySecretAccessKey',
  'adminToken',
]);

function validate(raw: Record<string, unknown>, fromEnv: boolean): OriginConfig {
  const result = Schema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((i) => {
      const field = String(i.path[0] ?? '');
      const unknown = i.code === 'unrecognized_keys' ? `unknown setting(s) ${i.keys.join(', ')}` : undefined;
      // Secret values are never echoed: only their length.
      const got = !(field in raw)
        ? ''
        : SECRET_FIELDS.has(field)
          ? `, got ${String(raw[field]).length} characters`
          : `, got ${JSON.stringify(raw[field])}`;
      return unknown ?? `${describe(field, fromEnv)}: ${i.message}${got}`;
    });
    throw new TypeError(`invalid origin configuration: ${lines.join('; ')}`);
  }
  const c = result.data;
  const problems: string[] = [];
  if (c.signingSecret === undefined && !c.allowUnsigned) {
    problems.push(
      `${describe('signingSecret', fromEnv)} is required (or set ${describe('allowUnsigned', fromEnv)}=1 for local use)`,
    );
  }
  for (const p of c.preferredBatch) {
    if (p > c.maxBatch)
      problems.push(`${describe('preferredBatch', fromEnv)}: ${p} exceeds maxBatch ${c.maxBatch}`);
  }
  const defaultPriority = c.defaultPriority ?? c.priorityLevels;
  if (defaultPriority > c.priorityLevels) {
    problems.push(
      `${describe('defaultPriority', fromEnv)}: ${defaultPriority} exceeds ${describe('priorityLevels', fromEnv)} ${c.priorityLevels}`,
    );
  }
  for (const m of c.registryModels) {
    if (!MODEL_RE.test(m))
      problems.push(`${describe('registryModels', fromEnv)}: '${m}' is not a model name`);
  }
  if (new Set(c.registryModels).size !== c.registryModels.length) {
    problems.push(`${describe('registryModels', fromEnv)}: a model is listed twice`);
  }
  if (c.registryEndpoint !== undefined) {
    if (c.registryModels.length === 0) {
      problems.push(
        `${describe('registryModels', fromEnv)} is required with ${describe('registryEndpoint', fromEnv)} (the models to follow, e.g. spam,digits)`,
      );
    }
    for (const field of ['registryAccessKeyId', 'registrySecretAccessKey'] as const) {
      if (c[field] === undefined) {
        const fallback = fromEnv ? ` (or ${ENV_FALLBACKS[field]})` : '';
        problems.push(
          `${describe(field, fromEnv)}${fallback} is required with ${describe('registryEndpoint', fromEnv)}`,
        );
      }
    }
  } else if (c.registryModels.length > 0) {
    problems.push(
      `${describe('registryModels', fromEnv)} needs ${describe('registryEndpoint', fromEnv)} (the registry to pull them from)`,
    );
  }
  if (problems.length > 0) throw new TypeError(`invalid origin configuration: ${problems.join('; ')}`);
  return {
    ...c,
    defaultPriority,
    preferredBatch: [...new Set(c.preferredBatch)].sort((a, b) => a - b),
    signingSecret: c.signingSecret,
    poolId: c.poolId,
    registryEndpoint: c.registryEndpoint,
    registryAccessKeyId: c.registryAccessKeyId,
    registrySecretAccessKey: c.registrySecretAccessKey,
    registryCacheDir: c.registryCacheDir ?? join(tmpdir(), 'origin-registry'),
    adminToken: c.adminToken,
  };
}

/** Validates a programmatic configuration, filling defaults; TypeError naming the field otherwise. */
export function defineConfig(input: OriginConfigInput = {}): OriginConfig {
  const raw: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(input)) if (v !== undefined) raw[k] = v;
  return validate(raw, false);
}

/** Converts an env name to its flag: ORIGIN_MAX_BATCH -> --max-batch, MODEL_REPOSITORY -> --model-repository. */
export function flagName(envName: string): string {
  return `--${envName
    .replace(/^ORIGIN_/, '')
    .toLowerCase()
    .replaceAll('_', '-')}`;
}

/**
 * Reads the configuration from environment variables and command-line flags (flags win). Flags take `--name=value`
 * or `--name value`; boolean flags may stand alone (`--allow-unsigned`).
 */
export function loadConfig(
  env: Record<string, string | undefined>,
  argv: readonly string[] = [],
): OriginConfig {
  const byFlag = new Map<string, keyof OriginConfig>();
  for (const [field, envName] of Object.entries(ENV_NAMES))
    byFlag.set(flagName(envName), field as keyof OriginConfig);
  const raw: Record<string, unknown> = {};
  for (const [field, envName] of Object.entries(ENV_NAMES)) {
    const fallback = ENV_FALLBACKS[field as keyof OriginConfig];
    const v = env[envName] || (fallback === undefined ? undefined : env[fallback]);
    if (v !== undefined && v !== '') raw[field] = v;
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(0, eq) : arg;
    const field = byFlag.get(name);
    if (field === undefined) {
      throw new TypeError(
        `invalid origin configuration: unknown flag ${name} (flags mirror the environment variables)`,
      );
    }
    if (eq >= 0) raw[field] = arg.slice(eq + 1);
    else if (
      (field === 'allowUnsigned' || field === 'echoRoute') &&
      !(argv[i + 1] ?? '').match(/^[01]$|^true$|^false$/)
    ) {
      raw[field] = true;
    } else {
      const value = argv[i + 1];
      if (value === undefined)
        throw new TypeError(`invalid origin configuration: flag ${name} needs a value`);
      raw[field] = value;
      i++;
    }
  }
  return validate(raw, true);
}
