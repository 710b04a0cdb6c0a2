/**
 * npm run bench:origin: one run, two models, on this machine: the generated 1024-512-512-2 MLP (the reference
 * since the first benchmark) and the real digits teacher (models/digits, a CNN: far more compute per row, where
 * batching matters), each:
 *  (a) raw in-process session.run throughput at batch 1..256 (1 intra-op thread, as the server runs it)
 *  (b) HTTP-only ceiling: the server's echo route (decode + validate + encode, no inference)
 *  (c) the server with dynamic batching
 *  (d) the same server with batching off (ORIGIN_MAX_BATCH=1)
 * (b)-(d) over loopback with autocannon at concurrency 1, 16, 64, 256, binary tensors in and out. The c=1 p50s come
 * from a sequential keep-alive client timed with performance.now() (autocannon's histogram is whole ms).
 * Two servers run in child processes (node origin/src/main.ts; max batch BENCH_MAX_BATCH with the echo route, and
 * max batch 1); each concurrency measures the three back to back. autocannon runs here.
 * The last line printed is one JSON object: the MLP's figures at the top level (as before) and the digits
 * teacher's under `digits` (absent when models/digits holds no release).
 * Env: BENCH_DURATION_S (default 4), BENCH_MAX_BATCH (default 128).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import * as ort from 'onnxruntime-node';
import { createModelRepository, mlpVersion, rows } from '../origin/test/fixtures.ts';
import { encodeInferRequest } from '../shared/protocol/index.ts';
import { listReleases } from '../training/src/release/registry.ts';

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 4);
const MAX_BATCH = Number(process.env.BENCH_MAX_BATCH ?? 128);
const CONCURRENCY = [1, 16, 64, 256];
const RAW_BATCHES = [1, 2, 4, 8, 16, 32, 64, 128, 256];
const DIMS = [1024, 512, 512, 2];
const ROOT = fileURLToPath(new URL('..', import.meta.url));

const log = (line: string) => process.stdout.write(`${line}\n`);
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

/** What one model's benchmark needs: its repository, ONNX bytes, input and a request row. */
interface ModelUnderTest {
  /** Label in the result. */
  label: string;
  /** The model's name in the repository (its URL). */
  name: string;
  repo: string;
  onnx: Uint8Array;
  input: string;
  width: number;
}

async function rawThroughput(m: ModelUnderTest): Promise<Array<{ batch: number; rows_per_s: number }>> {
  const bytes = m.onnx;
  const session = await ort.InferenceSession.create(bytes, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    executionProviders: ['cpu'],
  });
  const out: Array<{ batch: number; rows_per_s: number }> = [];
  for (const batch of RAW_BATCHES) {
    const feeds = {
      [m.input]: new ort.Tensor('float32', rows(batch, m.width, batch), [batch, m.width]),
    };
    for (let i = 0; i < 5; i++) await session.run(feeds);
    let runs = 0;
    const start = performance.now();
    while (performance.now() - start < 500) {
      await session.run(feeds);
      runs++;
    }
    const rowsPerS = (runs * batch * 1000) / (performance.now() - start);
    out.push({ batch, rows_per_s: Math.round(rowsPerS) });
    log(`raw batch=${batch}: ${Math.round(rowsPerS)} rows/s`);
  }
  await session.release();
  return out;
}

interface Child {
  proc: ChildProcess;
  url: string;
}

function startServer(repo: string, maxBatch: number): Promise<Child> {
  const proc = spawn(process.execPath, ['origin/src/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      MODEL_REPOSITORY: repo,
      ORIGIN_HOST: '127.0.0.1',
      ORIGIN_PORT: '0',
      ORIGIN_ALLOW_UNSIGNED: '1',
      ORIGIN_ECHO_ROUTE: '1',
      ORIGIN_EXECUTION_PROVIDER: 'cpu',
      ORIGIN_INTRA_OP_THREADS: '1',
      ORIGIN_MAX_BATCH: String(maxBatch),
      ORIGIN_MAX_QUEUE: '4096',
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let buffer = '';
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString();
      for (const line of buffer.split('\n')) {
        if (!line.includes('"msg":"ready"')) continue;
        const url = (JSON.parse(line) as { url: string }).url;
        proc.stdout?.off('data', onData);
        proc.stdout?.resume();
        resolve({ proc, url });
        return;
      }
    };
    proc.stdout?.on('data', onData);
    proc.once('exit', (code) =>
      reject(new Error(`origin exited with code ${code} before it was ready:\n${buffer}`)),
    );
  });
}

function stopServer(child: Child): Promise<void> {
  return new Promise((resolve) => {
    child.proc.once('exit', () => resolve());
    child.proc.kill('SIGTERM');
  });
}

/** One binary request of one row for the model, and its headers. */
function requestOf(m: ModelUnderTest): { headers: Record<string, string>; payload: Buffer } {
  const body = encodeInferRequest({
    inputs: [{ name: m.input, datatype: 'FP32', shape: [1, m.width], data: rows(1, m.width, 99) }],
    binaryOutput: true,
  });
  return {
    headers: {
      'content-type': body.contentType,
      'inference-header-content-length': String(body.headerLength),
    },
    payload: Buffer.from(body.body as Uint8Array),
  };
}

type Request = ReturnType<typeof requestOf>;

interface Point {
  c: number;
  rps: number;
  p50_ms: number;
  p99_ms: number;
  non2xx: number;
  errors: number;
}

async function load(url: string, req: Request, connections: number, seconds = DURATION_S): Promise<Point> {
  const r = await autocannon({
    url,
    connections,
    duration: seconds,
    method: 'POST',
    headers: req.headers,
    body: req.payload,
  });
  return {
    c: connections,
    rps: Math.round(r.requests.average),
    p50_ms: r.latency.p50,
    p99_ms: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors,
  };
}

/**
 * Sequential keep-alive clients, one per URL, taking turns in short slices (so background load hits each alike):
 * p50 latency per URL in ms with sub-ms precision.
 */
async function sequentialP50(urls: string[], req: Request, seconds: number): Promise<number[]> {
  const { headers, payload } = req;
  const clients = urls.map((url) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const target = new URL(url);
    const once = () =>
      new Promise<number>((resolve, reject) => {
        const start = performance.now();
        const req = http.request(
          {
            host: target.hostname,
            port: target.port,
            path: target.pathname,
            method: 'POST',
            agent,
            headers: { ...headers, 'content-length': payload.length },
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
        req.on('error', reject);
        req.end(payload);
      });
    return { agent, once, times: [] as number[] };
  });
  for (const c of clients) for (let i = 0; i < 200; i++) await c.once();
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

const at = (points: Point[], c: number) => points.find((p) => p.c === c) as Point;

/** The benchmark of one model: raw session throughput, then the echo ceiling, batched and unbatched servers. */
async function benchModel(m: ModelUnderTest): Promise<Record<string, unknown>> {
  const started = performance.now();
  const loadAtStart = loadavg()[0] as number;
  const req = requestOf(m);
  log(`--- ${m.label}`);
  const raw = await rawThroughput(m);
  const best = raw.reduce((a, b) => (b.rows_per_s > a.rows_per_s ? b : a));

  // Both servers run side by side (the idle one costs nothing) and the three measurements of each concurrency
  // run back to back, so a change in background load on a shared machine hits all three alike.
  const batchedServer = await startServer(m.repo, MAX_BATCH);
  const unbatchedServer = await startServer(m.repo, 1).catch(async (err) => {
    await stopServer(batchedServer);
    throw err;
  });
  const ceiling: Point[] = [];
  const batched: Point[] = [];
  const unbatched: Point[] = [];
  let batchedC1: number;
  let unbatchedC1: number;
  try {
    const targets = [
      { name: 'http-ceiling (echo)', url: `${batchedServer.url}/v2/models/${m.name}/echo`, points: ceiling },
      {
        name: `batched (max ${MAX_BATCH})`,
        url: `${batchedServer.url}/v2/models/${m.name}/infer`,
        points: batched,
      },
      {
        name: 'unbatched (max 1)',
        url: `${unbatchedServer.url}/v2/models/${m.name}/infer`,
        points: unbatched,
      },
    ];
    for (const t of targets) await load(t.url, req, 64, 1); // warm-up (JIT, arenas)
    for (const c of CONCURRENCY) {
      for (const t of targets) {
        const p = await load(t.url, req, c);
        t.points.push(p);
        log(
          `${t.name} c=${c}: ${p.rps} req/s, p50 ${p.p50_ms} ms, p99 ${p.p99_ms} ms, non2xx ${p.non2xx}, errors ${p.errors}`,
        );
      }
    }
    [batchedC1, unbatchedC1] = (await sequentialP50(
      [`${batchedServer.url}/v2/models/${m.name}/infer`, `${unbatchedServer.url}/v2/models/${m.name}/infer`],
      req,
      4,
    )) as [number, number];
  } finally {
    await Promise.all([stopServer(batchedServer), stopServer(unbatchedServer)]);
  }
  log(`c=1 sequential p50: batched ${round(batchedC1, 3)} ms, unbatched ${round(unbatchedC1, 3)} ms`);

  const httpCeiling = Math.max(...ceiling.map((p) => p.rps));
  const b64 = at(batched, 64);
  const u64 = at(unbatched, 64);
  return {
    model: m.label,
    load_avg_1m_at_start: round(loadAtStart, 2),
    raw_best_rows_per_s: best.rows_per_s,
    raw_best_batch: best.batch,
    raw_rows_per_s: Object.fromEntries(raw.map((r) => [r.batch, r.rows_per_s])),
    http_ceiling_rps: httpCeiling,
    http_ceiling_rps_by_c: Object.fromEntries(ceiling.map((p) => [p.c, p.rps])),
    batched_rps_c64: b64.rps,
    unbatched_rps_c64: u64.rps,
    batched_rps_by_c: Object.fromEntries(batched.map((p) => [p.c, p.rps])),
    unbatched_rps_by_c: Object.fromEntries(unbatched.map((p) => [p.c, p.rps])),
    efficiency: round(b64.rps / Math.min(best.rows_per_s, httpCeiling), 3),
    speedup_c64: round(b64.rps / u64.rps, 2),
    c1_p50_batched_ms: round(batchedC1, 3),
    c1_p50_unbatched_ms: round(unbatchedC1, 3),
    c1_p50_overhead_ms: round(batchedC1 - unbatchedC1, 3),
    p99_ms_c64: b64.p99_ms,
    non2xx: [...ceiling, ...batched, ...unbatched].reduce((n, p) => n + p.non2xx + p.errors, 0),
    wall_s: round((performance.now() - started) / 1000, 0),
  };
}

/** The newest digits release in a repository of its own, or undefined. */
async function digitsUnderTest(): Promise<(ModelUnderTest & { cleanup: () => Promise<void> }) | undefined> {
  const latest = (await listReleases('digits')).at(-1);
  if (latest === undefined) return undefined;
  const m = latest.manifest;
  const teacher = m.artifacts[m.serving.origin];
  const input = teacher?.inputs[0];
  if (teacher === undefined || input === undefined) return undefined;
  const root = await mkdtemp(join(tmpdir(), 'bench-digits-'));
  // A copy (400 KB): the registry reads real folders, not links.
  await cp(latest.dir, join(root, 'digits', basename(latest.dir)), { recursive: true });
  return {
    label: `digits teacher ${m.version} (CNN)`,
    name: 'digits',
    repo: root,
    onnx: new Uint8Array(await readFile(join(latest.dir, teacher.file))),
    input: input.name,
    width: input.shape[1] as number,
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}

async function main(): Promise<void> {
  const started = performance.now();
  const version = mlpVersion('mlp', '1', DIMS);
  const repo = await createModelRepository([version]);
  let mlp: Record<string, unknown>;
  try {
    mlp = await benchModel({
      label: `mlp ${DIMS.join('-')}`,
      name: 'mlp',
      repo: repo.root,
      onnx: version.onnx,
      input: 'input',
      width: DIMS[0] as number,
    });
  } finally {
    await repo.cleanup();
  }
  const digits = await digitsUnderTest();
  let digitsResult: Record<string, unknown> | undefined;
  if (digits !== undefined) {
    try {
      digitsResult = await benchModel(digits);
    } finally {
      await digits.cleanup();
    }
  }
  const result = {
    bench: 'origin',
    cores: availableParallelism(),
    duration_s_per_point: DURATION_S,
    max_batch: MAX_BATCH,
    ...mlp,
    ...(digitsResult === undefined ? {} : { digits: digitsResult }),
    wall_s: round((performance.now() - started) / 1000, 0),
  };
  log(JSON.stringify(result));
}

await main();
