/**
 * The origin killed (SIGKILL) under load through the real edge: answers keep coming, marked edge-degraded,
 * none past its deadline; once the origin is restarted, escalations are answered by it again.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Stack, startStack } from '../../scripts/stack.ts';
import { classify, loadLoop, type Sent } from '../helpers.ts';

const DEADLINE_MS = 2000;
// wrangler dev's local proxy and a busy 2-core machine: slack on top of the edge's own deadline.
const SLACK_MS = 1500;

let stack: Stack;
let key: string;

beforeAll(async () => {
  stack = await startStack({
    sharedState: 'test',
    edgeVars: {
      REQUEST_DEADLINE_MS: String(DEADLINE_MS),
      ORIGIN_TIMEOUT_MS: '1000',
      BREAKER_FAILURE_THRESHOLD: '3',
      BREAKER_COOLDOWN_MS: '1000',
      RATE_LIMIT_TIERS: JSON.stringify({ pro: { limit: 1_000_000, window: '60 s' } }),
    },
  });
  key = stack.apiKeys[0]?.key as string;
});

afterAll(async () => {
  await stack?.stop();
});

it('degrades to edge answers within the deadline while the origin is dead, and recovers after restart', async () => {
  const origin = stack.origins[0];
  if (origin === undefined) throw new Error('no origin');
  const run = Date.now();
  const send = (i: number) =>
    classify(
      stack.edgeUrl,
      key,
      [`Subject: load ${run} ${i} cheap loans now`],
      { 'x-escalate': 'always' },
      15_000,
    );

  let phase: 'before' | 'dead' = 'before';
  let stopAt = Number.POSITIVE_INFINITY;
  const loading = loadLoop(
    8,
    () => Date.now() > stopAt,
    async (i) => ({ phase, sent: await send(i) }),
  );
  await new Promise((r) => setTimeout(r, 2000));
  origin.kill('SIGKILL');
  await origin.exited();
  phase = 'dead';
  stopAt = Date.now() + 5000;
  const results = await loading;

  const failures = results.filter((r) => !r.ok);
  expect(failures.map((f) => String((f as { error: unknown }).error))).toEqual([]);
  const answers = results.flatMap((r) => (r.ok ? [r.value] : []));
  const dead = answers.filter((a) => a.phase === 'dead').map((a) => a.sent as Sent);
  expect(answers.filter((a) => a.phase === 'before').length).toBeGreaterThan(0);
  // Every request, including those in flight when the origin died, got an answer from the origin or the edge.
  for (const a of answers) {
    expect(a.sent.status, JSON.stringify(a.sent.body)).toBe(200);
    expect(['origin', 'edge-degraded']).toContain((a.sent.body as { served_by: string }).served_by);
  }
  expect(dead.length).toBeGreaterThan(20);
  for (const r of dead) {
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect((r.body as { served_by: string }).served_by).toBe('edge-degraded');
    expect(r.headers.get('x-degraded-reason')).toBeTruthy();
    expect(r.ms).toBeLessThan(DEADLINE_MS + SLACK_MS);
  }

  await origin.restart();
  let back: Sent | undefined;
  const until = Date.now() + 20_000;
  while (Date.now() < until) {
    back = await send(Date.now());
    if ((back.body as { served_by?: string }).served_by === 'origin') break;
    await new Promise((r) => setTimeout(r, 250));
  }
  expect((back?.body as { served_by?: string } | undefined)?.served_by).toBe('origin');
});
