/**
 * npm run bench:regions: origin pools in three regions under a scripted timeline of faults (issue #26).
 *
 * Stack: scripts/stack-regions.ts without its wrangler dev edge: pools eu, us, ap (one origin process each, the
 * real teacher), every origin behind a fault proxy that adds the colo-to-pool RTT (RTT_MS: FRA, IAD, SIN; by the
 * `x-edge-colo` header the edge sends). The edge is the deploy bundle in workerd through Miniflare (no wrangler dev
 * proxy: FACTS.md), with the colo set per request by Miniflare's `cf` option (cf.colo, country, continent), and no
 * shared state (rate limiting and the L2 cache off: the figures are the router's). Two edges run side by side on the
 * same pools, the same faults and the same traffic: `hedged` (ORIGIN_HEDGE_SHARE 0.05, the default) and `unhedged`
 * (0); every figure below is the hedged edge's (the production configuration) except `p99_ms_unhedged` and the
 * `*_unhedged` companions.
 *
 * Traffic, open loop: per colo BENCH_RATE escalations per second (POST /v1/models/spam/classify, one unique text,
 * `x-escalate: always`, `cache-control: no-cache, no-store`), on a fixed timeline alternating between the two
 * edges; latency counts from the scheduled send time, not the actual one (coordinated omission avoided). Beside it
 * an eu-pinned key (API_KEYS `regions: ["eu"]`) sends BENCH_PIN_RATE per colo to the hedged edge. Every request
 * carries an `x-request-id` whose prefix (`hedged-FRA:`, `pin-SIN:`) the proxies count, so each pool's proxy says
 * whose requests it saw.
 *
 * Timeline (full / BENCH_SMOKE=1 seconds; BENCH_<PHASE>_S overrides):
 *   warmup   15 / 5   RTTs learned, p95s (hedge delays) filled; not reported
 *   steady   30 / 6   nearest_share, extra_attempts_share, the steady queue-depth peak at eu
 *   slow     60 / 8   eu answers a BENCH_SLOW_SHARE (0.01) of requests BENCH_SLOW_MS (500) late: p99 of FRA (whose
 *                     nearest pool is eu) hedged vs unhedged, hedge_extra_load
 *   outage   30 / 10  eu blackholed (requests held, never answered): failover_s, outage_user_errors,
 *                     outage_p99_ms, retry_amplification, residency_violations
 *   recovery 50 / 10  eu restored: recovery_s, recovery_queue_peak_ratio
 *
 * Definitions (all from the hedged edge unless named otherwise):
 *  - nearest_share: steady answers (all colos) served by the colo's nearest pool (FRA eu, IAD us, SIN ap).
 *  - extra_attempts_share: retries + hedges over first attempts in steady (GET /v1/admin/origins, before and
 *    after; Miniflare runs one isolate). hedge_extra_load: hedges over first attempts in the slow phase.
 *  - p99_ms_hedged / p99_ms_unhedged: FRA's p99 in the slow phase (nearest rank). With a 1% tail the p99 sits at
 *    the tail's edge (about half the runs put it inside), so p999_ms_* and slow_answers_* (answers over half of
 *    BENCH_SLOW_MS, per edge) are printed beside it.
 *  - failover_s: from the blackhole until the share of FRA requests whose attempts still reach eu's proxy stays
 *    <= 1% in every later 0.5 s window of the outage (the proxy counts arrivals by request-id prefix). When it never
 *    does, the outage's length and failover_reached false.
 *  - outage_user_errors: outage answers (all colos) that are not a 200 served by an origin (errors, degraded).
 *    outage_p99_ms: FRA's p99 in the outage (the request deadline is REQUEST_DEADLINE_MS, 3000 ms).
 *  - retry_amplification: requests the other pools' proxies saw from FRA during the outage over FRA requests sent.
 *  - recovery_s: from the restore until FRA's share served by eu stays >= 95% in every later 2 s window (1 s in a
 *    smoke run); when it never does, the phase's length and recovery_reached false.
 *  - recovery_queue_peak_ratio: the most requests eu's origin held at once (forwarded by its proxy, not yet
 *    answered: queued + running) during recovery over the same peak in steady (at least 1). The origin's own
 *    x-queue-depth (rows waiting for a batch) stays 0 at these rates; its peaks are printed beside it.
 *  - residency_violations: requests of the eu-pinned key that reached a non-eu proxy during the outage
 *    (residency_violations_all: over the whole run).
 * Per phase it prints p50/p99, nearest share, degraded answers and the pools that served, per edge and colo.
 * The last line printed is one JSON object.
 * Env: BENCH_RATE (per colo, default 24; smoke 15), BENCH_PIN_RATE (per colo, default 2), BENCH_SLOW_SHARE
 * (default 0.01), BENCH_SLOW_MS (default 500), BENCH_{WARMUP,STEADY,SLOW,OUTAGE,RECOVERY}_S, BENCH_SMOKE=1,
 * BENCH_REGIONS_DUMP (a file that receives every sample as JSON).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Miniflare } from 'miniflare';
import type { FaultCounts } from '../scripts/fault-proxy.ts';
import {
  COLO_INFO,
  COLOS,
  type Colo,
  REGIONS,
  type RegionsStack,
  RTT_MS,
  startRegionsStack,
} from '../scripts/stack-regions.ts';
import {
  buildEdgeBundle,
  edgeMiniflare,
  envInt,
  envNumber,
  log,
  result,
  round,
  sleep,
  smokeOr,
} from './lib.ts';

const OUT = join(fileURLToPath(new URL('..', import.meta.url)), 'bench', 'out', 'regions-edge');
const RATE = envNumber('BENCH_RATE', smokeOr(24, 15), 1, 500);
const PIN_RATE = envNumber('BENCH_PIN_RATE', 2, 0, 100);
const SLOW_SHARE = envNumber('BENCH_SLOW_SHARE', 0.01, 0, 1);
const SLOW_MS = envInt('BENCH_SLOW_MS', 500, 1, 60_000);
const PHASES = [
  { name: 'warmup', s: envNumber('BENCH_WARMUP_S', smokeOr(15, 5), 1, 3600) },
  { name: 'steady', s: envNumber('BENCH_STEADY_S', smokeOr(30, 6), 1, 3600) },
  { name: 'slow', s: envNumber('BENCH_SLOW_S', smokeOr(60, 8), 1, 3600) },
  { name: 'outage', s: envNumber('BENCH_OUTAGE_S', smokeOr(30, 10), 1, 3600) },
  { name: 'recovery', s: envNumber('BENCH_RECOVERY_S', smokeOr(50, 10), 1, 3600) },
] as const;
type Phase = (typeof PHASES)[number]['name'];
const EDGES = ['hedged', 'unhedged'] as const;
type EdgeName = (typeof EDGES)[number];
/** The pool the faults hit, and the colo it is nearest to. */
const FAULTED = 'eu';
const FAULTED_COLO: Colo = 'FRA';
const FAILOVER_WINDOW_MS = 500;
const RECOVERY_WINDOW_MS = smokeOr(2000, 1000);
const DEADLINE_MS = 3000;

const TEXTS = [
  'Congratulations! You have been selected to receive a free cruise. Reply now to claim your prize',
  'Hi team, the build on the main branch is green again; please rebase before merging your changes',
  'Lowest mortgage rates guaranteed, no credit check, apply today and save thousands every month',
  'Are we still on for lunch on Thursday? I can book a table near the office for half past twelve',
  'Your account has been suspended. Verify your password within 24 hours to avoid permanent closure',
  'Attached are the minutes from yesterday; the next review of the release plan is on Monday morning',
];

interface Sample {
  edge: EdgeName;
  colo: Colo;
  pinned: boolean;
  phase: Phase;
  /** Scheduled send time, ms since the timeline began. */
  at: number;
  /** From the scheduled time to the answer's body read, ms. */
  ms: number;
  status: number;
  pool: string | undefined;
  servedBy: string | undefined;
  degraded: string | undefined;
}

interface RouterSnapshot {
  pools: Array<{ id: string; requests: number; errors: number; hedges: number; failovers: number }>;
  first_attempts: number;
  extra_attempts: number;
}

const p = (values: number[], q: number): number => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
};
const share = (n: number, of: number) => (of === 0 ? Number.NaN : n / of);
const ok = (s: Sample) => s.status === 200 && s.servedBy === 'origin' && s.degraded === undefined;

async function send(
  mf: Miniflare,
  key: string,
  colo: Colo,
  id: string,
  text: string,
): Promise<Pick<Sample, 'status' | 'pool' | 'servedBy' | 'degraded'>> {
  try {
    const res = await mf.dispatchFetch('http://edge.bench/v1/models/spam/classify', {
      method: 'POST',
      headers: {
        authorization: `Bearer ${key}`,
        'content-type': 'application/json',
        'x-escalate': 'always',
        'cache-control': 'no-cache, no-store',
        'x-request-id': id,
      },
      body: JSON.stringify({ text }),
      cf: { colo, country: COLO_INFO[colo].country, continent: COLO_INFO[colo].continent },
    } as never);
    const body = await res.text();
    let pool: string | undefined;
    let servedBy: string | undefined;
    try {
      const json = JSON.parse(body) as {
        served_by?: string;
        predictions?: Array<{ origin_pool?: string; served_by?: string }>;
      };
      pool = json.predictions?.[0]?.origin_pool;
      servedBy = json.predictions?.[0]?.served_by ?? json.served_by;
    } catch {}
    return {
      status: res.status,
      pool,
      servedBy,
      degraded: res.headers.get('x-degraded-reason') ?? undefined,
    };
  } catch {
    return { status: 0, pool: undefined, servedBy: undefined, degraded: undefined };
  }
}

async function routerSnapshot(mf: Miniflare, adminKey: string): Promise<RouterSnapshot> {
  const res = await mf.dispatchFetch('http://edge.bench/v1/admin/origins', {
    headers: { authorization: `Bearer ${adminKey}` },
  });
  const body = await res.text();
  if (res.status !== 200)
    throw new Error(`GET /v1/admin/origins answered ${res.status}: ${body.slice(0, 200)}`);
  return JSON.parse(body) as RouterSnapshot;
}

const hedgesOf = (s: RouterSnapshot) => s.pools.reduce((n, x) => n + x.hedges, 0);

async function main(): Promise<void> {
  log(
    `bench:regions: pools ${REGIONS.join(', ')} behind fault proxies, colos ${COLOS.join(', ')}; ${RATE}/s per colo (+${PIN_RATE}/s eu-pinned), phases ${PHASES.map((x) => `${x.name} ${x.s} s`).join(', ')}`,
  );
  buildEdgeBundle(OUT);
  const stack: RegionsStack = await startRegionsStack({ edge: 'none' });
  const edges = new Map<EdgeName, Miniflare>();
  try {
    let errorLines = 0;
    const onLog = (entry: { level: string; message: string }) => {
      if (entry.level === 'error' && errorLines++ < 5) process.stderr.write(`edge error: ${entry.message}\n`);
    };
    const base = {
      ...stack.edgeVars,
      DEV_COLO_HEADER: '',
      UPSTASH_REDIS_REST_URL: '',
      UPSTASH_REDIS_REST_TOKEN: '',
      ORIGIN_TIMEOUT_MS: '2000',
      REQUEST_DEADLINE_MS: String(DEADLINE_MS),
    };
    edges.set('hedged', edgeMiniflare(OUT, { ...base, ORIGIN_HEDGE_SHARE: '0.05' }, onLog));
    edges.set('unhedged', edgeMiniflare(OUT, { ...base, ORIGIN_HEDGE_SHARE: '0' }, onLog));
    await Promise.all([...edges.values()].map((mf) => mf.ready));
    // One request per colo to each edge before the timeline (the isolate's first request, connections): unrecorded.
    for (const [name, mf] of edges)
      for (const colo of COLOS)
        await send(mf, stack.keys.user, colo, `prewarm-${name}-${colo}:0`, TEXTS[0] as string);

    const samples: Sample[] = [];
    const inflight = new Set<Promise<void>>();
    const starts: number[] = [];
    let acc = 0;
    for (const ph of PHASES) {
      starts.push(acc);
      acc += ph.s * 1000;
    }
    const totalMs = acc;
    const phaseAt = (t: number): Phase => {
      let i = 0;
      while (i + 1 < starts.length && t >= (starts[i + 1] as number)) i++;
      return (PHASES[i] as (typeof PHASES)[number]).name;
    };
    const startOf = (name: Phase) => starts[PHASES.findIndex((x) => x.name === name)] as number;
    const endOf = (name: Phase) => {
      const i = PHASES.findIndex((x) => x.name === name);
      return (starts[i] as number) + (PHASES[i] as (typeof PHASES)[number]).s * 1000;
    };

    // Streams: per colo the main one (alternating edges) and the eu-pinned key's (hedged edge only).
    interface Stream {
      colo: Colo;
      pinned: boolean;
      rate: number;
      offset: number;
      n: number;
    }
    const streams: Stream[] = [];
    COLOS.forEach((colo, i) => {
      streams.push({ colo, pinned: false, rate: RATE, offset: (i * 1000) / RATE / COLOS.length, n: 0 });
      if (PIN_RATE > 0)
        streams.push({
          colo,
          pinned: true,
          rate: PIN_RATE,
          offset: (i * 1000) / PIN_RATE / COLOS.length,
          n: 0,
        });
    });
    const due = (s: Stream) => s.offset + (s.n * 1000) / s.rate;
    let textN = 0;
    const fire = (s: Stream, at: number, t0: number) => {
      const edge: EdgeName = s.pinned || s.n % 2 === 0 ? 'hedged' : 'unhedged';
      const id = `${s.pinned ? 'pin' : edge}-${s.colo}:${s.n}`;
      const text = `${TEXTS[textN % TEXTS.length]} (${textN++} ${s.colo})`;
      const key = s.pinned ? stack.keys.pinned : stack.keys.user;
      const run = send(edges.get(edge) as Miniflare, key, s.colo, id, text).then((r) => {
        samples.push({
          edge,
          colo: s.colo,
          pinned: s.pinned,
          phase: phaseAt(at),
          at,
          ms: performance.now() - t0 - at,
          ...r,
        });
      });
      inflight.add(run);
      run.finally(() => inflight.delete(run));
    };

    // Per phase: each pool's proxy counts (reset at every phase start), router snapshots at the phase boundaries.
    const counts = new Map<Phase, Map<string, FaultCounts>>();
    // A snapshot that fails reads as undefined (its figures NaN, printed null) rather than ending the run.
    const snapshots = new Map<EdgeName, Map<Phase, Promise<RouterSnapshot | undefined>>>(
      EDGES.map((e) => [e, new Map()]),
    );
    const takeSnapshot = (mf: Miniflare) =>
      routerSnapshot(mf, stack.keys.admin).catch((err: unknown) => {
        process.stderr.write(`router snapshot failed: ${err instanceof Error ? err.message : String(err)}\n`);
        return undefined;
      });
    let endSnapshot = new Map<EdgeName, Promise<RouterSnapshot | undefined>>();
    const eu = stack.pool(FAULTED);
    /** eu's arrivals from the hedged edge's FRA requests since the outage began, sampled every 100 ms. */
    const euArrivals: Array<{ t: number; n: number }> = [];
    const enter = (i: number) => {
      const name = (PHASES[i] as (typeof PHASES)[number]).name;
      if (i > 0) {
        const prev = (PHASES[i - 1] as (typeof PHASES)[number]).name;
        counts.set(prev, new Map(stack.pools.map((pool) => [pool.id, pool.counts()])));
      }
      for (const pool of stack.pools) pool.resetCounts();
      for (const [e, mf] of edges) snapshots.get(e)?.set(name, takeSnapshot(mf));
      if (name === 'slow') eu.set({ slow_share: SLOW_SHARE, slow_ms: SLOW_MS });
      if (name === 'outage') eu.set({ slow_share: 0, slow_ms: 0, blackhole: true });
      if (name === 'recovery') eu.clear();
      log(`bench:regions: ${name} (${(PHASES[i] as (typeof PHASES)[number]).s} s)`);
    };

    const t0 = performance.now();
    let phaseIndex = 0;
    enter(0);
    let nextSample = 0;
    for (;;) {
      const now = performance.now() - t0;
      if (now >= totalMs) break;
      while (phaseIndex + 1 < PHASES.length && now >= (starts[phaseIndex + 1] as number)) enter(++phaseIndex);
      if (now >= nextSample) {
        nextSample = now + 100;
        if (phaseAt(now) === 'outage')
          euArrivals.push({ t: now, n: eu.counts().by_request_prefix[`hedged-${FAULTED_COLO}`] ?? 0 });
      }
      let next = Math.min(totalMs, nextSample, (starts[phaseIndex + 1] as number | undefined) ?? totalMs);
      for (const s of streams) {
        while (due(s) <= now) {
          fire(s, due(s), t0);
          s.n++;
        }
        next = Math.min(next, due(s));
      }
      await sleep(Math.max(0, next - (performance.now() - t0)));
    }
    counts.set(
      PHASES[PHASES.length - 1]?.name as Phase,
      new Map(stack.pools.map((pool) => [pool.id, pool.counts()])),
    );
    endSnapshot = new Map(EDGES.map((e) => [e, takeSnapshot(edges.get(e) as Miniflare)]));
    await Promise.all([...inflight]);

    const dump = process.env.BENCH_REGIONS_DUMP;
    if (dump !== undefined && dump !== '') writeFileSync(dump, JSON.stringify(samples));

    // ---- Figures.
    const pick = (f: (s: Sample) => boolean) => samples.filter(f);
    const traffic = (phase: Phase, edge: EdgeName = 'hedged', colo?: Colo) =>
      pick(
        (s) => !s.pinned && s.phase === phase && s.edge === edge && (colo === undefined || s.colo === colo),
      );
    const snap = async (edge: EdgeName, phase: Phase | 'end') =>
      phase === 'end' ? await endSnapshot.get(edge) : await snapshots.get(edge)?.get(phase);
    const nextPhase = (phase: Phase): Phase | 'end' =>
      (PHASES[PHASES.findIndex((x) => x.name === phase) + 1]?.name as Phase | undefined) ?? 'end';
    const delta = async (edge: EdgeName, phase: Phase) => {
      const a = await snap(edge, phase);
      const b = await snap(edge, nextPhase(phase));
      if (a === undefined || b === undefined)
        return { first: Number.NaN, extra: Number.NaN, hedges: Number.NaN };
      return {
        first: b.first_attempts - a.first_attempts,
        extra: b.extra_attempts - a.extra_attempts,
        hedges: hedgesOf(b) - hedgesOf(a),
      };
    };
    const nearest = (s: Sample) => s.pool === COLO_INFO[s.colo].nearest && ok(s);

    // Per phase, per edge and colo.
    for (const ph of PHASES) {
      for (const edge of EDGES) {
        for (const colo of COLOS) {
          const xs = traffic(ph.name, edge, colo);
          const ms = xs.map((s) => s.ms);
          const pools: Record<string, number> = {};
          for (const s of xs) {
            const k = ok(s) ? (s.pool ?? '?') : (s.degraded ?? `status ${s.status}`);
            pools[k] = (pools[k] ?? 0) + 1;
          }
          log(
            `  ${ph.name.padEnd(8)} ${edge.padEnd(8)} ${colo}  n ${String(xs.length).padStart(4)}  p50 ${round(p(ms, 0.5), 1)} ms  p99 ${round(p(ms, 0.99), 1)} ms  max ${round(Math.max(...ms), 1)} ms  nearest ${round(share(xs.filter(nearest).length, xs.length), 3)}  served ${JSON.stringify(pools)}`,
          );
        }
      }
      const pinned = pick((s) => s.pinned && s.phase === ph.name);
      const pinnedBy: Record<string, number> = {};
      for (const s of pinned) {
        const k = ok(s) ? (s.pool ?? '?') : (s.degraded ?? `status ${s.status}`);
        pinnedBy[k] = (pinnedBy[k] ?? 0) + 1;
      }
      log(
        `  ${ph.name.padEnd(8)} eu-pinned         n ${String(pinned.length).padStart(4)}  p50 ${round(
          p(
            pinned.map((s) => s.ms),
            0.5,
          ),
          1,
        )} ms  p99 ${round(
          p(
            pinned.map((s) => s.ms),
            0.99,
          ),
          1,
        )} ms  served ${JSON.stringify(pinnedBy)}`,
      );
      // What each pool's proxy saw: all requests (probes included) and by request-id prefix (edge-colo, pin-colo).
      for (const [id, x] of counts.get(ph.name) ?? []) {
        log(
          `  ${ph.name.padEnd(8)} proxy ${id}  requests ${x.requests}  ${JSON.stringify(x.by_request_prefix)}  origin in-flight peak ${x.upstream_inflight_peak}, x-queue-depth peak ${x.queue_depth_peak ?? '-'}`,
        );
      }
    }

    const steady = traffic('steady');
    const nearestShare = share(steady.filter(nearest).length, steady.length);
    const steadyD = await delta('hedged', 'steady');
    const steadyU = await delta('unhedged', 'steady');
    const slowD = await delta('hedged', 'slow');
    const slowU = await delta('unhedged', 'slow');

    const slowMs = (edge: EdgeName) => traffic('slow', edge, FAULTED_COLO).map((s) => s.ms);
    const slowAnswers = (edge: EdgeName) => {
      const ms = slowMs(edge);
      return share(ms.filter((x) => x >= SLOW_MS / 2).length, ms.length);
    };

    // Outage.
    const outage = traffic('outage');
    const outageU = traffic('outage', 'unhedged');
    const userErrors = outage.filter((s) => !ok(s)).length;
    const reasons: Record<string, number> = {};
    for (const s of outage.filter((x) => !ok(x))) {
      const k = s.degraded ?? `status ${s.status}`;
      reasons[k] = (reasons[k] ?? 0) + 1;
    }
    const outageFra = traffic('outage', 'hedged', FAULTED_COLO);
    const outageStart = startOf('outage');
    const outageEnd = endOf('outage');
    const arrivalsAt = (t: number) => {
      let n = 0;
      for (const a of euArrivals) if (a.t <= t) n = a.n;
      return n;
    };
    const windows: Array<{ from: number; sent: number; toEu: number }> = [];
    for (let from = outageStart; from + FAILOVER_WINDOW_MS <= outageEnd; from += FAILOVER_WINDOW_MS) {
      const sent = outageFra.filter((s) => s.at >= from && s.at < from + FAILOVER_WINDOW_MS).length;
      windows.push({ from, sent, toEu: arrivalsAt(from + FAILOVER_WINDOW_MS) - arrivalsAt(from) });
    }
    let failoverFrom: number | undefined;
    for (let i = windows.length - 1; i >= 0; i--) {
      const w = windows[i] as (typeof windows)[number];
      if (w.sent > 0 && w.toEu / w.sent > 0.01) break;
      failoverFrom = w.from;
    }
    log(
      `  failover windows (FRA sent / reaching eu, ${FAILOVER_WINDOW_MS} ms): ${windows.map((w) => `${w.sent}/${w.toEu}`).join(' ')}`,
    );
    const outageCounts = counts.get('outage') as Map<string, FaultCounts>;
    const fraSent = outageFra.length;
    const received = stack.pools
      .filter((x) => x.id !== FAULTED)
      .reduce((n, x) => n + (outageCounts.get(x.id)?.by_request_prefix[`hedged-${FAULTED_COLO}`] ?? 0), 0);
    const pinnedElsewhere = (phaseCounts: Map<string, FaultCounts> | undefined) =>
      [...(phaseCounts ?? new Map<string, FaultCounts>())]
        .filter(([id]) => id !== FAULTED)
        .reduce(
          (n, [, x]) => n + COLOS.reduce((m, colo) => m + (x.by_request_prefix[`pin-${colo}`] ?? 0), 0),
          0,
        );
    const residencyAll = PHASES.reduce((n, ph) => n + pinnedElsewhere(counts.get(ph.name)), 0);
    const pinnedOutage = pick((s) => s.pinned && s.phase === 'outage');

    // Recovery.
    const recStart = startOf('recovery');
    const recEnd = endOf('recovery');
    const recFra = traffic('recovery', 'hedged', FAULTED_COLO);
    const recWindows: Array<{ from: number; n: number; eu: number }> = [];
    for (let from = recStart; from + RECOVERY_WINDOW_MS <= recEnd; from += RECOVERY_WINDOW_MS) {
      const xs = recFra.filter((s) => s.at >= from && s.at < from + RECOVERY_WINDOW_MS);
      recWindows.push({ from, n: xs.length, eu: xs.filter((s) => s.pool === FAULTED && ok(s)).length });
    }
    let recoveredFrom: number | undefined;
    for (let i = recWindows.length - 1; i >= 0; i--) {
      const w = recWindows[i] as (typeof recWindows)[number];
      if (w.n > 0 && w.eu / w.n < 0.95) break;
      recoveredFrom = w.from;
    }
    log(
      `  recovery windows (FRA served by eu / sent, ${RECOVERY_WINDOW_MS} ms): ${recWindows.map((w) => `${w.eu}/${w.n}`).join(' ')}`,
    );
    const steadyC = counts.get('steady')?.get(FAULTED);
    const recoveryC = counts.get('recovery')?.get(FAULTED);
    const steadyPeak = steadyC?.upstream_inflight_peak ?? 0;
    const recoveryPeak = recoveryC?.upstream_inflight_peak ?? 0;
    const end = await snap('hedged', 'end');
    log(`  hedged edge's router at the end: ${JSON.stringify(end)}`);

    result({
      bench: 'regions',
      pools: REGIONS.length,
      colos: COLOS.length,
      rate_per_colo: RATE,
      rtt_ms: RTT_MS,
      phases_s: Object.fromEntries(PHASES.map((x) => [x.name, x.s])),
      requests: samples.length,
      nearest_share: round(nearestShare, 4),
      extra_attempts_share: round(share(steadyD.extra, steadyD.first), 4),
      extra_attempts_share_unhedged: round(share(steadyU.extra, steadyU.first), 4),
      hedges_steady_share: round(share(steadyD.hedges, steadyD.first), 4),
      slow_tail: { pool: FAULTED, share: SLOW_SHARE, ms: SLOW_MS, colo: FAULTED_COLO },
      p99_ms_hedged: round(p(slowMs('hedged'), 0.99), 1),
      p99_ms_unhedged: round(p(slowMs('unhedged'), 0.99), 1),
      p99_cut: round(1 - p(slowMs('hedged'), 0.99) / p(slowMs('unhedged'), 0.99), 3),
      p999_ms_hedged: round(p(slowMs('hedged'), 0.999), 1),
      p999_ms_unhedged: round(p(slowMs('unhedged'), 0.999), 1),
      slow_answers_hedged: round(slowAnswers('hedged'), 4),
      slow_answers_unhedged: round(slowAnswers('unhedged'), 4),
      hedge_extra_load: round(share(slowD.hedges, slowD.first), 4),
      extra_attempts_share_slow: round(share(slowD.extra, slowD.first), 4),
      extra_attempts_share_slow_unhedged: round(share(slowU.extra, slowU.first), 4),
      failover_s: round(((failoverFrom ?? outageEnd) - outageStart) / 1000, 2),
      failover_reached: failoverFrom !== undefined,
      outage_user_errors: userErrors,
      outage_requests: outage.length,
      outage_error_reasons: reasons,
      outage_user_errors_unhedged: outageU.filter((s) => !ok(s)).length,
      outage_p99_ms: round(
        p(
          outageFra.map((s) => s.ms),
          0.99,
        ),
        1,
      ),
      outage_p99_ms_all_colos: round(
        p(
          outage.map((s) => s.ms),
          0.99,
        ),
        1,
      ),
      retry_amplification: round(share(received, fraSent), 3),
      recovery_s: round(((recoveredFrom ?? recEnd) - recStart) / 1000, 2),
      recovery_reached: recoveredFrom !== undefined,
      recovery_queue_peak_ratio: round(recoveryPeak / Math.max(1, steadyPeak), 2),
      inflight_peak_steady: steadyPeak,
      inflight_peak_recovery: recoveryPeak,
      queue_depth_peak_steady: steadyC?.queue_depth_peak ?? null,
      queue_depth_peak_recovery: recoveryC?.queue_depth_peak ?? null,
      residency_violations: pinnedElsewhere(outageCounts),
      residency_violations_all: residencyAll,
      pinned_outage_requests: pinnedOutage.length,
      pinned_outage_degraded: pinnedOutage.filter((s) => s.degraded !== undefined).length,
      pinned_outage_no_pool_in_region: pinnedOutage.filter((s) => s.degraded === 'no_pool_in_region').length,
      edge_error_lines: errorLines,
    });
  } finally {
    await Promise.all([...edges.values()].map((mf) => mf.dispose().catch(() => {})));
    await stack.stop();
  }
}

await main();
