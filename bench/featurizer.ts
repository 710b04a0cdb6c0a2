/**
 * npm run bench:featurizer: the featurizer's cost on hostile 32 KB messages (shared/featurizer/hostile.ts: inputs
 * built to make pattern scans backtrack) against a normal message of the same length, in this process.
 * Each input: warm-up, then the median of BENCH_ROUNDS rounds of BENCH_REPS featurizations. `worst_ratio` is the
 * slowest hostile input's time over the normal message's (goal <= 5); `normal_ms`/`worst_ms` are per message.
 * The last line printed is one JSON object. Env: BENCH_SIZE (default 32768), BENCH_ROUNDS (7), BENCH_REPS (20).
 */
import { loadavg } from 'node:os';
import { hostileMessages, normalMessage } from '../shared/featurizer/hostile.ts';
import { createFeaturizer } from '../shared/featurizer/index.ts';

const SIZE = Number(process.env.BENCH_SIZE ?? 32 * 1024);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const REPS = Number(process.env.BENCH_REPS ?? 20);

const f = createFeaturizer();
const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** Median ms per featurization of `text`. */
function cost(text: string): number {
  for (let i = 0; i < 3; i++) f.featurize(text);
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    for (let i = 0; i < REPS; i++) f.featurize(text);
    rounds.push((performance.now() - t0) / REPS);
  }
  rounds.sort((a, b) => a - b);
  return rounds[Math.floor(rounds.length / 2)] as number;
}

const load = loadavg()[0] as number;
const normal = normalMessage(SIZE);
const normalMs = cost(normal);
const rows = hostileMessages(SIZE).map(({ name, text }) => {
  const ms = cost(text);
  return { name, chars: text.length, ms: round3(ms), ratio: round3(ms / normalMs) };
});
rows.sort((a, b) => b.ratio - a.ratio);
for (const r of rows)
  console.log(`${r.ratio.toFixed(2).padStart(7)}x  ${r.ms.toFixed(3).padStart(8)} ms  ${r.name}`);
const worst = rows[0] as (typeof rows)[number];
console.log(
  JSON.stringify({
    bench: 'featurizer',
    size_chars: SIZE,
    load_avg_1m_at_start: round3(load),
    normal_ms: round3(normalMs),
    worst_ms: worst.ms,
    worst_ratio: worst.ratio,
    worst_input: worst.name,
    goal_worst_ratio: 5,
    goal_met: worst.ratio <= 5,
    inputs: Object.fromEntries(rows.map((r) => [r.name, r.ratio])),
  }),
);
