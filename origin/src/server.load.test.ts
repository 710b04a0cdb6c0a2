/**
 * The origin under load over real HTTP on loopback, with a deliberately slow model so that queues form:
 * batching, backpressure (429 + Retry-After), deadlines (504, expired work never runs), priorities, and one bad
 * request among good ones.
 */
import { request as httpRequest } from 'node:http';
import { describe, expect, it } from 'vitest';
import { encodeInferRequest, type Tensor } from '../../shared/protocol/index.ts';
import { infer } from '../test/client.ts';
import { rows, slowModel, textModel } from '../test/fixtures.ts';
import { expectClose, scrapeMetric, useOrigin } from '../test/harness.ts';
import { defineConfig } from './config.ts';
import { createOriginServer } from './server.ts';

const origin = useOrigin(
  [
    { name: 'slow', version: '1', onnx: slowModel(256, 512) },
    // Eight times the layers: a 64-row batch runs long enough (about a second) for 20 arrivals to queue behind it
    // even on a loaded 2-core machine, where client and server share this process.
    { name: 'slower', version: '1', onnx: slowModel(2048, 512) },
    { name: 'ids', version: '1', onnx: textModel(256, 32) },
  ],
  { maxBatch: 64, maxQueue: 128 },
);

const slow = (r: number, seed = 1): Tensor => ({
  name: 'input',
  datatype: 'FP32',
  shape: [r, 512],
  data: rows(r, 512, seed),
});
const slowUrl = () => `${origin.url}/v2/models/slow/infer`;

const metric = (series: string) => scrapeMetric(origin.url, series);
const L = '{model="slow",version="1"}';
const slowerUrl = () => `${origin.url}/v2/models/slower/infer`;
const SLOWER = '{model="slower",version="1"}';

async function waitForQueue(rowsQueued: number, labels = L): Promise<void> {
  const until = Date.now() + 5000;
  while ((await metric(`nv_inference_pending_request_count${labels}`)) < rowsQueued) {
    if (Date.now() > until) throw new Error(`queue never reached ${rowsQueued} rows`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Starts a request and resolves once its batch has left the queue (it is running). */
async function startRunning(
  t: Tensor,
  url = slowUrl(),
  labels = L,
): Promise<{ call: ReturnType<typeof infer> }> {
  const series = `nv_inference_queue_duration_seconds_count${labels}`;
  const before = await metric(series);
  const call = infer(url, [t]);
  const until = Date.now() + 5000;
  while ((await metric(series)) === before) {
    if (Date.now() > until) throw new Error('no batch started');
    await new Promise((r) => setTimeout(r, 1));
  }
  return { call };
}

describe('batching under concurrency', () => {
  it('collects arrivals while a batch runs into few batches, each caller getting its own rows', async () => {
    const url = slowerUrl();
    const labels = SLOWER;
    const execBefore = await metric(`nv_inference_exec_count${labels}`);
    const { call: head } = await startRunning(slow(64, 1), url, labels);
    const small = Array.from({ length: 20 }, (_, i) => slow(1, 10 + i));
    const calls = [head, ...small.map((t) => infer(url, [t]))];
    // All 20 wait in the queue while the head batch runs...
    await waitForQueue(20, labels);
    const results = await Promise.all(calls);
    expect(results.map((r) => r.status)).toEqual(Array(21).fill(200));
    // ...and then run together: the head, then one batch of the 20 (21 without batching).
    const execs = (await metric(`nv_inference_exec_count${labels}`)) - execBefore;
    expect(execs).toBe(2);
    // Each caller got the answer for its own row: compare with a request run alone.
    const alone = await infer(url, [small[7] as Tensor]);
    expectClose(
      results[8]?.response?.outputs[0]?.data as Float32Array,
      alone.response?.outputs[0]?.data as Float32Array,
    );
  });
});

describe('backpressure', () => {
  it('answers 429 queue_full with Retry-After once the queue is full, and serves the rest', async () => {
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => infer(slowUrl(), [slow(64, i)])));
    const rejected = results.filter((r) => r.status === 429);
    const served = results.filter((r) => r.status === 200);
    expect(rejected.length).toBeGreaterThanOrEqual(1);
    expect(served.length).toBeGreaterThanOrEqual(3);
    expect(rejected.length + served.length).toBe(8);
    for (const r of rejected) {
      expect(r.headers.get('retry-after')).toBe('1');
      expect(r.headers.get('x-queue-depth')).toMatch(/^[0-9]+$/);
      expect(r.error?.error).toMatchObject({ code: 'queue_full' });
      expect(r.error?.error.message).toMatch(/queue holds \d+ of 128 rows/);
    }
    expect(await metric('nv_inference_request_failure{model="slow",version="1",reason="queue_full"}')).toBe(
      rejected.length,
    );
  });
});

describe('deadlines', () => {
  it('answers 504 when x-deadline-ms passes while queued, and never runs the expired request', async () => {
    const rowsBefore = await metric(`nv_inference_count${SLOWER}`);
    const execBefore = await metric(`nv_inference_exec_count${SLOWER}`);
    const { call: head } = await startRunning(slow(64, 3), slowerUrl(), SLOWER);
    const started = performance.now();
    const late = await infer(slowerUrl(), [slow(8, 4)], { headers: { 'x-deadline-ms': '25' } });
    const waited = performance.now() - started;
    expect(late.status).toBe(504);
    expect(late.error?.error.code).toBe('deadline_exceeded');
    expect(waited).toBeLessThan(1000);
    expect((await head).status).toBe(200);
    await new Promise((r) => setTimeout(r, 50));
    expect((await metric(`nv_inference_count${SLOWER}`)) - rowsBefore).toBe(64);
    expect((await metric(`nv_inference_exec_count${SLOWER}`)) - execBefore).toBe(1);
  });
});

describe('priorities', () => {
  it('runs a queued priority-1 request before an earlier priority-2 one', async () => {
    const order: string[] = [];
    const { call: head } = await startRunning(slow(64, 5), slowerUrl(), SLOWER);
    const low = infer(slowerUrl(), [slow(64, 6)], { headers: { 'x-priority': '2' } }).then((r) => {
      order.push('low');
      return r;
    });
    await waitForQueue(64, SLOWER);
    const high = infer(slowerUrl(), [slow(64, 7)], { headers: { 'x-priority': '1' } }).then((r) => {
      order.push('high');
      return r;
    });
    // Both wait behind the running head, the low one queued first.
    await waitForQueue(128, SLOWER);
    const all = await Promise.all([head, low, high]);
    expect(all.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(order).toEqual(['high', 'low']);
  });
});

describe('a client that goes away', () => {
  it("has its queued request dropped, never run (the edge's abandoned attempt costs the origin nothing)", async () => {
    const rowsBefore = await metric(`nv_inference_count${SLOWER}`);
    const execBefore = await metric(`nv_inference_exec_count${SLOWER}`);
    const { call: head } = await startRunning(slow(64, 8), slowerUrl(), SLOWER);
    const encoded = encodeInferRequest({ inputs: [slow(8, 9)], binaryInputs: true, binaryOutput: true });
    const url = new URL(slowerUrl());
    const gone = httpRequest({
      host: url.hostname,
      port: url.port,
      path: url.pathname,
      method: 'POST',
      headers: {
        'content-type': encoded.contentType,
        'inference-header-content-length': String(encoded.headerLength),
      },
    });
    gone.on('error', () => {});
    gone.end(encoded.body as Uint8Array);
    await waitForQueue(8, SLOWER);
    gone.destroy();
    await new Promise((r) => setTimeout(r, 100));
    expect(await metric(`nv_inference_pending_request_count${SLOWER}`)).toBe(0);
    expect((await head).status).toBe(200);
    expect((await metric(`nv_inference_count${SLOWER}`)) - rowsBefore).toBe(64);
    expect((await metric(`nv_inference_exec_count${SLOWER}`)) - execBefore).toBe(1);
  });
});

describe("priority is the edge's, not the client's", () => {
  it('ignores parameters.priority in the body (the edge forwards client bodies as they are): FIFO at one level', async () => {
    const order: string[] = [];
    const { call: head } = await startRunning(slow(64, 5), slowerUrl(), SLOWER);
    const first = infer(slowerUrl(), [slow(64, 6)], { headers: { 'x-priority': '2' } }).then((r) => {
      order.push('first');
      return r;
    });
    await waitForQueue(64, SLOWER);
    const claims = infer(slowerUrl(), [slow(64, 7)], { parameters: { priority: 1 } }).then((r) => {
      order.push('claims-priority-1');
      return r;
    });
    await waitForQueue(128, SLOWER);
    const all = await Promise.all([head, first, claims]);
    expect(all.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(order).toEqual(['first', 'claims-priority-1']);
  });
});

describe('one bad request among good ones', () => {
  it('fails only the bad caller, whether it is refused at decode or at run time', async () => {
    const good = (i: number): Tensor => ({
      name: 'ids',
      datatype: 'INT32',
      shape: [2, 32],
      data: new Int32Array(64).map((_, j) => (i * 7 + j) % 256),
    });
    const poison: Tensor = {
      name: 'ids',
      datatype: 'INT32',
      shape: [1, 32],
      data: new Int32Array(32).fill(100_000),
    };
    const wrongShape: Tensor = { name: 'ids', datatype: 'INT32', shape: [1, 31], data: new Int32Array(31) };
    const target = `${origin.url}/v2/models/ids/infer`;
    const calls = [
      ...Array.from({ length: 6 }, (_, i) => infer(target, [good(i)])),
      infer(target, [poison]),
      ...Array.from({ length: 6 }, (_, i) => infer(target, [good(i + 6)])),
      infer(target, [wrongShape]),
    ];
    const results = await Promise.all(calls);
    expect(results.map((r) => r.status)).toEqual([...Array(6).fill(200), 400, ...Array(6).fill(200), 400]);
    expect(results[6]?.error?.error).toMatchObject({ code: 'invalid_input' });
    expect(results[6]?.error?.error.message).toMatch(/could not run this input/);
    const alone = await infer(target, [good(2)]);
    expectClose(
      results[2]?.response?.outputs[0]?.data as Float32Array,
      alone.response?.outputs[0]?.data as Float32Array,
    );
  });
});

describe('while models load', () => {
  it('is live but not ready, and answers model routes with 503 not_ready + Retry-After', async () => {
    const loading = createOriginServer(
      defineConfig({
        modelRepository: origin.repo.root,
        host: '127.0.0.1',
        port: 0,
        allowUnsigned: true,
        logLevel: 'silent',
      }),
    );
    const started = loading.start();
    try {
      const until = Date.now() + 5000;
      while (loading.url === undefined) {
        if (Date.now() > until) throw new Error('never listened');
        await new Promise((r) => setTimeout(r, 1));
      }
      const base = loading.url;
      expect((await fetch(`${base}/v2/health/live`)).status).toBe(200);
      if (!loading.ready()) {
        const ready = await fetch(`${base}/v2/health/ready`);
        expect([ready.status, await ready.json()]).toEqual([503, { ready: false }]);
        const r = await infer(`${base}/v2/models/slow/infer`, [slow(1)]);
        if (!loading.ready()) {
          expect(r.status).toBe(503);
          expect(r.headers.get('retry-after')).toBe('1');
          expect(r.error?.error.code).toBe('not_ready');
        }
      }
      await started;
      expect((await fetch(`${base}/v2/health/ready`)).status).toBe(200);
    } finally {
      await started.catch(() => {});
      await loading.stop();
    }
  });
});
