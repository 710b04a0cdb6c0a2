/**
 * `npm start`: the whole stack on one machine, on embedded defaults (scripts/stack.ts does the work).
 *
 *   origin  node origin/src/main.ts     the real teacher from models/, signed requests only
 *   state   Upstash from UPSTASH_REDIS_REST_URL/TOKEN when set; otherwise the Upstash REST bridge in front of a
 *           Redis (127.0.0.1:6379 when it answers, else a redis-server started here); otherwise none (rate
 *           limiting and the global L2 cache are off, the per-PoP L1 cache stays) and it says so
 *   edge    wrangler dev (workerd) on the Worker in edge/, wired to the origin with generated local secrets
 *
 * It prints a demo API key and a sample curl. A component that dies is restarted with backoff while the others
 * keep running (scripts/supervise.ts). Ctrl-C (or SIGTERM) stops everything it started.
 * Environment: EDGE_PORT (default 8787), ORIGIN_PORT (default 8000), REDIS_URL (default redis://127.0.0.1:6379).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { LOCAL_STACK_FILE, type Stack, startStack } from './stack.ts';
import { supervise } from './supervise.ts';

function log(line: string): void {
  process.stdout.write(`[start] ${line}\n`);
}

function portFrom(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 65535)
    throw new TypeError(`${name} must be a port in [1, 65535], got ${raw}`);
  return n;
}

export default async function start(): Promise<void> {
  const edgePort = portFrom('EDGE_PORT', 8787);
  const originPort = portFrom('ORIGIN_PORT', 8000);
  let stack: Stack | undefined;
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping edge, origin and shared state`);
    (stack?.stop() ?? Promise.resolve()).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));

  try {
    log('starting origin, shared state and edge');
    stack = await startStack({
      edgePort,
      originPort,
      sharedState: 'auto',
      // The origin polls a local S3 stand-in for the R2 model registry (npm run publish -- <dir> --s3 fills it).
      registry: {},
      keys: [
        { name: 'local-demo', tier: 'pro' },
        { name: 'local-admin', tier: 'internal', scopes: ['admin'] },
      ],
      log: (label, line) => process.stdout.write(`[${label.replace(/-0$/, '')}] ${line}\n`),
    });
  } catch (err) {
    log(`start-up failed: ${(err as Error).message}`);
    process.exit(1);
  }
  log(
    stack.bridge === undefined && stack.edgeVars.UPSTASH_REDIS_REST_URL === undefined
      ? 'no Upstash, no reachable Redis and no redis-server: using no shared store (in-memory only): rate limiting and the global L2 cache are OFF; the per-PoP L1 cache is on'
      : `shared state: ${stack.sharedStateDescription}`,
  );
  log(`origin ready on ${stack.originUrls[0]}`);

  const base = stack.edgeUrl;
  const apiKey = stack.apiKeys[0]?.key ?? '';
  const adminKey = stack.apiKeys[1]?.key ?? '';
  // `npm run drift` / `rollout` read the running stack's edge URL and keys from here (git-ignored, owner-only).
  mkdirSync('.wrangler', { recursive: true });
  writeFileSync(
    LOCAL_STACK_FILE,
    `${JSON.stringify({ edgeUrl: base, adminKey, demoKey: apiKey, s3: stack.s3 })}\n`,
    {
      mode: 0o600,
    },
  );
  process.stdout.write(
    [
      '',
      '  edge-origin-inference is up',
      `    edge    ${base}   (workerd via wrangler dev)`,
      `    origin  ${stack.originUrls[0]}   (metrics: /metrics)`,
      `    demo API key: ${apiKey}`,
      `    admin key:    ${adminKey}   (npm run drift: traffic and drift per model version)`,
      '',
      '  Try:',
      `    curl -s ${base}/v1/models/spam/classify \\`,
      `      -H 'authorization: Bearer ${apiKey}' -H 'content-type: application/json' \\`,
      `      -d '{"text":"Subject: WIN a FREE cruise!!! Click http://win.example.com now"}'`,
      '',
      '  A job (the test split, asynchronously; README "Jobs"):',
      '    npm run -s test-split > test-split.ndjson',
      `    curl -s ${base}/v1/models/spam/jobs -H 'authorization: Bearer ${apiKey}' \\`,
      "      -H 'content-type: application/x-ndjson' --data-binary @test-split.ndjson",
      '',
      '  Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );

  // A component that dies is restarted with backoff while the others keep serving (kill the origin to watch the
  // edge answer `edge-degraded`, then come back); Ctrl-C stops everything.
  void supervise(
    [
      { name: 'edge', exited: () => stack.edge.exited(), restart: () => stack.edge.restart() },
      ...stack.origins.map((o, i) => ({
        name: stack.origins.length === 1 ? 'origin' : `origin-${i}`,
        exited: () => o.exited(),
        restart: () => o.restart(),
      })),
    ],
    { log, stopping: () => stopping },
  );
}

if (import.meta.main) await start();
