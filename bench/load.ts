/**
 * Load generation and CPU accounting for the HTTP benchmarks: wrk (the C load generator from Debian) when it is
 * installed, autocannon otherwise; CPU pinning with taskset; CPU time per thread from /proc.
 *
 * On a 2-core box the load generator competes with the server for CPU: wrk spends a fraction of autocannon's CPU
 * per request, and pinning the server to one core and the generator to the other keeps them apart, so req/s
 * measures the server. CPU time per request (from /proc) does not depend on how busy the other core was.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';

function has(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export interface LoadSetup {
  generator: 'wrk' | 'autocannon';
  /** Server on CPU 0 and the generator on CPU 1 (taskset, 2+ cores). */
  pinned: boolean;
  /** taskset prefix for a server command ([] when not pinned). */
  serverPrefix: string[];
  /** The CPU list of the load generator ('' when not pinned). */
  generatorCpus: string;
}

/** wrk when installed (BENCH_LOAD=autocannon forces autocannon); pinning unless BENCH_PIN=0 or 1 core or no taskset. */
export function loadSetup(): LoadSetup {
  const wanted = process.env.BENCH_LOAD ?? 'auto';
  if (!['auto', 'wrk', 'autocannon'].includes(wanted))
    throw new TypeError(`BENCH_LOAD must be wrk, autocannon or auto, got ${wanted}`);
  const wrk = wanted !== 'autocannon' && has('wrk');
  if (wanted === 'wrk' && !wrk)
    throw new Error('BENCH_LOAD=wrk but wrk is not installed (apt-get install wrk)');
  const cores = availableParallelism();
  const pinned = process.env.BENCH_PIN !== '0' && cores >= 2 && has('taskset');
  return {
    generator: wrk ? 'wrk' : 'autocannon',
    pinned,
    serverPrefix: pinned ? ['taskset', '-c', '0'] : [],
    generatorCpus: pinned ? `1-${cores - 1}` : '',
  };
}

/** Pins every thread of this process to `cpus` (e.g. '0'), when taskset is there; quietly does nothing otherwise. */
export function pinSelf(cpus: string): void {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', cpus, String(process.pid)], { stdio: 'ignore' });
  } catch {}
}

export interface LoadRequest {
  method: 'POST';
  headers: Record<string, string>;
  body: Uint8Array;
}

export interface LoadPoint {
  c: number;
  requests: number;
  rps: number;
  p50_ms: number;
  p99_ms: number;
  non2xx: number;
  errors: number;
}

const WRK_SCRIPT = `
local f = io.open(os.getenv("BENCH_BODY"), "rb"); wrk.body = f:read("*a"); f:close()
wrk.method = "POST"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCHJSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"non2xx":%d,"errors":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), e.status,
    e.connect + e.read + e.write + e.timeout))
end
`;

let scratch: { script: string; body: string } | undefined;

function runWrk(
  setup: LoadSetup,
  url: string,
  req: LoadRequest,
  c: number,
  seconds: number,
): Promise<LoadPoint> {
  if (scratch === undefined) {
    const script = join(tmpdir(), `bench-wrk-${process.pid}.lua`);
    writeFileSync(script, WRK_SCRIPT);
    scratch = { script, body: join(tmpdir(), `bench-wrk-${process.pid}.body`) };
    const files = scratch;
    process.once('exit', () => {
      rmSync(files.script, { force: true });
      rmSync(files.body, { force: true });
    });
  }
  const { script, body } = scratch;
  writeFileSync(body, req.body);
  const args = ['-t1', `-c${c}`, `-d${seconds}s`, '--timeout', '10s', '-s', script];
  for (const [k, v] of Object.entries(req.headers)) args.push('-H', `${k}: ${v}`);
  args.push(url);
  const [cmd, argv] = setup.pinned ? ['taskset', ['-c', setup.generatorCpus, 'wrk', ...args]] : ['wrk', args];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv as string[], { env: { ...process.env, BENCH_BODY: body } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('BENCHJSON '));
      if (code !== 0 || line === undefined) {
        reject(new Error(`wrk exited with ${code}:\n${out}`));
        return;
      }
      const r = JSON.parse(line.slice('BENCHJSON '.length)) as Record<string, number>;
      const requests = r.requests as number;
      resolve({
        c,
        requests,
        rps: Math.round((requests * 1e6) / (r.duration_us as number)),
        p50_ms: (r.p50_us as number) / 1000,
        p99_ms: (r.p99_us as number) / 1000,
        non2xx: r.non2xx as number,
        errors: r.errors as number,
      });
    });
  });
}

async function runAutocannon(url: string, req: LoadRequest, c: number, seconds: number): Promise<LoadPoint> {
  const r = await autocannon({
    url,
    connections: c,
    duration: seconds,
    method: req.method,
    headers: req.headers,
    body: Buffer.from(req.body),
  });
  return {
    c,
    requests: r.requests.total,
    rps: Math.round(r.requests.average),
    p50_ms: r.latency.p50,
    p99_ms: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors,
  };
}

/** `c` connections for `seconds` against `url`. wrk's latencies are in us; autocannon's in whole ms. */
export function load(
  setup: LoadSetup,
  url: string,
  req: LoadRequest,
  c: number,
  seconds: number,
): Promise<LoadPoint> {
  return setup.generator === 'wrk'
    ? runWrk(setup, url, req, c, seconds)
    : runAutocannon(url, req, c, seconds);
}

const TICK_US = 1e6 / Number(execFileSync('getconf', ['CLK_TCK']).toString().trim() || 100);

/** CPU time (user + system) of each thread of `pid`, us, keyed by thread id; the main thread's id is `pid`. */
export function threadCpu(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // After the command: state is field 3, utime 14 and stime 15 (1-based, man 5 proc).
      out.set(Number(tid), (Number(fields[11]) + Number(fields[12])) * TICK_US);
    } catch {} // the thread ended
  }
  return out;
}

/** CPU per request between two threadCpu() snapshots: the whole process, its main thread, and the busiest other. */
export function cpuPerRequest(
  pid: number,
  before: Map<number, number>,
  after: Map<number, number>,
  requests: number,
): { total: number; main: number; busiest_other: number; rest: number } {
  let total = 0;
  let busiest = 0;
  for (const [tid, us] of after) {
    const d = us - (before.get(tid) ?? 0);
    total += d;
    if (tid !== pid) busiest = Math.max(busiest, d);
  }
  const main = (after.get(pid) ?? 0) - (before.get(pid) ?? 0);
  const per = (x: number) => Math.round((x / Math.max(1, requests)) * 10) / 10;
  return {
    total: per(total),
    main: per(main),
    busiest_other: per(busiest),
    rest: per(total - main - busiest),
  };
}
