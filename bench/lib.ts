/** What the stack benchmarks share: settings from the environment, output, rounding, the edge bundle in Miniflare. */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { convertV4MiniflareOptions, Miniflare } from 'miniflare';
import { createOriginClient, unwrap } from '../client/src/index.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * BENCH_SMOKE=1: the benchmark's whole code path end to end with tiny counts and short phases (`npm run
 * bench:smoke` runs every benchmark so in CI). Its figures mean nothing; its JSON line says `"smoke": true`.
 */
export const SMOKE = process.env.BENCH_SMOKE === '1';

/** `full` in a real run, `smoke` under BENCH_SMOKE=1 (the default of a setting; the environment still wins). */
export const smokeOr = <T>(full: T, smoke: T): T => (SMOKE ? smoke : full);

/** Prints the benchmark's result: one JSON line, the last thing it prints (`smoke: true` under BENCH_SMOKE=1). */
export function result(fields: Record<string, unknown>): void {
  log(JSON.stringify(SMOKE ? { ...fields, smoke: true } : fields));
}

/** An origin's Prometheus exposition (GET /metrics, through the typed client); throws an ApiError on a refusal. */
export async function originMetrics(url: string): Promise<string> {
  return unwrap(await createOriginClient({ baseUrl: url }).GET('/metrics', { parseAs: 'text' }));
}

/** A number from `name` in the environment, `fallback` when unset; throws naming the variable when out of range. */
export function envNumber(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max)
    throw new TypeError(`${name} must be a number in [${min}, ${max}], got ${raw}`);
  return n;
}

/** An integer setting, as envNumber. */
export function envInt(name: string, fallback: number, min: number, max: number): number {
  const n = envNumber(name, fallback, min, max);
  if (!Number.isInteger(n)) throw new TypeError(`${name} must be an integer, got ${process.env[name]}`);
  return n;
}

/** One line of progress on stdout (the last line a benchmark prints is its JSON). */
export const log = (line: string) => process.stdout.write(`${line}\n`);

export const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resident set size of one process, KiB (VmRSS from /proc), or 0 when it is gone. */
export function rssKiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? 0 : Number(m[1]);
  } catch {
    return 0;
  }
}

function compatibilityDate(): string {
  const m = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(readFileSync(join(ROOT, 'wrangler.toml'), 'utf8'));
  if (m === null) throw new Error('wrangler.toml has no compatibility_date');
  return m[1] as string;
}

/** The edge bundle exactly as `wrangler deploy` would upload it (`--dry-run --outdir out`), with its sizes. */
export function buildEdgeBundle(
  out: string,
  /** A Worker entry other than wrangler.toml's `main` (named index.ts, so the bundle's entry is index.js). */
  entry?: string,
): {
  files: Array<{ name: string; raw: number; gzip: number }>;
  raw: number;
  gzip: number;
} {
  rmSync(out, { recursive: true, force: true });
  execFileSync(
    join(ROOT, 'node_modules', '.bin', 'wrangler'),
    ['deploy', ...(entry === undefined ? [] : [entry]), '--dry-run', '--env', '', '--outdir', out],
    {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const files = readdirSync(out)
    .filter((f) => !f.endsWith('.map') && f !== 'README.md')
    .map((name) => {
      const bytes = readFileSync(join(out, name));
      return { name, raw: statSync(join(out, name)).size, gzip: gzipSync(bytes, { level: 9 }).length };
    });
  return { files, raw: files.reduce((a, f) => a + f.raw, 0), gzip: files.reduce((a, f) => a + f.gzip, 0) };
}

/** Bindings of the edge beyond its vars and secrets, for the benchmarks that exercise them. */
export interface EdgeMiniflareExtras {
  /**
   * R2 buckets by binding name (`{ MODELS: 'models' }`: the model registry, wrangler.toml). Not persisted: Miniflare
   * keeps them in its temporary directory, gone with `dispose()`.
   */
  r2Buckets?: Record<string, string>;
  /** workerd's inspector (Chrome DevTools Protocol) on this port, for profiling (bench/edge-profile.ts). */
  inspectorPort?: number;
}

/**
 * The built bundle in workerd through Miniflare directly (no wrangler dev proxy or inspector: FACTS.md), with the
 * given vars and secrets (and `extras`, e.g. R2 buckets); `onLog` receives the Worker's structured log lines.
 */
export function edgeMiniflare(
  out: string,
  bindings: Record<string, string>,
  onLog: (entry: { level: string; message: string }) => void,
  extras: EdgeMiniflareExtras = {},
): Miniflare {
  // miniflare 5 takes a new option shape; convertV4MiniflareOptions accepts the familiar (v4) one.
  return new Miniflare(
    convertV4MiniflareOptions({
      handleStructuredLogs: onLog,
      ...(extras.inspectorPort === undefined ? {} : { inspectorPort: extras.inspectorPort }),
      workers: [
        {
          name: 'edge',
          // The bundle's modules as wrangler wrote them: the .wasm precompiled, the .onnx and .bin (the seen-ids
          // bitmap) as ArrayBuffers (wrangler.toml's Data rule).
          modulesRoot: out,
          modules: readdirSync(out)
            .filter((f) => !f.endsWith('.map') && f !== 'README.md')
            // The entry module comes first.
            .sort((a, b) => Number(b === 'index.js') - Number(a === 'index.js'))
            .map((f) => ({
              type: f.endsWith('.wasm')
                ? ('CompiledWasm' as const)
                : f.endsWith('.onnx') || f.endsWith('.bin')
                  ? ('Data' as const)
                  : ('ESModule' as const),
              path: join(out, f),
            })),
          compatibilityDate: compatibilityDate(),
          cacheAPI: true,
          bindings,
          ...(extras.r2Buckets === undefined ? {} : { r2Buckets: extras.r2Buckets }),
        },
      ],
    }),
  );
}
