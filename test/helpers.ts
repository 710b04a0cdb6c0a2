/**
 * Helpers shared by the end-to-end and fault tests (test/e2e, test/faults): requests through a running stack,
 * the JSON error shape check and test-split messages from the training corpus.
 */

import { request as httpRequest } from 'node:http';
import { type EdgeComponents, unwrap } from '../client/src/index.ts';
import { type AdminTarget, adminClient } from '../scripts/admin-client.ts';
import { signRequest } from '../shared/signing/index.ts';
import { RELEASE_RECIPE } from '../training/src/config.ts';
import { loadCorpus, type Message } from '../training/src/data/corpus.ts';
import { splitStratified } from '../training/src/data/split.ts';
import { edgeContract, holdTo } from './contract.ts';

export interface Sent {
  status: number;
  headers: Headers;
  body: unknown;
  ms: number;
}

/** POSTs `{texts}` to the edge's (or origin's) text API with the given key and headers; never throws on HTTP status. */
export async function classify(
  base: string,
  key: string | undefined,
  texts: string[],
  headers: Record<string, string> = {},
  timeoutMs = 30_000,
): Promise<Sent> {
  const t0 = performance.now();
  const res = await fetch(`${base}/v1/models/spam/classify`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(key === undefined ? {} : { authorization: `Bearer ${key}` }),
      ...headers,
    },
    body: JSON.stringify({ texts }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  const ms = performance.now() - t0;
  // In tests every answer is held to the edge's OpenAPI document (benchmarks skip the check's CPU).
  if (process.env.VITEST !== undefined)
    holdTo(edgeContract, 'POST', `${base}/v1/models/spam/classify`, res, text);
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // left as text: callers assert on the shape
  }
  return { status: res.status, headers: res.headers, body, ms };
}

const CODE = /^[a-z_]+$/;

/** True when `body` is exactly the system's error shape `{error:{code,message,request_id}}`. */
export function isErrorShape(body: unknown): boolean {
  if (typeof body !== 'object' || body === null) return false;
  const e = (body as { error?: unknown }).error;
  if (typeof e !== 'object' || e === null) return false;
  const { code, message, request_id } = e as Record<string, unknown>;
  return (
    typeof code === 'string' &&
    CODE.test(code) &&
    typeof message === 'string' &&
    typeof request_id === 'string'
  );
}

export function errorCode(body: unknown): string | undefined {
  return isErrorShape(body) ? (body as { error: { code: string } }).error.code : undefined;
}

let testSplit: Message[] | undefined;

/** The release recipe's test split (messages and labels), as training/src/evaluate.ts takes it. */
export function testMessages(): Message[] {
  testSplit ??= splitStratified(loadCorpus(), RELEASE_RECIPE.split).test;
  return testSplit;
}

/** The nearest-rank percentile of `values` (p in [0, 100]); NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

/**
 * POSTs `{texts}` straight to an origin, signed with the edge<->origin secret as the edge would. `fresh`: a new
 * TCP connection just for this request (no keep-alive reuse), so a refusal can only mean "never accepted".
 */
export async function originClassify(
  originUrl: string,
  secret: string,
  texts: string[],
  timeoutMs = 30_000,
  fresh = false,
  requestId?: string,
): Promise<Sent> {
  const path = '/v1/models/spam/classify';
  const body = JSON.stringify({ texts });
  const sig = await signRequest({ secret, method: 'POST', path, body });
  const headers: Record<string, string> = { 'content-type': 'application/json', ...sig };
  if (requestId !== undefined) headers['x-request-id'] = requestId;
  const t0 = performance.now();
  if (fresh) {
    const r = await postFresh(`${originUrl}${path}`, headers, body, timeoutMs);
    return { ...r, ms: performance.now() - t0 };
  }
  const res = await fetch(`${originUrl}${path}`, {
    method: 'POST',
    headers,
    body,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // left as text
  }
  return { status: res.status, headers: res.headers, body: parsed, ms: performance.now() - t0 };
}

/** Runs `send(i)` with `concurrency` workers until `stop()` says so; collects every result (or thrown error). */
export async function loadLoop<T>(
  concurrency: number,
  stop: () => boolean,
  send: (i: number) => Promise<T>,
): Promise<Array<{ ok: true; value: T; at: number } | { ok: false; error: unknown; at: number }>> {
  const out: Array<{ ok: true; value: T; at: number } | { ok: false; error: unknown; at: number }> = [];
  let i = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (!stop()) {
        const n = i++;
        const at = Date.now();
        try {
          out.push({ ok: true, value: await send(n), at });
        } catch (error) {
          out.push({ ok: false, error, at });
        }
      }
    }),
  );
  return out;
}

/** One POST on a connection of its own (`agent: false`, `Connection: close`). */
function postFresh(
  url: string,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
): Promise<Omit<Sent, 'ms'>> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: 'POST', agent: false, headers: { ...headers, connection: 'close' }, timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // left as text
          }
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h.set(k, v);
          resolve({ status: res.statusCode ?? 0, headers: h, body: parsed });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Labels every pending spam review item whose text `truth` knows (text -> label), through the reviewer API; returns how many were queued and labelled. */
export async function labelReviewQueue(
  target: AdminTarget,
  truth: ReadonlyMap<string, string>,
): Promise<{ queued: number; labelled: number }> {
  const edge = adminClient(target);
  let cursor: string | null = '0';
  let queued = 0;
  const ids: Array<[string, string]> = [];
  while (cursor !== null) {
    const query = { model: 'spam', state: 'pending', limit: 50, cursor } as const;
    const page: EdgeComponents['schemas']['ReviewPage'] = unwrap(
      await edge.GET('/v1/review', { params: { query } }),
    );
    queued += page.items.length;
    for (const item of page.items) {
      const label = truth.get(item.text);
      if (label !== undefined) ids.push([item.id, label]);
    }
    cursor = page.cursor;
  }
  for (const [id, label] of ids) {
    unwrap(await edge.POST('/v1/review/{id}', { params: { path: { id } }, body: { label } }));
  }
  return { queued, labelled: ids.length };
}
