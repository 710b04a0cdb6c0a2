/**
 * The drain on stop (SIGTERM) is bounded: running and queued work gets ORIGIN_DRAIN_TIMEOUT_MS, then what is left
 * is cut (its callers answered 503, never left hanging) and the cut is logged with what it cut.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { Tensor } from '../../shared/protocol/index.ts';
import { infer } from '../test/client.ts';
import { createModelRepository, rows, slowModel } from '../test/fixtures.ts';
import { createLogger } from './logger.ts';
import { startOriginServer } from './server.ts';

describe('bounded drain', () => {
  it('cuts work still running after the drain timeout, answering its callers 503, and logs the cut', async () => {
    const repo = await createModelRepository([{ name: 'slow', version: '1', onnx: slowModel(4096, 512) }]);
    const lines: Array<Record<string, unknown>> = [];
    const destination = new Writable({
      write(chunk, _enc, done) {
        for (const line of String(chunk).split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line));
        done();
      },
    });
    try {
      const { server, url } = await startOriginServer(
        { modelRepository: repo.root, maxBatch: 64, drainTimeoutMs: 200, logLevel: 'info' },
        { logger: createLogger({ level: 'info', destination }) },
      );
      const big: Tensor = { name: 'input', datatype: 'FP32', shape: [64, 512], data: rows(64, 512) };
      const calls = [
        infer(`${url}/v2/models/slow/infer`, [big]),
        infer(`${url}/v2/models/slow/infer`, [big]),
      ];
      await new Promise((r) => setTimeout(r, 100)); // one batch running (seconds of work), one queued
      const t0 = performance.now();
      const stopped = server.stop();
      const results = await Promise.all(calls.map((c) => c.catch(() => ({ status: 0 }))));
      const answeredMs = performance.now() - t0;
      // Cut, not finished: the two batches take several seconds; the drain gave them 200 ms, then 503.
      expect(answeredMs).toBeLessThan(2500);
      expect(results.map((r) => r.status)).toEqual([503, 503]);
      // The process is not aborted: the cut run's thread is stopped once session.run returns.
      await stopped;
      const cut = lines.find((l) => l.msg === 'drain timed out; cutting the work left');
      expect(cut).toMatchObject({ drain_timeout_ms: 200 });
      expect(cut?.models).toEqual([expect.objectContaining({ model: 'slow:1' })]);
    } finally {
      await repo.cleanup();
    }
  }, 60_000);
});

describe('liveness', () => {
  it('fails once a model has lost every worker beyond its restart budget, so Kubernetes restarts the pod', async () => {
    const repo = await createModelRepository([{ name: 'slow', version: '1', onnx: slowModel(4, 16) }]);
    try {
      const { server, url } = await startOriginServer({ modelRepository: repo.root, maxWorkerRestarts: 0 });
      try {
        expect((await fetch(`${url}/v2/health/live`)).status).toBe(200);
        await server.registry?.get('slow').killWorker(0);
        const res = await fetch(`${url}/v2/health/live`);
        expect(res.status).toBe(503);
        expect(await res.json()).toEqual({ live: false, unserviceable: ['slow:1'] });
        expect((await fetch(`${url}/v2/health/ready`)).status).toBe(503);
      } finally {
        await server.stop();
      }
    } finally {
      await repo.cleanup();
    }
  });
});
