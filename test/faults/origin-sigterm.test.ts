/**
 * SIGTERM on the origin under load loses no accepted request: requests it had accepted (signed, straight to the
 * origin) all complete with 200, and through the edge every request is answered (by the origin or, once it has
 * gone, degraded at the edge) with no error. The origin exits 0 after its drain.
 */
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { type Stack, startStack } from '../../scripts/stack.ts';
import { classify, loadLoop, originClassify, testMessages } from '../helpers.ts';

let stack: Stack;
let key: string;
const originLog: string[] = [];

beforeAll(async () => {
  stack = await startStack({
    sharedState: 'test',
    origins: 1,
    originEnv: { LOG_LEVEL: 'debug' },
    log: (label, line) => {
      if (label.startsWith('origin')) originLog.push(line);
    },
    edgeVars: {
      REQUEST_DEADLINE_MS: '3000',
      ORIGIN_TIMEOUT_MS: '2000',
      RATE_LIMIT_TIERS: JSON.stringify({ pro: { limit: 1_000_000, window: '60 s' } }),
    },
  });
  key = stack.apiKeys[0]?.key as string;
});

afterEach(async () => {
  // Each test ends with the origin gone: bring it back for the next one.
  const origin = stack?.origins[0];
  if (origin !== undefined && (origin.process.exitCode !== null || origin.process.signalCode !== null))
    await origin.restart();
});

afterAll(async () => {
  await stack?.stop();
});

it('completes every request the origin accepted before SIGTERM', async () => {
  const origin = stack.origins[0];
  if (origin === undefined) throw new Error('no origin');
  // Signed requests straight to the origin, each on a connection of its own and with its own x-request-id,
  // 16 long test-split messages each, from 16 workers until the origin has exited.
  const texts = testMessages()
    .slice(0, 16)
    .map((m) => m.text);
  let exited = false;
  const run = Date.now();
  const loading = loadLoop(
    16,
    () => exited,
    async (i) => {
      const id = `sigterm-${run}-${i}`;
      try {
        return { id, sent: await originClassify(origin.url, stack.signingSecret, texts, 30_000, true, id) };
      } catch (err) {
        throw Object.assign(new Error(`${id}: ${String(err)}`), {
          id,
          code: (err as { code?: string }).code,
        });
      }
    },
  );
  await new Promise((r) => setTimeout(r, 1500));
  origin.kill('SIGTERM');
  const code = await origin.exited();
  exited = true;
  const results = await loading;
  expect(code).toBe(0);
  const answered = results.flatMap((r) => (r.ok ? [r.value] : []));
  expect(answered.filter((r) => r.sent.status === 200).length).toBeGreaterThan(10);
  // Every answer is a success or, while draining, a clean 503 refusal; nothing else.
  for (const { sent } of answered) {
    if (sent.status !== 200) {
      expect(sent.status, JSON.stringify(sent.body)).toBe(503);
      expect(JSON.stringify(sent.body)).toMatch(/not_ready|unavailable/);
    }
  }
  // The origin logs (debug) every request its HTTP app took in, with its id and status. Each of those reached
  // the client with that status; a request that failed at the socket (refused, or reset in the accept backlog
  // before the app read it) must not be among them.
  const accepted = new Map<string, number>();
  for (const line of originLog) {
    try {
      const rec = JSON.parse(line) as { msg?: string; request_id?: string; status?: number };
      if (rec.msg === 'request' && rec.request_id?.startsWith(`sigterm-${run}-`))
        accepted.set(rec.request_id, rec.status ?? 0);
    } catch {
      // not a JSON log line
    }
  }
  expect(accepted.size).toBeGreaterThan(10);
  const got = new Map(answered.map((a) => [a.id, a.sent.status]));
  for (const [id, status] of accepted) expect(got.get(id), `accepted request ${id}`).toBe(status);
  const failed = results.flatMap((r) => (r.ok ? [] : [r.error as Error & { id: string; code?: string }]));
  for (const f of failed) {
    expect(accepted.has(f.id), `${f.message}: accepted by the origin but lost`).toBe(false);
    expect(['ECONNREFUSED', 'ECONNRESET', 'EPIPE']).toContain(f.code);
  }
});

it('answers every request through the edge while the origin drains on SIGTERM', async () => {
  const origin = stack.origins[0];
  if (origin === undefined) throw new Error('no origin');
  const run = Date.now();
  let stopAt = Number.POSITIVE_INFINITY;
  const loading = loadLoop(
    8,
    () => Date.now() > stopAt,
    (i) =>
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
