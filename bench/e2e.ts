/**
 * npm run bench:e2e: the cascade under load through the whole stack (scripts/stack.ts: origin process with the
 * real teacher, Upstash REST bridge over a real Redis, the edge Worker in workerd via wrangler dev) on the
 * release recipe's TEST split of the SpamAssassin corpus.
 *
 * Traffic: every test-split message once, in a fixed shuffled order, plus a share of them sent again later
 * (repeats, as real traffic has), at a fixed concurrency. Reports the share answered by cache, edge, origin and
 * edge-degraded; accuracy against the labels; latency p50/p95/p99 overall and per path (client-side, including
 * wrangler dev's local proxy, which adds a few ms; see FACTS.md).
 * The last line printed is one JSON object.
 * Env: BENCH_CONCURRENCY (default 4), BENCH_REPEAT_SHARE (default 0.2), BENCH_LIMIT (messages; default all),
 * BENCH_SMOKE=1 (60 messages).
 */
import { createHash } from 'node:crypto';
import { startStack } from '../scripts/stack.ts';
import { classify, percentile, testMessages } from '../test/helpers.ts';
import { LABELS } from '../training/src/data/corpus.ts';
import { envNumber, log, result, round, smokeOr } from './lib.ts';

const CONCURRENCY = Math.trunc(envNumber('BENCH_CONCURRENCY', 4, 1, 1024));
const REPEAT_SHARE = envNumber('BENCH_REPEAT_SHARE', 0.2, 0, 1);
const LIMIT = Math.trunc(
  envNumber('BENCH_LIMIT', smokeOr(Number.MAX_SAFE_INTEGER, 60), 1, Number.MAX_SAFE_INTEGER),
);

const order = (s: string) => createHash('sha256').update(`bench-e2e:${s}`).digest('hex');

interface Outcome {
  path: string;
  status: number;
  ms: number;
  correct: boolean | undefined;
  repeat: boolean;
}

async function main(): Promise<void> {
  const messages = [...testMessages()]
    .sort((a, b) => order(a.key).localeCompare(order(b.key)))
    .slice(0, LIMIT);
  const repeats = messages.slice(0, Math.round(messages.length * REPEAT_SHARE));
  // Repeats come after their first occurrence: the second half of the stream interleaves them.
  const half = Math.floor(messages.length / 2);
  const tag = (repeat: boolean) => (m: (typeof messages)[number]) => ({ m, repeat });
  const stream = [
    ...messages.slice(0, half).map(tag(false)),
    ...interleave(messages.slice(half).map(tag(false)), repeats.map(tag(true))),
  ];

  log(`bench:e2e: starting the stack (origin, bridge over Redis, edge in workerd)`);
  const stack = await startStack({
    sharedState: 'test',
    keys: [{ name: 'bench', tier: 'bench' }],
    edgeVars: { RATE_LIMIT_TIERS: JSON.stringify({ bench: { limit: 10_000_000, window: '60 s' } }) },
  });
  try {
    const key = stack.apiKeys[0]?.key as string;
    // Warm-up: the first edge request per isolate creates the ORT session; not part of the measurement.
    await classify(stack.edgeUrl, key, ['warm-up'], { 'cache-control': 'no-store' });
    await classify(stack.edgeUrl, key, ['warm-up'], { 'cache-control': 'no-store', 'x-escalate': 'always' });

    log(
      `bench:e2e: ${stream.length} requests (${messages.length} test-split messages + ${repeats.length} repeats), concurrency ${CONCURRENCY}`,
    );
    const outcomes: Outcome[] = [];
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < stream.length) {
          const item = stream[next++];
          if (item === undefined) break;
          const { m, repeat } = item;
          const r = await classify(stack.edgeUrl, key, [m.text]);
          const body = r.body as { served_by?: string; predictions?: Array<{ label: string }> };
          const label = body.predictions?.[0]?.label;
          outcomes.push({
            path: r.status === 200 ? (body.served_by ?? 'unknown') : `http_${r.status}`,
            status: r.status,
            ms: r.ms,
            correct: label === undefined ? undefined : label === LABELS[m.label],
            repeat,
          });
        }
      }),
    );
    const wallS = (performance.now() - t0) / 1000;

    const share = (path: string) =>
      round(outcomes.filter((o) => o.path === path).length / outcomes.length, 4);
    const answered = outcomes.filter((o) => o.correct !== undefined);
    const answeredFirst = answered.filter((o) => !o.repeat);
    const paths: Record<string, { requests: number; p50_ms: number; p95_ms: number; p99_ms: number }> = {};
    for (const path of new Set(outcomes.map((o) => o.path))) {
      const ms = outcomes.filter((o) => o.path === path).map((o) => o.ms);
      paths[path] = {
        requests: ms.length,
        p50_ms: round(percentile(ms, 50), 2),
        p95_ms: round(percentile(ms, 95), 2),
        p99_ms: round(percentile(ms, 99), 2),
      };
      log(
        `  ${path.padEnd(14)} ${String(ms.length).padStart(5)} requests  p50 ${paths[path].p50_ms} ms  p95 ${paths[path].p95_ms} ms  p99 ${paths[path].p99_ms} ms`,
      );
    }
    const all = outcomes.map((o) => o.ms);
    const firstPass = outcomes.length - repeats.length;
    result({
      bench: 'e2e',
      split: 'test',
      requests: outcomes.length,
      messages: messages.length,
      repeats: repeats.length,
      concurrency: CONCURRENCY,
      wall_s: round(wallS, 2),
      throughput_rps: round(outcomes.length / wallS, 1),
      edge_share: share('edge'),
      cache_share: share('cache'),
      origin_share: share('origin'),
      degraded_share: share('edge-degraded'),
      error_share: round(outcomes.filter((o) => o.status !== 200).length / outcomes.length, 4),
      first_pass_requests: firstPass,
      accuracy: round(answered.filter((o) => o.correct).length / Math.max(1, answered.length), 4),
      accuracy_first_pass: round(
        answeredFirst.filter((o) => o.correct).length / Math.max(1, answeredFirst.length),
        4,
      ),
      p50_ms: round(percentile(all, 50), 2),
      p95_ms: round(percentile(all, 95), 2),
      p99_ms: round(percentile(all, 99), 2),
      paths,
      note: 'client-side latency through wrangler dev (local proxy adds a few ms); accuracy counts repeats too; accuracy_first_pass is each test-split message once',
    });
  } finally {
    await stack.stop();
  }
}

function interleave<T>(a: readonly T[], b: readonly T[]): T[] {
  const out: T[] = [];
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (i < a.length) out.push(a[i] as T);
    if (i < b.length) out.push(b[i] as T);
  }
  return out;
}

await main();
