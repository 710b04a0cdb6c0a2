/**
 * Asynchronous jobs through the whole app in workerd: inputs streamed into the local R2, job state in the real
 * Durable Object (SQLite storage), chunks through the queue consumer (createMessageBatch / getQueueResult drive the
 * messages the submission produced), the cascade answering through a real loopback origin.
 */
import {
  createExecutionContext,
  createMessageBatch,
  getQueueResult,
  runInDurableObject,
} from 'cloudflare:test';
import { env as bindings } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { MemoryNonceStore, verifyRequest } from '../../../shared/signing/index.ts';
import { createJobConsumer, type JobApp, RowsDegraded } from '../../src/jobs/consumer.ts';
import {
  type ChunkMessage,
  type JobCoordinator,
  type JobView,
  MAX_ATTEMPTS,
  STUCK_MS,
} from '../../src/jobs/coordinator.ts';
import { webhookSecretFor } from '../../src/jobs/webhook.ts';
import { TEST_WEBHOOK_SECRET } from '../node/secrets.ts';
import {
  apiKey,
  behave,
  classifyRequest,
  keysJson,
  newOrigins,
  originLog,
  testApp,
  testEnv,
  tinyRelease,
  unique,
} from './harness.ts';

type ErrorJson = { error: { code: string; message: string } };
type Job = JobView & { status_url: string; results_url: string };

async function world(options: { env?: Record<string, string>; tier?: string } = {}) {
  const owner = await apiKey({ tier: options.tier ?? 'pro' });
  const other = await apiKey();
  const admin = await apiKey({ scopes: ['admin', 'infer'], models: ['*'] });
  const [origin] = await newOrigins(1);
  const env = testEnv({
    API_KEYS: keysJson(owner, other, admin),
    ORIGIN_URLS: origin as string,
    ...options.env,
  });
  const release = await tinyRelease();
  const sent: ChunkMessage[] = [];
  const queue = {
    send: async (body: ChunkMessage) => {
      sent.push(body);
    },
    sendBatch: async (messages: Iterable<{ body: ChunkMessage }>) => {
      for (const m of messages) sent.push(m.body);
    },
  } as unknown as Queue;
  const t = testApp({ releases: () => [release], stats: { flushMs: 0 }, jobsQueue: () => queue });
  const call = (
    key: string,
    method: string,
    path: string,
    body?: BodyInit,
    headers: Record<string, string> = {},
  ) =>
    t.call(
      new Request(`https://edge.test${path}`, {
        method,
        headers: { authorization: `Bearer ${key}`, ...headers },
        ...(body === undefined ? {} : { body }),
      }),
      env,
    );
  const submit = (key: string, lines: string[], headers: Record<string, string> = {}) =>
    call(key, 'POST', '/v1/models/spam/jobs', `${lines.join('\n')}\n`, {
      'content-type': 'application/x-ndjson',
      ...headers,
    });
  let ids = 0;
  /** Delivers messages to the consumer (as the queue would) and returns the queue's verdict per message. */
  const deliver = async (
    messages: ChunkMessage[],
    options: { app?: JobApp; queueName?: string; attempts?: number } = {},
  ) => {
    const batch = createMessageBatch<ChunkMessage>(
      options.queueName ?? 'inference-jobs',
      messages.map((body) => ({
        id: `m${ids++}`,
        timestamp: Date.now(),
        attempts: options.attempts ?? 1,
        body,
      })),
    );
    const ctx = createExecutionContext();
    await createJobConsumer(options.app ?? t.app)(batch, env, ctx);
    return getQueueResult(batch, ctx);
  };
  const status = async (key = owner.key, id?: string) => {
    const res = await call(key, 'GET', `/v1/jobs/${id ?? sent[0]?.job}`);
    return { status: res.status, body: (await res.json()) as Job & ErrorJson };
  };
  const results = async (id: string, key = owner.key) => {
    const res = await call(key, 'GET', `/v1/jobs/${id}/results`);
    const text = await res.text();
    return {
      status: res.status,
      type: res.headers.get('content-type'),
      lines:
        res.status === 200
          ? text
              .trim()
              .split('\n')
              .map((l) => JSON.parse(l) as Record<string, unknown>)
          : [],
      text,
    };
  };
  return {
    owner,
    other,
    admin,
    env,
    t,
    origin: origin as string,
    sent,
    call,
    submit,
    deliver,
    status,
    results,
  };
}

/** Texts the tiny student answers at the edge ("spam ...", "ham ...") or sends to the origin (other words). */
const texts = (n: number, tag = unique()) =>
  Array.from({ length: n }, (_, i) =>
    i % 3 === 0 ? `spam ${tag}${i}` : i % 3 === 1 ? `ham ${tag}${i}` : `maybe ${tag}${i}`,
  );
const ndjson = (ts: string[]) =>
  ts.map((t, i) => (i % 2 === 0 ? JSON.stringify(t) : JSON.stringify({ text: t })));

describe('asynchronous jobs (whole app, local R2, Durable Object, queue consumer, loopback origin)', () => {
  it('submit -> progress -> results in input order, equal to the synchronous answers', async () => {
    const w = await world();
    const inputs = texts(600);
    const res = await w.submit(w.owner.key, ndjson(inputs));
    expect(res.status).toBe(202);
    const job = (await res.json()) as Job;
    expect(job).toMatchObject({
      status: 'queued',
      progress: { rows_total: 600, rows_done: 0, chunks_total: 3 },
    });
    expect(res.headers.get('location')).toBe(`/v1/jobs/${job.id}`);
    expect(w.sent.map((m) => m.chunk)).toEqual([0, 1, 2]);
    expect((await w.results(job.id)).status).toBe(409); // not finished yet

    const first = await w.deliver(w.sent.slice(0, 1));
    expect(first.explicitAcks).toHaveLength(1);
    expect((await w.status()).body).toMatchObject({
      status: 'running',
      progress: { rows_done: 256, chunks_done: 1 },
    });
    await w.deliver(w.sent.slice(1));
    const done = (await w.status()).body;
    expect(done).toMatchObject({
      status: 'succeeded',
      progress: { rows_done: 600, chunks_done: 3, chunks_failed: 0 },
    });
    expect(done.served_by).toEqual({ edge: 400, origin: 200 });
    expect(done.finished_at).not.toBeNull();

    const out = await w.results(job.id);
    expect(out.type).toBe('application/x-ndjson');
    expect(out.lines.map((l) => l.index)).toEqual(inputs.map((_, i) => i));
    // The same items one by one through the synchronous API: same labels, same path.
    for (const i of [0, 1, 2, 255, 256, 599]) {
      const sync = await w.t.call(
        classifyRequest(w.owner.key, { text: inputs[i] }, { 'cache-control': 'no-cache' }),
        w.env,
      );
      const body = (await sync.json()) as { predictions: Array<{ label: string; served_by: string }> };
      expect(out.lines[i], `row ${i}`).toMatchObject({
        label: body.predictions[0]?.label,
        served_by: body.predictions[0]?.served_by,
      });
    }
  });

  it('a chunk delivered twice writes its results once; a consumer that throws is retried, then succeeds', async () => {
    const w = await world();
    const job = (await (await w.submit(w.owner.key, ndjson(texts(300)))).json()) as Job;
    const [c0, c1] = w.sent as [ChunkMessage, ChunkMessage];
    await w.deliver([c0, c0]);
    expect((await w.status()).body.progress).toMatchObject({ rows_done: 256, chunks_done: 1 });
    // The first delivery of chunk 1 throws inside the app: retried with a backoff, the chunk back to queued.
    let calls = 0;
    const flaky: JobApp = {
      fetch: (req, env, ctx) => {
        if (calls++ === 0) throw new Error('isolate lost');
        return w.t.app.fetch(req, env, ctx);
      },
    };
    const failed = await w.deliver([c1], { app: flaky });
    expect(failed.retryMessages).toHaveLength(1);
    expect((await w.status()).body).toMatchObject({ status: 'running', progress: { chunks_done: 1 } });
    await w.deliver([c1], { app: flaky, attempts: 2 });
    expect((await w.status()).body).toMatchObject({ status: 'succeeded', progress: { rows_done: 300 } });
    expect((await w.results(job.id)).lines).toHaveLength(300);
  });

  it('a poison chunk goes to the dead-letter queue: the job is partially_failed, its rows keep their places as errors', async () => {
    const w = await world();
    const job = (await (await w.submit(w.owner.key, ndjson(texts(300)))).json()) as Job;
    await w.deliver([w.sent[0] as ChunkMessage]);
    const dead = await w.deliver([w.sent[1] as ChunkMessage], { queueName: 'inference-jobs-dlq' });
    expect(dead.explicitAcks).toHaveLength(1);
    // A message that is not {job, chunk} is acknowledged and ignored, on either queue.
    const junk = await w.deliver([
      { nope: true } as unknown as ChunkMessage,
      null as unknown as ChunkMessage,
    ]);
    expect(junk.explicitAcks).toHaveLength(2);
    const s = (await w.status()).body;
    expect(s).toMatchObject({ status: 'partially_failed', progress: { chunks_done: 1, chunks_failed: 1 } });
    expect(s.errors).toEqual([
      { chunk: 1, first_row: 256, last_row: 299, error: 'dead-lettered after the queue retries' },
    ]);
    const out = await w.results(job.id);
    expect(out.lines).toHaveLength(300);
    expect(out.lines[256]).toEqual({
      index: 256,
      error: { code: 'chunk_failed', message: 'dead-lettered after the queue retries' },
    });
  });

  it('the origin down mid-job: rows with no origin are retried later, then answered by the edge, marked degraded', async () => {
    const w = await world();
    const job = (await (await w.submit(w.owner.key, ndjson(texts(300)))).json()) as Job;
    await w.deliver([w.sent[0] as ChunkMessage]);
    await behave(w.origin, { default: { drop: true } });
    // A job has no latency pressure: its first deliveries wait for the origin (a backoff of seconds) instead of
    // accepting degraded rows; the chunk goes back to queued, nothing written.
    for (const attempts of [1, 2]) {
      const verdict = await w.deliver([w.sent[1] as ChunkMessage], { attempts });
      expect(verdict.retryMessages).toHaveLength(1);
      // The queue's delay (getQueueResult does not report it): 5 s, then 10 s.
      expect(new RowsDegraded(15, 44, attempts).delaySeconds).toBe(5 * attempts);
      expect((await w.status()).body).toMatchObject({ status: 'running', progress: { chunks_done: 1 } });
    }
    // Still down on the last delivery it waits for: the edge answers, marked degraded. Nothing is lost.
    await w.deliver([w.sent[1] as ChunkMessage], { attempts: 3 });
    const s = (await w.status()).body;
    expect(s.status).toBe('succeeded');
    // Rows 256..299 of the "maybe" kind (index % 3 === 2) are the unsure ones: 15 of them.
    expect(s.served_by['edge-degraded']).toBe(15);
    const out = await w.results(job.id);
    expect(out.lines).toHaveLength(300);
    expect(out.lines.slice(256).every((l) => l.served_by === 'edge' || l.served_by === 'edge-degraded')).toBe(
      true,
    );
  });

  it('the origin back within the retries: a job that met a dead origin ends with every row answered by a model', async () => {
    const w = await world();
    const job = (await (await w.submit(w.owner.key, ndjson(texts(300)))).json()) as Job;
    await w.deliver([w.sent[0] as ChunkMessage]);
    await behave(w.origin, { default: { drop: true } });
    expect((await w.deliver([w.sent[1] as ChunkMessage])).retryMessages).toHaveLength(1);
    await behave(w.origin, { default: {} });
    await w.deliver([w.sent[1] as ChunkMessage], { attempts: 2 });
    const s = (await w.status()).body;
    expect(s.status).toBe('succeeded');
    expect(s.served_by['edge-degraded'] ?? 0).toBe(0);
    expect((await w.results(job.id)).lines).toHaveLength(300);
  });

  it('cancellation: the job is cancelled, its chunks are skipped, it has no results', async () => {
    const w = await world();
    const job = (await (await w.submit(w.owner.key, ndjson(texts(300)))).json()) as Job;
    const res = await w.call(w.owner.key, 'DELETE', `/v1/jobs/${job.id}`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as Job).status).toBe('cancelled');
    const after = await w.deliver(w.sent);
    expect(after.explicitAcks).toHaveLength(2);
    expect((await w.status()).body).toMatchObject({ status: 'cancelled', progress: { rows_done: 0 } });
    expect((await w.results(job.id)).status).toBe(409);
    const listed = await bindings.JOBS_BUCKET.list({ prefix: `jobs/${w.owner.record.id}/${job.id}/` });
    expect(listed.objects).toEqual([]);
  });

  it('Idempotency-Key: a retried submission returns the same job, stored once', async () => {
    const w = await world();
    const lines = ndjson(texts(10));
    const key = `retry-${unique()}`;
    const a = await w.submit(w.owner.key, lines, { 'idempotency-key': key });
    const b = await w.submit(w.owner.key, lines, { 'idempotency-key': key });
    expect([a.status, b.status]).toEqual([202, 202]);
    const [ja, jb] = [(await a.json()) as Job, (await b.json()) as Job];
    expect(jb.id).toBe(ja.id);
    expect(b.headers.get('idempotent-replayed')).toBe('true');
    expect(w.sent).toHaveLength(1);
    // Another key with the same Idempotency-Key gets its own job.
    const c = (await (await w.submit(w.other.key, lines, { 'idempotency-key': key })).json()) as Job;
    expect(c.id).not.toBe(ja.id);
    // The same key for another model is a conflict.
    const d = await w.call(w.owner.key, 'POST', '/v1/models/spam/versions/tiny-1/jobs', lines.join('\n'), {
      'content-type': 'application/x-ndjson',
      'idempotency-key': key,
    });
    expect(d.status).toBe(409);
  });

  it('another key may not read, cancel or list a job (403); an admin may; an unknown id is 404', async () => {
    const w = await world();
    const job = (await (await w.submit(w.owner.key, ndjson(texts(5)))).json()) as Job;
    for (const [method, path] of [
      ['GET', `/v1/jobs/${job.id}`],
      ['GET', `/v1/jobs/${job.id}/results`],
      ['DELETE', `/v1/jobs/${job.id}`],
      ['GET', `/v1/jobs?owner=${w.owner.record.id}`],
    ] as const) {
      const res = await w.call(w.other.key, method, path);
      expect({ path, method, status: res.status }).toEqual({ path, method, status: 403 });
    }
    expect((await w.status(w.admin.key, job.id)).status).toBe(200);
    const listed = await w.call(w.admin.key, 'GET', `/v1/jobs?owner=${w.owner.record.id}`);
    expect(((await listed.json()) as { jobs: Job[] }).jobs.map((j) => j.id)).toEqual([job.id]);
    const own = await w.call(w.owner.key, 'GET', '/v1/jobs');
    expect(((await own.json()) as { jobs: Job[] }).jobs.map((j) => j.id)).toEqual([job.id]);
    expect((await w.status(w.owner.key, 'job_0123456789abcdef0123456789abcdef')).status).toBe(404);
    expect((await w.status(w.owner.key, '..%2F..%2Fadmin')).status).toBe(404);
    // A cursor that is not one of this list's: never a 500 (local R2 ignores it; production R2 refuses it: 400).
    const badCursor = await w.call(w.owner.key, 'GET', '/v1/jobs?cursor=not-a-cursor%00');
    expect(badCursor.status).toBeLessThan(500);
    expect(await badCursor.json()).toBeTypeOf('object');
  });

  it('oversized jobs are 413 naming the limit; malformed lines are 400 naming the line, with nothing stored', async () => {
    const w = await world({ env: { JOB_MAX_ROWS: '20', JOB_MAX_BYTES: '4000' } });
    const rows = await w.submit(w.owner.key, ndjson(texts(21)));
    expect(rows.status).toBe(413);
    expect(((await rows.json()) as ErrorJson).error.message).toMatch(/more than 20 rows \(JOB_MAX_ROWS\)/);
    const bytes = await w.submit(w.owner.key, [JSON.stringify('x'.repeat(5000))]);
    expect(bytes.status).toBe(413);
    expect(((await bytes.json()) as ErrorJson).error.message).toMatch(/over 4000 bytes \(JOB_MAX_BYTES\)/);
    for (const [lines, line] of [
      [['"a"', '"b"', '{"text": 3}'], 3],
      [['"a"', '{"text": "b"', '"c"'], 2],
      [['"a"', '[1, 2]'], 2],
      [['{"text": "a", "extra": 1}'], 1],
      [['"a"', 'NaN'], 2],
    ] as const) {
      const res = await w.submit(w.owner.key, [...lines]);
      const body = (await res.json()) as ErrorJson;
      expect({ status: res.status, code: body.error.code }).toEqual({ status: 400, code: 'invalid_input' });
      expect(body.error.message).toMatch(new RegExp(`^line ${line}: `));
    }
    const invalidUtf8 = await w.call(
      w.owner.key,
      'POST',
      '/v1/models/spam/jobs',
      new Uint8Array([0x22, 0xff, 0x22, 0x0a]),
      {
        'content-type': 'application/x-ndjson',
      },
    );
    expect(invalidUtf8.status).toBe(400);
    const listed = await bindings.JOBS_BUCKET.list({ prefix: `jobs/${w.owner.record.id}/` });
    expect(listed.objects).toEqual([]);
    expect(w.sent).toEqual([]);
  });

  it('bad submissions: wrong content type 415, empty 400, JSON {"texts"} works, unknown model 403', async () => {
    const w = await world();
    expect(
      (await w.call(w.owner.key, 'POST', '/v1/models/spam/jobs', 'a\nb', { 'content-type': 'text/plain' }))
        .status,
    ).toBe(415);
    expect((await w.submit(w.owner.key, [''])).status).toBe(400);
    const json = await w.call(
      w.owner.key,
      'POST',
      '/v1/models/spam/jobs',
      JSON.stringify({ texts: texts(3) }),
      {
        'content-type': 'application/json',
      },
    );
    expect(json.status).toBe(202);
    expect(((await json.json()) as Job).progress.rows_total).toBe(3);
    const notMine = await w.call(w.owner.key, 'POST', '/v1/models/phishing/jobs', '"a"\n', {
      'content-type': 'application/x-ndjson',
    });
    expect(notMine.status).toBe(403);
    expect((await w.call(w.owner.key, 'PUT', '/v1/models/spam/jobs', '"a"')).status).toBe(405);
    // gzip: the limits count decompressed bytes; a body that does not decompress is a 400.
    const plain = new Blob([`${ndjson(texts(300)).join('\n')}\n`]).stream();
    const gz = await new Response(plain.pipeThrough(new CompressionStream('gzip'))).arrayBuffer();
    const zipped = await w.call(w.owner.key, 'POST', '/v1/models/spam/jobs', gz, {
      'content-type': 'application/x-ndjson',
      'content-encoding': 'gzip',
    });
    expect(zipped.status).toBe(202);
    expect(((await zipped.json()) as Job).progress).toMatchObject({ rows_total: 300, chunks_total: 2 });
    const broken = await w.call(
      w.owner.key,
      'POST',
      '/v1/models/spam/jobs',
      new Uint8Array([0x1f, 0x8b, 1, 2, 3]),
      {
        'content-type': 'application/x-ndjson',
        'content-encoding': 'gzip',
      },
    );
    expect(broken.status).toBe(400);
    const br = await w.call(w.owner.key, 'POST', '/v1/models/spam/jobs', 'x', {
      'content-type': 'application/x-ndjson',
      'content-encoding': 'br',
    });
    expect(br.status).toBe(415);
  });

  it("jobs count against the key's daily row quota (429 naming it), not the request rate limit", async () => {
    const tiers = JSON.stringify({
      small: { limit: 1000, window: '60 s', job_rows_per_day: 100 },
      pro: { limit: 1000, window: '60 s' },
    });
    const w = await world({ env: { RATE_LIMIT_TIERS: tiers }, tier: 'small' });
    expect((await w.submit(w.owner.key, ndjson(texts(60)))).status).toBe(202);
    const over = await w.submit(w.owner.key, ndjson(texts(60)));
    expect(over.status).toBe(429);
    const refusal = (await over.json()) as ErrorJson;
    // A daily quota is quota_exceeded (rate_limited is the request rate), as for the tenant's item quotas.
    expect(refusal.error.code).toBe('quota_exceeded');
    expect(refusal.error.message).toMatch(/quota of 100 job rows per day \(tier small, 60 used today\)/);
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await w.submit(w.owner.key, ndjson(texts(40)))).status).toBe(202);
  });

  it('a chunk stuck running (its consumer died) is sent again after the stuck timeout, then failed: no job runs forever', async () => {
    const w = await world();
    const job = (await (await w.submit(w.owner.key, ndjson(texts(10)))).json()) as Job;
    const stub = bindings.JOBS.get(bindings.JOBS.idFromName(job.id));
    const resent: unknown[] = [];
    const queue = {
      sendBatch: async (m: Iterable<unknown>) => void resent.push(...m),
    } as unknown as Pick<Queue, 'sendBatch'>;
    await runInDurableObject(stub, async (instance: JobCoordinator) => {
      expect(await instance.claim(0)).toMatchObject({ run: true, attempt: 1 });
      // A second delivery while it runs is skipped; nothing is stuck yet.
      expect(await instance.claim(0)).toEqual({ run: false, why: 'running' });
      expect(await instance.requeueStuck(Date.now(), queue)).toEqual({ requeued: [], failed: [] });
      const stale = () => Date.now() + STUCK_MS + 1;
      expect(await instance.requeueStuck(stale(), queue)).toEqual({ requeued: [0], failed: [] });
      expect(resent).toEqual([{ body: { job: job.id, chunk: 0 } }]);
      // Each later delivery dies too: sent again until MAX_ATTEMPTS, then failed.
      for (let attempt = 2; attempt <= MAX_ATTEMPTS; attempt++) {
        expect(await instance.claim(0)).toMatchObject({ run: true, attempt });
        const last = attempt === MAX_ATTEMPTS;
        expect(await instance.requeueStuck(stale(), queue)).toEqual(
          last ? { requeued: [], failed: [0] } : { requeued: [0], failed: [] },
        );
      }
    });
    expect((await w.status()).body).toMatchObject({
      status: 'failed',
      errors: [{ chunk: 0, error: `no result after ${MAX_ATTEMPTS} attempts (stuck)` }],
    });
  });

  it("completion webhook: signed with the key's own secret, retried after a failure, recorded in the status", async () => {
    const w = await world();
    const [hooks] = await newOrigins(1);
    // A receiver, not an origin: scripted bodies (the fake origin would refuse the webhook's signature with 401).
    await behave(hooks as string, { queue: [{ status: 500, body: {} }], default: { status: 204, body: '' } });
    const confident = Array.from({ length: 20 }, (_, i) => `${i % 2 === 0 ? 'spam' : 'ham'} ${unique()}`);
    for (const bad of [
      'http://example.com/hook',
      'ftp://127.0.0.1/x',
      'not a url',
      'https://u:p@example.com/',
    ]) {
      expect((await w.submit(w.owner.key, ndjson(confident), { 'x-webhook-url': bad })).status, bad).toBe(
        400,
      );
    }
    const res = await w.submit(w.owner.key, ndjson(confident), {
      'x-webhook-url': `${hooks}/hooks/jobs?k=1`,
    });
    const job = (await res.json()) as Job;
    expect(job.webhook).toMatchObject({ state: 'waiting', attempts: 0 });
    await w.deliver(w.sent);
    const stub = bindings.JOBS.get(bindings.JOBS.idFromName(job.id));
    // The first attempt is due at once: the DO's alarm may make it by itself, or this call does (never both).
    const hookState = async () => (await w.status()).body.webhook;
    for (let wait = 0; (await hookState())?.attempts === 0 && wait < 100; wait++) {
      await runInDurableObject(stub, (i: JobCoordinator) => i.deliverDueWebhook(Date.now()));
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await hookState()).toMatchObject({ state: 'pending', attempts: 1, last_status: 500 });
    // The retry is due 30 s later.
    const at = (ms: number) =>
      runInDurableObject(stub, (i: JobCoordinator) => i.deliverDueWebhook(Date.now() + ms));
    expect(await at(1000)).toBe('pending');
    expect(await at(31_000)).toBe('delivered');
    expect((await w.status()).body.webhook).toMatchObject({
      state: 'delivered',
      attempts: 2,
      last_status: 204,
    });
    const got = (await originLog(hooks as string)).filter((r) => r.path.startsWith('/hooks/'));
    expect(got.map((r) => r.path)).toEqual(['/hooks/jobs?k=1', '/hooks/jobs?k=1']);
    const secret = await webhookSecretFor(TEST_WEBHOOK_SECRET, w.owner.record.id);
    for (const r of got) {
      const verified = await verifyRequest({
        secret,
        method: 'POST',
        path: r.path,
        body: r.body,
        headers: r.headers,
        nonceStore: new MemoryNonceStore(),
      });
      expect(verified).toEqual({ ok: true });
      expect(JSON.parse(r.body)).toMatchObject({
        event: 'job.finished',
        job: { id: job.id, status: 'succeeded' },
      });
    }
    // Each key reads its own secret; another key's differs.
    const mine = (await (await w.call(w.owner.key, 'GET', '/v1/jobs/webhook-secret')).json()) as {
      secret: string;
    };
    const theirs = (await (await w.call(w.other.key, 'GET', '/v1/jobs/webhook-secret')).json()) as {
      secret: string;
    };
    expect(mine.secret).toBe(secret);
    expect(theirs.secret).not.toBe(secret);
  });

  it('a tensor model takes rows: one {"input": [...]} per line, answered through the OIP route, row by row', async () => {
    const owner = await apiKey({ models: ['*'] });
    const [origin] = await newOrigins(1);
    const env = testEnv({ API_KEYS: keysJson(owner), ORIGIN_URLS: origin as string });
    const release = await tinyRelease({ version: 't1', tensor: true });
    const mixed = await tinyRelease({ version: 'm1', tensor: 'mixed' });
    const model = `t${unique()}`;
    const sent: ChunkMessage[] = [];
    const queue = {
      sendBatch: async (m: Iterable<{ body: ChunkMessage }>) => void sent.push(...[...m].map((x) => x.body)),
    };
    const t = testApp({
      releases: () => [
        { ...release, manifest: { ...release.manifest, name: model } },
        { ...mixed, manifest: { ...mixed.manifest, name: `${model}-mixed` } },
      ],
      stats: { flushMs: 0 },
      jobsQueue: () => queue as unknown as Queue,
    });
    const submit = (m: string, lines: string[], type = 'application/x-ndjson') =>
      t.call(
        new Request(`https://edge.test/v1/models/${m}/jobs`, {
          method: 'POST',
          headers: { authorization: `Bearer ${owner.key}`, 'content-type': type },
          body: `${lines.join('\n')}\n`,
        }),
        env,
      );
    const rows = [
      [3, 0, 0],
      [0, 3, 0],
      [0, 0, 1],
      [[4], [0], [0]],
    ];
    const res = await submit(
      model,
      rows.map((x) => JSON.stringify({ x })),
    );
    expect(res.status).toBe(202);
    const job = (await res.json()) as Job;
    const batch = createMessageBatch<ChunkMessage>(
      'inference-jobs',
      sent.map((body, i) => ({ id: `t${i}`, timestamp: Date.now(), attempts: 1, body })),
    );
    const ctx = createExecutionContext();
    await createJobConsumer(t.app)(batch, env, ctx);
    await getQueueResult(batch, ctx);
    const out = await t.call(
      new Request(`https://edge.test/v1/jobs/${job.id}/results`, {
        headers: { authorization: `Bearer ${owner.key}` },
      }),
      env,
    );
    const lines = (await out.text())
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            index: number;
            label: string;
            served_by: string;
            scores: Record<string, number>;
          },
      );
    expect(lines.map((l) => [l.index, l.label, l.served_by])).toEqual([
      [0, 'spam', 'edge'],
      [1, 'ham', 'edge'],
      [2, expect.any(String), 'origin'],
      [3, 'spam', 'edge'],
    ]);
    expect(Object.keys(lines[0]?.scores ?? {})).toEqual(['ham', 'spam']);

    for (const [line, message] of [
      ['{"x": [1, 2]}', /^line 1: input x holds 2 values; one row holds 3$/],
      ['{"x": [1, 2, "3"]}', /^line 1: input x\[2\] is not a finite FP32 value$/],
      ['{"x": [1, 2, 1e999]}', /^line 1: input x\[2\] is not a finite FP32 value$/],
      ['{"y": [1, 2, 3]}', /^line 1: unknown input\(s\) y$/],
      ['{}', /^line 1: input x is missing$/],
      ['[1, 2, 3]', /^line 1: expected one row: \{"x": \[\.\.\.\]\}$/],
    ] as const) {
      const bad = await submit(model, [line]);
      const body = (await bad.json()) as ErrorJson;
      expect({ line, status: bad.status }).toEqual({ line, status: 400 });
      expect(body.error.message).toMatch(message);
    }
    expect((await submit(model, ['{"x": [1, 0, 0]}'], 'application/json')).status).toBe(415);
    const fp16 = await submit(`${model}-mixed`, ['{}']);
    expect(fp16.status).toBe(400);
    expect(((await fp16.json()) as ErrorJson).error.message).toMatch(/cannot hold half \(FP16\)/);
  });
});
