/**
 * npm run bench:origin: one run, three models, on this machine: the generated 1024-512-512-2 MLP (the reference
 * since the first benchmark), the real digits teacher (models/digits, a CNN: far more compute per row) and the real
 * spam teacher through the text route (featurizer included). For each:
 *  (a) raw in-process session.run throughput at batch 1..256 and the p50 of one batch-1 run (1 intra-op thread, as
 *      the server runs it)
 *  (b) HTTP-only ceiling: the server's echo route (decode + validate + encode, no inference; tensor models)
 *  (c) the server with dynamic batching (and, at c=1, the same with inline runs off: the worker hand-off's cost)
 *  (d) the same server with batching off (ORIGIN_MAX_BATCH=1)
 * (b)-(d) over loopback at concurrency 1, 16, 64, 256. For the MLP also two floors on the same payload: a bare
 * `node:http` server and a minimal Hono app (bench/bare-server.ts), to compare CPU per request.
 *
 * Load: wrk (apt-get install wrk) when installed, autocannon otherwise (bench/load.ts); pinned (taskset) where
 * there are 2+ cores: every server on CPU 0, the load generator on the others, the raw runs on CPU 0 too. So with
 * 2 cores the server's event loop and its inference worker share one core: `one_core_cap_rps` is that cap
 * (1 / (echo CPU per request + one row's compute at the best batch)). CPU per request comes from /proc (all the
 * server's threads; `main` = its event loop), and does not depend on how busy the other core was.
 *
 * The last line printed is one JSON object: the MLP's figures at the top level (as before), the digits teacher's
 * under `digits`, the spam teacher's under `spam_text` (each absent when models/ holds no release).
 * Env: BENCH_DURATION_S (default 4), BENCH_MAX_BATCH (default 128), BENCH_LOAD (wrk | autocannon), BENCH_PIN (0
 * to not pin), BENCH_SMOKE=1 (1 s per point, c=1 and 64 only, raw batches 1, 8 and 64).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { createModelRepository, mlpVersion, rows } from '../origin/test/fixtures.ts';
import { featurizerFromManifest } from '../shared/featurizer/index.ts';
import { encodeInferRequest } from '../shared/protocol/index.ts';
import { listReleases } from '../training/src/release/registry.ts';
import { envInt, log, originMetrics, result, round, smokeOr } from './lib.ts';
import {
  cpuPerRequest,
  type LoadPoint,
  type LoadRequest,
  load,
  loadSetup,
  pinSelf,
  threadCpu,
} from './load.ts';

const DURATION_S = envInt('BENCH_DURATION_S', smokeOr(4, 1), 1, 600);
const MAX_BATCH = envInt('BENCH_MAX_BATCH', 128, 1, 4096);
// A smoke run keeps the points its fields are read from (c=1 and c=64) and fewer raw batch sizes.
const CONCURRENCY = smokeOr([1, 16, 64, 256], [1, 64]);
const RAW_BATCHES = smokeOr([1, 2, 4, 8, 16, 32, 64, 128, 256], [1, 8, 64]);
/** Time per raw batch size, ms. */
const RAW_MS = smokeOr(500, 100);
/** Warm-up load per server, s. */
const WARM_UP_S = smokeOr(2, 1);
const DIMS = [1024, 512, 512, 2];
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SETUP = loadSetup();
const CORES = availableParallelism();
const ALL_CPUS = `0-${CORES - 1}`;

/** A realistic message for the spam text route (~700 characters, headers and body). */
const SPAM_TEXT = [
  'From: "Account Services" <service@secure-billing.example>',
  'To: you@example.org',
  'Subject: Action required: verify your account within 24 hours',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'Dear customer,',
  'We noticed unusual sign-in activity on your account and have temporarily limited access. To restore full',
  'access, please confirm your billing details within 24 hours by visiting http://secure-billing.example/verify',
  'and entering the code 48213. If you do not confirm, your account will be suspended and any pending orders',
  'cancelled. This is an automated message; replies are not monitored.',
  'Thank you for choosing us. Best regards, Account Services Team',
].join('\r\n');

/** What one model's benchmark needs. */
interface ModelUnderTest {
  /** Label in the result. */
  label: string;
  /** The model's name in the repository (its URL). */
  name: string;
  repo: string;
  onnx: Uint8Array;
  /** The raw run's feeds at `batch` rows. */
  feeds(batch: number): Record<string, ort.Tensor>;
  /** One request of one row. */
  request: LoadRequest;
  /** Whether the echo route applies (tensor requests). */
  echo: boolean;
}

async function rawThroughput(m: ModelUnderTest): Promise<{
  rows: Array<{ batch: number; rows_per_s: number }>;
  batch1P50Ms: number;
}> {
  const session = await ort.InferenceSession.create(m.onnx, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    executionProviders: ['cpu'],
  });
  const out: Array<{ batch: number; rows_per_s: number }> = [];
  let batch1P50Ms = 0;
  for (const batch of RAW_BATCHES) {
    const feeds = m.feeds(batch);
    for (let i = 0; i < 20; i++) await session.run(feeds);
    const times: number[] = [];
    const start = performance.now();
    while (performance.now() - start < RAW_MS) {
      const t = performance.now();
      await session.run(feeds);
      times.push(performance.now() - t);
    }
    const rowsPerS = (times.length * batch * 1000) / (performance.now() - start);
    out.push({ batch, rows_per_s: Math.round(rowsPerS) });
    times.sort((a, b) => a - b);
    const p50 = times[Math.floor(times.length / 2)] as number;
    if (batch === 1) batch1P50Ms = p50;
    log(`raw batch=${batch}: ${Math.round(rowsPerS)} rows/s (run p50 ${round(p50, 3)} ms)`);
  }
  await session.release();
  return { rows: out, batch1P50Ms };
}

interface Child {
  proc: ChildProcess;
  pid: number;
  url: string;
}

/** Spawns `args` (a node script) under the server's CPU pinning and waits for its {"url"} line. */
function spawnServer(
  args: string[],
  env: Record<string, string>,
  ready: (line: string) => string | undefined,
) {
  const [cmd, ...pre] = SETUP.serverPrefix.length > 0 ? SETUP.serverPrefix : [process.execPath];
  const argv = SETUP.serverPrefix.length > 0 ? [...pre, process.execPath, ...args] : args;
  const proc = spawn(cmd as string, argv, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise<Child>((resolve, reject) => {
    let buffer = '';
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString();
      for (const line of buffer.split('\n')) {
        const url = ready(line);
        if (url === undefined) continue;
        proc.stdout?.off('data', onData);
        proc.stdout?.resume();
        resolve({ proc, pid: proc.pid as number, url });
        return;
      }
    };
    proc.stdout?.on('data', onData);
    proc.once('exit', (code) =>
      reject(new Error(`${args[0]} exited with code ${code} before it was ready:\n${buffer}`)),
    );
  });
}

function startOrigin(repo: string, maxBatch: number, inlineMaxMs?: number): Promise<Child> {
  return spawnServer(
    ['origin/src/main.ts'],
    {
      MODEL_REPOSITORY: repo,
      ORIGIN_HOST: '127.0.0.1',
      ORIGIN_PORT: '0',
      ORIGIN_ALLOW_UNSIGNED: '1',
      ORIGIN_ECHO_ROUTE: '1',
      ORIGIN_EXECUTION_PROVIDER: 'cpu',
      ORIGIN_INTRA_OP_THREADS: '1',
      ORIGIN_MAX_BATCH: String(maxBatch),
      ORIGIN_MAX_QUEUE: '4096',
      ...(inlineMaxMs === undefined ? {} : { ORIGIN_INLINE_MAX_MS: String(inlineMaxMs) }),
      LOG_LEVEL: 'info',
    },
    (line) => (line.includes('"msg":"ready"') ? (JSON.parse(line) as { url: string }).url : undefined),
  );
}

function startBare(kind: 'http' | 'hono', responseFile: string, contentType: string): Promise<Child> {
  return spawnServer(['bench/bare-server.ts', kind, responseFile, contentType], {}, (line) =>
    line.startsWith('{"url"') ? (JSON.parse(line) as { url: string }).url : undefined,
  );
}

function stopServer(child: Child): Promise<void> {
  if (child.proc.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.proc.once('exit', () => resolve());
    child.proc.kill('SIGTERM');
  });
}

/** One binary request of one row of `width` floats. */
function tensorRequest(input: string, width: number): LoadRequest {
  const body = encodeInferRequest({
    inputs: [{ name: input, datatype: 'FP32', shape: [1, width], data: rows(1, width, 99) }],
    binaryOutput: true,
  });
  return {
    method: 'POST',
    headers: {
      'content-type': body.contentType,
      'inference-header-content-length': String(body.headerLength),
    },
    body: body.body as Uint8Array,
  };
}

type Measured = LoadPoint & { cpu_us_per_req: ReturnType<typeof cpuPerRequest> };

/** Load on one server with its CPU per request. */
async function measure(
  server: Child,
  url: string,
  req: LoadRequest,
  c: number,
  seconds = DURATION_S,
): Promise<Measured> {
  const before = threadCpu(server.pid);
  const p = await load(SETUP, url, req, c, seconds);
  const cpu = cpuPerRequest(server.pid, before, threadCpu(server.pid), p.requests);
  return { ...p, cpu_us_per_req: cpu };
}

/**
 * A sequential keep-alive client per URL, taking turns in short slices: p50 latency per URL in ms with sub-ms
 * precision (autocannon's histogram is whole ms; wrk's is in us and needs none of this).
 */
async function sequentialP50(urls: string[], req: LoadRequest, seconds: number): Promise<number[]> {
  const clients = urls.map((url) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const target = new URL(url);
    const once = () =>
      new Promise<number>((resolve, reject) => {
        const start = performance.now();
        const r = http.request(
          {
            host: target.hostname,
            port: target.port,
            path: target.pathname,
            method: 'POST',
            agent,
            headers: { ...req.headers, 'content-length': req.body.length },
          },
          (res) => {
            res.on('data', () => {});
            res.on('end', () =>
              res.statusCode === 200
                ? resolve(performance.now() - start)
                : reject(new Error(`status ${res.statusCode}`)),
            );
          },
        );
        r.on('error', reject);
        r.end(req.body);
      });
    return { agent, once, times: [] as number[] };
  });
  for (const c of clients) for (let i = 0; i < smokeOr(200, 20); i++) await c.once();
  const slices = 8;
  for (let s = 0; s < slices; s++) {
    for (const c of clients) {
      const end = performance.now() + (seconds * 1000) / slices;
      while (performance.now() < end) c.times.push(await c.once());
    }
  }
  return clients.map((c) => {
    c.agent.destroy();
    c.times.sort((a, b) => a - b);
    return c.times[Math.floor(c.times.length / 2)] as number;
  });
}

/** The server's own compute accounting (Prometheus): seconds inside session.run, batches, inline batches. */
async function computeTotals(
  server: Child,
  model: string,
): Promise<{ seconds: number; batches: number; inline: number }> {
  const text = await originMetrics(server.url);
  const sum = (metric: string) => {
    let total = 0;
    for (const line of text.split('\n')) {
      if (line.startsWith(`${metric}{`) && line.includes(`model="${model}"`))
        total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return total;
  };
  return {
    seconds: sum('nv_inference_compute_duration_seconds_sum'),
    batches: sum('nv_inference_compute_duration_seconds_count'),
    inline: sum('nv_inference_exec_inline_count'),
  };
}

const at = (points: Measured[], c: number) => points.find((p) => p.c === c) as Measured;

/** POSTs the request once and returns the answer's bytes and content type (the bare servers answer the same). */
async function answerOf(url: string, req: LoadRequest): Promise<{ bytes: Uint8Array; contentType: string }> {
  const res = await fetch(url, { method: 'POST', headers: req.headers, body: Buffer.from(req.body) });
  if (!res.ok) throw new Error(`${url} answered ${res.status}: ${await res.text()}`);
  return {
    bytes: new Uint8Array(await res.arrayBuffer()),
    contentType: res.headers.get('content-type') ?? '',
  };
}

/** The bare node:http and Hono floors on the echo route's payload: CPU per request and req/s at c=1 and c=64. */
async function bareFloors(echoUrl: string, req: LoadRequest): Promise<Record<string, Measured[]>> {
  const answer = await answerOf(echoUrl, req);
  const dir = await mkdtemp(join(tmpdir(), 'bench-bare-'));
  const file = join(dir, 'answer.bin');
  await writeFile(file, answer.bytes);
  const out: Record<string, Measured[]> = {};
  try {
    for (const kind of ['http', 'hono'] as const) {
      const server = await startBare(kind, file, answer.contentType);
      try {
        await load(SETUP, `${server.url}/v2/models/mlp/echo`, req, 64, WARM_UP_S);
        out[kind] = [];
        for (const c of [1, 64]) {
          const p = await measure(server, `${server.url}/v2/models/mlp/echo`, req, c);
          out[kind].push(p);
          log(
            `bare ${kind} c=${c}: ${p.rps} req/s, p50 ${p.p50_ms} ms, cpu ${p.cpu_us_per_req.total} us/req`,
          );
        }
      } finally {
        await stopServer(server);
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return out;
}

/** The benchmark of one model: raw session runs, then the echo ceiling, batched and unbatched servers. */
async function benchModel(
  m: ModelUnderTest,
  options: { bare?: boolean } = {},
): Promise<Record<string, unknown>> {
  const started = performance.now();
  const loadAtStart = loadavg()[0] as number;
  log(`--- ${m.label}`);
  if (SETUP.pinned) pinSelf('0');
  const raw = await rawThroughput(m);
  if (SETUP.pinned) pinSelf(SETUP.generatorCpus);
  const best = raw.rows.reduce((a, b) => (b.rows_per_s > a.rows_per_s ? b : a));

  // The servers run side by side (an idle one costs nothing) and the measurements of each concurrency run back to
  // back, so a change in background load on a shared machine hits them alike.
  const servers: Child[] = [];
  const ceiling: Measured[] = [];
  const batched: Measured[] = [];
  const unbatched: Measured[] = [];
  let noInlineC1: Measured | undefined;
  let c1Compute: { mean_ms: number; inline_share: number } | undefined;
  let c1Seq: number[] | undefined;
  let bare: Record<string, Measured[]> | undefined;
  try {
    const batchedServer = await startOrigin(m.repo, MAX_BATCH);
    servers.push(batchedServer);
    const unbatchedServer = await startOrigin(m.repo, 1);
    servers.push(unbatchedServer);
    const noInline = await startOrigin(m.repo, MAX_BATCH, 0);
    servers.push(noInline);
    const infer = (s: Child) => `${s.url}/v2/models/${m.name}/infer`;
    const targets = [
      ...(m.echo
        ? [
            {
              name: 'http-ceiling (echo)',
              server: batchedServer,
              url: `${batchedServer.url}/v2/models/${m.name}/echo`,
              points: ceiling,
            },
          ]
        : []),
      {
        name: `batched (max ${MAX_BATCH})`,
        server: batchedServer,
        url: infer(batchedServer),
        points: batched,
      },
      { name: 'unbatched (max 1)', server: unbatchedServer, url: infer(unbatchedServer), points: unbatched },
    ];
    for (const t of targets) await load(SETUP, t.url, m.request, 64, WARM_UP_S); // warm-up (JIT, arenas)
    await load(SETUP, infer(noInline), m.request, 1, WARM_UP_S);
    for (const c of CONCURRENCY) {
      for (const t of targets) {
        const before =
          c === 1 && t.server === batchedServer ? await computeTotals(batchedServer, m.name) : undefined;
        const p = await measure(t.server, t.url, m.request, c);
        if (before !== undefined && t.points === batched) {
          const after = await computeTotals(batchedServer, m.name);
          const batches = after.batches - before.batches;
          c1Compute = {
            mean_ms: (1000 * (after.seconds - before.seconds)) / Math.max(1, batches),
            inline_share: (after.inline - before.inline) / Math.max(1, batches),
          };
        }
        t.points.push(p);
        log(
          `${t.name} c=${c}: ${p.rps} req/s, p50 ${p.p50_ms} ms, p99 ${p.p99_ms} ms, cpu ${p.cpu_us_per_req.total} us/req (main ${p.cpu_us_per_req.main}), non2xx ${p.non2xx}, errors ${p.errors}`,
        );
      }
      if (c === 1) {
        noInlineC1 = await measure(noInline, infer(noInline), m.request, 1);
        log(
          `batched, inline runs off c=1: ${noInlineC1.rps} req/s, p50 ${noInlineC1.p50_ms} ms, cpu ${noInlineC1.cpu_us_per_req.total} us/req`,
        );
      }
    }
    if (SETUP.generator !== 'wrk') {
      c1Seq = await sequentialP50(
        [
          infer(batchedServer),
          infer(unbatchedServer),
          ...(m.echo ? [`${batchedServer.url}/v2/models/${m.name}/echo`] : []),
        ],
        m.request,
        smokeOr(4, 1),
      );
    }
    if (options.bare === true)
      bare = await bareFloors(`${batchedServer.url}/v2/models/${m.name}/echo`, m.request);
  } finally {
    await Promise.all(servers.map(stopServer));
  }

  const c1 = (points: Measured[], i: number) => c1Seq?.[i] ?? at(points, 1).p50_ms;
  const batchedC1 = c1(batched, 0);
  const unbatchedC1 = c1(unbatched, 1);
  const b64 = at(batched, 64);
  const u64 = at(unbatched, 64);
  const result: Record<string, unknown> = {
    model: m.label,
    load_avg_1m_at_start: round(loadAtStart, 2),
    raw_best_rows_per_s: best.rows_per_s,
    raw_best_batch: best.batch,
    raw_rows_per_s: Object.fromEntries(raw.rows.map((r) => [r.batch, r.rows_per_s])),
    raw_batch1_p50_ms: round(raw.batch1P50Ms, 3),
    batched_rps_c64: b64.rps,
    unbatched_rps_c64: u64.rps,
    batched_rps_by_c: Object.fromEntries(batched.map((p) => [p.c, p.rps])),
    unbatched_rps_by_c: Object.fromEntries(unbatched.map((p) => [p.c, p.rps])),
    speedup_c64: round(b64.rps / u64.rps, 2),
    c1_p50_batched_ms: round(batchedC1, 3),
    c1_p50_unbatched_ms: round(unbatchedC1, 3),
    c1_p50_overhead_ms: round(batchedC1 - unbatchedC1, 3),
    c1_server_compute_mean_ms: c1Compute === undefined ? undefined : round(c1Compute.mean_ms, 3),
    c1_inline_share: c1Compute === undefined ? undefined : round(c1Compute.inline_share, 3),
    c1_p50_batched_no_inline_ms: round(noInlineC1?.p50_ms ?? Number.NaN, 3),
    c1_rps_batched_no_inline: noInlineC1?.rps,
    p99_ms_c64: b64.p99_ms,
    cpu_us_per_req_batched_c1: at(batched, 1).cpu_us_per_req,
    cpu_us_per_req_batched_c1_no_inline: noInlineC1?.cpu_us_per_req,
    cpu_us_per_req_batched_c64: b64.cpu_us_per_req,
    non2xx: [...ceiling, ...batched, ...unbatched].reduce((n, p) => n + p.non2xx + p.errors, 0),
  };
  if (ceiling.length > 0) {
    const httpCeiling = Math.max(...ceiling.map((p) => p.rps));
    const echoC1 = c1Seq?.[2] ?? at(ceiling, 1).p50_ms;
    const floor = echoC1 + raw.batch1P50Ms;
    const echoCpu = at(ceiling, 64).cpu_us_per_req.total;
    const oneCoreCap = 1e6 / (echoCpu + 1e6 / best.rows_per_s);
    Object.assign(result, {
      http_ceiling_rps: httpCeiling,
      http_ceiling_rps_by_c: Object.fromEntries(ceiling.map((p) => [p.c, p.rps])),
      efficiency: round(b64.rps / Math.min(best.rows_per_s, httpCeiling), 3),
      one_core_cap_rps: Math.round(oneCoreCap),
      efficiency_vs_one_core_cap: round(b64.rps / oneCoreCap, 3),
      c1_p50_echo_ms: round(echoC1, 3),
      c1_p50_floor_ms: round(floor, 3),
      c1_overhead_vs_floor_ms: round(batchedC1 - floor, 3),
      // The same with the server's own mean session.run time at c=1 in place of the raw in-process p50: what is
      // left is the request path itself (a run inside the server is slower than in a hot loop: colder caches).
      ...(c1Compute === undefined
        ? {}
        : { c1_overhead_vs_in_server_floor_ms: round(batchedC1 - echoC1 - c1Compute.mean_ms, 3) }),
      c1_rps_ratio: round(at(batched, 1).rps / at(ceiling, 1).rps, 3),
      cpu_us_per_req_echo_c64: at(ceiling, 64).cpu_us_per_req,
      // #29's goal <= 1.3: the batched route's CPU per request at c=64 over its floor, the echo route's CPU plus one
      // row's share of the best raw batch.
      batched_cpu_over_floor: round(b64.cpu_us_per_req.total / (echoCpu + 1e6 / best.rows_per_s), 3),
    });
  }
  if (bare !== undefined) {
    const cpu64 = (points: Measured[] | undefined) =>
      points === undefined ? Number.NaN : at(points, 64).cpu_us_per_req.total;
    const echo = at(ceiling, 64).cpu_us_per_req.total;
    Object.assign(result, {
      cpu_us_per_req: {
        echo: echo,
        batched: b64.cpu_us_per_req.total,
        bare_hono: cpu64(bare.hono),
        bare_node_http: cpu64(bare.http),
      },
      echo_vs_bare_hono_cpu: round(echo / cpu64(bare.hono), 2),
      bare_rps_c64: {
        hono: bare.hono && at(bare.hono, 64).rps,
        node_http: bare.http && at(bare.http, 64).rps,
      },
      bare_c1_p50_ms: {
        hono: bare.hono && at(bare.hono, 1).p50_ms,
        node_http: bare.http && at(bare.http, 1).p50_ms,
      },
    });
  }
  result.wall_s = round((performance.now() - started) / 1000, 0);
  return result;
}

/** The newest release of `name` in a repository of its own, with its origin artifact's bytes, or undefined. */
async function releaseUnderTest(name: string) {
  const latest = (await listReleases(name)).at(-1);
  if (latest === undefined) return undefined;
  const m = latest.manifest;
  const teacher = m.artifacts[m.serving.origin];
  const input = teacher?.inputs[0];
  if (teacher === undefined || input === undefined) return undefined;
  const root = await mkdtemp(join(tmpdir(), `bench-${name}-`));
  // A copy: the registry reads real folders, not links.
  await cp(latest.dir, join(root, name, basename(latest.dir)), { recursive: true });
  return {
    manifest: m,
    repo: root,
    onnx: new Uint8Array(await readFile(join(latest.dir, teacher.file))),
    input: input.name,
    width: input.shape[1] as number,
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}

async function main(): Promise<void> {
  const started = performance.now();
  log(
    `load generator: ${SETUP.generator}, pinned: ${SETUP.pinned ? `server CPU 0, generator CPU ${SETUP.generatorCpus}` : 'no'}`,
  );
  const version = mlpVersion('mlp', '1', DIMS);
  const repo = await createModelRepository([version]);
  const width = DIMS[0] as number;
  let mlp: Record<string, unknown>;
  try {
    mlp = await benchModel(
      {
        label: `mlp ${DIMS.join('-')}`,
        name: 'mlp',
        repo: repo.root,
        onnx: version.onnx,
        feeds: (b) => ({ input: new ort.Tensor('float32', rows(b, width, b), [b, width]) }),
        request: tensorRequest('input', width),
        echo: true,
      },
      { bare: true },
    );
  } finally {
    await repo.cleanup();
  }

  let digits: Record<string, unknown> | undefined;
  const d = await releaseUnderTest('digits');
  if (d !== undefined) {
    try {
      digits = await benchModel({
        label: `digits teacher ${d.manifest.version} (CNN)`,
        name: 'digits',
        repo: d.repo,
        onnx: d.onnx,
        feeds: (b) => ({ [d.input]: new ort.Tensor('float32', rows(b, d.width, b), [b, d.width]) }),
        request: tensorRequest(d.input, d.width),
        echo: true,
      });
    } finally {
      await d.cleanup();
    }
  }

  let spam: Record<string, unknown> | undefined;
  const s = await releaseUnderTest('spam');
  if (s !== undefined) {
    try {
      const featurizer = featurizerFromManifest(s.manifest.featurizer);
      const ids = featurizer.featurize(SPAM_TEXT);
      const times: number[] = [];
      for (let i = 0; i < smokeOr(2000, 200); i++) {
        const t = performance.now();
        featurizer.featurize(SPAM_TEXT);
        times.push(performance.now() - t);
      }
      times.sort((a, b) => a - b);
      const body = JSON.stringify({
        inputs: [{ name: 'text', datatype: 'BYTES', shape: [1], data: [SPAM_TEXT] }],
      });
      spam = await benchModel({
        label: `spam teacher ${s.manifest.version} (text route, featurizer included)`,
        name: 'spam',
        repo: s.repo,
        onnx: s.onnx,
        feeds: (b) => {
          const data = new Int32Array(b * ids.length);
          for (let i = 0; i < b; i++) data.set(ids, i * ids.length);
          return { [s.input]: new ort.Tensor('int32', data, [b, ids.length]) };
        },
        request: {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: new TextEncoder().encode(body),
        },
        echo: false,
      });
      spam.featurize_p50_ms = round(times[times.length >> 1] as number, 4);
      spam.features = ids.filter((x) => x > 0).length;
    } finally {
      await s.cleanup();
    }
  }

  const fields = {
    bench: 'origin',
    cores: CORES,
    load_generator: SETUP.generator,
    pinned: SETUP.pinned,
    duration_s_per_point: DURATION_S,
    max_batch: MAX_BATCH,
    ...mlp,
    ...(digits === undefined ? {} : { digits }),
    ...(spam === undefined ? {} : { spam_text: spam }),
    wall_s: round((performance.now() - started) / 1000, 0),
  };
  if (SETUP.pinned) pinSelf(ALL_CPUS);
  result(fields);
}

await main();
