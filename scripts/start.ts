/**
 * `npm start`: the whole stack on one machine, on embedded defaults.
 *
 *   origin  node origin/src/main.ts     the real teacher from models/, signed requests only
 *   state   Upstash from UPSTASH_REDIS_REST_URL/TOKEN when set; otherwise the Upstash REST bridge in front of a
 *           Redis (127.0.0.1:6379 when it answers, else a redis-server started here); otherwise none (rate
 *           limiting and the global L2 cache are off, the per-PoP L1 cache stays) and it says so
 *   edge    wrangler dev (workerd) on the Worker in edge/, wired to the origin with generated local secrets
 *
 * It prints a demo API key and a sample curl. Ctrl-C (or SIGTERM) stops everything it started.
 * Environment: EDGE_PORT (default 8787), ORIGIN_PORT (default 8000), REDIS_URL (default redis://127.0.0.1:6379).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startUpstashBridge, type UpstashBridge } from '../infra/upstash-bridge/index.ts';
import { findRedis, type LocalRedis } from './local-redis.ts';

const root = resolve(import.meta.dirname, '..');

interface Stack {
  children: ChildProcess[];
  bridge?: UpstashBridge;
  redis?: LocalRedis;
  tmp: string;
}

function log(line: string): void {
  process.stdout.write(`[start] ${line}\n`);
}

function portFrom(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new TypeError(`${name} must be a port in [1, 65535], got ${raw}`);
  return n;
}

/** Spawns a child in its own process group (so Ctrl-C reaches us first and we stop the group), prefixing its output. */
function launch(stack: Stack, label: string, args: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const prefix = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') process.stdout.write(`[${label}] ${line}\n`);
  };
  child.stdout?.on('data', prefix);
  child.stderr?.on('data', prefix);
  stack.children.push(child);
  return child;
}

async function waitFor(url: string, what: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`${what} exited with code ${child.exitCode} before it was ready`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what} was not ready at ${url} within ${timeoutMs} ms`);
}

async function stopAll(stack: Stack): Promise<void> {
  const exits = stack.children
    .filter((c) => c.exitCode === null && c.signalCode === null)
    .map(
      (c) =>
        new Promise<void>((done) => {
          const timer = setTimeout(() => {
            try {
              if (c.pid !== undefined) process.kill(-c.pid, 'SIGKILL');
            } catch {
              // already gone
            }
            done();
          }, 15_000);
          c.once('exit', () => {
            clearTimeout(timer);
            done();
          });
          try {
            if (c.pid !== undefined) process.kill(-c.pid, 'SIGTERM');
          } catch {
            clearTimeout(timer);
            done();
          }
        }),
    );
  await Promise.all(exits);
  await stack.bridge?.close().catch(() => {});
  await stack.redis?.stop().catch(() => {});
  rmSync(stack.tmp, { recursive: true, force: true });
}

async function sharedState(stack: Stack): Promise<{ url: string; token: string; how: string } | undefined> {
  const url = process.env.UPSTASH_REDIS_REST_URL;
  const token = process.env.UPSTASH_REDIS_REST_TOKEN;
  if (url && token) return { url, token, how: `Upstash at ${url} (UPSTASH_REDIS_REST_URL)` };
  const redis = await findRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  if (redis === undefined) return undefined;
  stack.redis = redis;
  const bridgeToken = randomBytes(24).toString('hex');
  stack.bridge = await startUpstashBridge({ redisUrl: redis.url, token: bridgeToken, host: '127.0.0.1', port: 0 });
  return { url: stack.bridge.url, token: bridgeToken, how: `Upstash REST bridge ${stack.bridge.url} -> ${redis.describe}` };
}

export default async function start(): Promise<void> {
  const edgePort = portFrom('EDGE_PORT', 8787);
  const originPort = portFrom('ORIGIN_PORT', 8000);
  const stack: Stack = { children: [], tmp: mkdtempSync(join(tmpdir(), 'eoi-start-')) };

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping edge, origin and shared state`);
    stopAll(stack).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));

  try {
    // Generated local secrets: a demo API key (the edge stores only its sha256) and the edge->origin HMAC secret.
    const apiKey = `sk_local_${randomBytes(18).toString('hex')}`;
    const signingSecret = randomBytes(32).toString('hex');
    const keyHash = createHash('sha256').update(apiKey).digest('hex');
    const apiKeys = { [keyHash]: { name: 'local-demo', models: ['*'], tier: 'pro' } };

    const origin = launch(stack, 'origin', ['origin/src/main.ts'], {
      ORIGIN_PORT: String(originPort),
      ORIGIN_HOST: '127.0.0.1',
      MODEL_REPOSITORY: join(root, 'models'),
      ORIGIN_SIGNING_SECRET: signingSecret,
    });
    const state = await sharedState(stack);
    log(
      state === undefined
        ? 'no Upstash, no reachable Redis and no redis-server: using no shared store (in-memory only): rate limiting and the global L2 cache are OFF; the per-PoP L1 cache is on'
        : `shared state: ${state.how}`,
    );

    // Secrets go to wrangler through an env file in a private temp folder, never into the repo.
    const envFile = join(stack.tmp, 'edge.env');
    const vars: Record<string, string> = {
      API_KEYS: JSON.stringify(apiKeys),
      ORIGIN_SIGNING_SECRET: signingSecret,
      ORIGIN_URLS: `http://127.0.0.1:${originPort}`,
      ...(state === undefined ? {} : { UPSTASH_REDIS_REST_URL: state.url, UPSTASH_REDIS_REST_TOKEN: state.token }),
    };
    // Single quotes: dotenv takes the value literally (JSON's double quotes survive); none of these hold a quote.
    const lines = Object.entries(vars).map(([k, v]) => `${k}='${v}'`);
    writeFileSync(envFile, `${lines.join('\n')}\n`, { mode: 0o600 });

    await waitFor(`http://127.0.0.1:${originPort}/v2/health/ready`, 'origin', origin, 120_000);
    log(`origin ready on http://127.0.0.1:${originPort}`);

    const edge = launch(
      stack,
      'edge',
      [
        join(root, 'node_modules/wrangler/bin/wrangler.js'),
        'dev',
        '--config',
        join(root, 'wrangler.toml'),
        '--ip',
        '127.0.0.1',
        '--port',
        String(edgePort),
        '--env-file',
        envFile,
        '--show-interactive-dev-session=false',
        '--persist-to',
        join(stack.tmp, 'wrangler-state'),
      ],
      { WRANGLER_SEND_METRICS: 'false', CI: '1' },
    );
    await waitFor(`http://127.0.0.1:${edgePort}/v2/health/live`, 'edge', edge, 180_000);

    const base = `http://127.0.0.1:${edgePort}`;
    process.stdout.write(
      [
        '',
        '  edge-origin-inference is up',
        `    edge    ${base}   (workerd via wrangler dev)`,
        `    origin  http://127.0.0.1:${originPort}   (metrics: /metrics)`,
        `    demo API key: ${apiKey}`,
        '',
        '  Try:',
        `    curl -s ${base}/v1/models/spam/classify \\`,
        `      -H 'authorization: Bearer ${apiKey}' -H 'content-type: application/json' \\`,
        `      -d '{"text":"Subject: WIN a FREE cruise!!! Click http://win.example.com now"}'`,
        '',
        '  Ctrl-C stops everything.',
        '',
      ].join('\n'),
    );

    for (const child of stack.children) {
      child.once('exit', (code, signal) => {
        if (!stopping) {
          log(`a component exited (code ${code}, signal ${signal}); stopping the rest`);
          shutdown('exit');
        }
      });
    }
  } catch (err) {
    log(`start-up failed: ${(err as Error).message}`);
    await stopAll(stack);
    process.exit(1);
  }
}

if (import.meta.main) await start();
