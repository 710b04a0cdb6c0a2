/**
 * SIGTERM on the origin under load loses no accepted request: requests it had accepted (signed, straight to the
 * origin) all complete with 200, and through the edge every request is answered (by the origin or, once it has
 * gone, degraded at the edge) with no error. The origin exits 0 after its drain.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Stack, startStack } from '../../scripts/stack.ts';
import { classify, loadLoop, originClassify, testMessages } from '../helpers.ts';

let stack: Stack;
let key: string;

beforeAll(async () => {
  stack = await startStack({
    sharedState: 'test',
    origins: 1,
    edgeVars: {
      REQUEST_DEADLINE_MS: '3000',
      ORIGIN_TIMEOUT_MS: '2000',
      RATE_LIMIT_TIERS: JSON.stringify({ pro: { limit: 1_000_000, window: '60 s' } }),
    },
  });
  key = stack.apiKeys[0]?.key as string;
});

afterAll(async () => {
  await stack?.stop();
});

it('completes every request the origin accepted before SIGTERM', async () => {
  const origin = stack.origins[0];
  if (origin === undefined) throw new Error('no origin');
  // Signed requests straight to the origin, 16 long test-split messages each, from 16 workers until it has exited.
  const texts = testMessages().slice(0, 16).map((m) => m.text);
  let exited = false;
  const loading = loadLoop(16, () => exited, () => originClassify(origin.url, stack.signingSecret, texts, 30_000));
  await new Promise((r) => setTimeout(r, 1500));
  origin.kill('SIGTERM');
  const code = await origin.exited();
  exited = true;
  const results = await loading;
  expect(code).toBe(0);
  const answered = results.flatMap((r) => (r.ok ? [r.value] : []));
  expect(answered.filter((r) => r.status === 200).length).toBeGreaterThan(10);
  // Every answer is a success or, while draining, a clean 503 not_ready refusal; nothing else.
  for (const r of answered) {
    if (r.status !== 200) {
      expect(r.status, JSON.stringify(r.body)).toBe(503);
      expect(JSON.stringify(r.body)).toMatch(/not_ready|unavailable/);
    }
  }
  // Failures are only refusals to connect once it stopped listening: no accepted request was dropped mid-way.
  const causes = results.flatMap((r) => (r.ok ? [] : [String((r.error as Error)?.cause ?? r.error)]));
  expect(causes.filter((c) => !c.includes('ECONNREFUSED'))).toEqual([]);
  await origin.restart();
});

it('answers every request through the edge while the origin drains on SIGTERM', async () => {
  const origin = stack.origins[0];
  if (origin === undefined) throw new Error('no origin');
  const run = Date.now();
  let stopAt = Number.POSITIVE_INFINITY;
  const loading = loadLoop(8, () => Date.now() > stopAt, (i) =>
    classify(stack.edgeUrl, key, [`Subject: drain ${run} ${i} hello`], { 'x-escalate': 'always' }, 15_000),
  );
  await new Promise((r) => setTimeout(r, 1500));
  origin.kill('SIGTERM');
  expect(await origin.exited()).toBe(0);
  stopAt = Date.now() + 2000;
  const results = await loading;
  expect(results.filter((r) => !r.ok).map((r) => String((r as { error: unknown }).error))).toEqual([]);
  const served = new Map<string, number>();
  for (const r of results) {
    if (!r.ok) continue;
    expect(r.value.status, JSON.stringify(r.value.body)).toBe(200);
    const by = (r.value.body as { served_by: string }).served_by;
    served.set(by, (served.get(by) ?? 0) + 1);
  }
  expect(served.get('origin') ?? 0).toBeGreaterThan(0);
  expect(served.get('edge-degraded') ?? 0).toBeGreaterThan(0);
});
