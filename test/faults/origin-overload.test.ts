/**
 * The origin overloaded (a tiny queue and batch) under a burst of escalations through the real edge: every
 * request ends, none hangs: 200 (origin or edge-degraded), or 429/503 with Retry-After, all within the deadline.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Stack, startStack } from '../../scripts/stack.ts';
import { classify, isErrorShape, originClassify, testMessages } from '../helpers.ts';

const DEADLINE_MS = 2000;
// wrangler dev's proxy and workerd's single isolate queue a burst before the Worker's own deadline clock starts.
const SLACK_MS = 3000;

let stack: Stack;
let key: string;

beforeAll(async () => {
  stack = await startStack({
    sharedState: 'test',
    // Featurizing inline (no featurizer thread): a burst reaches the batcher's tiny queue at once. With the thread
    // (niced, so the model run keeps up), the queue may never overflow and the test would not overload anything.
    originEnv: { ORIGIN_MAX_QUEUE: '8', ORIGIN_MAX_BATCH: '8', ORIGIN_FEATURIZE_WORKERS: '0' },
    edgeVars: {
      REQUEST_DEADLINE_MS: String(DEADLINE_MS),
      ORIGIN_TIMEOUT_MS: '1500',
      RATE_LIMIT_TIERS: JSON.stringify({ pro: { limit: 1_000_000, window: '60 s' } }),
    },
  });
  key = stack.apiKeys[0]?.key as string;
});

afterAll(async () => {
  await stack?.stop();
});

it('the origin itself sheds load with 429 queue_full and Retry-After', async () => {
  const origin = stack.origins[0];
  if (origin === undefined) throw new Error('no origin');
  const texts = testMessages()
    .slice(0, 8)
    .map((m) => m.text);
  const results = await Promise.all(
    Array.from({ length: 64 }, () => originClassify(origin.url, stack.signingSecret, texts, 20_000)),
  );
  const shed = results.filter((r) => r.status !== 200);
  expect(shed.length).toBeGreaterThan(0);
  for (const r of shed) {
    expect([429, 503]).toContain(r.status);
    expect(isErrorShape(r.body), JSON.stringify(r.body)).toBe(true);
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  }
});

it('through the edge: 200 (origin or degraded) or 429/503 with Retry-After, never a hang', async () => {
  const texts = testMessages()
    .slice(0, 8)
    .map((m) => m.text);
  const run = Date.now();
  const results = await Promise.all(
    Array.from({ length: 40 }, (_, i) =>
      classify(
        stack.edgeUrl,
        key,
        [...texts.slice(1), `${run} ${i}`],
        { 'x-escalate': 'always' },
        DEADLINE_MS + SLACK_MS + 5000,
      ),
    ),
  );
  const kinds = new Map<string, number>();
  for (const r of results) {
    expect(r.ms).toBeLessThan(DEADLINE_MS + SLACK_MS);
    if (r.status === 200) {
      const by = (r.body as { served_by: string }).served_by;
      expect(['origin', 'edge-degraded']).toContain(by);
      kinds.set(by, (kinds.get(by) ?? 0) + 1);
    } else {
      expect([429, 503]).toContain(r.status);
      expect(isErrorShape(r.body), JSON.stringify(r.body)).toBe(true);
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      kinds.set(String(r.status), (kinds.get(String(r.status)) ?? 0) + 1);
    }
  }
  // The burst did overload it: not everything was answered by the origin.
  expect(kinds.get('origin') ?? 0).toBeLessThan(results.length);
});
