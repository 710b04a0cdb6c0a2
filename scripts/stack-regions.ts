/**
 * `npm run stack:regions`: the local stack with origin pools in three regions (issue #26), as a library and a CLI.
 *
 *   pools   eu, us, ap: each one or more origin processes (the real teacher, `node origin/src/main.ts`), every
 *           origin behind a fault-and-delay proxy of its own (scripts/fault-proxy.ts), so one pool can be slowed,
 *           made flaky or blackholed while the others stay healthy
 *   RTT     a colo-to-pool round-trip matrix (RTT_MS: FRA, IAD, SIN x eu, us, ap): ORIGIN_NEARBY's seeds, and each
 *           proxy's baseline `latency_by_colo`, added per request by the `x-edge-colo` header the edge sends
 *   edge    wrangler dev (scripts/stack.ts) with ORIGIN_POOLS pointing at the proxies, ORIGIN_NEARBY, and
 *           DEV_COLO_HEADER=x-dev-colo: wrangler dev's request.cf is a mock, so a request says where it "entered"
 *           with `x-dev-colo: FRA`. Benchmarks skip it (`edge: 'none'`) and run the edge bundle in Miniflare with
 *           `edgeVars`, setting `cf.colo` per request (bench/regions.ts).
 *   keys    one unrestricted key, one pinned to the eu region (`regions: ["eu"]`), one admin key
 *
 * Faults per pool go to its proxies' control route (`POST /__fault`, see scripts/fault-proxy.ts); `DELETE
 * /__fault` returns a proxy to its baseline (the RTT matrix stays). Ctrl-C stops everything it started.
 * Environment: EDGE_PORT (default 8787), REGIONS_ORIGINS_PER_POOL (default 1).
 */
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ORIGIN_NODE_FLAGS } from '../origin/src/node-flags.ts';
import { type Fault, type FaultCounts, type FaultProxy, startFaultProxy, zeroCounts } from './fault-proxy.ts';
import { freePort, launch, type SharedStateMode, type Stack, startStack, waitReady } from './stack.ts';

const ROOT = resolve(import.meta.dirname, '..');

export const REGIONS = ['eu', 'us', 'ap'] as const;
export type Region = (typeof REGIONS)[number];
export const COLOS = ['FRA', 'IAD', 'SIN'] as const;
export type Colo = (typeof COLOS)[number];

/** Where each emulated colo is (request.cf country and continent) and its nearest region. */
export const COLO_INFO: Record<Colo, { country: string; continent: string; nearest: Region }> = {
  FRA: { country: 'DE', continent: 'EU', nearest: 'eu' },
  IAD: { country: 'US', continent: 'NA', nearest: 'us' },
  SIN: { country: 'SG', continent: 'AS', nearest: 'ap' },
};

/** Round trip from a colo to a region's pool, ms: the nearby seeds and what the proxies add. */
export const RTT_MS: Record<Colo, Record<Region, number>> = {
  FRA: { eu: 5, us: 90, ap: 160 },
  IAD: { us: 5, eu: 80, ap: 150 },
  SIN: { ap: 5, us: 140, eu: 150 },
};

/** The header DEV_COLO_HEADER names in the wrangler dev stack. */
export const DEV_COLO_HEADER = 'x-dev-colo';

/** ORIGIN_NEARBY for RTT_MS (pool ids are the region names): per colo and per continent, IAD's as the default. */
export function nearbyConfig(): string {
  const list = (colo: Colo) =>
    Object.entries(RTT_MS[colo])
      .sort((a, b) => a[1] - b[1])
      .map(([region, ms]) => [region, ms]);
  return JSON.stringify({
    default: list('IAD'),
    continents: Object.fromEntries(COLOS.map((c) => [COLO_INFO[c].continent, list(c)])),
    colos: Object.fromEntries(COLOS.map((c) => [c, list(c)])),
  });
}

/** A proxy's baseline: the RTT from every colo to `region`. */
export function latencyByColo(region: Region): Record<string, number> {
  return Object.fromEntries(COLOS.map((c) => [c, RTT_MS[c][region]]));
}

export interface RegionsStackOptions {
  /** Origin processes per pool (1 each spares a 2-core machine). @default 1 */
  originsPerPool?: number;
  /**
   * 'wrangler': the edge in wrangler dev (the CLI); 'none': no edge, the caller runs the bundle itself with
   * `edgeVars` (wrangler dev's proxy adds milliseconds: FACTS.md). @default 'wrangler'
   */
  edge?: 'wrangler' | 'none';
  /** Edge port with 'wrangler'; 0 picks a free one. @default 0 */
  edgePort?: number;
  /** Shared state of the wrangler edge (scripts/stack.ts SharedStateMode). @default 'auto' */
  sharedState?: SharedStateMode;
  /** Edge vars over the generated ones (ORIGIN_TIMEOUT_MS, ORIGIN_HEDGE_SHARE...). @default {} */
  edgeVars?: Record<string, string>;
  /** Extra origin environment. @default {} */
  originEnv?: Record<string, string>;
  /** Receives every child's output line by line ('origin-eu-0', 'edge-0'). @default discards it */
  log?: (label: string, line: string) => void;
  /** Longest wait for an origin to become ready. @default 120000 */
  originReadyTimeoutMs?: number;
}

export interface RegionsOrigin {
  url: string;
  process: ChildProcess;
}

export interface RegionsPool {
  /** Pool id, equal to its region. */
  id: Region;
  region: Region;
  origins: RegionsOrigin[];
  /** One proxy per origin, in the same order; ORIGIN_POOLS lists the proxies' URLs. */
  proxies: FaultProxy[];
  /** Merges `fault` over every proxy of the pool. */
  set(fault: Partial<Fault>): void;
  /** Every proxy back to its baseline (the RTT emulation stays). */
  clear(): void;
  /**
   * The pool's proxies' counts, summed (queue_depth_peak: the highest; upstream_inflight_peak: the sum of the
   * proxies' peaks, exact with one origin per pool).
   */
  counts(): FaultCounts;
  resetCounts(): void;
}

export interface RegionsKeys {
  /** Any region. */
  user: string;
  /** Pinned to the eu region (`regions: ["eu"]`). */
  pinned: string;
  /** `admin` scope (GET /v1/admin/origins). */
  admin: string;
}

export interface RegionsStack {
  pools: RegionsPool[];
  pool(id: Region): RegionsPool;
  keys: RegionsKeys;
  /** The edge's vars and secrets (ORIGIN_POOLS, ORIGIN_NEARBY, API_KEYS, ORIGIN_SIGNING_SECRET...). */
  edgeVars: Record<string, string>;
  /** With edge 'wrangler'. */
  edgeUrl: string | undefined;
  stack: Stack | undefined;
  /** Stops the edge, the proxies and the origins. Idempotent. */
  stop(): Promise<void>;
}

function sumCounts(all: FaultCounts[]): FaultCounts {
  const out: FaultCounts = zeroCounts();
  for (const c of all) {
    for (const k of [
      'requests',
      'forwarded',
      'errors',
      'blackholed',
      'resets',
      'aborted',
      'upstream_inflight',
      'upstream_inflight_peak',
    ] as const)
      out[k] += c[k];
    for (const [k, v] of Object.entries(c.by_colo)) out.by_colo[k] = (out.by_colo[k] ?? 0) + v;
    for (const [k, v] of Object.entries(c.by_request_prefix))
      out.by_request_prefix[k] = (out.by_request_prefix[k] ?? 0) + v;
    if (c.queue_depth_peak !== null)
      out.queue_depth_peak = Math.max(out.queue_depth_peak ?? 0, c.queue_depth_peak);
  }
  return out;
}

/** SIGTERM to the child's process group, SIGKILL after `graceMs`. */
async function stopGroup(child: ChildProcess, graceMs = 10_000): Promise<void> {
  const kill = (signal: NodeJS.Signals) => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, signal);
    } catch {} // gone
  };
  if (child.exitCode !== null || child.signalCode !== null) return kill('SIGKILL');
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  kill('SIGTERM');
  const timer = setTimeout(() => kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
  kill('SIGKILL');
}

function apiKey(): string {
  return `sk_local_${randomBytes(18).toString('hex')}`;
}

export async function startRegionsStack(options: RegionsStackOptions = {}): Promise<RegionsStack> {
  const perPool = options.originsPerPool ?? 1;
  if (!Number.isInteger(perPool) || perPool < 1 || perPool > 4)
    throw new TypeError(`originsPerPool must be an integer in [1, 4], got ${String(options.originsPerPool)}`);
  const edgeMode = options.edge ?? 'wrangler';
  if (edgeMode !== 'wrangler' && edgeMode !== 'none')
    throw new TypeError(`edge must be 'wrangler' or 'none', got ${JSON.stringify(edgeMode)}`);
  const readyMs = options.originReadyTimeoutMs ?? 120_000;
  const signingSecret = randomBytes(32).toString('hex');
  const origins: RegionsOrigin[] = [];
  const proxies: FaultProxy[] = [];
  let stack: Stack | undefined;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await stack?.stop().catch(() => {});
    await Promise.all(proxies.map((p) => p.stop().catch(() => {})));
    await Promise.all(origins.map((o) => stopGroup(o.process)));
  };

  try {
    const pools: RegionsPool[] = [];
    // Every port this stack hands out, so no two of its listeners are given the same one.
    const taken = new Set<number>();
    const distinctFreePort = async (): Promise<number> => {
      for (;;) {
        const port = await freePort();
        if (!taken.has(port)) {
          taken.add(port);
          return port;
        }
      }
    };
    for (const region of REGIONS) {
      const mine: RegionsOrigin[] = [];
      const mineProxies: FaultProxy[] = [];
      for (let i = 0; i < perPool; i++) {
        const port = await distinctFreePort();
        const env = {
          ORIGIN_PORT: String(port),
          ORIGIN_HOST: '127.0.0.1',
          MODEL_REPOSITORY: join(ROOT, 'models'),
          MODEL_VERSION_POLICY: 'latest:2',
          ORIGIN_SIGNING_SECRET: signingSecret,
          // Answered as x-origin-pool: the edge learns which pool answered from the origin itself.
          ORIGIN_POOL_ID: region,
          ...options.originEnv,
        };
        const origin: RegionsOrigin = {
          url: `http://127.0.0.1:${port}`,
          process: launch(
            `origin-${region}-${i}`,
            [...ORIGIN_NODE_FLAGS, 'origin/src/main.ts'],
            env,
            options.log,
          ),
        };
        origins.push(origin);
        mine.push(origin);
        // An explicit port: with listen(0) the kernel may hand a proxy the port an origin was given but has not
        // bound yet (it loads its models first): EADDRINUSE at the origin.
        const proxy = await startFaultProxy({
          target: origin.url,
          port: await distinctFreePort(),
          baseline: { latency_by_colo: latencyByColo(region) },
        });
        proxies.push(proxy);
        mineProxies.push(proxy);
      }
      pools.push({
        id: region,
        region,
        origins: mine,
        proxies: mineProxies,
        set: (fault) => {
          for (const p of mineProxies) p.set(fault);
        },
        clear: () => {
          for (const p of mineProxies) p.clear();
        },
        counts: () => sumCounts(mineProxies.map((p) => p.counts())),
        resetCounts: () => {
          for (const p of mineProxies) p.resetCounts();
        },
      });
    }

    const keys: RegionsKeys = { user: apiKey(), pinned: apiKey(), admin: apiKey() };
    const hash = (key: string) => createHash('sha256').update(key).digest('hex');
    const edgeVars: Record<string, string> = {
      ORIGIN_URLS: '',
      ORIGIN_POOLS: JSON.stringify(
        pools.map((p) => ({ id: p.id, region: p.region, urls: p.proxies.map((x) => x.url) })),
      ),
      ORIGIN_NEARBY: nearbyConfig(),
      ORIGIN_SIGNING_SECRET: signingSecret,
      CONSOLE_SESSION_SECRET: randomBytes(32).toString('hex'),
      DEV_COLO_HEADER,
      KEY_ENV: 'dev',
      API_KEYS: JSON.stringify({
        [hash(keys.user)]: { name: 'regions-user', models: ['*'], tier: 'pro' },
        [hash(keys.pinned)]: { name: 'regions-eu-pinned', models: ['*'], tier: 'pro', regions: ['eu'] },
        [hash(keys.admin)]: { name: 'regions-admin', models: ['*'], tier: 'internal', scopes: ['admin'] },
      }),
      ...options.edgeVars,
    };

    const ready = origins.map((o, i) =>
      waitReady(`${o.url}/v2/health/ready`, `origin ${i}`, o.process, readyMs),
    );
    if (edgeMode === 'wrangler') {
      const starting = startStack({
        origins: 0,
        edgePort: options.edgePort ?? 0,
        sharedState: options.sharedState ?? 'auto',
        keys: [],
        edgeVars,
        ...(options.log === undefined ? {} : { log: options.log }),
      });
      await Promise.all([...ready, starting]);
      stack = await starting;
    } else {
      await Promise.all(ready);
    }

    return {
      pools,
      pool: (id) => pools.find((p) => p.id === id) as RegionsPool,
      keys,
      edgeVars: stack?.edgeVars ?? edgeVars,
      edgeUrl: stack?.edgeUrl,
      stack,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

function say(line: string): void {
  process.stdout.write(`[stack:regions] ${line}\n`);
}

async function main(): Promise<void> {
  const raw = process.env.EDGE_PORT;
  const edgePort = raw === undefined || raw === '' ? 8787 : Number(raw);
  if (!Number.isInteger(edgePort) || edgePort < 1 || edgePort > 65535)
    throw new TypeError(`EDGE_PORT must be a port in [1, 65535], got ${raw}`);
  const perRaw = process.env.REGIONS_ORIGINS_PER_POOL;
  const originsPerPool = perRaw === undefined || perRaw === '' ? 1 : Number(perRaw);
  let stack: RegionsStack | undefined;
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    say(`${signal}: stopping edge, proxies and origins`);
    (stack?.stop() ?? Promise.resolve()).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  say(
    `starting pools ${REGIONS.join(', ')} (${originsPerPool} origin(s) each, each behind a fault proxy) and the edge`,
  );
  stack = await startRegionsStack({
    edgePort,
    originsPerPool,
    log: (label, line) => process.stdout.write(`[${label}] ${line}\n`),
  });
  const edge = stack.edgeUrl as string;
  say(`edge        ${edge}  (wrangler dev; the colo comes from the ${DEV_COLO_HEADER} header)`);
  say(`shared      ${stack.stack?.sharedStateDescription ?? 'none'}`);
  say(`API key     ${stack.keys.user}`);
  say(`eu-pinned   ${stack.keys.pinned}  (regions ["eu"])`);
  say(`admin key   ${stack.keys.admin}`);
  for (const pool of stack.pools) {
    const rtt = COLOS.map((c) => `${c} ${RTT_MS[c][pool.region]} ms`).join(', ');
    say(`pool ${pool.id}     control ${pool.proxies.map((p) => `${p.url}/__fault`).join(' ')}  (RTT ${rtt})`);
  }
  const eu = stack.pool('eu').proxies[0]?.url as string;
  say('try:');
  say(
    `  curl -s ${edge}/v1/models/spam/classify -H 'authorization: Bearer ${stack.keys.user}' -H '${DEV_COLO_HEADER}: FRA' -H 'x-escalate: always' -H 'content-type: application/json' -d '{"text":"win a free prize now"}' -D - | grep -iE 'x-origin-pool|x-degraded|origin_pool'`,
  );
  say(`  blackhole eu:   curl -X POST ${eu}/__fault -d '{"blackhole":true}'`);
  say(`  slow tail:      curl -X POST ${eu}/__fault -d '{"slow_share":0.01,"slow_ms":500}'`);
  say(`  restore:        curl -X DELETE ${eu}/__fault   (back to the baseline: the RTT emulation stays)`);
  say(`  counts:         curl ${eu}/__fault`);
  say(`  router state:   curl ${edge}/v1/admin/origins -H 'authorization: Bearer ${stack.keys.admin}'`);
  say('Ctrl-C stops everything.');
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err: unknown) => {
    process.stderr.write(`[stack:regions] failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
