/**
 * npm run bench:keys: what API keys and tenant limits cost and how exact they are, through the whole local stack
 * (scripts/stack.ts: the origin, the Upstash bridge over a real Redis, two edges in workerd via wrangler dev that
 * share one tenant store, local D1 and KV, as Cloudflare's are global) with BENCH_KEYS keys (default 100,000) in D1.
 *
 *  1. One key: a tenant and its one key through the admin API, then the isolate-hit cost below with that one key
 *     in the table (`auth_cpu_us_over_noop_1_key`).
 *  2. Seed: BENCH_KEYS keys with real generated secrets (sk_dev_..., stored as their sha256) over 10 tenants of
 *     tier internal (limits the runs never reach), written as one SQL file of multi-row INSERTs and applied with
 *     `wrangler d1 execute --local` while the edges run (`seed_ms`: generating + applying).
 *  3. Auth cost on edge-0, warm, sequential requests: BENCH_ROUNDS rounds of BENCH_N requests per case, the cases
 *     rotating in slices of 50 within a round (drift falls on all of them alike). Per case and round: the CPU time
 *     of the workerd that runs the Worker (every thread's run time from /proc/<pid>/task/<tid>/schedstat, ns;
 *     wrangler dev's own proxy, another workerd, is left out but reported in `per_case.*.cpu_us_all_workerd`) per
 *     request, and each request's client latency. Before the many-keys rounds, 10,000 other seeded keys are
 *     resolved at edge-0, so its isolate's key cache is full (KeyResolver's 10,000 entries) as in a busy isolate.
 *     The authenticated route is `GET /v2/models/spam` (OIP model metadata: auth, usage meter, the rate limiter's
 *     Upstash round trip, a small JSON answer):
 *     - noop:        GET /v2/health/live (no key, no limiter, no meter)
 *     - bootstrap:   the route with the stack's bootstrap key (API_KEYS: a Map lookup; no tenant record, so no
 *                    revocation epochs, tenant limit or quota in the limiter's round trip)
 *     - isolate_hit: the same tenant key again and again (in the isolate's cache, trusted 10 s)
 *     - kv_hit:      each request a key resolved once at edge-1 before (its KV projection written) and new here
 *     - d1_miss:     each request a seeded key never used before (KV miss, D1 by hash, the KV write-back)
 *     `auth_cpu_us_over_noop.<case>` is the median over rounds of (case - noop) CPU per request in that round;
 *     `auth_p50_ms_over_noop.<case>` the case's p50 latency minus the no-op's. They hold everything the
 *     authenticated route does beyond the no-op route, the limiter's round trip and the meter included;
 *     `auth_cpu_us_over_bootstrap` nets those out (what a tenant key costs over a key that needs no lookup: the
 *     resolver, the epochs and the tenant's limit and quota). `isolate_hit` against `*_1_key` shows whether the
 *     number of keys matters (goal: isolate_hit <= 30 us over the no-op route, independent of it).
 *     Pinned while the blocks run (BENCH_PIN=0: not): the Worker's workerd alone on CPU 0; wrangler, its proxy and
 *     this process (the load and the Upstash bridge) on the others.
 *  4. Revocation: two requests at a time on each edge with one key (classify, one text), the key revoked through
 *     edge-0's admin API after 1 s: `revocation_propagation_ms`, from the revoke's answer until both edges refuse
 *     it for good (goal <= 2,000), and `served_after_revocation_bound`, the 200s of requests started more than
 *     2,000 ms after that answer (goal 0).
 *  5. Usage: requests of 1-4 texts (cache bypassed) with two keys of a fresh tenant over both edges, then
 *     `GET /v1/usage?group_by=key` after the meters flushed: `usage_mismatch` = items counted - items answered 200
 *     (goal 0).
 *  6. Quota: a fresh tenant with `items_per_day` = BENCH_QUOTA (default 200), 16 concurrent clients (8 per edge)
 *     sending 1-4 texts per request until each has been refused three times in a row: `quota_overshoot` = items
 *     answered 200 beyond the quota (goal 0), `quota_refused` the 429 quota_exceeded answers.
 *
 * On a 2-core machine the no-op route alone costs the Worker's workerd ~2.5-3.5 ms of CPU under wrangler dev (its
 * dev tooling reads every console line through the inspector; the same bundle in Miniflare directly: ~0.8 ms), and a
 * case's CPU per request moves by a few hundred us from round to round: `cpu_us_per_round` shows that spread, and
 * differences smaller than it are noise.
 *
 * The last line printed is one JSON object. Env: BENCH_KEYS (default 100000), BENCH_N (requests per case and
 * round, default 1000), BENCH_ROUNDS (default 5), BENCH_QUOTA (default 200), BENCH_PIN=0, BENCH_LOG=1 (the stack's
 * output on stderr), BENCH_SMOKE=1 (2,000 keys, 50 requests per case and round, 2 rounds, shorter phases: ~40 s
 * after the stack is up).
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { unwrap } from '../client/src/index.ts';
import { generateKey, keyStart } from '../edge/src/tenants/key-format.ts';
import { adminClient, unwrapJson } from '../scripts/admin-client.ts';
import { type EdgeHandle, executeD1File, startStack } from '../scripts/stack.ts';
import { errorCode, percentile, testMessages } from '../test/helpers.ts';
import { envInt, log, result, round, sleep, smokeOr } from './lib.ts';

const KEYS = envInt('BENCH_KEYS', smokeOr(100_000, 2000), 100, 2_000_000);
const N = envInt('BENCH_N', smokeOr(1000, 50), 10, 100_000);
const ROUNDS = envInt('BENCH_ROUNDS', smokeOr(5, 2), 1, 100);
const WARMUP = smokeOr(100, 10);
/** Requests per case in a row within a round (the cases rotate slice by slice). */
const SLICE = 50;
/**
 * Keys resolved at edge-0 before the many-keys rounds (d1 misses, concurrency 4), so that its isolate's key cache
 * is full as in a busy isolate (KeyResolver's default maxEntries, 10,000) when the isolate hits are timed.
 */
const PREFILL = smokeOr(10_000, 200);
const QUOTA = envInt('BENCH_QUOTA', smokeOr(200, 40), 1, 1_000_000);
const USAGE_REQUESTS = smokeOr(400, 40);
const SEED_TENANTS = 10;
/** How long after the revoke's answer a 200 counts against `served_after_revocation_bound`. */
const REVOCATION_BOUND_MS = 2000;
/** The loaders go on this long after the revoke's answer (past the bound, to see what it allows). */
const REVOCATION_WATCH_MS = smokeOr(3500, 2500);
const BYPASS = { 'cache-control': 'no-cache, no-store' };
const PIN = process.env.BENCH_PIN !== '0' && availableParallelism() >= 2 && hasTaskset();

type CaseName = 'noop' | 'bootstrap' | 'isolate_hit' | 'kv_hit' | 'd1_miss';

// --- workerd CPU from /proc -------------------------------------------------------------------------------------

function hasTaskset(): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v taskset'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * An edge's processes, from its wrangler dev's process group: `worker`, the workerd that runs the Worker; `proxy`,
 * the workerd of wrangler dev's own proxy (it listens on the edge's port: `--socket-addr=entry=<ip>:<port>`); `rest`,
 * wrangler's node and esbuild. Without a workerd that listens on the port, every workerd counts as the Worker's.
 */
function edgeProcesses(edge: EdgeHandle): { worker: number[]; proxy: number[]; rest: number[] } {
  const group = edge.process.pid;
  const out = { worker: [] as number[], proxy: [] as number[], rest: [] as number[] };
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      // After the command: the process group is field 5 (1-based, man 5 proc).
      const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      if (pgrp !== group) continue;
      const pid = Number(entry);
      if (comm !== 'workerd') out.rest.push(pid);
      else if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(`=127.0.0.1:${edge.port}\0`))
        out.proxy.push(pid);
      else out.worker.push(pid);
    } catch {} // gone
  }
  if (out.worker.length === 0) {
    out.worker = out.proxy;
    out.proxy = [];
  }
  if (out.worker.length === 0) throw new Error(`no workerd process in the process group of edge ${edge.url}`);
  return out;
}

const TICK_NS = 1e9 / Number(execFileSync('getconf', ['CLK_TCK']).toString().trim() || 100);
const SCHEDSTAT = existsSync('/proc/self/schedstat');

/**
 * CPU time of every thread of `pids`, ns, keyed `pid/tid`: the run time from schedstat (ns resolution), or
 * utime + stime from stat (clock ticks) where the kernel has no schedstat.
 */
function cpuNs(pids: number[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const pid of pids) {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue; // gone
    }
    for (const tid of tids) {
      try {
        if (SCHEDSTAT) {
          const run = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0];
          out.set(`${pid}/${tid}`, Number(run));
        } else {
          const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
          const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
          out.set(`${pid}/${tid}`, (Number(fields[11]) + Number(fields[12])) * TICK_NS);
        }
      } catch {} // the thread ended
    }
  }
  return out;
}

/** CPU ns spent between two cpuNs() snapshots (threads born in between count from 0). */
function cpuDeltaNs(before: Map<string, number>, after: Map<string, number>): number {
  let total = 0;
  for (const [task, ns] of after) total += ns - (before.get(task) ?? 0);
  return total;
}

/** Every thread of `pid` on `cpus` (taskset -a); quietly nothing without taskset. */
function pin(pid: number, cpus: string): void {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
  } catch {}
}

// --- seeding ----------------------------------------------------------------------------------------------------

interface Seeded {
  /** The plaintext secrets, in seeding order (a sample would do; all of them are cheap to keep). */
  secrets: string[];
  /** Generating the SQL and applying it, ms. */
  generateMs: number;
  applyMs: number;
  sqlBytes: number;
}

const hex8 = () => randomBytes(8).toString('hex');

/**
 * `count` keys over SEED_TENANTS new tenants (tier internal), as the admin API would store them, written to the
 * tenant store at `persistTo` in bulk: one SQL file of 500-row INSERTs through `wrangler d1 execute --local`.
 */
async function seedKeys(persistTo: string, count: number): Promise<Seeded> {
  const t0 = performance.now();
  const at = Date.now();
  const tenants = Array.from({ length: SEED_TENANTS }, () => `ten_${hex8()}`);
  const statements = [
    `INSERT INTO tenants (id, name, tier, models, regions, quotas, version, created_at, updated_at) VALUES ${tenants
      .map((id, i) => `('${id}', 'bench seed ${i}', 'internal', '["*"]', '["*"]', '{}', 1, ${at}, ${at})`)
      .join(', ')};`,
  ];
  const secrets: string[] = [];
  const ROWS = 500;
  for (let first = 0; first < count; first += ROWS) {
    const keys: string[] = [];
    const hashes: string[] = [];
    for (let i = first; i < Math.min(count, first + ROWS); i++) {
      const id = `key_${hex8()}`;
      const secret = generateKey('dev');
      secrets.push(secret);
      const hash = createHash('sha256').update(secret).digest('hex');
      keys.push(`('${id}', '${tenants[i % SEED_TENANTS]}', 'seed ${i}', '["infer"]', NULL, 1, ${at}, ${at})`);
      hashes.push(`('${hash}', '${id}', '${keyStart(secret)}', ${at})`);
    }
    statements.push(
      `INSERT INTO api_keys (id, tenant_id, name, scopes, models, version, created_at, updated_at) VALUES ${keys.join(', ')};`,
      `INSERT INTO key_secrets (hash, key_id, start, created_at) VALUES ${hashes.join(', ')};`,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'bench-keys-'));
  try {
    const file = join(dir, 'seed.sql');
    const sql = `${statements.join('\n')}\n`;
    writeFileSync(file, sql);
    const t1 = performance.now();
    await executeD1File(persistTo, file);
    const t2 = performance.now();
    return { secrets, generateMs: t1 - t0, applyMs: t2 - t1, sqlBytes: Buffer.byteLength(sql) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// --- requests ---------------------------------------------------------------------------------------------------

interface Answer {
  status: number;
  code: string | undefined;
  start: number;
  end: number;
}

async function get(url: string, key?: string): Promise<Answer> {
  const start = performance.now();
  const res = await fetch(url, {
    ...(key === undefined ? {} : { headers: { authorization: `Bearer ${key}` } }),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  return { status: res.status, code: res.ok ? undefined : codeOf(text), start, end: performance.now() };
}

function codeOf(text: string): string | undefined {
  try {
    return errorCode(JSON.parse(text));
  } catch {
    return undefined;
  }
}

const texts = testMessages().map((m) => m.text);
let textSeq = 0;
/** `n` texts of the test split, each made unique (no answer comes from a cache). */
const someTexts = (n: number) =>
  Array.from({ length: n }, () => `${texts[textSeq % texts.length]}\n[bench-keys ${textSeq++}]`);

async function classify(base: string, key: string, items: number): Promise<Answer> {
  const start = performance.now();
  const res = await fetch(`${base}/v1/models/spam/classify`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...BYPASS },
    body: JSON.stringify({ texts: someTexts(items) }),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  return { status: res.status, code: res.ok ? undefined : codeOf(text), start, end: performance.now() };
}

/** `n` calls at `concurrency`; `call(i)` makes the i-th. */
async function pool<T>(n: number, concurrency: number, call: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) out.push(await call(next++));
    }),
  );
  return out;
}

// --- auth cost --------------------------------------------------------------------------------------------------

interface Case {
  name: CaseName;
  /** The i-th request of this case (i counts on over blocks). */
  call: (i: number) => Promise<Answer>;
}

interface CaseResult {
  /** CPU per request of the Worker's workerd in each round, us. */
  cpuUs: number[];
  /** The same for every workerd of the edge (the Worker's and wrangler dev's proxy), us. */
  allUs: number[];
  /** Every request's latency, ms. */
  ms: number[];
}

/**
 * WARMUP requests of each case, then ROUNDS rounds of one block of N sequential requests per case, in rotation:
 * per block the edge's workerd CPU over its requests, and each request's latency. Every answer must be 200.
 * Pinned (PIN): the Worker's workerd alone on CPU 0, the rest of the edge and this process on the other CPUs.
 */
async function measure(edge: EdgeHandle, cases: Case[]): Promise<Map<CaseName, CaseResult>> {
  const procs = edgeProcesses(edge);
  const all = [...procs.worker, ...procs.proxy];
  const counters = new Map(cases.map((c) => [c.name, 0]));
  const next = async (c: Case) => {
    const i = counters.get(c.name) as number;
    counters.set(c.name, i + 1);
    const a = await c.call(i);
    if (a.status !== 200)
      throw new Error(`${c.name}: request ${i} answered ${a.status} ${a.code ?? ''} (expected 200)`);
    return a;
  };
  const cpus = availableParallelism();
  const others = `1-${cpus - 1}`;
  if (PIN) {
    for (const pid of procs.worker) pin(pid, '0');
    for (const pid of [...procs.proxy, ...procs.rest, process.pid]) pin(pid, others);
  }
  try {
    for (const c of cases) for (let i = 0; i < WARMUP; i++) await next(c);
    const out = new Map<CaseName, CaseResult>(cases.map((c) => [c.name, { cpuUs: [], allUs: [], ms: [] }]));
    for (let r = 0; r < ROUNDS; r++) {
      // Slices of SLICE requests per case in rotation, so that drift within the round (GC, the meters' flushes,
      // a busy neighbour) falls on every case alike; each case's CPU is summed over its slices.
      const workerNs = new Map(cases.map((c) => [c.name, 0]));
      const allNs = new Map(cases.map((c) => [c.name, 0]));
      for (let done = 0; done < N; done += SLICE) {
        for (const c of cases) {
          const res = out.get(c.name) as CaseResult;
          const worker = cpuNs(procs.worker);
          const both = cpuNs(all);
          for (let i = 0; i < Math.min(SLICE, N - done); i++) {
            const a = await next(c);
            res.ms.push(a.end - a.start);
          }
          workerNs.set(c.name, (workerNs.get(c.name) as number) + cpuDeltaNs(worker, cpuNs(procs.worker)));
          allNs.set(c.name, (allNs.get(c.name) as number) + cpuDeltaNs(both, cpuNs(all)));
        }
      }
      for (const c of cases) {
        const res = out.get(c.name) as CaseResult;
        res.cpuUs.push((workerNs.get(c.name) as number) / 1000 / N);
        res.allUs.push((allNs.get(c.name) as number) / 1000 / N);
      }
      log(
        `  round ${r + 1}/${ROUNDS}, Worker's workerd CPU per request: ${cases
          .map((c) => `${c.name} ${round(out.get(c.name)?.cpuUs.at(-1) ?? 0, 1)} us`)
          .join(', ')}`,
      );
    }
    return out;
  } finally {
    if (PIN) for (const pid of [...all, ...procs.rest, process.pid]) pin(pid, `0-${cpus - 1}`);
  }
}

/** The median (the mean of the middle two of an even count). */
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** A case over a baseline case: the median of their per-round CPU differences (us), and the p50 difference (ms). */
function over(
  results: Map<CaseName, CaseResult>,
  name: CaseName,
  baseline: CaseName,
): { cpuUs: number; p50Ms: number } {
  const base = results.get(baseline) as CaseResult;
  const c = results.get(name) as CaseResult;
  return {
    cpuUs: round(median(c.cpuUs.map((us, r) => us - (base.cpuUs[r] as number))), 1),
    p50Ms: round(percentile(c.ms, 50) - percentile(base.ms, 50), 3),
  };
}

/** Raw figures per case: median CPU per request (us; the Worker's workerd, and all of the edge's) and p50 (ms). */
function raw(
  results: Map<CaseName, CaseResult>,
): Record<
  string,
  { cpu_us: number; cpu_us_all_workerd: number; p50_ms: number; cpu_us_per_round: number[] }
> {
  return Object.fromEntries(
    [...results].map(([name, r]) => [
      name,
      {
        cpu_us: round(median(r.cpuUs), 1),
        cpu_us_all_workerd: round(median(r.allUs), 1),
        p50_ms: round(percentile(r.ms, 50), 3),
        cpu_us_per_round: r.cpuUs.map((x) => round(x, 1)),
      },
    ]),
  );
}

// --- main -------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const needed = 2 * (WARMUP + ROUNDS * N) + 2;
  if (KEYS < needed)
    throw new RangeError(
      `BENCH_KEYS ${KEYS} is too few: the kv_hit and d1_miss cases use ${needed} fresh keys (2 x (warm-up + BENCH_ROUNDS x BENCH_N) + 2)`,
    );
  const loadStart = round(loadavg()[0] ?? 0, 2);
  const started = performance.now();
  log('bench:keys: starting the stack (origin, bridge over Redis, 2 edges in workerd sharing one D1 and KV)');
  const stack = await startStack({
    sharedState: 'test',
    keys: [{ name: 'bench-admin', tier: 'internal', scopes: ['admin', 'infer'] }],
    ...(process.env.BENCH_LOG === '1'
      ? { log: (label: string, line: string) => console.error(`${label} ${line}`) }
      : {}),
  });
  try {
    const second = await stack.startEdge();
    const edges = [stack.edge, second];
    const [a, b] = [stack.edgeUrl, second.url];
    log(`bench:keys: stack up in ${round((performance.now() - started) / 1000, 1)} s`);
    const admin = stack.apiKeys[0]?.key as string;
    const edge = adminClient({ url: a, key: admin });
    const newTenant = async (name: string, quotas?: { items_per_day: number }) => {
      const body = { name, tier: 'internal', ...(quotas === undefined ? {} : { quotas }) };
      return unwrap(await edge.POST('/v1/admin/tenants', { body })).id;
    };
    const newKey = async (tenant: string, name: string) =>
      unwrap(await edge.POST('/v1/admin/keys', { body: { tenant, name, scopes: ['infer'] } }));
    const probe = `${a}/v2/models/spam`;
    const noop: Case = { name: 'noop', call: () => get(`${a}/v2/health/live`) };
    // The same route with a bootstrap key (API_KEYS: a Map lookup, no tenant record, no epochs, no tenant limit).
    const bootstrap: Case = { name: 'bootstrap', call: () => get(probe, admin) };

    // 1. One key in the table.
    const probeTenant = await newTenant('bench probe');
    const only = (await newKey(probeTenant, 'only')).key;
    log(`bench:keys: one key in D1: isolate hits vs the no-op route, ${ROUNDS} rounds of ${N}`);
    const one = await measure(stack.edge, [
      noop,
      bootstrap,
      { name: 'isolate_hit', call: () => get(probe, only) },
    ]);

    // 2. Seed.
    log(`bench:keys: seeding ${KEYS} keys into D1 (wrangler d1 execute --local, edges running)`);
    const seeded = await seedKeys(stack.edge.statePath, KEYS);
    const seedMs = seeded.generateMs + seeded.applyMs;
    log(
      `  ${round(seeded.sqlBytes / 2 ** 20, 1)} MiB of SQL generated in ${round(seeded.generateMs)} ms, applied in ${round(seeded.applyMs)} ms`,
    );
    // Disjoint slices: never used before (d1_miss), used once at edge-1 first (kv_hit), the isolate-hit key, the
    // keys that fill edge-0's isolate cache first; the last one checks the seed.
    const perCase = WARMUP + ROUNDS * N;
    const d1Keys = seeded.secrets.slice(0, perCase);
    const kvKeys = seeded.secrets.slice(perCase, 2 * perCase);
    const hotKey = seeded.secrets[2 * perCase] as string;
    const prefill = seeded.secrets.slice(2 * perCase + 1, Math.min(KEYS - 1, 2 * perCase + 1 + PREFILL));
    const check = await get(`${b}/v2/models/spam`, seeded.secrets.at(-1));
    if (check.status !== 200)
      throw new Error(
        `a seeded key answers ${check.status} ${check.code ?? ''} at edge-1: the seed did not land`,
      );
    log(`bench:keys: ${kvKeys.length} keys resolved once at edge-1 (their KV projection written)`);
    const preload = await pool(kvKeys.length, 4, (i) => get(`${b}/v2/models/spam`, kvKeys[i]));
    const preloadFailed = preload.filter((r) => r.status !== 200).length;
    if (preloadFailed > 0) throw new Error(`${preloadFailed} kv_hit keys were refused at edge-1`);
    log(`bench:keys: ${prefill.length} other keys resolved at edge-0 (its isolate's key cache filled)`);
    const filled = await pool(prefill.length, 4, (i) => get(probe, prefill[i]));
    const fillFailed = filled.filter((r) => r.status !== 200).length;
    if (fillFailed > 0) throw new Error(`${fillFailed} prefill keys were refused at edge-0`);
    await sleep(1000); // the KV write-backs run after the answers (waitUntil)

    // 3. Auth cost with KEYS keys.
    log(
      `bench:keys: ${KEYS} keys in D1: noop, isolate_hit, kv_hit, d1_miss at edge-0, ${ROUNDS} rounds of ${N}`,
    );
    const many = await measure(stack.edge, [
      noop,
      bootstrap,
      { name: 'isolate_hit', call: () => get(probe, hotKey) },
      { name: 'kv_hit', call: (i) => get(probe, kvKeys[i]) },
      { name: 'd1_miss', call: (i) => get(probe, d1Keys[i]) },
    ]);
    const cases = ['isolate_hit', 'kv_hit', 'd1_miss'] as const;
    const overNoop = Object.fromEntries(cases.map((c) => [c, over(many, c, 'noop')]));
    const overBootstrap = Object.fromEntries(cases.map((c) => [c, over(many, c, 'bootstrap')]));
    const overNoopOne = over(one, 'isolate_hit', 'noop');
    const overBootstrapOne = over(one, 'isolate_hit', 'bootstrap');
    log(
      `  over the no-op route: ${cases.map((c) => `${c} ${overNoop[c]?.cpuUs} us CPU, p50 +${overNoop[c]?.p50Ms} ms`).join('; ')}; isolate_hit with 1 key ${overNoopOne.cpuUs} us, p50 +${overNoopOne.p50Ms} ms`,
    );
    log(
      `  over the bootstrap key on the same route: ${cases.map((c) => `${c} ${overBootstrap[c]?.cpuUs} us`).join(', ')}; isolate_hit with 1 key ${overBootstrapOne.cpuUs} us`,
    );

    // 4. Revocation while both edges load the key.
    const revTenant = await newTenant('bench revocation');
    const revoked = await newKey(revTenant, 'revoked');
    for (const e of [a, b]) await classify(e, revoked.key, 1); // warm: cached at both
    const answers: Array<Answer & { edge: number }> = [];
    let stopAt = Number.POSITIVE_INFINITY;
    const loaders = [a, b].flatMap((e, edge) =>
      Array.from({ length: 2 }, async () => {
        while (performance.now() < stopAt) answers.push({ ...(await classify(e, revoked.key, 1)), edge });
      }),
    );
    await sleep(1000);
    const revokeSent = performance.now();
    unwrap(await edge.POST('/v1/admin/keys/{id}/revoke', { params: { path: { id: revoked.record.id } } }));
    const revokedAt = performance.now();
    stopAt = revokedAt + REVOCATION_WATCH_MS;
    await Promise.all(loaders);
    const refusedFrom = [0, 1].map((edge) => {
      const mine = answers.filter((x) => x.edge === edge);
      const lastOk = Math.max(...mine.filter((x) => x.status === 200).map((x) => x.end), 0);
      const refusals = mine.filter((x) => x.status === 401 && x.end >= lastOk).map((x) => x.end);
      return refusals.length === 0 ? undefined : Math.min(...refusals);
    });
    const propagated = refusedFrom.every((t) => t !== undefined);
    const propagationMs = round(Math.max(0, ...refusedFrom.map((t) => (t ?? stopAt) - revokedAt)), 1);
    const servedAfter = answers.filter((x) => x.status === 200 && x.start > revokedAt).length;
    const servedAfterBound = answers.filter(
      (x) => x.status === 200 && x.start > revokedAt + REVOCATION_BOUND_MS,
    ).length;
    const revocationCodes = countBy(answers.filter((x) => x.start > revokedAt).map(statusOf));
    log(
      `bench:keys: revocation (answered in ${round(revokedAt - revokeSent, 1)} ms): both edges refuse ${propagated ? `${propagationMs} ms after the answer` : 'NOT within the watch'}; 200s started after it ${servedAfter}, after +${REVOCATION_BOUND_MS} ms ${servedAfterBound}; answers after it ${JSON.stringify(revocationCodes)}`,
    );

    // 5. Usage: items counted vs items answered.
    const usageTenant = await newTenant('bench usage');
    const usageKeys = [(await newKey(usageTenant, 'u0')).key, (await newKey(usageTenant, 'u1')).key];
    const usageAnswers = await pool(USAGE_REQUESTS, 4, async (i) => {
      const items = 1 + (i % 4);
      return {
        items,
        ...(await classify([a, b][i % 2] as string, usageKeys[(i >> 1) % 2] as string, items)),
      };
    });
    const answeredItems = usageAnswers.filter((x) => x.status === 200).reduce((n, x) => n + x.items, 0);
    const answeredRequests = usageAnswers.length;
    const usageStarted = performance.now();
    let counted = { items: 0, requests: 0, dropped: 0 };
    // The meters flush at most once a second per isolate, off the request path: wait, then read until it settles.
    for (let wait = 2500; ; wait = 1000) {
      await sleep(wait);
      const query = { tenant: usageTenant, group_by: 'key' };
      const report = unwrapJson(await edge.GET('/v1/usage', { params: { query } }));
      counted = {
        items: report.rows.reduce((n, r) => n + r.items, 0),
        requests: report.rows.reduce((n, r) => n + r.requests, 0),
        dropped: report.dropped,
      };
      if (counted.items >= answeredItems || performance.now() - usageStarted > 10_000) break;
    }
    const usageWaitMs = round(performance.now() - usageStarted);
    log(
      `bench:keys: usage: ${answeredItems} items answered 200 in ${answeredRequests} requests (${JSON.stringify(countBy(usageAnswers.map(statusOf)))}); counted ${counted.items} items, ${counted.requests} requests (read ${usageWaitMs} ms after), dropped ${counted.dropped}`,
    );

    // 6. Quota: 16 clients, 8 per edge, until each is refused three times in a row.
    const quotaTenant = await newTenant('bench quota', { items_per_day: QUOTA });
    const quotaKeys = [(await newKey(quotaTenant, 'q0')).key, (await newKey(quotaTenant, 'q1')).key];
    let quotaServed = 0;
    let quotaRefused = 0;
    const quotaOther: string[] = [];
    let quotaSent = 0;
    await Promise.all(
      Array.from({ length: 16 }, async (_, w) => {
        let refusedInARow = 0;
        while (refusedInARow < 3 && quotaSent < QUOTA * 4) {
          const items = 1 + ((quotaSent++ + w) % 4);
          const r = await classify([a, b][w % 2] as string, quotaKeys[w % 2] as string, items);
          if (r.status === 200) {
            quotaServed += items;
            refusedInARow = 0;
          } else if (r.status === 429 && r.code === 'quota_exceeded') {
            quotaRefused++;
            refusedInARow++;
          } else quotaOther.push(statusOf(r));
        }
      }),
    );
    const overshoot = Math.max(0, quotaServed - QUOTA);
    log(
      `bench:keys: quota ${QUOTA} items/day: ${quotaServed} items served, ${quotaRefused} requests refused quota_exceeded, other answers ${JSON.stringify(countBy(quotaOther))}`,
    );

    result({
      bench: 'keys',
      keys: KEYS,
      n: N,
      rounds: ROUNDS,
      pinned: PIN,
      load_avg_1m_start: loadStart,
      load_avg_1m_end: round(loadavg()[0] ?? 0, 2),
      seed_ms: round(seedMs),
      seed_apply_ms: round(seeded.applyMs),
      seed_sql_bytes: seeded.sqlBytes,
      isolate_cache_prefill: prefill.length,
      auth_cpu_us_over_noop: Object.fromEntries(cases.map((c) => [c, overNoop[c]?.cpuUs])),
      auth_cpu_us_over_noop_1_key: overNoopOne.cpuUs,
      auth_p50_ms_over_noop: Object.fromEntries(cases.map((c) => [c, overNoop[c]?.p50Ms])),
      auth_p50_ms_over_noop_1_key: overNoopOne.p50Ms,
      auth_cpu_us_over_bootstrap: Object.fromEntries(cases.map((c) => [c, overBootstrap[c]?.cpuUs])),
      auth_cpu_us_over_bootstrap_1_key: overBootstrapOne.cpuUs,
      auth_p50_ms_over_bootstrap: Object.fromEntries(cases.map((c) => [c, overBootstrap[c]?.p50Ms])),
      cpu_scope: `the Worker's workerd (not wrangler dev's proxy), ${SCHEDSTAT ? 'schedstat run time' : 'utime + stime'}`,
      per_case: raw(many),
      per_case_1_key: raw(one),
      revocation_propagation_ms: propagationMs,
      revocation_propagated: propagated,
      revoke_answer_ms: round(revokedAt - revokeSent, 1),
      served_after_revocation: servedAfter,
      served_after_revocation_bound: servedAfterBound,
      revocation_requests: answers.length,
      usage_mismatch: counted.items - answeredItems,
      usage_request_mismatch: counted.requests - answeredRequests,
      usage_items_answered: answeredItems,
      usage_items_counted: counted.items,
      usage_dropped: counted.dropped,
      usage_read_after_ms: usageWaitMs,
      quota_items_per_day: QUOTA,
      quota_served_items: quotaServed,
      quota_overshoot: overshoot,
      quota_refused: quotaRefused,
      quota_other_answers: countBy(quotaOther),
      edges: edges.length,
      wall_s: round((performance.now() - started) / 1000, 1),
    });
  } finally {
    await stack.stop();
  }
}

const statusOf = (x: Answer) => (x.code === undefined ? String(x.status) : `${x.status} ${x.code}`);

function countBy(xs: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
