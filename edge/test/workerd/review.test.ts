/**
 * Human review through the whole app in workerd: items no model is sure of (the teacher under the release's review
 * threshold, or out of distribution) are answered with `review: true` and land in the review queue (the real
 * Durable Object); reviewers list, label (idempotently) and export them as training lines.
 */
import { describe, expect, it } from 'vitest';
import type { QueueCounters, ReviewItem } from '../../src/review/queue.ts';
import {
  apiKey,
  classifyRequest,
  keysJson,
  newOrigins,
  testApp,
  testEnv,
  tinyRelease,
  unique,
} from './harness.ts';

type Page = {
  items: ReviewItem[];
  cursor: string | null;
  pending: number;
  queue: QueueCounters & { max_pending: number };
};

async function world(vars: Record<string, string> = {}) {
  const model = `r${unique()}`;
  const user = await apiKey({ models: ['*'] });
  const reviewer = await apiKey({ scopes: ['reviewer'], models: [] });
  const second = await apiKey({ scopes: ['reviewer'], models: [] });
  const admin = await apiKey({ scopes: ['admin'], models: ['*'] });
  const [origin] = await newOrigins(1);
  const env = testEnv({
    API_KEYS: keysJson(user, reviewer, second, admin),
    ORIGIN_URLS: origin as string,
    ...vars,
  });
  const release = await tinyRelease({ version: 'v1' });
  const t = testApp({
    releases: () => [{ ...release, manifest: { ...release.manifest, name: model } }],
    stats: { flushMs: 0 },
  });
  const call = (key: string, method: string, path: string, body?: unknown) =>
    t.call(
      new Request(`https://edge.test${path}`, {
        method,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      }),
      env,
    );
  const classify = async (texts: string[]) => {
    const res = await t.call(classifyRequest(user.key, { texts }, {}, `/v1/models/${model}/classify`), env);
    expect(res.status).toBe(200);
    return (
      (await res.json()) as { predictions: Array<{ label: string; review?: boolean; served_by: string }> }
    ).predictions;
  };
  const page = async (state = 'pending') =>
    (await (await call(reviewer.key, 'GET', `/v1/review?model=${model}&state=${state}`)).json()) as Page;
  return { model, user, reviewer, second, admin, call, classify, page };
}

describe('human review (whole app, review queue Durable Object, loopback origin)', () => {
  it('routes what no model is sure of to review, says so in the answer, and queues each input once', async () => {
    const w = await world();
    const tag = unique();
    const texts = [`spam ${tag}`, `maybe unsure ${tag}`, `maybe strange ${tag}`, `maybe fine ${tag}`];
    const answer = await w.classify(texts);
    // Confident edge answer; teacher unsure (0.6 < 0.75); out of distribution; teacher sure.
    expect(answer.map((p) => [p.served_by, p.review ?? false])).toEqual([
      ['edge', false],
      ['origin', true],
      ['origin', true],
      ['origin', false],
    ]);
    // The same input again: the cache answers it (still marked), the queue holds it once.
    expect(await w.classify([`maybe unsure ${tag}`])).toEqual([
      expect.objectContaining({ served_by: 'cache', review: true }),
    ]);
    const pending = await w.page();
    expect(pending.pending).toBe(2);
    // The queue's counters: two items admitted, under the bound (REVIEW_MAX_PENDING), nothing sampled out.
    expect(pending.queue).toMatchObject({
      max_pending: 10_000,
      received: 2,
      admitted: 2,
      rejected: 0,
      evicted: 0,
      pending: 2,
    });
    expect(pending.items.map((i) => [i.text, i.reason, i.seen])).toEqual([
      [`maybe unsure ${tag}`, 'teacher_unsure', 1],
      [`maybe strange ${tag}`, 'out_of_distribution', 1],
    ]);
    expect(pending.items[0]).toMatchObject({
      model: w.model,
      version: expect.any(String),
      labels: ['ham', 'spam'],
      answer: { label: 'ham', score: 0.6, served_by: 'origin' },
      student: { label: expect.any(String), score: 0.5 },
      label: null,
      request_id: expect.any(String),
    });
  });

  it('reviewers label (idempotent, who and when kept), list labelled items and export them as training lines', async () => {
    const w = await world();
    const tag = unique();
    await w.classify([`maybe unsure ${tag}`, `maybe strange ${tag}`]);
    const [first, second] = (await w.page()).items as [ReviewItem, ReviewItem];
    const label = (id: string, body: unknown) => w.call(w.reviewer.key, 'POST', `/v1/review/${id}`, body);
    const a = await label(first.id, { label: 'spam' });
    expect(a.status).toBe(200);
    const labelled = (await a.json()) as ReviewItem;
    expect(labelled).toMatchObject({
      label: 'spam',
      labelled_by: w.reviewer.record.name,
      labelled_at: expect.any(String),
    });
    const again = (await (await label(first.id, { label: 'spam' })).json()) as ReviewItem;
    expect(again.labelled_at).toBe(labelled.labelled_at); // idempotent
    const detail = (await (await w.call(w.reviewer.key, 'GET', `/v1/review/${first.id}`)).json()) as {
      history: unknown[];
    };
    expect(detail.history).toHaveLength(1);
    expect((await label(first.id, { label: 'eggs' })).status).toBe(400);
    expect((await label(first.id, 'not json')).status).toBe(400);
    expect((await label('rv_00000000000000000000000000000000', { label: 'spam' })).status).toBe(404);
    expect((await w.page()).items.map((i) => i.id)).toEqual([second.id]);
    expect((await w.page('labelled')).items.map((i) => i.id)).toEqual([first.id]);

    const exported = await w.call(w.reviewer.key, 'GET', `/v1/review/export?model=${w.model}`);
    expect(exported.headers.get('content-type')).toBe('application/x-ndjson');
    const lines = (await exported.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toEqual([
      expect.objectContaining({ key: `review/${first.id}`, text: `maybe unsure ${tag}`, label: 'spam' }),
    ]);
  });

  it('several reviewers: next leases an item, a held item is 409 for others, labelled twice, undo, admin decides', async () => {
    const w = await world({ REVIEW_DOUBLE_SHARE: '1' });
    const tag = unique();
    await w.classify([`maybe unsure ${tag}`, `maybe strange ${tag}`]);
    const next = async (key: string) =>
      (
        (await (await w.call(key, 'POST', `/v1/review/next?model=${w.model}`)).json()) as {
          item: ReviewItem | null;
        }
      ).item;
    const a = (await next(w.reviewer.key)) as ReviewItem;
    const b = (await next(w.second.key)) as ReviewItem;
    expect(a.id).not.toBe(b.id);
    expect(a).toMatchObject({ leased_by: w.reviewer.record.name, votes_needed: 2, status: 'open' });
    const held = await w.call(w.second.key, 'POST', `/v1/review/${a.id}`, { label: 'spam' });
    expect(held.status).toBe(409);
    expect(((await held.json()) as { error: { code: string } }).error.code).toBe('conflict');

    // Two reviewers agree on a: final. They disagree on b: disputed until an admin decides.
    await w.call(w.reviewer.key, 'POST', `/v1/review/${a.id}`, { label: 'spam' });
    expect(await next(w.reviewer.key)).toBeNull(); // b is on the second reviewer's screen
    const aDone = await w.call(w.second.key, 'POST', `/v1/review/${a.id}`, { label: 'spam' });
    expect(await aDone.json()).toMatchObject({ status: 'done', label: 'spam' });
    await w.call(w.second.key, 'POST', `/v1/review/${b.id}`, { label: 'ham' });
    // Undo, then label again.
    expect((await w.call(w.second.key, 'DELETE', `/v1/review/${b.id}/label`)).status).toBe(200);
    expect((await w.call(w.second.key, 'DELETE', `/v1/review/${b.id}/label`)).status).toBe(409);
    await w.call(w.second.key, 'POST', `/v1/review/${b.id}`, { label: 'ham' });
    const bDisputed = await w.call(w.reviewer.key, 'POST', `/v1/review/${b.id}`, { label: 'spam' });
    expect(await bDisputed.json()).toMatchObject({ status: 'disputed', label: null });
    expect((await w.page('disputed')).items.map((i) => i.id)).toEqual([b.id]);
    expect((await w.call(w.reviewer.key, 'POST', `/v1/review/${b.id}/decide`, { label: 'ham' })).status).toBe(
      403,
    );
    const decided = await w.call(w.admin.key, 'POST', `/v1/review/${b.id}/decide`, { label: 'ham' });
    expect(await decided.json()).toMatchObject({ status: 'done', label: 'ham' });
    const q = (await w.page()).queue;
    expect(q).toMatchObject({ double_agreed: 1, double_disputed: 1, labelled: 2, pending: 0 });
    expect(await next(w.reviewer.key)).toBeNull();
  });

  it('only reviewer (or admin) keys reach the review API; bad queries are 400', async () => {
    const w = await world();
    for (const [method, path] of [
      ['GET', `/v1/review?model=${w.model}`],
      ['GET', `/v1/review/export?model=${w.model}`],
      ['POST', '/v1/review/rv_00000000000000000000000000000000'],
    ] as const) {
      const res = await w.call(w.user.key, method, path, method === 'POST' ? { label: 'spam' } : undefined);
      expect({ path, status: res.status }).toEqual({ path, status: 403 });
    }
    expect((await w.call(w.reviewer.key, 'GET', '/v1/review')).status).toBe(400);
    expect((await w.call(w.reviewer.key, 'GET', `/v1/review?model=${w.model}&limit=1000`)).status).toBe(400);
    expect((await w.call(w.reviewer.key, 'GET', `/v1/review?model=${w.model}&state=all`)).status).toBe(400);
    expect((await w.call(w.reviewer.key, 'GET', '/v1/review/..%2Fadmin')).status).toBe(404);
  });
});
