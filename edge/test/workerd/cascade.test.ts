import { describe, expect, it } from 'vitest';
import { behave, classifyRequest, originLog, setup, testApp, tinyRelease, unique } from './harness.ts';

type Classify = {
  model: string;
  version: string;
  served_by: string;
  predictions: Array<{
    label: string;
    score: number;
    scores: Record<string, number>;
    served_by: string;
    coverage?: number;
    escalation_reason?: string;
  }>;
  served_by_counts: Record<string, number>;
};

describe('edge cascade (whole app, real ORT-web student, loopback origin)', () => {
  it('answers a confident text at the edge without touching the origin', async () => {
    const { k, env, t, origin } = await setup();
    const res = await t.call(classifyRequest(k.key, { texts: [`spam ${unique()}`, `ham ${unique()}`] }), env);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-served-by')).toBe('edge');
    expect(res.headers.get('x-escalation-reason')).toBeNull();
    const body = (await res.json()) as Classify;
    expect(body).toMatchObject({ model: 'spam', version: 'tiny-1', served_by: 'edge' });
    expect(body.predictions.map((p) => p.label)).toEqual(['spam', 'ham']);
    expect(body.predictions[0]?.score).toBeGreaterThan(0.99);
    expect((await originLog(origin)).length).toBe(0);
    expect(t.lines[0]).toMatchObject({ served_by: 'edge', cache: 'MISS', items: 2 });
    expect(t.lines[0]?.confidence).toBeGreaterThan(0.99);
  });

  it('escalates only the low-confidence items (below the release threshold) and merges the answers in order', async () => {
    const { k, env, t, origin } = await setup();
    const texts = [`spam ${unique()}`, `hellospam ${unique()}`, `ham ${unique()}`, `hello ${unique()}`];
    const res = await t.call(classifyRequest(k.key, { texts }), env);
    expect(res.headers.get('x-served-by')).toBe('origin');
    expect(res.headers.get('x-served-by-counts')).toBe('edge=2, origin=2');
    expect(res.headers.get('x-escalation-reason')).toBe('low_confidence');
    const body = (await res.json()) as Classify;
    expect(body.served_by).toBe('origin');
    expect(body.served_by_counts).toEqual({ cache: 0, edge: 2, 'edge-degraded': 0, origin: 2 });
    // The fake origin says "spam" for texts containing it: the merged labels prove the order.
    expect(body.predictions.map((p) => [p.label, p.served_by])).toEqual([
      ['spam', 'edge'],
      ['spam', 'origin'],
      ['ham', 'edge'],
      ['ham', 'origin'],
    ]);
    const [req] = await originLog(origin);
    expect(req?.path).toBe('/v1/models/spam/classify');
    expect(JSON.parse(req?.body ?? '{}').texts).toEqual([texts[1], texts[3]]);
    expect(t.lines[0]).toMatchObject({
      served_by: 'origin',
      escalation_reason: 'low_confidence',
      escalated: 2,
      served_by_counts: { edge: 2, origin: 2 },
    });
    expect(t.lines[0]?.confidence).toBeCloseTo(0.5, 3);
  });

  it('when the origin fails, the confident edge answers stay and only the escalated items are degraded', async () => {
    const { k, env, t, origin } = await setup();
    await behave(origin, { default: { status: 503 } });
    const res = await t.call(
      classifyRequest(k.key, { texts: [`hello ${unique()}`, `spam ${unique()}`, `ham ${unique()}`] }),
      env,
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('x-served-by')).toBe('edge-degraded');
    expect(res.headers.get('x-served-by-counts')).toBe('edge=2, edge-degraded=1');
    const body = (await res.json()) as { predictions: Array<{ label: string; served_by: string }> };
    expect(body.predictions.map((p) => p.served_by)).toEqual(['edge-degraded', 'edge', 'edge']);
    expect(body.predictions.map((p) => p.label).slice(1)).toEqual(['spam', 'ham']);
  });

  it('70 items, every other one unsure: one origin request of 35, answers merged in order', async () => {
    const { k, env, t, origin } = await setup({ env: { EDGE_MAX_ITEMS: '100' } });
    const texts = Array.from({ length: 70 }, (_, i) =>
      i % 2 === 0 ? `spam ${unique()}` : `hello${i % 4 === 1 ? 'spam' : ''} ${unique()}`,
    );
    const res = await t.call(classifyRequest(k.key, { texts }), env);
    const body = (await res.json()) as { predictions: Array<{ label: string; served_by: string }> };
    expect(body.predictions).toHaveLength(70);
    body.predictions.forEach((p, i) => {
      expect(p.served_by).toBe(i % 2 === 0 ? 'edge' : 'origin');
      expect(p.label).toBe(i % 2 === 0 || i % 4 === 1 ? 'spam' : 'ham');
    });
    const log = await originLog(origin);
    expect(log).toHaveLength(1);
    expect(JSON.parse(log[0]?.body ?? '{}').texts).toEqual(texts.filter((_, i) => i % 2 === 1));
  });

  it('the threshold comes from the release: 0.4 answers the neutral text at the edge', async () => {
    const { k, env, t } = await setup({ release: { threshold: 0.4 } });
    const res = await t.call(classifyRequest(k.key, { text: `hello ${unique()}` }), env);
    expect(res.headers.get('x-served-by')).toBe('edge');
  });

  it('escalates out-of-distribution items (the release OOD rule) whatever their confidence; every prediction says its coverage', async () => {
    const { k, env, t, origin } = await setup({
      release: { ood: { seen: [1, 2], minFeatures: 1, minCoverage: 0.9 } },
    });
    // "spam spam": every id seen (coverage 1); "spam <new word>": half of them (0.5 < 0.9): out of distribution.
    const texts = ['spam spam', `spam ${unique()}`];
    const res = await t.call(classifyRequest(k.key, { texts }, { 'cache-control': 'no-store' }), env);
    expect(res.headers.get('x-escalation-reason')).toBe('out_of_distribution');
    const body = (await res.json()) as Classify;
    expect(body.predictions.map((p) => [p.served_by, p.coverage, p.escalation_reason])).toEqual([
      ['edge', 1, undefined],
      ['origin', undefined, 'out_of_distribution'],
    ]);
    expect(JSON.parse((await originLog(origin))[0]?.body ?? '{}').texts).toEqual([texts[1]]);
    // OIP text answers carry the same per row in parameters.
    const oip = await t.call(
      new Request('https://edge.test/v2/models/spam/infer', {
        method: 'POST',
        headers: {
          authorization: `Bearer ${k.key}`,
          'content-type': 'application/json',
          'x-escalate': 'never',
        },
        body: JSON.stringify({ inputs: [{ name: 'text', datatype: 'BYTES', shape: [2], data: texts }] }),
      }),
      env,
    );
    expect(((await oip.json()) as { parameters: Record<string, string> }).parameters).toMatchObject({
      coverage_items: '1.0000,0.5000',
      ood_items: 'false,true',
    });
    // x-escalate: never answers it at the edge, saying it is out of distribution.
    const never = await t.call(
      classifyRequest(k.key, { text: `spam ${unique()}` }, { 'x-escalate': 'never' }),
      env,
    );
    const p = ((await never.json()) as { predictions: Array<{ ood?: boolean; coverage?: number }> })
      .predictions[0];
    expect(p).toMatchObject({ ood: true, coverage: 0.5 });
    // An empty text has no features: coverage 0, out of distribution, never NaN.
    const empty = await t.call(classifyRequest(k.key, { text: '' }, { 'x-escalate': 'never' }), env);
    expect(((await empty.json()) as { predictions: unknown[] }).predictions[0]).toMatchObject({
      coverage: 0,
      ood: true,
    });
  });

  it('refuses a release whose seen-ids bitmap does not match its manifest: every request escalates', async () => {
    const { k, env, t } = await setup({
      release: {
        version: 'tiny-ood-bad',
        ood: { seen: [1], minFeatures: 0, minCoverage: 0, wrongHash: true },
      },
    });
    const res = await t.call(classifyRequest(k.key, { text: `spam ${unique()}` }), env);
    expect(res.headers.get('x-escalation-reason')).toBe('edge_model_unavailable');
  });

  it('escalates heavy requests: more items than EDGE_MAX_ITEMS', async () => {
    const { k, env, t } = await setup({ env: { EDGE_MAX_ITEMS: '2' } });
    const res = await t.call(
      classifyRequest(k.key, { texts: ['spam a', 'spam b', `spam ${unique()}`] }),
      env,
    );
    expect(res.headers.get('x-escalation-reason')).toBe('too_many_items');
    expect(res.headers.get('x-served-by')).toBe('origin');
  });

  it('EDGE_MAX_ITEMS takes per-model overrides (2;spam=3;digits=64: spam escalates past 3 items)', async () => {
    const { k, env, t } = await setup({
      env: { EDGE_MAX_ITEMS: '2;spam=3;digits=64' },
      app: { stats: { flushMs: 0 } },
    });
    const texts = (n: number) => Array.from({ length: n }, () => `spam ${unique()}`);
    const three = await t.call(classifyRequest(k.key, { texts: texts(3) }), env);
    expect([three.headers.get('x-served-by'), three.headers.get('x-escalation-reason')]).toEqual([
      'edge',
      null,
    ]);
    const four = await t.call(classifyRequest(k.key, { texts: texts(4) }), env);
    expect(four.headers.get('x-escalation-reason')).toBe('too_many_items');
  });

  it('escalates heavy requests: more UTF-8 bytes than EDGE_MAX_BYTES', async () => {
    const { k, env, t } = await setup({ env: { EDGE_MAX_BYTES: '20' } });
    const res = await t.call(classifyRequest(k.key, { text: `spam ${'é'.repeat(10)} ${unique()}` }), env);
    expect(res.headers.get('x-escalation-reason')).toBe('too_many_bytes');
  });

  it('escalates a model the edge does not hold', async () => {
    const { k, env, t, origin } = await setup({ key: { models: ['*'] } });
    const res = await t.call(
      classifyRequest(k.key, { text: 'spam' }, {}, '/v1/models/phishing/classify'),
      env,
    );
    expect(res.headers.get('x-escalation-reason')).toBe('model_not_at_edge');
    expect(((await res.json()) as Classify).model).toBe('phishing');
    expect((await originLog(origin))[0]?.path).toBe('/v1/models/phishing/classify');
  });

  it('escalates a version the edge does not hold, keeping the version in the origin path', async () => {
    const { k, env, t, origin } = await setup();
    const res = await t.call(
      classifyRequest(k.key, { text: 'spam' }, {}, '/v1/models/spam/versions/v9/classify'),
      env,
    );
    expect(res.headers.get('x-escalation-reason')).toBe('version_not_at_edge');
    expect((await originLog(origin))[0]?.path).toBe('/v1/models/spam/versions/v9/classify');
  });

  it('the edge release version itself is answered at the edge', async () => {
    const { k, env, t } = await setup();
    const res = await t.call(
      classifyRequest(k.key, { text: `spam ${unique()}` }, {}, '/v1/models/spam/versions/tiny-1/classify'),
      env,
    );
    expect(res.headers.get('x-served-by')).toBe('edge');
  });

  it('several releases of a model side by side: unpinned is the latest, a pinned version gets exactly that one', async () => {
    const { k, env } = await setup();
    const older = await tinyRelease({ version: 'tiny-1' });
    const newer = await tinyRelease({ version: 'tiny-2' });
    const t = testApp({ releases: () => [newer, older] });
    const ask = async (path: string) => {
      const res = await t.call(classifyRequest(k.key, { text: `spam ${unique()}` }, {}, path), env);
      return [res.headers.get('x-served-by'), res.headers.get('x-model-version')];
    };
    expect(await ask('/v1/models/spam/classify')).toEqual(['edge', 'tiny-2']);
    expect(await ask('/v1/models/spam/versions/tiny-1/classify')).toEqual(['edge', 'tiny-1']);
    expect(await ask('/v1/models/spam/versions/tiny-2/classify')).toEqual(['edge', 'tiny-2']);
    const meta = await t.call(
      new Request('https://edge.test/v2/models/spam', { headers: { authorization: `Bearer ${k.key}` } }),
      env,
    );
    expect(((await meta.json()) as { versions: string[] }).versions).toEqual(['tiny-1', 'tiny-2']);
  });

  it('refuses a student whose sha256 does not match its manifest: every request escalates', async () => {
    const { k, env, t } = await setup({ release: { wrongHash: true } });
    const res = await t.call(classifyRequest(k.key, { text: `spam ${unique()}` }), env);
    expect(res.headers.get('x-escalation-reason')).toBe('edge_model_unavailable');
    expect(res.headers.get('x-served-by')).toBe('origin');
  });

  it('x-escalate: always sends even a confident text to the origin', async () => {
    const { k, env, t } = await setup();
    const res = await t.call(
      classifyRequest(k.key, { text: `spam ${unique()}` }, { 'x-escalate': 'always' }),
      env,
    );
    expect(res.headers.get('x-escalation-reason')).toBe('client_requested');
    expect(res.headers.get('x-served-by')).toBe('origin');
  });

  it('x-escalate: never answers unconfident and heavy requests at the edge', async () => {
    const { k, env, t, origin } = await setup({ env: { EDGE_MAX_ITEMS: '1' } });
    const res = await t.call(
      classifyRequest(k.key, { texts: [`hello ${unique()}`, 'x'] }, { 'x-escalate': 'never' }),
      env,
    );
    expect(res.headers.get('x-served-by')).toBe('edge');
    expect((await originLog(origin)).length).toBe(0);
  });

  it('x-escalate: never for a model the edge lacks is 404 model_not_found, never a 500', async () => {
    const { k, env, t } = await setup({ key: { models: ['*'] } });
    const res = await t.call(
      classifyRequest(k.key, { text: 'x' }, { 'x-escalate': 'never' }, '/v1/models/other/classify'),
      env,
    );
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('model_not_found');
    expect(res.headers.get('x-escalation-reason')).toBe('model_not_at_edge');
  });

  it('propagates the request id and the W3C trace to the origin (the edge span is the parent)', async () => {
    const { k, env, t, origin } = await setup();
    const incoming = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const res = await t.call(
      classifyRequest(
        k.key,
        { text: `hello ${unique()}` },
        { traceparent: incoming, tracestate: 'v=1', 'x-request-id': 'client-req-1' },
      ),
      env,
    );
    const [req] = await originLog(origin);
    expect(req?.headers['x-request-id']).toBe('client-req-1');
    expect(req?.headers.traceparent).toBe(res.headers.get('traceparent'));
    expect(req?.headers.traceparent).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
    expect(req?.headers.traceparent).not.toContain('00f067aa0ba902b7');
    expect(req?.headers.tracestate).toBe('v=1');
    expect(req?.signature).toBe('ok');
  });
});
