/**
 * npm run bench:soak: steady load through edge and origin for a while, watching for leaks and slow-downs: resident
 * memory (RSS, from /proc) of the origin process and of the edge's workerd process, sampled every 5 s, latency
 * p50/p99 per minute, errors. The origin and shared state come from the local stack (scripts/stack.ts: the real
 * origin, the Upstash bridge over a real Redis); the edge is the deploy bundle in workerd through Miniflare
 * directly, wired to them: under wrangler dev the workerd process grows ~80 KB per request even on the health
 * route (its dev proxy and inspector), which would hide the Worker's own memory (measured, see the #15 note).
 *
 * Traffic, at a fixed concurrency: test-split messages through POST /v1/models/spam/classify, each text made unique
 * per request (so every request does the work: cache bypassed), with every 10th request `x-escalate: always` (the
 * origin's path too), and every 20th an OIP infer request of a digits row (the tensor path).
 * RSS drift = (RSS at the end - RSS after the warm-up) / RSS after the warm-up (BENCH_SOAK_WARMUP_S, default the
 * first two minutes: sessions, JIT, pools; under this load workerd's RSS rises until ~75-100 s, then holds).
 * Goals (issue #15): rss_drift_origin and rss_drift_edge <= 0.05, p99 of the last minute within 20% of the first
 * (after warm-up: minute 2 is "first"), zero errors. The RSS slope over the second half of the run tells a leak
 * (it keeps growing) from a process still settling (it flattens). `origin_memory_*` (V8 heap, memory outside it,
 * from the origin's own metrics) say where the origin's memory is: its growth over the first minutes was V8's young
 * generation sizing itself, now fixed at start (origin/src/node-flags.ts). The origin runs with a 60 s signature
 * window here, so its replay-nonce store (traffic x window) is full within the warm-up.
 * The last line printed is one JSON object.
 * Env: BENCH_SOAK_SECONDS (default 300), BENCH_SOAK_WARMUP_S (default 120), BENCH_CONCURRENCY (default 4),
 * BENCH_SOAK_SIGNATURE_WINDOW_MS (default 60000: the origin's ORIGIN_SIGNATURE_WINDOW_MS), BENCH_SOAK_WINDOW_S (the
 * latency window, default 60), BENCH_SMOKE=1 (20 s, 5 s warm-up, 5 s windows, RSS every second).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startStack } from '../scripts/stack.ts';
import { percentile, testMessages } from '../test/helpers.ts';
import {
  buildEdgeBundle,
  edgeMiniflare,
  envInt,
  log,
  originMetrics,
  result,
  round,
  rssKiB,
  sleep,
  smokeOr,
} from './lib.ts';

const SECONDS = envInt('BENCH_SOAK_SECONDS', smokeOr(300, 20), 10, 24 * 3600);
const CONCURRENCY = envInt('BENCH_CONCURRENCY', 4, 1, 256);
const WARM_UP_S = envInt('BENCH_SOAK_WARMUP_S', smokeOr(120, 5), 0, 24 * 3600);
/** The latency window ("minute"): p50/p99 per window, first (the second window) vs last. */
const WINDOW_S = envInt('BENCH_SOAK_WINDOW_S', smokeOr(60, 5), 1, 3600);
/** How often RSS is sampled. */
const SAMPLE_MS = smokeOr(5000, 1000);
const SIGNATURE_WINDOW_MS = envInt('BENCH_SOAK_SIGNATURE_WINDOW_MS', 60_000, 1_000, 3_600_000);

const OUT = join(fileURLToPath(new URL('..', import.meta.url)), 'bench', 'out', 'soak-edge');

/** This process's workerd children (Miniflare's). */
function workerdPids(): number[] {
  const out = execFileSync('ps', ['-o', 'pid=,comm=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter(([, comm]) => comm === 'workerd')
    .map(([pid]) => Number(pid));
}

interface Done {
  at: number;
  ms: number;
  ok: boolean;
}

async function main(): Promise<void> {
  log(`bench:soak: starting the stack; ${SECONDS} s of load at concurrency ${CONCURRENCY}`);
  const stack = await startStack({
    sharedState: 'test',
    keys: [{ name: 'soak', tier: 'soak' }],
    // The origin's replay-nonce store holds every signature of its window (traffic x window): a 60 s window is full
    // within the warm-up minute.
    originEnv: { ORIGIN_SIGNATURE_WINDOW_MS: String(SIGNATURE_WINDOW_MS) },
    edgeVars: { RATE_LIMIT_TIERS: JSON.stringify({ soak: { limit: 100_000_000, window: '60 s' } }) },
  });
  try {
    const key = stack.apiKeys[0]?.key as string;
    const originPid = stack.origins[0]?.process.pid as number;
    // The stack's own edge (wrangler dev) stays idle; this one takes the load.
    buildEdgeBundle(OUT);
    let errorLines = 0;
    const mf = edgeMiniflare(OUT, stack.edgeVars, (entry) => {
      if (entry.level === 'error') errorLines++;
    });
    await mf.ready;
    const edgePids = workerdPids();
    if (edgePids.length === 0) throw new Error('no workerd process found under Miniflare');
    const edgeUrl = 'http://edge';
    const call = async (path: string, init: RequestInit): Promise<number> => {
      const res = await mf.dispatchFetch(`${edgeUrl}${path}`, init as never);
      await res.arrayBuffer();
      return res.status;
    };
    const edgeRss = () => edgePids.reduce((n, pid) => n + rssKiB(pid), 0);
    const texts = testMessages().map((m) => m.text);
    const digitsRow = Array.from({ length: 784 }, (_, i) => ((i * 37) % 255) / 255);
    const bypass = { 'cache-control': 'no-cache, no-store' };

    const done: Done[] = [];
    const samples: Array<{ t: number; origin: number; edge: number }> = [];
    const t0 = performance.now();
    const end = t0 + SECONDS * 1000;
    let n = 0;
    // Where the origin's memory is (prom-client's process metrics), when the warm-up ends and at the end: V8's heap,
    // memory outside it (ArrayBuffers, ORT's arenas, native) and RSS.
    const originUrl = stack.origins[0]?.url as string;
    const heaps: Array<Record<string, number>> = [];
    const sampleHeap = async () => {
      try {
        const text = await originMetrics(originUrl);
        const value = (name: string) => {
          const line = text.split('\n').find((l) => l.startsWith(`${name} `));
          return line === undefined ? Number.NaN : round(Number(line.slice(name.length + 1)) / 2 ** 20, 1);
        };
        heaps.push({
          heap_used_mb: value('nodejs_heap_size_used_bytes'),
          heap_total_mb: value('nodejs_heap_size_total_bytes'),
          external_mb: value('nodejs_external_memory_bytes'),
          rss_mb: value('process_resident_memory_bytes'),
        });
      } catch {}
    };
    const sampler = (async () => {
      let heapTaken = false;
      while (performance.now() < end) {
        const t = (performance.now() - t0) / 1000;
        samples.push({ t, origin: rssKiB(originPid), edge: edgeRss() });
        if (!heapTaken && t >= WARM_UP_S) {
          heapTaken = true;
          await sampleHeap();
        }
        await sleep(SAMPLE_MS);
      }
    })();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (performance.now() < end) {
          const i = n++;
          const started = performance.now();
          let ok: boolean;
          const auth = { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...bypass };
          if (i % 20 === 19) {
            const status = await call('/v2/models/digits/infer', {
              method: 'POST',
              headers: auth,
              body: JSON.stringify({
                inputs: [
                  {
                    name: 'input',
                    datatype: 'FP32',
                    shape: [1, 784],
                    data: digitsRow.map((v) => (v + i * 1e-6) % 1),
                  },
                ],
              }),
            });
            ok = status === 200;
          } else {
            const text = `${texts[i % texts.length]}\n[soak ${i}]`;
            const headers = i % 10 === 9 ? { ...auth, 'x-escalate': 'always' } : auth;
            const status = await call('/v1/models/spam/classify', {
              method: 'POST',
              headers,
              body: JSON.stringify({ texts: [text] }),
            });
            ok = status === 200;
          }
          done.push({ at: (performance.now() - t0) / 1000, ms: performance.now() - started, ok });
        }
      }),
    );
    await sampler;
    samples.push({ t: (performance.now() - t0) / 1000, origin: rssKiB(originPid), edge: edgeRss() });
    await sampleHeap();

    const minutes = Math.max(1, Math.floor(SECONDS / WINDOW_S));
    const perMinute = Array.from({ length: minutes }, (_, m) => {
      const ms = done.filter((d) => d.at >= m * WINDOW_S && d.at < (m + 1) * WINDOW_S).map((d) => d.ms);
      return {
        minute: m + 1,
        requests: ms.length,
        p50_ms: round(percentile(ms, 50), 2),
        p99_ms: round(percentile(ms, 99), 2),
      };
    });
    for (const m of perMinute)
      log(`  minute ${m.minute}: ${m.requests} requests, p50 ${m.p50_ms} ms, p99 ${m.p99_ms} ms`);
    const afterWarmUp = samples.find((s) => s.t >= WARM_UP_S) ?? (samples[0] as (typeof samples)[number]);
    const last = samples.at(-1) as (typeof samples)[number];
    const drift = (a: number, b: number) => (a === 0 ? null : round((b - a) / a, 4));
    // Growth per minute over the second half of the run (a least-squares slope): a leak keeps a slope, a process that
    // is still settling flattens.
    const slope = (pick: (s: (typeof samples)[number]) => number) => {
      const half = samples.filter((x) => x.t >= SECONDS / 2);
      if (half.length < 3) return null;
      const mt = half.reduce((a, x) => a + x.t, 0) / half.length;
      const my = half.reduce((a, x) => a + pick(x), 0) / half.length;
      const num = half.reduce((a, x) => a + (x.t - mt) * (pick(x) - my), 0);
      const den = half.reduce((a, x) => a + (x.t - mt) ** 2, 0);
      return den === 0 ? null : round(((num / den) * 60) / 1024, 2);
    };
    const first = perMinute[1] ?? perMinute[0];
    const lastMinute = perMinute.at(-1);
    result({
      bench: 'soak',
      seconds: SECONDS,
      window_s: WINDOW_S,
      concurrency: CONCURRENCY,
      origin_signature_window_ms: SIGNATURE_WINDOW_MS,
      warm_up_s: WARM_UP_S,
      requests: done.length,
      errors: done.filter((d) => !d.ok).length,
      worker_error_lines: errorLines,
      rps: round(done.length / SECONDS, 1),
      rss_origin_mb_start: round(afterWarmUp.origin / 1024, 1),
      rss_origin_mb_end: round(last.origin / 1024, 1),
      rss_drift_origin: drift(afterWarmUp.origin, last.origin),
      rss_edge_mb_start: round(afterWarmUp.edge / 1024, 1),
      rss_edge_mb_end: round(last.edge / 1024, 1),
      rss_drift_edge: drift(afterWarmUp.edge, last.edge),
      rss_slope_origin_mb_per_min_second_half: slope((x) => x.origin),
      origin_memory_after_warm_up: heaps.length === 2 ? heaps[0] : undefined,
      origin_memory_end: heaps.at(-1),
      rss_slope_edge_mb_per_min_second_half: slope((x) => x.edge),
      p99_first_min_ms: first?.p99_ms ?? null,
      p99_last_min_ms: lastMinute?.p99_ms ?? null,
      p99_last_vs_first:
        first === undefined || lastMinute === undefined ? null : round(lastMinute.p99_ms / first.p99_ms, 3),
      per_minute: perMinute,
      rss_samples_mb: samples.map((s) => [round(s.t, 0), round(s.origin / 1024, 1), round(s.edge / 1024, 1)]),
      note: 'RSS from /proc (origin: its Node process incl. worker threads; edge: the deploy bundle in workerd via Miniflare, wired to the stack origin and Upstash bridge); start = after the warm-up (warm_up_s); p99 first = minute 2 (per_minute: windows of window_s)',
    });
    await mf.dispose();
  } finally {
    await stack.stop();
  }
}

await main();
