/**
 * npm run bench:featurizer: the featurizer's cost on hostile 32 KB messages (shared/featurizer/hostile.ts: inputs
 * built to make pattern scans backtrack) against a normal message of the same length, in this process.
 * Each input: warm-up, then the median of BENCH_ROUNDS rounds of BENCH_REPS featurizations. `worst_ratio` is the
 * slowest hostile input's time over the normal message's (goal <= 5); `normal_ms`/`worst_ms` are per message.
 * Beside it, the out-of-distribution check (shared/ood: coverage of the featurized ids against the default
 * release's seen-ids bitmap, what the edge adds per item before the student runs) on the normal message, as a share
 * of its featurization.
 * The last line printed is one JSON object. Env: BENCH_SIZE (default 32768), BENCH_ROUNDS (7), BENCH_REPS (20),
 * BENCH_SMOKE=1 (3 rounds of 2).
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { hostileMessages, normalMessage } from '../shared/featurizer/hostile.ts';
import { createFeaturizer } from '../shared/featurizer/index.ts';
import { SeenIds } from '../shared/ood/index.ts';
import { listReleases } from '../training/src/release/registry.ts';
import { envInt, result, smokeOr } from './lib.ts';

const SIZE = envInt('BENCH_SIZE', 32 * 1024, 1024, 16 * 2 ** 20);
const ROUNDS = envInt('BENCH_ROUNDS', smokeOr(7, 3), 1, 1000);
const REPS = envInt('BENCH_REPS', smokeOr(20, 2), 1, 100_000);

const f = createFeaturizer();
const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** Median ms per call of `work`. */
function timeIt(work: () => void, reps = REPS): number {
  for (let i = 0; i < 3; i++) work();
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) work();
    rounds.push((performance.now() - t0) / reps);
  }
  rounds.sort((a, b) => a - b);
  return rounds[Math.floor(rounds.length / 2)] as number;
}

/** Median ms per featurization of `text`. */
const cost = (text: string) => timeIt(() => f.featurize(text));

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

// The OOD check on the normal message's ids, with the newest release's bitmap (the default on both tiers).
const newest = (await listReleases('spam')).filter((r) => r.manifest.ood !== undefined).at(-1);
if (newest === undefined) throw new Error('no release with an OOD rule in models/spam/');
const seen = new SeenIds(new Uint8Array(readFileSync(join(newest.dir, 'seen-ids.bin'))));
const ids = f.featurize(normal);
let sink = 0;
const coverageMs = timeIt(() => {
  sink += seen.coverage(ids, 0, ids.length).features;
}, REPS * 100);
if (sink === 0) throw new Error('the normal message has no features');
console.log(
  `ood check: ${(coverageMs * 1000).toFixed(2)} us per message (${ids.length} ids), ${((100 * coverageMs) / normalMs).toFixed(2)}% of its featurization`,
);
result({
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
  ood_check_us: round3(coverageMs * 1000),
  ood_check_share_of_featurize: round3(coverageMs / normalMs),
});
