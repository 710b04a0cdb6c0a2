/**
 * Quotas, tenant-wide rate limits and exact usage in workerd, over the local D1 + KV and the Upstash bridge on a
 * real Redis: a tenant's item quota refuses with 429 quota_exceeded and gives refused items back; all keys of a
 * tenant share its limit; every item sent through two isolates is counted once in GET /v1/usage, by key and model,
 * with refusals, origin compute and what the edge saved, as JSON, CSV and NDJSON.
 */
import { describe, expect, it } from 'vitest';
import type { UsageRow } from '../../src/usage/report.ts';
import { behave, classifyRequest, unique } from './harness.ts';
import { code, type Json, world } from './tenant-world.ts';

type World = Awaited<ReturnType<typeof world>>;
type Isolate = World['a'];

type UsageJson = {
  tenant: string | null;
  group_by: string[];
  rows: UsageRow[];
  origin_ms_per_item: number | null;
  dropped: number;
};

const DAY_MS = 86_400_000;

const texts = (n: number, word = 'spam') => ({
  texts: Array.from({ length: n }, () => `${word} ${unique()}`),
});

function send(w: World, t: Isolate, key: string, body: unknown, headers: Record<string, string> = {}) {
  return t.call(classifyRequest(key, body, { 'cache-control': 'no-cache, no-store', ...headers }), w.env);
}

async function usage(w: World, key: string, query: string): Promise<Response> {
  return w.call(w.a, key, 'GET', `/v1/usage?${query}`);
}

describe('quotas and tenant limits (workerd, local D1 + KV, Upstash bridge over real Redis)', () => {
  it("a tenant's daily item quota: served up to it, then 429 quota_exceeded + Retry-After to midnight; refused items are given back; the next day resets", async () => {
    const w = await world();
    const t = await w.tenant({ quotas: { items_per_day: 5 } });
    const k = await w.key({ tenant: t.id });
    expect((await send(w, w.a, k.key, texts(2))).status).toBe(200);
    // A request refused by the route (400) gives its charge back.
    const bad = await send(w, w.b, k.key, { texts: [] });
    expect(bad.status).toBe(400);
    expect((await send(w, w.b, k.key, texts(2))).status).toBe(200);
    const over = await send(w, w.a, k.key, texts(2));
    expect([over.status, await code(over.clone())]).toEqual([429, 'quota_exceeded']);
    const untilMidnight = Math.ceil((DAY_MS - (w.now() % DAY_MS)) / 1000);
    expect(Number(over.headers.get('retry-after'))).toBe(untilMidnight);
    expect(((await over.json()) as { error: { message: string } }).error.message).toMatch(
      /quota of 5 items per day/,
    );
    // The refused request's 2 items were given back: 1 more fits, then nothing.
    expect((await send(w, w.b, k.key, texts(1))).status).toBe(200);
    expect(await code(await send(w, w.a, k.key, texts(1)))).toBe('quota_exceeded');
    w.advance(DAY_MS - (w.now() % DAY_MS) + 1000);
    expect((await send(w, w.a, k.key, texts(2))).status).toBe(200);
  });

  it('a monthly quota counts the same items; a tenant without quotas is not charged', async () => {
    const w = await world();
    const t = await w.tenant({ quotas: { items_per_month: 3 } });
    const k = await w.key({ tenant: t.id });
    expect((await send(w, w.a, k.key, texts(3))).status).toBe(200);
    const over = await send(w, w.b, k.key, texts(1));
    expect(await code(over.clone())).toBe('quota_exceeded');
    const d = new Date(w.now());
    const monthEnd = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
    expect(Number(over.headers.get('retry-after'))).toBe(Math.ceil((monthEnd - w.now()) / 1000));
    const free = await w.tenant();
    const fk = await w.key({ tenant: free.id });
    for (let i = 0; i < 3; i++) expect((await send(w, w.a, fk.key, texts(4))).status).toBe(200);
  });

  it("all of a tenant's keys share its limit (tier tenant_limit); another tenant is not affected", async () => {
    const w = await world({
      RATE_LIMIT_TIERS: JSON.stringify({ pro: { limit: 100, tenant_limit: 3, window: '1 h' } }),
    });
    const t = await w.tenant();
    const k1 = await w.key({ tenant: t.id });
    const k2 = await w.key({ tenant: t.id });
    const first = await send(w, w.a, k1.key, texts(1));
    expect(first.status).toBe(200);
    // The tighter of the key's (100) and the tenant's (3) limits is the one shown.
    expect([first.headers.get('ratelimit-limit'), first.headers.get('ratelimit-remaining')]).toEqual([
      '3',
      '2',
    ]);
    expect((await send(w, w.b, k2.key, texts(1))).status).toBe(200);
    expect((await send(w, w.a, k2.key, texts(1))).status).toBe(200);
    const refused = await send(w, w.b, k1.key, texts(1));
    expect([refused.status, await code(refused.clone())]).toEqual([429, 'rate_limited']);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(
      /the tenant's rate limit of 3/,
    );
    expect(await code(await send(w, w.a, k2.key, texts(1)))).toBe('rate_limited');
    const other = await w.key({ tenant: (await w.tenant()).id });
    expect((await send(w, w.a, other.key, texts(1))).status).toBe(200);
  });
});

describe('job rows and quotas (workerd, local R2 + Durable Object, chunks captured)', () => {
  it("a job's rows are charged to the tenant's quota at submission (429 quota_exceeded past it) and metered as job_rows", async () => {
    const sent: unknown[] = [];
    const queue = {
      send: async (body: unknown) => void sent.push(body),
      sendBatch: async (messages: Iterable<{ body: unknown }>) => {
        for (const m of messages) sent.push(m.body);
      },
    } as unknown as Queue;
    const w = await world({}, { jobsQueue: () => queue });
    const t = await w.tenant({ quotas: { items_per_day: 50 } });
    const k = await w.key({ tenant: t.id });
    const job = (n: number) =>
      w.a.call(
        new Request('https://edge.test/v1/models/spam/jobs', {
          method: 'POST',
          headers: { authorization: `Bearer ${k.key}`, 'content-type': 'application/x-ndjson' },
          body: `${texts(n)
            .texts.map((x) => JSON.stringify(x))
            .join('\n')}\n`,
        }),
        w.env,
      );
    expect((await job(30)).status).toBe(202);
    expect(sent.length).toBeGreaterThan(0);
    const over = await job(30);
    expect([over.status, await code(over.clone())]).toEqual([429, 'quota_exceeded']);
    expect(((await over.json()) as { error: { message: string } }).error.message).toMatch(
      /job of 30 rows would pass the tenant's quota of 50 items per day \(30 used\)/,
    );
    // The refused job's rows were given back: 20 synchronous items still fit, then nothing.
    expect((await send(w, w.b, k.key, texts(20))).status).toBe(200);
    expect(await code(await send(w, w.b, k.key, texts(1)))).toBe('quota_exceeded');
    const report = (await (await usage(w, w.admin.key, `tenant=${t.id}&group_by=key`)).json()) as UsageJson;
    expect(report.rows).toHaveLength(1);
    expect(report.rows[0]).toMatchObject({ requests: 4, items: 20, job_rows: 30 });
    expect(report.rows[0]?.refused).toEqual({ quota_exceeded: 2 });
  });
});

describe('exact usage (workerd, two isolates, Upstash bridge over real Redis)', () => {
  it('counts every item once, by key and model, with refusals, origin compute and what the edge saved', {
    timeout: 120_000,
  }, async () => {
    const w = await world();
    await behave(w.origin, { default: { computeMs: 2.5 } });
    const t = await w.tenant({ quotas: { items_per_day: 36 } });
    const keys = [await w.key({ tenant: t.id }), await w.key({ tenant: t.id })];
    type Expect = { requests: number; items: number; servedBy: Record<string, number>; refused: Json };
    const expected = new Map<string, Expect>(
      keys.map((k) => [k.record.id, { requests: 0, items: 0, servedBy: {}, refused: {} }]),
    );
    let escalatedCalls = 0;
    for (let i = 0; i < 24; i++) {
      const k = keys[i % 2] as (typeof keys)[number];
      const e = expected.get(k.record.id) as Expect;
      const n = 1 + (i % 3);
      const escalate = i % 5 === 0;
      const res = await send(
        w,
        i % 3 === 0 ? w.a : w.b,
        k.key,
        texts(n),
        escalate ? { 'x-escalate': 'always' } : {},
      );
      e.requests++;
      if (res.status === 200) {
        // What the client was told answered each item is what usage counts.
        const counts = ((await res.json()) as { served_by_counts: Record<string, number> }).served_by_counts;
        e.items += n;
        for (const [path, m] of Object.entries(counts)) e.servedBy[path] = (e.servedBy[path] ?? 0) + m;
        if ((counts.origin ?? 0) > 0) escalatedCalls++;
      } else {
        const c = await code(res);
        e.refused[c] = ((e.refused[c] as number | undefined) ?? 0) + 1;
      }
    }
    // Refusals by the route are metered too.
    const bad = await send(w, w.a, (keys[0] as (typeof keys)[number]).key, { texts: 'not a list' });
    const badCode = await code(bad);
    const e0 = expected.get((keys[0] as (typeof keys)[number]).record.id) as Expect;
    e0.requests++;
    e0.refused[badCode] = ((e0.refused[badCode] as number | undefined) ?? 0) + 1;
    const served = [...expected.values()].reduce((n, e) => n + e.items, 0);
    expect(served).toBeLessThanOrEqual(36); // the quota held
    expect([...expected.values()].some((e) => (e.refused.quota_exceeded as number) > 0)).toBe(true);

    const res = await usage(w, w.admin.key, `tenant=${t.id}&group_by=key`);
    expect(res.status).toBe(200);
    const report = (await res.json()) as UsageJson;
    expect(report.tenant).toBe(t.id);
    expect(report.group_by).toEqual(['key']);
    expect(report.dropped).toBe(0);
    expect(report.rows.map((r) => r.key).sort()).toEqual([...expected.keys()].sort());
    for (const row of report.rows) {
      const e = expected.get(row.key as string) as Expect;
      expect(row).toMatchObject({
        requests: e.requests,
        items: e.items,
        served_by: e.servedBy,
        refused: e.refused,
      });
      expect(row.last_used).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:00\.000Z$/);
    }
    const computeMs = report.rows.reduce((n, r) => n + r.origin_compute_ms, 0);
    expect(computeMs).toBeCloseTo(2.5 * escalatedCalls, 3);
    const originItems = report.rows.reduce((n, r) => n + (r.served_by.origin ?? 0), 0);
    expect(report.origin_ms_per_item).toBeCloseTo(computeMs / originItems, 3);
    const row0 = report.rows[0] as UsageRow;
    expect(row0.edge_saved_ms).toBeCloseTo(
      ((row0.served_by.edge ?? 0) + (row0.served_by.cache ?? 0)) * (computeMs / originItems),
      2,
    );

    const byModel = (await (
      await usage(w, w.admin.key, `tenant=${t.id}&group_by=model,day`)
    ).json()) as UsageJson;
    expect(byModel.rows).toHaveLength(1);
    expect(byModel.rows[0]).toMatchObject({ model: 'spam', items: served });

    const csv = await usage(w, w.admin.key, `tenant=${t.id}&group_by=key&format=csv`);
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    const lines = (await csv.text()).trim().split('\r\n');
    expect(lines[0]).toMatch(/^key,requests,items,job_rows,served_edge,served_origin,/);
    expect(lines).toHaveLength(3);
    const nd = await usage(w, w.admin.key, `tenant=${t.id}&group_by=key&format=ndjson`);
    expect(nd.headers.get('content-type')).toBe('application/x-ndjson');
    const parsed = (await nd.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as UsageRow);
    expect(parsed.reduce((n, r) => n + r.items, 0)).toBe(served);
  });

  it('a tenant_admin reads its own usage only; bad queries are 400, unknown tenants 404, infer keys 403', async () => {
    const w = await world();
    const t = await w.tenant();
    const other = await w.tenant();
    const ta = await w.key({ tenant: t.id, scopes: ['tenant_admin'] });
    const k = await w.key({ tenant: t.id });
    expect((await send(w, w.a, k.key, texts(2))).status).toBe(200);
    const own = (await (await usage(w, ta.key, 'group_by=day')).json()) as UsageJson;
    expect(own.tenant).toBe(t.id);
    expect(own.rows.reduce((n, r) => n + r.items, 0)).toBe(2);
    expect((await usage(w, ta.key, `tenant=${other.id}`)).status).toBe(403);
    expect((await usage(w, k.key, '')).status).toBe(403);
    for (const q of [
      'group_by=colour',
      'group_by=key,key',
      'from=2026-13-01',
      'from=2026-12-05&to=2026-12-01',
      'from=2020-01-01&to=2026-01-01',
      'format=xml',
      'unknown=1',
      `tenant=${'x'.repeat(65)}`,
    ]) {
      const res = await usage(w, w.admin.key, q);
      expect([q, res.status, await code(res)]).toEqual([q, 400, 'invalid_input']);
    }
    // last_used comes from the usage counters (minute precision): set for a used key, null for an unused one.
    const unused = await w.key({ tenant: t.id });
    const shown = (await (
      await w.call(w.a, w.admin.key, 'GET', `/v1/admin/keys/${k.record.id}`)
    ).json()) as Json;
    expect(shown.last_used).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:00\.000Z$/);
    const listed = (await (
      await w.call(w.a, w.admin.key, 'GET', `/v1/admin/keys?tenant=${t.id}`)
    ).json()) as {
      keys: Json[];
    };
    expect(listed.keys.find((x) => x.id === unused.record.id)?.last_used).toBeNull();
    expect(listed.keys.find((x) => x.id === k.record.id)?.last_used).toBe(shown.last_used);
    const missing = await usage(w, w.admin.key, 'tenant=ten_nope');
    expect([missing.status, await code(missing)]).toEqual([404, 'not_found']);
    // An admin without a tenant sees every tenant's usage, grouped by tenant.
    const all = (await (await usage(w, w.admin.key, 'group_by=tenant')).json()) as UsageJson;
    expect(all.tenant).toBeNull();
    expect(all.rows.find((r) => r.tenant === t.id)?.items).toBe(2);
  });
});
