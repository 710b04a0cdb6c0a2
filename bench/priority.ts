/**
 * npm run bench:priority: do interactive requests keep their latency when job rows flood the same origin? (issue
 * #26, "Batch pools": interactive requests never queue behind job rows, by strict priority, measured.)
 *
 * One origin process (`origin/src/main.ts`, the real spam release from MODEL_REPOSITORY, default ./models) with
 * ORIGIN_ALLOW_UNSIGNED=1 (so `x-priority` is a plain header), ORIGIN_WORKERS_PER_MODEL=1 (one runner slot) and
 * ORIGIN_MAX_QUEUE=4096 (the flood is never shed: the figures are the scheduler's, not load shedding's), pinned to
 * CPU 0 with taskset when there are 2+ cores (BENCH_PIN=0: not pinned); this process, the load generator, runs on
 * the other cores. Traffic goes straight to POST /v1/models/spam/classify, as the edge sends its escalations:
 *  - interactive: open loop, BENCH_RATE requests per second of BENCH_TEXTS short test-split messages (at most
 *    SHORT_CHARS characters each, so a request stays under ORIGIN_FEATURIZE_INLINE_CHARS and is featurized inline,
 *    as a short escalation is); latency counts from the scheduled send time, not the actual one (coordinated
 *    omission avoided). `x-priority: 1` (a paid tier's, edge/src/rate-tiers.json) or 2 (FIFO with the jobs).
 *  - job flood: BENCH_JOB_SENDERS closed-loop senders, each request BENCH_JOB_ROWS test-split messages (the edge's
 *    ORIGIN_MAX_ITEMS, 64) with no `x-priority`, as the edge sends a job's escalations: the origin's default, its
 *    lowest level (ORIGIN_PRIORITY_LEVELS 2 -> priority 2).
 *
 * Phases (BENCH_PHASE_S each, default 20, smoke 4), after an unreported warm-up of both kinds of traffic:
 *   alone        interactive at priority 1, no jobs
 *   prioritized  the flood + interactive at priority 1 (strict priority: a batch is filled from level 1 first)
 *   fifo         the flood + interactive at priority 2 (the jobs' level: what happens without priority)
 * The flood starts BENCH_FILL_S before a phase's window (the queue fills) and is stopped, and its requests answered,
 * before the next phase. Per phase: interactive p50/p99/max (nearest rank, answered 200 only) and errors, job rows
 * per second (rows of 200 answers that arrived inside the window), the origin's x-queue-depth (rows waiting for a
 * batch, read from every answer in the window: mean and peak), the origin's CPU share (the process, its main thread,
 * its busiest other thread: the featurizer or the runner) and its compute share (time inside session.run, from
 * /metrics) over the window.
 *
 * The last line printed is one JSON object: interactive_p50_ms_alone, interactive_p99_ms_alone,
 * interactive_p{50,99}_ms_with_jobs_{prioritized,fifo}, p99_ratio_prioritized (with jobs prioritized / alone),
 * p99_ratio_fifo, job_rows_per_s_{prioritized,fifo}, queue_depth_{mean,peak}_{prioritized,fifo}, queue_depth_peak
 * (both flood phases), the errors, and every phase's figures under `phases`.
 *
 * With whole test-split messages (mean ~5.9 KB) the flood's cost is featurizing (on the featurizer thread, FIFO,
 * before the batcher) and HTTP/JSON on the main thread, not session.run: x-queue-depth stays ~0 and the two flood
 * phases differ only by noise; what slows interactive requests is sharing the origin's core. BENCH_JOB_MAX_CHARS=200
 * makes featurizing cheap, so the batcher's queue fills (hundreds of rows) and the priority levels are what is
 * measured.
 * Env: BENCH_PHASE_S, BENCH_FILL_S (default 3, smoke 1), BENCH_WARMUP_S (default 3, smoke 1), BENCH_RATE (default
 * 40), BENCH_TEXTS (default 4), BENCH_JOB_SENDERS (default 16), BENCH_JOB_ROWS (default 64), BENCH_JOB_MAX_CHARS
 * (job texts cut to this many characters; default 0: whole messages), BENCH_PIN, BENCH_SMOKE=1.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { createOriginClient, unwrap } from '../client/src/index.ts';
import { ORIGIN_NODE_FLAGS } from '../origin/src/node-flags.ts';
import { percentile, testMessages } from '../test/helpers.ts';
import { envInt, envNumber, log, originMetrics, result, round, sleep, smokeOr } from './lib.ts';
import { loadSetup, pinSelf, threadCpu } from './load.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PHASE_S = envNumber('BENCH_PHASE_S', smokeOr(20, 4), 1, 600);
const FILL_S = envNumber('BENCH_FILL_S', smokeOr(3, 1), 0, 60);
const WARMUP_S = envNumber('BENCH_WARMUP_S', smokeOr(3, 1), 0, 60);
const RATE = envNumber('BENCH_RATE', 40, 1, 1000);
const TEXTS = envInt('BENCH_TEXTS', 4, 1, 64);
const JOB_SENDERS = envInt('BENCH_JOB_SENDERS', 16, 1, 256);
const JOB_ROWS = envInt('BENCH_JOB_ROWS', 64, 1, 64);
/** Job texts cut to this many characters; 0 sends whole messages (the default, as a job's rows are). */
const JOB_MAX_CHARS = envInt('BENCH_JOB_MAX_CHARS', 0, 0, 1 << 20);
/** Longest interactive text, characters: BENCH_TEXTS of them stay under the origin's inline featurizing cap (4096). */
const SHORT_CHARS = 1000;
const MODEL = 'spam';
const PATH = `/v1/models/${MODEL}/classify`;
const SETUP = loadSetup();

type PhaseName = 'alone' | 'prioritized' | 'fifo';
const PHASES: ReadonlyArray<{ name: PhaseName; jobs: boolean; interactivePriority: 1 | 2 }> = [
  { name: 'alone', jobs: false, interactivePriority: 1 },
  { name: 'prioritized', jobs: true, interactivePriority: 1 },
  { name: 'fifo', jobs: true, interactivePriority: 2 },
];

/** One answer: when it arrived (ms, performance.now()), its status and the origin's x-queue-depth. */
interface Answer {
  end: number;
  status: number;
  queueDepth: number | undefined;
  /** Predictions in a 200 answer (0 otherwise). */
  predictions: number;
}

interface Origin {
  proc: ChildProcess;
  pid: number;
  url: string;
}

function startOrigin(): Promise<Origin> {
  const args = [...ORIGIN_NODE_FLAGS, 'origin/src/main.ts'];
  const [cmd, argv] = SETUP.pinned
    ? ['taskset', [...SETUP.serverPrefix.slice(1), process.execPath, ...args]]
    : [process.execPath, args];
  const proc = spawn(cmd as string, argv as string[], {
    cwd: ROOT,
    env: {
      ...process.env,
      ORIGIN_HOST: '127.0.0.1',
      ORIGIN_PORT: '0',
      ORIGIN_ALLOW_UNSIGNED: '1',
      ORIGIN_WORKERS_PER_MODEL: '1',
      ORIGIN_EXECUTION_PROVIDER: 'cpu',
      ORIGIN_MAX_QUEUE: '4096',
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  process.once('exit', () => proc.kill('SIGKILL'));
  return new Promise((resolve, reject) => {
    let buffer = '';
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString();
      const line = buffer.split('\n').find((l) => l.includes('"msg":"ready"'));
      if (line === undefined) return;
      proc.stdout?.off('data', onData);
      proc.stdout?.resume(); // its request logs, read and dropped
      resolve({ proc, pid: proc.pid as number, url: (JSON.parse(line) as { url: string }).url });
    };
    proc.stdout?.on('data', onData);
    proc.once('exit', (code) =>
      reject(new Error(`the origin exited with code ${code} before it was ready:\n${buffer.slice(-2000)}`)),
    );
  });
}

function stopOrigin(origin: Origin): Promise<void> {
  if (origin.proc.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    origin.proc.once('exit', () => resolve());
    origin.proc.kill('SIGTERM');
  });
}

/** POSTs `{texts}` to the classify route; never rejects (a failed request is status 0). */
function classify(
  agent: http.Agent,
  origin: URL,
  texts: readonly string[],
  priority: number | undefined,
): Promise<Answer> {
  const body = Buffer.from(JSON.stringify({ texts }));
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': body.length,
  };
  if (priority !== undefined) headers['x-priority'] = String(priority);
  return new Promise((resolve) => {
    const failed = () =>
      resolve({ end: performance.now(), status: 0, queueDepth: undefined, predictions: 0 });
    const req = http.request(
      { host: origin.hostname, port: origin.port, path: PATH, method: 'POST', agent, headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (b: Buffer) => chunks.push(b));
        res.on('error', failed);
        res.on('end', () => {
          const depth = res.headers['x-queue-depth'];
          let predictions = 0;
          if (res.statusCode === 200) {
            try {
              predictions =
                (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { predictions?: unknown[] })
                  .predictions?.length ?? 0;
            } catch {}
          }
          resolve({
            end: performance.now(),
            status: res.statusCode ?? 0,
            queueDepth: typeof depth === 'string' ? Number(depth) : undefined,
            predictions,
          });
        });
      },
    );
    req.on('error', failed);
    req.end(body);
  });
}

/** An interactive request's sample: its scheduled send time and the answer. */
interface Interactive extends Answer {
  at: number;
}

/** Open loop: a request every 1000/RATE ms from `start` until `until`; resolves when every one is answered. */
async function interactiveLoop(
  origin: URL,
  texts: readonly string[],
  priority: number,
  start: number,
  until: number,
): Promise<Interactive[]> {
  const agent = new http.Agent({ keepAlive: true });
  const samples: Interactive[] = [];
  const pending: Promise<void>[] = [];
  for (let i = 0; ; i++) {
    const at = start + (i * 1000) / RATE;
    if (at >= until) break;
    const wait = at - performance.now();
    if (wait > 0) await sleep(wait);
    const batch = Array.from({ length: TEXTS }, (_, k) => texts[(i * TEXTS + k) % texts.length] as string);
    pending.push(classify(agent, origin, batch, priority).then((a) => void samples.push({ ...a, at })));
  }
  await Promise.all(pending);
  agent.destroy();
  return samples;
}

/** JOB_SENDERS closed loops of JOB_ROWS texts each with no x-priority, until stop(). */
function startFlood(origin: URL, texts: readonly string[]): { answers: Answer[]; stop(): Promise<void> } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: JOB_SENDERS });
  const answers: Answer[] = [];
  let running = true;
  let next = 0;
  const loops = Array.from({ length: JOB_SENDERS }, async () => {
    while (running) {
      const from = next;
      next = (next + JOB_ROWS) % texts.length;
      const batch = Array.from({ length: JOB_ROWS }, (_, k) => texts[(from + k) % texts.length] as string);
      const a = await classify(agent, origin, batch, undefined);
      answers.push(a);
      if (a.status !== 200) await sleep(50); // an error (429, 503) must not turn the loop into a spin
    }
  });
  return {
    answers,
    async stop() {
      running = false;
      await Promise.all(loops);
      agent.destroy();
    },
  };
}

/** Seconds inside session.run and batches executed for the model so far (the origin's /metrics). */
async function computeTotals(url: string): Promise<{ seconds: number; batches: number }> {
  const text = await originMetrics(url);
  const sum = (metric: string) => {
    let total = 0;
    for (const line of text.split('\n'))
      if (line.startsWith(`${metric}{`) && line.includes(`model="${MODEL}"`))
        total += Number(line.slice(line.lastIndexOf(' ') + 1));
    return total;
  };
  return {
    seconds: sum('nv_inference_compute_duration_seconds_sum'),
    batches: sum('nv_inference_compute_duration_seconds_count'),
  };
}

const cpuTotal = (m: Map<number, number>) => [...m.values()].reduce((a, b) => a + b, 0);
const mean = (xs: number[]) => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);

interface PhaseResult {
  interactive_priority: number;
  interactive_requests: number;
  interactive_errors: number;
  interactive_p50_ms: number;
  interactive_p99_ms: number;
  interactive_max_ms: number;
  job_requests: number;
  job_errors: number;
  job_rows_per_s: number;
  queue_depth_mean: number;
  queue_depth_peak: number;
  /** Of the answers in the window, the share that saw a non-empty queue. */
  queue_nonempty_share: number;
  origin_cpu_share: number;
  /** CPU of the origin's main thread (HTTP, JSON, inline featurizing) over the window. */
  origin_main_cpu_share: number;
  /** CPU of its busiest other thread (the featurizer or the runner, by the phase) over the window. */
  origin_busiest_thread_cpu_share: number;
  origin_compute_share: number;
  mean_batch_ms: number;
}

async function runPhase(
  origin: Origin,
  phase: (typeof PHASES)[number],
  short: readonly string[],
  jobTexts: readonly string[],
  seconds: number,
): Promise<PhaseResult> {
  const url = new URL(origin.url);
  const flood = phase.jobs ? startFlood(url, jobTexts) : undefined;
  if (flood !== undefined) await sleep(FILL_S * 1000);
  const cpuBefore = threadCpu(origin.pid);
  const computeBefore = await computeTotals(origin.url);
  const start = performance.now();
  const end = start + seconds * 1000;
  const interactive = await interactiveLoop(url, short, phase.interactivePriority, start, end);
  // The window closes at `end`; the origin's counters are read once the last interactive request is answered.
  const windowS = (performance.now() - start) / 1000;
  const cpuAfter = threadCpu(origin.pid);
  const cpuS = (cpuTotal(cpuAfter) - cpuTotal(cpuBefore)) / 1e6;
  const threadS = (tid: number) => ((cpuAfter.get(tid) ?? 0) - (cpuBefore.get(tid) ?? 0)) / 1e6;
  const busiest = Math.max(0, ...[...cpuAfter.keys()].filter((t) => t !== origin.pid).map(threadS));
  const computeAfter = await computeTotals(origin.url);
  await flood?.stop();

  const ok = interactive.filter((s) => s.status === 200 && s.predictions === TEXTS);
  const ms = ok.map((s) => s.end - s.at);
  const jobs = (flood?.answers ?? []).filter((a) => a.end >= start && a.end < end);
  const okJobs = jobs.filter((a) => a.status === 200 && a.predictions === JOB_ROWS);
  const depths = [...interactive.filter((s) => s.end < end), ...jobs]
    .map((a) => a.queueDepth)
    .filter((d): d is number => d !== undefined && Number.isFinite(d));
  const batches = computeAfter.batches - computeBefore.batches;
  const computeS = computeAfter.seconds - computeBefore.seconds;
  return {
    interactive_priority: phase.interactivePriority,
    interactive_requests: interactive.length,
    interactive_errors: interactive.length - ok.length,
    interactive_p50_ms: round(percentile(ms, 50), 2),
    interactive_p99_ms: round(percentile(ms, 99), 2),
    interactive_max_ms: round(Math.max(...ms), 2),
    job_requests: jobs.length,
    job_errors: jobs.length - okJobs.length,
    job_rows_per_s: Math.round((okJobs.length * JOB_ROWS) / seconds),
    queue_depth_mean: round(mean(depths), 1),
    queue_depth_peak: depths.length === 0 ? 0 : Math.max(...depths),
    queue_nonempty_share: round(depths.filter((d) => d > 0).length / Math.max(1, depths.length), 3),
    origin_cpu_share: round(cpuS / windowS, 3),
    origin_main_cpu_share: round(threadS(origin.pid) / windowS, 3),
    origin_busiest_thread_cpu_share: round(busiest / windowS, 3),
    origin_compute_share: round(computeS / windowS, 3),
    mean_batch_ms: round((1000 * computeS) / Math.max(1, batches), 3),
  };
}

async function main(): Promise<void> {
  const messages = testMessages().map((m) => m.text);
  const short = messages.filter((t) => t.length <= SHORT_CHARS);
  const jobTexts = JOB_MAX_CHARS === 0 ? messages : messages.map((t) => t.slice(0, JOB_MAX_CHARS));
  if (short.length < TEXTS)
    throw new Error(
      `the test split has ${short.length} messages of <= ${SHORT_CHARS} characters; need ${TEXTS}`,
    );
  log(
    `bench:priority: origin ${SETUP.pinned ? 'pinned to CPU 0' : 'not pinned'}; interactive ${RATE}/s x ${TEXTS} texts (${short.length} test messages of <= ${SHORT_CHARS} chars); flood ${JOB_SENDERS} senders x ${JOB_ROWS} texts (${jobTexts.length} test messages, mean ${Math.round(mean(jobTexts.map((t) => t.length)))} chars); phases ${PHASES.map((p) => p.name).join(', ')} ${PHASE_S} s each (flood fills ${FILL_S} s first)`,
  );
  if (SETUP.pinned) pinSelf(SETUP.generatorCpus);
  const origin = await startOrigin();
  const phases = {} as Record<PhaseName, PhaseResult>;
  let version = '';
  try {
    const probe = await createOriginClient({ baseUrl: origin.url }).POST('/v1/models/{model}/classify', {
      params: { path: { model: MODEL } },
      body: { texts: short.slice(0, 1) },
    });
    unwrap(probe);
    version = probe.response.headers.get('x-model-version') ?? '';
    log(`origin ${origin.url} serves ${MODEL} ${version}`);
    if (WARMUP_S > 0) {
      const warm = await runPhase(
        origin,
        { name: 'fifo', jobs: true, interactivePriority: 1 },
        short,
        jobTexts,
        WARMUP_S,
      );
      log(`warm-up: ${warm.job_rows_per_s} job rows/s, interactive p50 ${warm.interactive_p50_ms} ms`);
    }
    for (const phase of PHASES) {
      const r = await runPhase(origin, phase, short, jobTexts, PHASE_S);
      phases[phase.name] = r;
      log(
        `${phase.name.padEnd(11)} interactive (priority ${r.interactive_priority}) p50 ${r.interactive_p50_ms} ms, p99 ${r.interactive_p99_ms} ms, max ${r.interactive_max_ms} ms, ${r.interactive_errors}/${r.interactive_requests} errors; jobs ${r.job_rows_per_s} rows/s (${r.job_errors}/${r.job_requests} errors); queue depth mean ${r.queue_depth_mean}, peak ${r.queue_depth_peak}, non-empty ${r.queue_nonempty_share}; origin cpu ${r.origin_cpu_share} (main thread ${r.origin_main_cpu_share}, busiest other ${r.origin_busiest_thread_cpu_share}), compute ${r.origin_compute_share}, ${r.mean_batch_ms} ms/batch`,
      );
    }
  } finally {
    await stopOrigin(origin);
  }
  const { alone, prioritized, fifo } = phases;
  result({
    bench: 'priority',
    model_version: version,
    pinned: SETUP.pinned,
    phase_s: PHASE_S,
    interactive_rate: RATE,
    interactive_texts: TEXTS,
    job_senders: JOB_SENDERS,
    job_rows_per_request: JOB_ROWS,
    job_max_chars: JOB_MAX_CHARS,
    interactive_p50_ms_alone: alone.interactive_p50_ms,
    interactive_p99_ms_alone: alone.interactive_p99_ms,
    interactive_p50_ms_with_jobs_prioritized: prioritized.interactive_p50_ms,
    interactive_p99_ms_with_jobs_prioritized: prioritized.interactive_p99_ms,
    interactive_p50_ms_with_jobs_fifo: fifo.interactive_p50_ms,
    interactive_p99_ms_with_jobs_fifo: fifo.interactive_p99_ms,
    p99_ratio_prioritized: round(prioritized.interactive_p99_ms / alone.interactive_p99_ms, 2),
    p99_ratio_fifo: round(fifo.interactive_p99_ms / alone.interactive_p99_ms, 2),
    job_rows_per_s_prioritized: prioritized.job_rows_per_s,
    job_rows_per_s_fifo: fifo.job_rows_per_s,
    queue_depth_mean_prioritized: prioritized.queue_depth_mean,
    queue_depth_mean_fifo: fifo.queue_depth_mean,
    queue_depth_peak: Math.max(prioritized.queue_depth_peak, fifo.queue_depth_peak),
    interactive_errors: alone.interactive_errors + prioritized.interactive_errors + fifo.interactive_errors,
    job_errors: prioritized.job_errors + fifo.job_errors,
    phases,
  });
}

await main();
