import { describe, expect, it } from 'vitest';
import { behave, classifyRequest, originLog, type SetupOptions, setup, unique } from './harness.ts';

type ErrorJson = { error: { code: string; request_id: string } };
type Classify = {
  served_by: string;
  version: string;
  predictions: Array<{ label: string; served_by: string }>;
};

/** Every test here: a key for any model (`/v1/models/other/...` has no edge release). */
const setupAnyModel = (count: number, options: SetupOptions = {}) =>
  setup({ key: { models: ['*'] }, origins: count, ...options });

describe('escalation failures (whole app, loopback origins)', () => {
  it('retries once on another origin and answers from it', async () => {
    const { k, env, t, origins } = await setupAnyModel(2, { app: { pool: { random: () => 0 } } });
    const [a, b] = origins as [string, string];
    await behave(a, { default: { status: 503 } });
    const res = await t.call(classifyRequest(k.key, { text: `hello ${unique()}` }), env);
    expect(res.headers.get('x-served-by')).toBe('origin');
    expect(t.lines[0]).toMatchObject({ origin: b, origin_attempts: 2 });
    expect((await originLog(a)).length).toBe(1);
    expect((await originLog(b)).length).toBe(1);
  });

  it('every origin failing degrades to the edge answer: served_by edge-degraded + reason header', async () => {
    const { k, env, t, origins } = await setupAnyModel(2);
    for (const o of origins) await behave(o, { default: { status: 503 } });
    const res = await t.call(classifyRequest(k.key, { text: `hello ${unique()}` }), env);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-served-by')).toBe('edge-degraded');
    expect(res.headers.get('x-degraded-reason')).toBe('origin_overloaded');
    expect(res.headers.get('x-escalation-reason')).toBe('low_confidence');
    const body = (await res.json()) as Classify;
    expect(body.served_by).toBe('edge-degraded');
    expect(body.version).toBe('tiny-1');
    expect(t.lines[0]).toMatchObject({
      served_by: 'edge-degraded',
      degraded_reason: 'origin_overloaded',
      origin_attempts: 2,
    });
  });

  it('unreachable origins degrade with network_error', async () => {
    const { k, env, t } = await setupAnyModel(1, {
      env: { ORIGIN_URLS: 'http://127.0.0.1:9,http://127.0.0.1:10' },
    });
    const res = await t.call(classifyRequest(k.key, { text: `hello ${unique()}` }), env);
    expect(res.headers.get('x-served-by')).toBe('edge-degraded');
    expect(res.headers.get('x-degraded-reason')).toBe('network_error');
  });

  it('no origin configured degrades with no_origins', async () => {
    const { k, env, t } = await setupAnyModel(1, { env: { ORIGIN_URLS: '' } });
    const res = await t.call(
      classifyRequest(k.key, { text: `hello ${unique()}` }, { 'x-escalate': 'always' }),
      env,
    );
    expect(res.headers.get('x-served-by')).toBe('edge-degraded');
    expect(res.headers.get('x-degraded-reason')).toBe('no_origins');
  });

  it('an origin 200 that is not a classify response degrades with origin_error', async () => {
    const { k, env, t, origins } = await setupAnyModel(1);
    await behave(origins[0] as string, { default: { body: { nonsense: true } } });
    const res = await t.call(classifyRequest(k.key, { text: `hello ${unique()}` }), env);
    expect(res.headers.get('x-degraded-reason')).toBe('origin_error');
  });

  it("an origin 4xx (its verdict on the input) is passed through when the edge has no answer; with one, the edge's answer is returned degraded (origin_rejected)", async () => {
    const { k, env, t, origins } = await setupAnyModel(1);
    await behave(origins[0] as string, {
      default: {
        status: 400,
        body: { error: { code: 'invalid_input', message: 'too long for the teacher', request_id: 'r' } },
      },
    });
    const other = await t.call(
      classifyRequest(k.key, { text: `hello ${unique()}` }, {}, '/v1/models/other/classify'),
      env,
    );
    expect(other.status).toBe(400);
    expect(((await other.json()) as ErrorJson).error.code).toBe('invalid_input');
    expect(other.headers.get('x-served-by')).toBe('origin');
    // The edge accepted the input and has answers of its own: the confident one is kept, the unsure one degraded.
    const res = await t.call(
      classifyRequest(k.key, { texts: [`spam ${unique()}`, `hello ${unique()}`] }),
      env,
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('x-served-by')).toBe('edge-degraded');
    expect(res.headers.get('x-degraded-reason')).toBe('origin_rejected');
    const body = (await res.json()) as Classify;
    expect(body.predictions.map((p) => p.served_by)).toEqual(['edge', 'edge-degraded']);
    expect(t.lines[1]).toMatchObject({ degraded_reason: 'origin_rejected', origin_status: 400 });
  });

  it('an origin refusing the edge (401: wrong signing secret or clock skew) is an edge fault: degraded, counted by the breaker, never passed through', async () => {
    const { k, env, t, origins } = await setupAnyModel(1);
    const origin = origins[0] as string;
    const secretMessage = 'request signature refused: signature does not match the request';
    await behave(origin, {
      default: {
        status: 401,
        body: { error: { code: 'unauthorized', message: secretMessage, request_id: 'r' } },
      },
    });
    const res = await t.call(classifyRequest(k.key, { text: `hello ${unique()}` }), env);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-served-by')).toBe('edge-degraded');
    expect(res.headers.get('x-degraded-reason')).toBe('origin_refused');
    expect(await res.text()).not.toContain('signature');
    expect(t.lines[0]).toMatchObject({ served_by: 'edge-degraded', degraded_reason: 'origin_refused' });
    // Without an edge answer: 503 in the shared shape, the origin's message not leaked.
    const other = await t.call(classifyRequest(k.key, { text: 'x' }, {}, '/v1/models/other/classify'), env);
    expect(other.status).toBe(503);
    const text = await other.text();
    expect(JSON.parse(text).error.code).toBe('unavailable');
    expect(text).not.toContain('signature does not match');
    // The breaker counts refusals as failures: after the threshold (5) the origin is not called any more.
    for (let i = 0; i < 5; i++) await t.call(classifyRequest(k.key, { text: `hello ${unique()}` }), env);
    const calls = (await originLog(origin)).length;
    await t.call(classifyRequest(k.key, { text: `hello ${unique()}` }), env);
    expect((await originLog(origin)).length).toBe(calls);
  });

  it("escalations carry the priority of the caller's tier, signed; a client's own x-priority is not forwarded", async () => {
    for (const [tier, want] of [
      ['pro', '1'],
      ['free', '2'],
    ] as const) {
      const { k, env, t, origin } = await setupAnyModel(1, { key: { models: ['*'], tier } });
      await t.call(classifyRequest(k.key, { text: `hello ${unique()}` }, { 'x-priority': '1' }), env);
      await t.call(
        new Request('https://edge.test/v2/models/other/infer', {
          method: 'POST',
          headers: {
            authorization: `Bearer ${k.key}`,
            'content-type': 'application/json',
            'x-priority': '1',
          },
          body: JSON.stringify({
            parameters: { priority: 1 },
            inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [1] }],
          }),
        }),
        env,
      );
      const log = await originLog(origin);
      expect(
        log.map((r) => [r.headers['x-priority'], r.signature]),
        tier,
      ).toEqual([
        [want, 'ok'],
        [want, 'ok'],
      ]);
    }
  });

  it.each([65, 256])(
    'splits an escalation of %i texts into requests of at most ORIGIN_MAX_ITEMS (64), merged in order',
    async (n) => {
      const { k, env, t, origin } = await setupAnyModel(1);
      const texts = Array.from({ length: n }, (_, i) =>
        i % 3 === 0 ? `spam ${i} ${unique()}` : `ham ${i} ${unique()}`,
      );
      const res = await t.call(classifyRequest(k.key, { texts }, { 'x-escalate': 'always' }), env);
      expect(res.status).toBe(200);
      expect(res.headers.get('x-served-by')).toBe('origin');
      const body = (await res.json()) as Classify;
      expect(body.predictions.map((p) => p.label)).toEqual(
        texts.map((x) => (x.startsWith('spam') ? 'spam' : 'ham')),
      );
      const sizes = (await originLog(origin)).map(
        (r) => (JSON.parse(r.body) as { texts: string[] }).texts.length,
      );
      expect(sizes.sort((a, b) => b - a)).toEqual(n === 65 ? [64, 1] : [64, 64, 64, 64]);
    },
  );

  it('without an edge model, a failed escalation is a 503 in the shared shape', async () => {
    const { k, env, t, origins } = await setupAnyModel(1);
    await behave(origins[0] as string, { default: { status: 503 } });
    const res = await t.call(classifyRequest(k.key, { text: 'x' }, {}, '/v1/models/other/classify'), env);
    expect(res.status).toBe(503);
    expect(res.headers.get('x-degraded-reason')).toBe('origin_overloaded');
    expect(res.headers.get('retry-after')).toBe('1');
    expect(((await res.json()) as ErrorJson).error.code).toBe('unavailable');
  });

  it('deadline: x-deadline-ms bounds the wait; the origin sees the remaining budget; the edge answer is served', async () => {
    const { k, env, t, origins } = await setupAnyModel(1);
    await behave(origins[0] as string, { default: { delayMs: 3000 } });
    const started = Date.now();
    const res = await t.call(
      classifyRequest(k.key, { text: `hello ${unique()}` }, { 'x-deadline-ms': '200' }),
      env,
    );
    expect(Date.now() - started).toBeLessThan(1500);
    expect(res.headers.get('x-served-by')).toBe('edge-degraded');
    expect(res.headers.get('x-degraded-reason')).toBe('deadline_exceeded');
    const [req] = await originLog(origins[0] as string);
    expect(Number(req?.headers['x-deadline-ms'])).toBeGreaterThan(0);
    expect(Number(req?.headers['x-deadline-ms'])).toBeLessThanOrEqual(200);
  });

  it("each attempt tells the origin its own budget (the attempt timeout), not the whole request's", async () => {
    const { k, env, t, origins } = await setupAnyModel(2, { env: { ORIGIN_TIMEOUT_MS: '300' } });
    for (const o of origins) await behave(o, { default: { delayMs: 2000 } });
    await t.call(classifyRequest(k.key, { text: `hello ${unique()}` }, { 'x-deadline-ms': '2500' }), env);
    const sent = [...(await originLog(origins[0] as string)), ...(await originLog(origins[1] as string))];
    expect(sent).toHaveLength(2); // the first attempt timed out, the retry went elsewhere
    for (const r of sent) {
      expect(Number(r.headers['x-deadline-ms'])).toBeGreaterThan(0);
      expect(Number(r.headers['x-deadline-ms'])).toBeLessThanOrEqual(300);
    }
  });

  it('deadline without an edge model: 504 deadline_exceeded', async () => {
    const { k, env, t, origins } = await setupAnyModel(1);
    await behave(origins[0] as string, { default: { delayMs: 3000 } });
    const res = await t.call(
      classifyRequest(k.key, { text: 'x' }, { 'x-deadline-ms': '150' }, '/v1/models/other/classify'),
      env,
    );
    expect(res.status).toBe(504);
    expect(((await res.json()) as ErrorJson).error.code).toBe('deadline_exceeded');
  });

  it('REQUEST_DEADLINE_MS caps a longer client budget', async () => {
    const { k, env, t, origins } = await setupAnyModel(1, { env: { REQUEST_DEADLINE_MS: '500' } });
    await t.call(classifyRequest(k.key, { text: `hello ${unique()}` }, { 'x-deadline-ms': '60000' }), env);
    const [req] = await originLog(origins[0] as string);
    expect(Number(req?.headers['x-deadline-ms'])).toBeLessThanOrEqual(500);
  });

  it('circuit breaker: opens after consecutive failures (edge answers without calling), half-open probe closes it', async () => {
    let offset = 0;
    const now = () => Date.now() + offset;
    const { k, env, t, origins } = await setupAnyModel(1, {
      env: { BREAKER_FAILURE_THRESHOLD: '2', BREAKER_COOLDOWN_MS: '30000' },
      app: { now, pool: { now } },
    });
    const origin = origins[0] as string;
    await behave(origin, { default: { status: 503 } });
    const reasons: Array<string | null> = [];
    for (let i = 0; i < 3; i++) {
      const res = await t.call(classifyRequest(k.key, { text: `hello ${unique()}` }), env);
      reasons.push(res.headers.get('x-degraded-reason'));
    }
    expect(reasons).toEqual(['origin_overloaded', 'origin_overloaded', 'breaker_open']);
    expect((await originLog(origin)).length).toBe(2);

    offset += 30_000;
    await behave(origin, { default: {} });
    const probe = await t.call(classifyRequest(k.key, { text: `hello ${unique()}` }), env);
    expect(probe.headers.get('x-served-by')).toBe('origin');
    const after = await t.call(classifyRequest(k.key, { text: `hello ${unique()}` }), env);
    expect(after.headers.get('x-served-by')).toBe('origin');
    expect((await originLog(origin)).length).toBe(4);
  });

  it('power of two choices: the origin reporting a deep queue gets (almost) nothing', async () => {
    // A reported depth counts for queueDepthTtlMs (5 s by default): longer here, so a slow, loaded run cannot let
    // it expire half-way.
    const { k, env, t, origins } = await setupAnyModel(2, { app: { pool: { queueDepthTtlMs: 120_000 } } });
    const [a, b] = origins as [string, string];
    await behave(a, { default: { queueDepth: 40 } });
    await behave(b, { default: { queueDepth: 1 } });
    for (let i = 0; i < 12; i++) await t.call(classifyRequest(k.key, { text: `hello ${unique()}` }), env);
    // At most the first request per origin is spent learning; after that only b is chosen.
    expect((await originLog(a)).length).toBeLessThanOrEqual(1);
    expect((await originLog(b)).length).toBeGreaterThanOrEqual(11);
  });
});
