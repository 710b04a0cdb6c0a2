/**
 * The real entry point in a child process: SIGTERM drains without losing a request; start-up fails loudly on a
 * corrupt artifact (naming the file and the expected hash) or an invalid configuration.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { infer } from '../test/client.ts';
import { createModelRepository, mlpVersion, rows, slowModel } from '../test/fixtures.ts';
import { scrapeMetric, useRepository } from '../test/harness.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const repo = useRepository([{ name: 'slow', version: '1', onnx: slowModel(256, 512) }]);
const children: ChildProcess[] = [];

afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

interface Run {
  child: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}

function run(env: Record<string, string>, args: string[] = []): Run {
  const child = spawn(process.execPath, ['origin/src/main.ts', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout?.on('data', (d) => {
    out += String(d);
  });
  child.stderr?.on('data', (d) => {
    out += String(d);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, out: () => out, exited };
}

async function waitFor(what: () => boolean, ms: number, label: string): Promise<void> {
  const until = Date.now() + ms;
  while (!what()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const baseEnv = () => ({
  MODEL_REPOSITORY: repo.root,
  ORIGIN_HOST: '127.0.0.1',
  ORIGIN_PORT: '0',
  ORIGIN_ALLOW_UNSIGNED: '1',
  ORIGIN_EXECUTION_PROVIDER: 'cpu',
  ORIGIN_MAX_BATCH: '64',
});

/** Waits for the child's "ready" log line and returns the URL it names. */
async function readyUrl(p: Run): Promise<string> {
  await waitFor(() => p.out().includes('"msg":"ready"'), 30_000, 'ready');
  const line = p
    .out()
    .split('\n')
    .find((l) => l.includes('"msg":"ready"')) as string;
  return (JSON.parse(line) as { url: string }).url;
}

describe('SIGTERM', () => {
  it('stops accepting, turns not ready, finishes every queued and running request, then exits 0', async () => {
    const p = run(baseEnv());
    const url = await readyUrl(p);

    const n = 6;
    const calls = Array.from({ length: n }, (_, i) =>
      infer(`${url}/v2/models/slow/infer`, [
        { name: 'input', datatype: 'FP32', shape: [64, 512], data: rows(64, 512, i) },
      ]),
    );
    // Wait until all but the running request are queued, so the drain has real work to finish.
    const pending = () => scrapeMetric(url, 'nv_inference_pending_request_count{model="slow",version="1"}');
    const until = Date.now() + 10_000;
    while ((await pending()) < (n - 2) * 64) {
      if (Date.now() > until) throw new Error('requests never queued');
      await new Promise((r) => setTimeout(r, 5));
    }

    p.child.kill('SIGTERM');
    await waitFor(() => p.out().includes('draining'), 5_000, 'draining log');
    const readyDuringDrain = await fetch(`${url}/v2/health/ready`).then(
      (r) => r.status,
      () => 'refused',
    );
    expect([503, 'refused']).toContain(readyDuringDrain);

    const results = await Promise.all(calls);
    expect(results.map((r) => r.status)).toEqual(Array(n).fill(200));
    for (const r of results) expect(r.response?.outputs[0]?.shape).toEqual([64, 2]);
    expect(await p.exited).toBe(0);
    expect(p.out()).toMatch(/"msg":"drained; exiting"/);
  });
});

describe('a second SIGTERM', () => {
  it('ends the process at once (SIGKILL) while a batch is running, without aborting inside ONNX Runtime', async () => {
    const p = run(baseEnv());
    const url = await readyUrl(p);
    const calls = Array.from({ length: 4 }, (_, i) =>
      infer(`${url}/v2/models/slow/infer`, [
        { name: 'input', datatype: 'FP32', shape: [64, 512], data: rows(64, 512, i) },
      ]).catch(() => undefined),
    );
    const pending = () => scrapeMetric(url, 'nv_inference_pending_request_count{model="slow",version="1"}');
    const until = Date.now() + 10_000;
    while ((await pending()) < 64) {
      if (Date.now() > until) throw new Error('requests never queued');
      await new Promise((r) => setTimeout(r, 5));
    }
    p.child.kill('SIGTERM');
    await waitFor(() => p.out().includes('draining'), 5_000, 'draining log');
    p.child.kill('SIGTERM');
    expect(await p.exited).toBeNull();
    expect(p.child.signalCode).toBe('SIGKILL');
    expect(p.out()).toMatch(/second signal/);
    expect(p.out()).not.toMatch(/terminate called|Napi::Error/);
    await Promise.all(calls);
  });
});

describe('start-up failures', () => {
  it('exits 1 naming the corrupt artifact and its expected hash, never reporting ready', async () => {
    const bad = await createModelRepository([mlpVersion('mlp', '1', [16, 8, 2])]);
    try {
      const manifest = JSON.parse(
        await import('node:fs/promises').then((f) =>
          f.readFile(join(bad.root, 'mlp', '1', 'manifest.json'), 'utf8'),
        ),
      );
      await writeFile(join(bad.root, 'mlp', '1', 'model.onnx'), 'corrupted');
      const p = run({ ...baseEnv(), MODEL_REPOSITORY: bad.root });
      expect(await p.exited).toBe(1);
      expect(p.out()).toContain(join(bad.root, 'mlp', '1', 'model.onnx'));
      expect(p.out()).toContain(`does not match the manifest's ${manifest.artifacts.model.sha256}`);
      expect(p.out()).not.toMatch(/"msg":"ready"/);
    } finally {
      await bad.cleanup();
    }
  });

  it('exits 2 with a message naming the setting for an invalid configuration', async () => {
    const p = run({ ...baseEnv(), ORIGIN_MAX_BATCH: 'lots' });
    expect(await p.exited).toBe(2);
    expect(p.out()).toMatch(/ORIGIN_MAX_BATCH: expected an integer between 1 and 4096, got "lots"/);
    const q = run({ MODEL_REPOSITORY: repo.root }, ['--port', '0']);
    expect(await q.exited).toBe(2);
    expect(q.out()).toMatch(/ORIGIN_SIGNING_SECRET is required/);
  });
});
