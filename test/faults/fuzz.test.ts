/**
 * 10,000+ malformed or random requests against the real edge (workerd) and the origin process: zero 5xx, zero
 * crashes (both still live and ready afterwards), every error in the JSON shape. Seeded: failures reproduce.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Stack, startStack } from '../../scripts/stack.ts';
import { fuzzRequest, rng, runFuzz, signFuzz } from '../fuzz.ts';

const EDGE_N = Number(process.env.FUZZ_EDGE_N ?? 5000);
const ORIGIN_N = Number(process.env.FUZZ_ORIGIN_N ?? 5000);

let stack: Stack;
let key: string;

beforeAll(async () => {
  stack = await startStack({
    sharedState: 'test',
    edgeVars: { RATE_LIMIT_TIERS: JSON.stringify({ pro: { limit: 10_000_000, window: '60 s' } }) },
  });
  key = stack.apiKeys[0]?.key as string;
});

afterAll(async () => {
  await stack?.stop();
});

async function stillUp(): Promise<void> {
  for (const url of [stack.edgeUrl, ...stack.originUrls]) {
    const res = await fetch(`${url}/v2/health/live`);
    expect(res.status, url).toBe(200);
  }
  expect(stack.edge.process.exitCode).toBeNull();
  for (const o of stack.origins) expect(o.process.exitCode).toBeNull();
}

it(`edge: ${EDGE_N} fuzzed requests, zero 5xx, every error in the JSON shape`, async () => {
  const r = rng(0xed9e);
  const { failures, statuses } = await runFuzz(stack.edgeUrl, EDGE_N, 32, async () => fuzzRequest(r, key));
  expect(failures.slice(0, 20)).toEqual([]);
  expect(Object.values(statuses).reduce((a, b) => a + b, 0)).toBe(EDGE_N);
  // It reached past auth and validation too: some answers succeeded, and many kinds of refusal were seen.
  expect(statuses[200] ?? 0).toBeGreaterThan(0);
  expect(Object.keys(statuses).length).toBeGreaterThanOrEqual(5);
  await stillUp();
}, 600_000);

it(`origin: ${ORIGIN_N} fuzzed requests (half signed), zero 5xx, every error in the JSON shape`, async () => {
  const r = rng(0x0419);
  const origin = stack.originUrls[0] as string;
  const { failures, statuses } = await runFuzz(origin, ORIGIN_N, 32, async () => {
    const req = fuzzRequest(r, key);
    return r() < 0.5 ? signFuzz(req, stack.signingSecret) : req;
  });
  expect(failures.slice(0, 20)).toEqual([]);
  expect(Object.values(statuses).reduce((a, b) => a + b, 0)).toBe(ORIGIN_N);
  expect(statuses[200] ?? 0).toBeGreaterThan(0);
  expect(Object.keys(statuses).length).toBeGreaterThanOrEqual(5);
  await stillUp();
}, 600_000);
