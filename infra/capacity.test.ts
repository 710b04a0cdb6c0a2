import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  escalationShareFromManifest,
  loadFromPlan,
  parseBenchOutput,
  planCapacity,
  runCapacityCli,
} from './capacity.ts';

const BENCH_LINE = {
  raw_best_rows_per_s: 109000,
  raw_best_batch: 128,
  http_ceiling_rps: 31000,
  batched_rps_c64: 28000,
  unbatched_rps_c64: 6000,
  efficiency: 0.9,
  speedup_c64: 4.7,
  c1_p50_overhead_ms: 0.1,
  p99_ms_c64: 6.1,
};

describe('parseBenchOutput', () => {
  it("takes bench:origin's last JSON line, skipping the log lines before it", () => {
    const text = `raw batch 64: 101000 rows/s\n{"note":"not this"}\n${JSON.stringify(BENCH_LINE)}\n\n`;
    expect(parseBenchOutput(text)).toEqual(BENCH_LINE);
  });

  it('also reads a saved result that is one (pretty-printed) JSON object', () => {
    expect(parseBenchOutput(JSON.stringify(BENCH_LINE, null, 2))).toEqual(BENCH_LINE);
  });

  it('refuses output without the line, or with a non-positive throughput', () => {
    expect(() => parseBenchOutput('nothing here\n{"a":1}')).toThrow(/no bench:origin JSON line/);
    expect(() => parseBenchOutput('{"batched_rps_c64":0}')).toThrow(
      /batched_rps_c64 must be a number in \(0/,
    );
  });
});

describe('planCapacity', () => {
  it('sizes the pool from escalated load and measured per-replica throughput, with headroom and a spare', () => {
    // 100k req/s at the edge, 30% cached, 10% of the rest escalated -> 7,000 req/s at the origin.
    // One replica: 28,000 x 0.25 (production replica vs bench machine) = 7,000; planned at 70% = 4,900.
    const plan = planCapacity(BENCH_LINE, {
      edgeRps: 100_000,
      cacheHitRate: 0.3,
      escalationShare: 0.1,
      replicaScale: 0.25,
    });
    expect(plan.origin_rps).toBe(7000);
    expect(plan.replica_capacity_rps).toBe(7000);
    expect(plan.replica_usable_rps).toBe(4900);
    expect(plan.replicas).toBe(3); // ceil(7000 / 4900) = 2, + 1 spare
    expect(plan.utilization_at_plan).toBeCloseTo(7000 / (3 * 7000), 4);
    expect(plan.keda_queue_threshold_rows).toBe(49); // 4,900 rows/s x 10 ms
    expect(plan.alert_escalated_rps).toBe(10500);
  });

  it('divides capacity by rows per request and never goes below minReplicas', () => {
    const small = planCapacity(BENCH_LINE, { edgeRps: 10, escalationShare: 0.05 });
    expect(small.replicas).toBe(2);
    const multiRow = planCapacity(BENCH_LINE, { edgeRps: 200_000, escalationShare: 0.5, rowsPerRequest: 8 });
    expect(multiRow.replica_capacity_rps).toBe(3500);
    expect(multiRow.replicas).toBe(Math.ceil(100_000 / 2450) + 1);
    expect(multiRow.keda_queue_threshold_rows).toBe(Math.ceil(2450 * 8 * 0.01));
  });

  it('grows linearly with load', () => {
    const at = (edgeRps: number) =>
      planCapacity(BENCH_LINE, { edgeRps, escalationShare: 1, spareReplicas: 0, minReplicas: 1 });
    expect(at(19_600).replicas).toBe(1);
    expect(at(19_601).replicas).toBe(2);
    expect(at(196_000).replicas).toBe(10);
  });

  it.each([
    [{ edgeRps: -1, escalationShare: 0.1 }, /edgeRps must be a number in \[0/],
    [{ edgeRps: 1, escalationShare: 1.5 }, /escalationShare must be a number in \[0, 1\], got 1.5/],
    [{ edgeRps: 1, escalationShare: 0.1, cacheHitRate: 1 }, /cacheHitRate must be a number in \[0, 1\)/],
    [
      { edgeRps: 1, escalationShare: 0.1, targetUtilization: 0 },
      /targetUtilization must be a number in \(0, 1\]/,
    ],
    [{ edgeRps: 1, escalationShare: 0.1, spareReplicas: 0.5 }, /must be integers/],
    [{ edgeRps: 1, escalationShare: Number.NaN }, /escalationShare/],
  ])('refuses bad parameters with a TypeError naming them (%#)', (load, message) => {
    expect(() => planCapacity(BENCH_LINE, load)).toThrow(TypeError);
    expect(() => planCapacity(BENCH_LINE, load)).toThrow(message);
  });
});

describe('escalationShareFromManifest', () => {
  const manifest = {
    schema_version: 1,
    name: 'spam',
    version: 'v1',
    created: '2026-11-01',
    labels: ['ham', 'spam'],
    artifacts: { teacher: { file: 't.onnx', sha256: 'a'.repeat(64), bytes: 1 } },
    serving: { origin: 'teacher' },
    expected_edge_share: 0.93,
  };

  it("is 1 - the release's expected_edge_share", () => {
    expect(escalationShareFromManifest(manifest, 'm.json')).toBeCloseTo(0.07, 10);
  });

  it('asks for the flag when the manifest has no expected_edge_share', () => {
    const { expected_edge_share: _, ...without } = manifest;
    expect(() => escalationShareFromManifest(without, 'm.json')).toThrow(
      /no expected_edge_share: pass --escalation-share/,
    );
  });
});

describe('the CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'capacity-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const benchFile = join(dir, 'bench.txt');
  writeFileSync(benchFile, `some progress\n${JSON.stringify(BENCH_LINE)}\n`);

  it('combines the plan file with flags and prints the plan as its last line', () => {
    const plan = fileURLToPath(new URL('./capacity-plan.json', import.meta.url));
    const lines = runCapacityCli(['--bench', benchFile, '--plan', plan, '--edge-rps', '50000'], (p) =>
      readFileSync(p, 'utf8'),
    );
    const last = JSON.parse(lines.at(-1) as string);
    const expected = planCapacity(BENCH_LINE, {
      ...loadFromPlan(JSON.parse(readFileSync(plan, 'utf8'))),
      edgeRps: 50_000,
    });
    expect(last).toEqual(expected);
    expect(lines[0]).toMatch(/1750 req\/s escalated/);
  });

  it('runs as a script and exits 2 with a message on bad input', () => {
    const script = fileURLToPath(new URL('./capacity.ts', import.meta.url));
    const out = execFileSync(
      process.execPath,
      [script, '--bench', benchFile, '--edge-rps', '1000', '--escalation-share', '0.1'],
      {
        encoding: 'utf8',
      },
    );
    expect(JSON.parse(out.trim().split('\n').at(-1) as string).origin_rps).toBe(100);
    let status = 0;
    let stderr = '';
    try {
      execFileSync(process.execPath, [script, '--edge-rps', '1'], { encoding: 'utf8', stdio: 'pipe' });
    } catch (err) {
      status = (err as { status: number }).status;
      stderr = String((err as { stderr: string }).stderr);
    }
    expect(status).toBe(2);
    expect(stderr).toMatch(/--bench .* is required/);
  });
});

describe('the shipped plan', () => {
  it("sets the CPU overlay's KEDA queue-depth threshold from the example bench line", async () => {
    const { render } = await import('./k8s/render.ts');
    const read = (p: string) => readFileSync(fileURLToPath(new URL(p, import.meta.url)), 'utf8');
    const plan = planCapacity(
      parseBenchOutput(read('./bench-origin.example.json')),
      loadFromPlan(JSON.parse(read('./capacity-plan.json'))),
    );
    const objects = await render(fileURLToPath(new URL('./k8s/overlays/cpu', import.meta.url)));
    const scaled = objects.find((o) => o.kind === 'ScaledObject') as unknown as {
      spec: { triggers: { name: string; metadata: { threshold: string } }[] };
    };
    const trigger = scaled.spec.triggers.find((t) => t.name === 'queue-depth');
    expect(Number(trigger?.metadata.threshold)).toBe(plan.keda_queue_threshold_rows);
  });
});
