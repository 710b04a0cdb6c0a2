/**
 * The whole stack on loopback, as a library: `startStack(options)` starts origin process(es) (the real teacher,
 * `node origin/src/main.ts`), shared state (the Upstash REST bridge in front of a real Redis) and the edge Worker
 * in real workerd (`wrangler dev`), wired with generated secrets and API keys, on free ports. `npm start`
 * (scripts/start.ts), the end-to-end and fault tests (test/) and `npm run bench:e2e` use it.
 *
 * Every child runs in its own process group; `stop()` ends them all (SIGTERM, then SIGKILL after a grace
 * period), and a process 'exit' hook SIGKILLs whatever is left if the caller dies first.
 */

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import defaultRateTiers from '../edge/src/rate-tiers.json' with { type: 'json' };
import { startRedisForTests, startUpstashBridge, type UpstashBridge } from '../infra/upstash-bridge/index.ts';
import { ORIGIN_NODE_FLAGS } from '../origin/src/node-flags.ts';
import { findRedis } from './local-redis.ts';
import { type LocalS3, startLocalS3 } from './local-s3.ts';

const ROOT = resolve(import.meta.dirname, '..');
const WRANGLER = join(ROOT, 'node_modules/wrangler/bin/wrangler.js');

export { LOCAL_STACK_FILE } from './local-stack-file.ts';

/** One API key the stack generates. */

export interface StackKeySpec {
  /** Principal name (API_KEYS[].name). */
  name: string;
  /** Rate tier; must be a tier of RATE_LIMIT_TIERS. @default 'pro' */
  tier?: string;
  /** Models the key may call. @default ['*'] */
  models?: string[];
  /** Scopes (infer, admin, reviewer). @default ['infer'] */
  scopes?: string[];
}

export interface StackKey {
  /** The plaintext key (`Authorization: Bearer <key>`); the edge holds only its sha256. */
  key: string;
  name: string;
  tier: string;
  models: string[];
  scopes: string[];
  /** The tier's limit and window as configured (undefined when the tier has no entry). */
  limit: { limit: number; window: string } | undefined;
}

/**
 * Where the edge's shared state (rate limits, L2 cache) comes from.
 *  - 'auto': UPSTASH_REDIS_REST_URL/TOKEN when set, else the bridge in front of a reachable Redis or a started
 *    redis-server, else none (what `npm start` does)
 *  - 'test': the bridge in front of a database of its own on the shared test Redis (startRedisForTests)
 *  - 'spawn': the bridge in front of a redis-server of its own (tests may kill `stack.redis.process`)
 *  - 'none': no shared state (rate limiting and L2 off)
 */
export type SharedStateMode = 'auto' | 'test' | 'spawn' | 'none';

export interface StackOptions {
  /** Edge port; 0 picks a free one. @default 0 */
  edgePort?: number;
  /** Port of the first origin; 0 picks free ones. Further origins always get free ports. @default 0 */
  originPort?: number;
  /** How many origin processes (ORIGIN_URLS lists them all). 0: an edge with no origin. @default 1 */
  origins?: number;
  /** Extra origin environment (ORIGIN_MAX_QUEUE, ORIGIN_MAX_BATCH...). @default {} */
  originEnv?: Record<string, string>;
  /** Edge vars and secrets overriding wrangler.toml's [vars] (RATE_LIMIT_TIERS, RATE_LIMIT_FAIL_MODE...). @default {} */
  edgeVars?: Record<string, string>;
  /** API keys to generate. @default [{name:'e2e-pro', tier:'pro'}] */
  keys?: StackKeySpec[];
  /** Shared state source, see SharedStateMode. @default 'test' */
  sharedState?: SharedStateMode;
  /** Receives every child's output line by line (label: 'origin-0', 'edge-0'...). @default discards it */
  log?: (label: string, line: string) => void;
  /**
   * Regenerate edge/src/model/release.ts (`npm run edge:release`) first when `edge-release.ts --check` says it
   * is stale, so the edge embeds the latest student. @default true
   */
  ensureEdgeRelease?: boolean;
  /**
   * The Worker script wrangler dev bundles instead of wrangler.toml's `main` (bindings and vars still from
   * wrangler.toml), e.g. an entry that serves other embedded releases (bench/rollout.ts). @default main
   */
  edgeEntry?: string;
  /**
   * A model registry the origins poll (issue #25): an S3-compatible server in this process (scripts/local-s3.ts,
   * the local stand-in for R2's S3 API) whose `models` bucket the origins follow for `spam` and `digits` every
   * `pollSeconds`, beside their disk repository. The edge reads its own local R2 (Miniflare); `npm run publish --s3`
   * fills this one. @default none
   */
  registry?: { pollSeconds?: number };
  /** Longest wait for an origin to become ready. @default 120000 */
  originReadyTimeoutMs?: number;
  /** Longest wait for an edge to answer /v2/health/live. @default 180000 */
  edgeReadyTimeoutMs?: number;
}

export interface OriginHandle {
  url: string;
  port: number;
  /** The running child (replaced by restart()). */
  process: ChildProcess;
  /** Sends a signal to the origin process itself (SIGTERM drains; SIGKILL is a crash). */
  kill(signal: NodeJS.Signals): void;
  /** Resolves when the current process has exited; the exit code (null when killed by a signal). */
  exited(): Promise<number | null>;
  /** Starts a fresh origin process on the same port and waits until it is ready. */
  restart(): Promise<void>;
}

export interface EdgeHandle {
  url: string;
  port: number;
  /**
   * Its wrangler dev `--persist-to` folder (Durable Objects, cache, R2, queues of its own). Its `v3/d1` and
   * `v3/kv` are edge-0's (see TENANT_STORE_DIRS): every edge of a stack reads and writes one tenant store.
   */
  statePath: string;
  /** The running child (replaced by restart()). */
  process: ChildProcess;
  /** Stops this edge (its whole process group: wrangler and workerd). */
  stop(): Promise<void>;
  /** Resolves when the current process has exited; the exit code (null when killed by a signal). */
  exited(): Promise<number | null>;
  /** Starts a fresh edge on the same port (and state folder) and waits until it answers. */
  restart(): Promise<void>;
}

export interface Stack {
  edgeUrl: string;
  edge: EdgeHandle;
  originUrls: string[];
  origins: OriginHandle[];
  apiKeys: StackKey[];
  /** The HMAC secret shared by edge and origin. */
  signingSecret: string;
  /** The effective edge vars (wrangler.toml's overridden by options.edgeVars), secrets included. */
  edgeVars: Record<string, string>;
  bridge: UpstashBridge | undefined;
  /** The Redis behind the bridge; `process` is set when this stack spawned it. */
  redis: { url: string; describe: string; process: ChildProcess | undefined } | undefined;
  /** A line saying where shared state lives (for banners). */
  sharedStateDescription: string;
  /** The local S3 stand-in the origins poll (with `registry`), and how to reach it. */
  s3: Pick<LocalS3, 'endpoint' | 'bucket' | 'accessKeyId' | 'secretAccessKey'> | undefined;
  /**
   * Starts another edge (a fresh PoP: own workerd, own L1 cache, own Durable Objects) with the same configuration,
   * shared state and tenant store (edge-0's local D1 and KV: TENANT_STORE_DIRS).
   */
  startEdge(extraVars?: Record<string, string>): Promise<EdgeHandle>;
  /** Stops every process this stack started, the bridge and the Redis. Idempotent. */
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (listen on 0, read it, close). */
export async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => done(port));
    });
  });
}

function checkPort(name: string, v: number | undefined): number {
  const n = v ?? 0;
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new TypeError(`${name} must be an integer in [0, 65535], got ${String(v)}`);
  return n;
}

function checkPositive(name: string, v: number | undefined, fallback: number): number {
  const n = v ?? fallback;
  if (!Number.isInteger(n) || n < 1) throw new TypeError(`${name} must be an integer >= 1, got ${String(v)}`);
  return n;
}

/** What a child printed: its last lines, and the first one that says it failed (see startupErrors). */
interface ChildOutput {
  tail: string[];
  firstError: string | undefined;
}
const TAIL_LINES = 20;
const outputs = new WeakMap<ChildProcess, ChildOutput>();

// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI colour codes are what it strips
const ANSI = /\u001b\[[0-9;]*m/g;

/** Says whether a line a component printed means that it failed to start. */
export type StartupErrorTest = (line: string) => boolean;

/**
 * The lines that say a component failed:
 *  - wrangler: its `✘ [ERROR]` marker (wrangler dev keeps running after refusing a Worker, so the process alone
 *    never tells). Only that: wrangler dev also prints plain `Error: getaddrinfo ENOTFOUND` lines offline (its
 *    Request.cf fetch) and carries on.
 *  - node (the origin): an uncaught JavaScript error (`TypeError: ...`) or a pino record at level error or fatal
 *    ('origin failed to start').
 */
export const startupErrors: { wrangler: StartupErrorTest; node: StartupErrorTest } = {
  wrangler: (line) => line.replace(ANSI, '').includes('✘ [ERROR]'),
  node: (line) => {
    const text = line.replace(ANSI, '').trim();
    if (/^(?:Uncaught )?(?:[A-Z][A-Za-z]*)?Error(?: \[[A-Z_]+\])?:/.test(text)) return true;
    return text.startsWith('{') && /"level":(?:50|60)\b/.test(text);
  },
};

/** Why a child did not start: its first error line, else its last lines; '' when it printed nothing. */
function whyNotStarted(child: ChildProcess): string {
  const out = outputs.get(child);
  if (out === undefined) return '';
  if (out.firstError !== undefined) return `: ${out.firstError.slice(0, 500)}`;
  return out.tail.length === 0 ? '' : `; its last lines:\n  ${out.tail.join('\n  ').slice(-2000)}`;
}

/** Every process group this module started and has not seen exit, for the last-resort exit hook. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

export function launch(
  label: string,
  args: string[],
  env: Record<string, string>,
  log: StackOptions['log'],
  failed: StartupErrorTest = startupErrors.node,
): ChildProcess {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of live) killGroup(c, 'SIGKILL');
    });
  }
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  const output: ChildOutput = { tail: [], firstError: undefined };
  outputs.set(child, output);
  const forward = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim() === '') continue;
      const plain = line.replace(ANSI, '');
      output.tail.push(plain);
      if (output.tail.length > TAIL_LINES) output.tail.shift();
      if (output.firstError === undefined && failed(plain)) output.firstError = plain.trim();
      log?.(label, line);
    }
  };
  child.stdout?.on('data', forward);
  child.stderr?.on('data', forward);
  return child;
}

function running(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

function exitOf(child: ChildProcess): Promise<number | null> {
  if (!running(child)) return Promise.resolve(child.exitCode);
  return new Promise((done) => child.once('exit', (code) => done(code)));
}

/** SIGTERM to the group, SIGKILL after `graceMs`; resolves once the leader exited. */
async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (!running(child)) {
    killGroup(child, 'SIGKILL'); // stragglers in the group (workerd under wrangler)
    return;
  }
  const exited = exitOf(child);
  killGroup(child, 'SIGTERM');
  const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
  killGroup(child, 'SIGKILL');
}

/**
 * Polls `url` until it answers 2xx. Fails at once, saying why, when the child exits first or prints an error line
 * (startupErrors: wrangler dev refusing the Worker keeps running), and after 10 s of 500s (up but misconfigured).
 */
export async function waitReady(
  url: string,
  what: string,
  child: ChildProcess,
  timeoutMs: number,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  // A server that answers 500 again and again is up but misconfigured: say why instead of waiting it out.
  let failingSince: number | undefined;
  while (Date.now() < until) {
    if (!running(child))
      throw new Error(
        `${what} exited (code ${child.exitCode}, signal ${child.signalCode}) before it was ready${whyNotStarted(child)}`,
      );
    const failed = outputs.get(child)?.firstError;
    if (failed !== undefined) throw new Error(`${what} failed to start: ${failed.slice(0, 500)}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      const body = await res.text();
      if (res.ok) return;
      if (res.status !== 500) failingSince = undefined;
      else if (failingSince === undefined) failingSince = Date.now();
      else if (Date.now() - failingSince > 10_000)
        throw new Error(`${what} answers ${url} with 500 (misconfigured?): ${body.slice(0, 300)}`);
    } catch (err) {
      if (err instanceof Error && err.message.startsWith(what)) throw err;
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} was not ready at ${url} within ${timeoutMs} ms${whyNotStarted(child)}`);
}

/** The limits of each tier as the edge will see them: RATE_LIMIT_TIERS when set, else edge/src/rate-tiers.json. */
function tierLimits(vars: Record<string, string>): Record<string, { limit: number; window: string }> {
  if (vars.RATE_LIMIT_TIERS === undefined || vars.RATE_LIMIT_TIERS === '') return defaultRateTiers;
  try {
    const parsed = JSON.parse(vars.RATE_LIMIT_TIERS) as Record<string, { limit: number; window: string }>;
    return typeof parsed === 'object' && parsed !== null ? parsed : {};
  } catch {
    return {};
  }
}

/** Runs `wrangler d1 <args> DB --local --persist-to <persistTo>` on the tenant store; throws saying `what` failed. */
async function wranglerD1(args: string[], persistTo: string, what: string): Promise<void> {
  const child = spawn(
    process.execPath,
    [
      WRANGLER,
      'd1',
      ...args,
      'DB',
      '--local',
      '--persist-to',
      persistTo,
      '--config',
      join(ROOT, 'wrangler.toml'),
    ],
    {
      cwd: ROOT,
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  // Only the end matters (the reason it failed); `d1 execute` prints every statement's result.
  let out = '';
  const keep = (b: Buffer) => {
    out = (out + b.toString('utf8')).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const code = await exitOf(child);
  if (code !== 0) {
    const first =
      out.split('\n').find((l) => startupErrors.wrangler(l)) ?? out.trim().split('\n').slice(-5).join('\n');
    throw new Error(`${what} (exit ${code}): ${first.replace(ANSI, '').slice(0, 500)}`);
  }
}

/**
 * Applies the tenant store's D1 migrations (edge/migrations) to a local state folder, as `wrangler d1 migrations
 * apply DB --local` does (idempotent: applied ones are recorded).
 */
export async function applyD1Migrations(persistTo: string): Promise<void> {
  await wranglerD1(['migrations', 'apply'], persistTo, 'the D1 migrations did not apply');
}

/**
 * Runs a SQL file on a local state folder's tenant store (`wrangler d1 execute DB --local --file`), e.g. to seed it
 * in bulk (bench/keys.ts: 100,000 keys, 24 MB of SQL, in ~8 s). Edges may run on it meanwhile (TENANT_STORE_DIRS).
 */
export async function executeD1File(persistTo: string, file: string): Promise<void> {
  await wranglerD1(['execute', '--file', file], persistTo, `wrangler d1 execute --file ${file} failed`);
}

/**
 * The folders of a wrangler dev state (`--persist-to`) that hold the tenant store: local D1
 * (`v3/d1/miniflare-D1DatabaseObject/<id>.sqlite`) and local KV (`v3/kv`). On Cloudflare both are global: a key
 * created at one PoP works at every PoP. Locally each `wrangler dev` has its own state, so the stack's further
 * edges get these folders as symlinks to edge-0's (shareTenantStore); the rest (Durable Objects, the cache API,
 * R2, queues) stays per edge, as per PoP or per object as on Cloudflare. The D1 database is SQLite in WAL mode (its
 * -wal and -shm files lie next to it), shared between processes by SQLite's own locking: two edges and `wrangler d1
 * execute --local` used it at once without an error (bench:keys: reads at both, admin writes at both, a 24 MB seed
 * while both ran), and a change at one edge is read at the other at once.
 */
export const TENANT_STORE_DIRS = ['v3/d1', 'v3/kv'] as const;

/**
 * Makes `state`'s tenant store folders (TENANT_STORE_DIRS) links to `primary`'s, creating `primary`'s first when
 * missing. Idempotent; refuses a state folder that already has a tenant store of its own.
 */
export function shareTenantStore(primary: string, state: string): void {
  for (const dir of TENANT_STORE_DIRS) {
    const target = resolve(primary, dir);
    const link = join(state, dir);
    mkdirSync(target, { recursive: true });
    mkdirSync(join(link, '..'), { recursive: true });
    const existing = lstatSync(link, { throwIfNoEntry: false });
    if (existing !== undefined) {
      if (existing.isSymbolicLink() && resolve(link, '..', readlinkSync(link)) === target) continue;
      throw new Error(`${link} exists and is not a link to ${target}: it holds a tenant store of its own`);
    }
    symlinkSync(target, link, 'dir');
  }
}

/** Runs scripts/edge-release.ts when its --check finds edge/src/model/release.ts out of date. */
export function ensureEdgeRelease(log?: StackOptions['log']): void {
  const script = join(ROOT, 'scripts/edge-release.ts');
  if (!existsSync(script)) return;
  const check = spawnSync(process.execPath, [script, '--check'], { cwd: ROOT, encoding: 'utf8' });
  if (check.status === 0) return;
  log?.('edge-release', 'edge/src/model/release.ts is stale: running npm run edge:release');
  const run = spawnSync(process.execPath, [script], { cwd: ROOT, encoding: 'utf8' });
  if (run.status !== 0)
    throw new Error(`scripts/edge-release.ts failed (exit ${run.status}): ${run.stderr.slice(0, 500)}`);
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const edgePortOpt = checkPort('edgePort', options.edgePort);
  const originPortOpt = checkPort('originPort', options.originPort);
  const originCount = options.origins ?? 1;
  if (!Number.isInteger(originCount) || originCount < 0 || originCount > 16) {
    throw new TypeError(`origins must be an integer in [0, 16], got ${String(options.origins)}`);
  }
  const mode = options.sharedState ?? 'test';
  if (!['auto', 'test', 'spawn', 'none'].includes(mode)) {
    throw new TypeError(`sharedState must be auto | test | spawn | none, got ${JSON.stringify(mode)}`);
  }
  const originReadyMs = checkPositive('originReadyTimeoutMs', options.originReadyTimeoutMs, 120_000);
  const edgeReadyMs = checkPositive('edgeReadyTimeoutMs', options.edgeReadyTimeoutMs, 180_000);
  const log = options.log;

  if (options.ensureEdgeRelease ?? true) ensureEdgeRelease(log);

  const tmp = mkdtempSync(join(tmpdir(), 'eoi-stack-'));
  const origins: OriginHandle[] = [];
  const edges: EdgeHandle[] = [];
  let bridge: UpstashBridge | undefined;
  let redisStop: (() => Promise<void>) | undefined;
  let redis: Stack['redis'];
  let s3: LocalS3 | undefined;
  let stopped = false;

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all([...edges.map((e) => e.stop()), ...origins.map((o) => stopChild(o.process, 10_000))]);
    await bridge?.close().catch(() => {});
    await redisStop?.().catch(() => {});
    await s3?.stop().catch(() => {});
    rmSync(tmp, { recursive: true, force: true });
  };

  try {
    const signingSecret = randomBytes(32).toString('hex');
    if (options.registry !== undefined) s3 = await startLocalS3({ dir: join(tmp, 's3') });
    const registryEnv: Record<string, string> =
      s3 === undefined
        ? {}
        : {
            MODEL_REGISTRY_S3_ENDPOINT: s3.endpoint,
            MODEL_REGISTRY_BUCKET: s3.bucket,
            MODEL_REGISTRY_ACCESS_KEY_ID: s3.accessKeyId,
            MODEL_REGISTRY_SECRET_ACCESS_KEY: s3.secretAccessKey,
            MODEL_REGISTRY_MODELS: 'spam,digits',
            MODEL_REGISTRY_POLL_SECONDS: String(options.registry?.pollSeconds ?? 5),
            MODEL_REGISTRY_CACHE_DIR: join(tmp, 'registry-cache'),
          };

    // Origins first: they take longest (model load), the rest starts meanwhile.
    const startOrigin = (index: number, port: number): OriginHandle => {
      const env = {
        ORIGIN_PORT: String(port),
        ORIGIN_HOST: '127.0.0.1',
        MODEL_REPOSITORY: join(ROOT, 'models'),
        // The two newest releases of each model, as the edge bundle embeds them (a stable and a candidate).
        MODEL_VERSION_POLICY: 'latest:2',
        ORIGIN_SIGNING_SECRET: signingSecret,
        ...registryEnv,
        ...options.originEnv,
      };
      const spawnIt = () => launch(`origin-${index}`, [...ORIGIN_NODE_FLAGS, 'origin/src/main.ts'], env, log);
      const handle: OriginHandle = {
        url: `http://127.0.0.1:${port}`,
        port,
        process: spawnIt(),
        kill(signal) {
          if (running(handle.process) && handle.process.pid !== undefined)
            process.kill(handle.process.pid, signal);
        },
        exited: () => exitOf(handle.process),
        async restart() {
          if (running(handle.process)) await stopChild(handle.process, 10_000);
          handle.process = spawnIt();
          await waitReady(`${handle.url}/v2/health/ready`, `origin-${index}`, handle.process, originReadyMs);
        },
      };
      return handle;
    };
    for (let i = 0; i < originCount; i++) {
      const port = i === 0 && originPortOpt !== 0 ? originPortOpt : await freePort();
      origins.push(startOrigin(i, port));
    }

    // Shared state.
    let state: { url: string; token: string } | undefined;
    let sharedStateDescription =
      'none: rate limiting and the global L2 cache are OFF; the per-PoP L1 cache is on';
    const envUrl = process.env.UPSTASH_REDIS_REST_URL;
    const envToken = process.env.UPSTASH_REDIS_REST_TOKEN;
    if (mode === 'auto' && envUrl && envToken) {
      state = { url: envUrl, token: envToken };
      sharedStateDescription = `Upstash at ${envUrl} (UPSTASH_REDIS_REST_URL)`;
    } else if (mode !== 'none') {
      let found:
        | { url: string; describe: string; process: ChildProcess | undefined; stop(): Promise<void> }
        | undefined;
      if (mode === 'auto') {
        const r = await findRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
        if (r !== undefined) found = { ...r, process: undefined, stop: () => r.stop() };
      } else {
        const r = await startRedisForTests({ spawn: mode === 'spawn' });
        found = {
          url: r.url,
          describe: r.spawned ? `redis-server spawned at ${r.url}` : `Redis database ${r.db} of ${r.url}`,
          process: r.process,
          stop: () => r.stop(),
        };
      }
      if (found !== undefined) {
        redisStop = found.stop;
        redis = { url: found.url, describe: found.describe, process: found.process };
        const token = randomBytes(24).toString('hex');
        bridge = await startUpstashBridge({
          redisUrl: found.url,
          token,
          host: '127.0.0.1',
          port: 0,
          maxReconnectDelayMs: 200,
        });
        state = { url: bridge.url, token };
        sharedStateDescription = `Upstash REST bridge ${bridge.url} -> ${found.describe}`;
      }
    }

    // Keys and edge vars.
    const keySpecs = options.keys ?? [{ name: 'e2e-pro', tier: 'pro' }];
    const edgeVars: Record<string, string> = {
      ORIGIN_URLS: origins.map((o) => o.url).join(','),
      ORIGIN_SIGNING_SECRET: signingSecret,
      CONSOLE_SESSION_SECRET: randomBytes(32).toString('hex'),
      WEBHOOK_SIGNING_SECRET: randomBytes(32).toString('hex'),
      // Keys created on the local stack say so: sk_dev_...
      KEY_ENV: 'dev',
      ...(state === undefined
        ? {}
        : { UPSTASH_REDIS_REST_URL: state.url, UPSTASH_REDIS_REST_TOKEN: state.token }),
      ...options.edgeVars,
    };
    const limits = tierLimits(edgeVars);
    const apiKeys: StackKey[] = keySpecs.map((s) => ({
      key: `sk_local_${randomBytes(18).toString('hex')}`,
      name: s.name,
      tier: s.tier ?? 'pro',
      models: s.models ?? ['*'],
      scopes: s.scopes ?? ['infer'],
      limit: limits[s.tier ?? 'pro'],
    }));
    if (edgeVars.API_KEYS === undefined) {
      const record: Record<string, { name: string; models: string[]; tier: string; scopes: string[] }> = {};
      for (const k of apiKeys)
        record[createHash('sha256').update(k.key).digest('hex')] = {
          name: k.name,
          models: k.models,
          tier: k.tier,
          scopes: k.scopes,
        };
      edgeVars.API_KEYS = JSON.stringify(record);
    }
    for (const [k, v] of Object.entries(edgeVars)) {
      if (v.includes("'") || v.includes('\n'))
        throw new TypeError(
          `edgeVars.${k} must hold no single quote or newline, got ${JSON.stringify(v.slice(0, 40))}`,
        );
    }

    let edgeCount = 0;
    const startEdge = async (extraVars: Record<string, string> = {}, port = 0): Promise<EdgeHandle> => {
      const index = edgeCount++;
      const edgePort = port !== 0 ? port : await freePort();
      // Secrets and overrides go through an env file in a private temp folder; its values override [vars].
      const envFile = join(tmp, `edge-${index}.env`);
      const lines = Object.entries({ ...edgeVars, ...extraVars }).map(([k, v]) => `${k}='${v}'`);
      writeFileSync(envFile, `${lines.join('\n')}\n`, { mode: 0o600 });
      const state = join(tmp, `wrangler-state-${index}`);
      // One tenant store for all edges, as D1 and KV are global on Cloudflare: edge-0's (TENANT_STORE_DIRS).
      if (index > 0) shareTenantStore(join(tmp, 'wrangler-state-0'), state);
      const launchEdge = async (): Promise<ChildProcess> => {
        await applyD1Migrations(state);
        return launch(
          `edge-${index}`,
          [
            WRANGLER,
            'dev',
            ...(options.edgeEntry === undefined ? [] : [options.edgeEntry]),
            '--config',
            join(ROOT, 'wrangler.toml'),
            '--ip',
            '127.0.0.1',
            '--port',
            String(edgePort),
            '--inspector-port',
            String(await freePort()),
            '--env-file',
            envFile,
            '--show-interactive-dev-session=false',
            '--persist-to',
            state,
          ],
          { WRANGLER_SEND_METRICS: 'false', CI: '1' },
          log,
          startupErrors.wrangler,
        );
      };
      const handle: EdgeHandle = {
        url: `http://127.0.0.1:${edgePort}`,
        port: edgePort,
        statePath: state,
        process: await launchEdge(),
        stop: () => stopChild(handle.process, 10_000),
        exited: () => exitOf(handle.process),
        restart: async () => {
          if (running(handle.process)) await stopChild(handle.process, 10_000);
          handle.process = await launchEdge();
          await waitReady(`${handle.url}/v2/health/live`, `edge-${index}`, handle.process, edgeReadyMs);
        },
      };
      edges.push(handle);
      await waitReady(`${handle.url}/v2/health/live`, `edge-${index}`, handle.process, edgeReadyMs);
      return handle;
    };

    const edgeStarting = startEdge({}, edgePortOpt);
    await Promise.all([
      edgeStarting,
      ...origins.map((o, i) =>
        waitReady(`${o.url}/v2/health/ready`, `origin-${i}`, o.process, originReadyMs),
      ),
    ]);
    const edge = await edgeStarting;

    return {
      edgeUrl: edge.url,
      edge,
      originUrls: origins.map((o) => o.url),
      origins,
      apiKeys,
      signingSecret,
      edgeVars,
      bridge,
      redis,
      sharedStateDescription,
      s3:
        s3 === undefined
          ? undefined
          : {
              endpoint: s3.endpoint,
              bucket: s3.bucket,
              accessKeyId: s3.accessKeyId,
              secretAccessKey: s3.secretAccessKey,
            },
      startEdge: (extra) => startEdge(extra),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
