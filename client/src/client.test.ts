/**
 * The client against a real HTTP server on loopback (node:http): bearer auth, Retry-After on 429/503 within the
 * budget, the same Idempotency-Key on every try of a job submission, NDJSON read as it streams, ApiError's fields.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, createEdgeClient, ndjson, retryAfterMs, retryingFetch } from './index.ts';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  raw: Buffer;
}

let script: Array<(res: ServerResponse, seen: Seen) => void> = [];
const seen: Seen[] = [];
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const s = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      body: Buffer.concat(chunks).toString(),
      raw: Buffer.concat(chunks),
    };
    seen.push(s);
    const next = script.shift();
    if (next === undefined) {
      res.writeHead(500).end();
      return;
    }
    next(res, s);
  });
});
let base = '';

const json =
  (status: number, body: unknown, headers: Record<string, string> = {}) =>
  (res: ServerResponse) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
  };
const refusal = (status: number, code: string, retryAfter?: string) =>
  json(
    status,
    { error: { code, message: `scripted ${code}`, request_id: 'req-1' } },
    retryAfter === undefined ? {} : { 'retry-after': retryAfter },
  );
const answer = {
  model: 'spam',
  version: 'v1',
  predictions: [{ label: 'ham', score: 0.9, scores: { ham: 0.9, spam: 0.1 } }],
  served_by: 'edge',
  request_id: 'req-1',
};

beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

function reset(...steps: typeof script): void {
  script = steps;
  seen.length = 0;
}

const noWait = { sleep: async () => {} };

describe('createEdgeClient', () => {
  it('sends the key as a bearer token and types the answer', async () => {
    reset(json(200, answer));
    const edge = createEdgeClient({ baseUrl: `${base}/`, apiKey: 'test-key-1', retry: noWait });
    const out = await edge.classify('spam', ['hello'], { escalate: 'never', deadlineMs: 500 });
    expect(out.predictions[0]?.label).toBe('ham');
    expect(seen[0]).toMatchObject({
      method: 'POST',
      url: '/v1/models/spam/classify',
      body: '{"texts":["hello"]}',
    });
    expect(seen[0]?.headers.authorization).toBe('Bearer test-key-1');
    expect(seen[0]?.headers['x-escalate']).toBe('never');
    expect(seen[0]?.headers['x-deadline-ms']).toBe('500');
  });

  it('retries a 429 and a 503 after their Retry-After, sending the same body again', async () => {
    const waits: number[] = [];
    reset(refusal(429, 'rate_limited', '2'), refusal(503, 'unavailable', '1'), json(200, answer));
    const edge = createEdgeClient({
      baseUrl: base,
      apiKey: 'k',
      retry: { sleep: async (ms) => void waits.push(ms) },
    });
    await edge.classify('spam', ['again'], { version: 'v1' });
    expect(waits).toEqual([2000, 1000]);
    expect(seen.map((s) => s.body)).toEqual(Array(3).fill('{"texts":["again"]}'));
    expect(seen[2]?.url).toBe('/v1/models/spam/versions/v1/classify');
  });

  it('gives up after its retries, or when a wait would pass the budget, with the refusal as an ApiError', async () => {
    reset(
      refusal(429, 'rate_limited', '1'),
      refusal(429, 'rate_limited', '1'),
      refusal(429, 'rate_limited', '7'),
    );
    const edge = createEdgeClient({ baseUrl: base, retry: { retries: 2, ...noWait } });
    const err = await edge.classify('spam', ['x']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 429, code: 'rate_limited', requestId: 'req-1', retryAfter: 7 });
    expect(seen).toHaveLength(3);

    reset(refusal(503, 'unavailable', '60'));
    const budget = createEdgeClient({ baseUrl: base, retry: { budgetMs: 10_000, ...noWait } });
    await expect(budget.classify('spam', ['x'])).rejects.toMatchObject({ status: 503, code: 'unavailable' });
    expect(seen).toHaveLength(1);
  });

  it('does not retry other refusals', async () => {
    reset(refusal(403, 'forbidden'));
    const edge = createEdgeClient({ baseUrl: base, retry: noWait });
    await expect(edge.classify('spam', ['x'])).rejects.toMatchObject({ status: 403, code: 'forbidden' });
    expect(seen).toHaveLength(1);
  });

  it('submits a job as NDJSON with one Idempotency-Key on every try', async () => {
    reset(refusal(503, 'unavailable', '0'), json(202, { id: 'job_1', status: 'queued' }));
    const edge = createEdgeClient({ baseUrl: base, apiKey: 'k', retry: noWait });
    const job = await edge.submitJob('spam', ['one', 'two "quoted"']);
    expect(job).toMatchObject({ id: 'job_1' });
    expect(seen).toHaveLength(2);
    const keys = seen.map((s) => s.headers['idempotency-key']);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(keys[1]).toBe(keys[0]);
    expect(seen[1]?.headers['content-type']).toBe('application/x-ndjson');
    expect(seen[1]?.body).toBe('"one"\n"two \\"quoted\\""\n');
  });

  it("sends a job gzipped when asked, and names the server's message alone in ApiError.detail", async () => {
    reset(json(202, { id: 'job_2' }), refusal(413, 'payload_too_large'));
    const edge = createEdgeClient({ baseUrl: base, apiKey: 'k', retry: noWait });
    await edge.submitJob('spam', ['a', 'b'], { gzip: true, idempotencyKey: 'job-key-1' });
    expect(seen[0]?.headers['content-encoding']).toBe('gzip');
    expect(seen[0]?.headers['idempotency-key']).toBe('job-key-1');
    expect(gunzipSync(seen[0]?.raw as Buffer).toString()).toBe('"a"\n"b"\n');
    const err = (await edge.submitJob('spam', ['c']).catch((e: unknown) => e)) as ApiError;
    expect(err.detail).toBe('scripted payload_too_large');
    expect(err.message).toBe('413 payload_too_large: scripted payload_too_large');
  });

  it('reads job results as they stream, lines split across chunks', async () => {
    reset((res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write('{"i":0,"label":"ham"}\n{"i":1,');
      setTimeout(() => res.end('"label":"spam"}\n\n{"i":2}'), 20);
    });
    const edge = createEdgeClient({ baseUrl: base, apiKey: 'k', retry: noWait });
    const rows: unknown[] = [];
    for await (const row of edge.jobResults('job_1')) rows.push(row);
    expect(rows).toEqual([{ i: 0, label: 'ham' }, { i: 1, label: 'spam' }, { i: 2 }]);
    expect(seen[0]?.url).toBe('/v1/jobs/job_1/results');
  });

  it('refuses a base URL that is not http(s)', () => {
    expect(() => createEdgeClient({ baseUrl: 'edge.example.com' })).toThrow(TypeError);
  });
});

describe('retry helpers', () => {
  it('reads Retry-After as seconds or an HTTP date', () => {
    expect(retryAfterMs('3', 0)).toBe(3000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4_000)).toBe(6000);
    expect(retryAfterMs('soon', 0)).toBeUndefined();
    expect(retryAfterMs(null, 0)).toBeUndefined();
  });

  it('checks its options', () => {
    expect(() => retryingFetch({ retries: -1 })).toThrow(/retries must be an integer in 0..10, got -1/);
    expect(() => retryingFetch({ budgetMs: Number.NaN })).toThrow(/budgetMs/);
  });

  it('names the NDJSON line that is not JSON', async () => {
    const body = new Response('{"a":1}\nnot json\n').body;
    const read = async () => {
      for await (const _ of ndjson(body)) {
      }
    };
    await expect(read()).rejects.toThrow(/NDJSON line 2 is not JSON/);
  });
});
