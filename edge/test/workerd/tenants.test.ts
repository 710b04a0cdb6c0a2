/**
 * Tenants and API keys in workerd: the admin API over the local D1 (migrations applied) and KV, keys created,
 * used, rotated, expired, disabled and revoked, seen by a second app instance (another isolate) within the cache
 * bound; malformed keys refused without touching KV or D1; audit entries; no secret in logs or errors.
 */
import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../../shared/hash/index.ts';
import { generateKey } from '../../src/tenants/key-format.ts';
import { classifyRequest, unique } from './harness.ts';
import { code, type ErrorJson, type Json, type KeyAnswer, world } from './tenant-world.ts';

describe('tenants and keys (workerd, local D1 + KV)', () => {
  it('creates a tenant and a key shown once; the key works at once on another isolate', async () => {
    const w = await world();
    const t = await w.tenant({ models: ['spam'], quotas: { items_per_day: 1000 } });
    expect(t).toMatchObject({
      tier: 'pro',
      models: ['spam'],
      regions: ['*'],
      quotas: { items_per_day: 1000 },
    });
    const k = await w.key({ tenant: t.id });
    expect(k.key).toMatch(/^sk_test_[0-9A-Za-z]{36}$/);
    expect(k.record).toMatchObject({ tenant: t.id, scopes: ['infer'], models: null, revoked: false });
    expect(k.key.startsWith(k.record.start)).toBe(true);
    expect(JSON.stringify(k.record)).not.toContain(k.key);
    // Another isolate that never saw it: KV has it (written before the secret was returned).
    const res = await w.classify(w.b, k.key);
    expect(res.status).toBe(200);
    // Its models are its tenant's: another model is forbidden.
    const other = await w.b.call(
      classifyRequest(k.key, { text: 'hi' }, {}, '/v1/models/digits/classify'),
      w.env,
    );
    expect(other.status).toBe(403);
    const got = await w.call(w.a, w.admin.key, 'GET', `/v1/admin/keys/${k.record.id}`);
    // The record as created, plus its last use (it was just used).
    const { last_used, ...record } = (await got.json()) as Json;
    expect(record).toEqual(k.record);
    expect(last_used).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:00\.000Z$/);
  });

  it('lists keys and tenants by page; a tenant_admin sees its own tenant only', async () => {
    const w = await world();
    const t1 = await w.tenant();
    const t2 = await w.tenant();
    const ta = await w.key({ tenant: t1.id, scopes: ['tenant_admin'] });
    for (let i = 0; i < 3; i++) await w.key({ tenant: t1.id });
    await w.key({ tenant: t2.id });
    const page1 = (await (await w.call(w.a, ta.key, 'GET', '/v1/admin/keys?limit=2')).json()) as {
      keys: Json[];
      cursor: string;
    };
    expect(page1.keys).toHaveLength(2);
    const page2 = (await (
      await w.call(w.a, ta.key, 'GET', `/v1/admin/keys?limit=2&cursor=${page1.cursor}`)
    ).json()) as { keys: Json[]; cursor: string | null };
    expect(page2.keys).toHaveLength(2);
    expect(page2.cursor).toBeNull();
    expect([...page1.keys, ...page2.keys].every((k) => k.tenant === t1.id)).toBe(true);
    const tenants = (await (await w.call(w.a, ta.key, 'GET', '/v1/admin/tenants')).json()) as {
      tenants: Json[];
    };
    expect(tenants.tenants.map((x) => x.id)).toEqual([t1.id]);
    // Another tenant's keys, tenant, or a key of it: 403.
    expect((await w.call(w.a, ta.key, 'GET', `/v1/admin/keys?tenant=${t2.id}`)).status).toBe(403);
    expect((await w.call(w.a, ta.key, 'GET', `/v1/admin/tenants/${t2.id}`)).status).toBe(403);
    // A tenant_admin creates keys in its own tenant only, and never grants admin.
    expect(
      (await w.call(w.a, ta.key, 'POST', '/v1/admin/keys', { tenant: t2.id, name: 'x', scopes: ['infer'] }))
        .status,
    ).toBe(403);
    const grant = await w.call(w.a, ta.key, 'POST', '/v1/admin/keys', {
      tenant: t1.id,
      name: 'x',
      scopes: ['admin'],
    });
    expect(grant.status).toBe(403);
    expect((await w.key({ tenant: t1.id, scopes: ['reviewer'] }, ta.key)).record.tenant).toBe(t1.id);
  });

  it('rotation: the old secret works through the grace period, then key_expired; the new one works', async () => {
    const w = await world();
    const t = await w.tenant();
    const k = await w.key({ tenant: t.id });
    expect((await w.classify(w.b, k.key)).status).toBe(200); // cached in b
    const rotated = await w.call(w.a, w.admin.key, 'POST', `/v1/admin/keys/${k.record.id}/rotate`, {
      grace_seconds: 60,
    });
    expect(rotated.status).toBe(200);
    const r = (await rotated.json()) as KeyAnswer;
    expect(r.key).not.toBe(k.key);
    expect(r.record.id).toBe(k.record.id);
    expect(r.record.start).not.toBe(k.record.start);
    expect((await w.classify(w.a, k.key)).status).toBe(200);
    expect((await w.classify(w.b, r.key)).status).toBe(200);
    // A bare POST (no body, no content type) rotates with no grace: the secrets it replaced stop at once.
    const bare = await w.a.call(
      new Request(`https://edge.test/v1/admin/keys/${k.record.id}/rotate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${w.admin.key}` },
      }),
      w.env,
    );
    expect(bare.status).toBe(200);
    const latest = (await bare.json()) as KeyAnswer;
    expect((await w.classify(w.a, latest.key)).status).toBe(200);
    expect(await code(await w.classify(w.a, r.key))).toBe('key_expired');
    // A rotation ends every older secret by its own grace at the latest: the first one stops now too.
    expect(await code(await w.classify(w.a, k.key))).toBe('key_expired');
    w.advance(61_000);
    for (const isolate of [w.a, w.b]) {
      const old = await w.classify(isolate, k.key);
      expect(old.status).toBe(401);
      expect(await code(old)).toBe('key_expired');
      expect((await w.classify(isolate, latest.key)).status).toBe(200);
    }
  });

  it("revocation reaches another isolate at once: the epoch comes back in its rate limiter's round trip", async () => {
    const w = await world();
    const t = await w.tenant();
    const k = await w.key({ tenant: t.id });
    expect((await w.classify(w.b, k.key)).status).toBe(200); // b caches the record (trusted 10 s)
    const res = await w.call(w.a, w.admin.key, 'POST', `/v1/admin/keys/${k.record.id}/revoke`);
    expect(((await res.json()) as { record: Json }).record).toMatchObject({ revoked: true });
    for (const isolate of [w.a, w.b]) {
      const refused = await w.classify(isolate, k.key); // no time passes
      expect([refused.status, await code(refused)]).toEqual([401, 'key_revoked']);
    }
    // A revoked key cannot be rotated back to life.
    const again = await w.call(w.a, w.admin.key, 'POST', `/v1/admin/keys/${k.record.id}/rotate`, {});
    expect(again.status).toBe(409);
  });

  it('without the shared store (no epochs), another isolate follows within its cache bound: 10 s', async () => {
    const w = await world({ UPSTASH_REDIS_REST_URL: '', UPSTASH_REDIS_REST_TOKEN: '' });
    const t = await w.tenant();
    const k = await w.key({ tenant: t.id });
    expect((await w.classify(w.b, k.key)).status).toBe(200);
    await w.call(w.a, w.admin.key, 'POST', `/v1/admin/keys/${k.record.id}/revoke`);
    expect((await w.classify(w.b, k.key)).status).toBe(200); // b's copy, 0 s old
    w.advance(10_001);
    const there = await w.classify(w.b, k.key);
    expect([there.status, await code(there)]).toEqual([401, 'key_revoked']);
  });

  it("the epochs are read even when the key's tier has no rate limit (alone, in one round trip)", async () => {
    const w = await world();
    const t = await w.tenant({ tier: 'free' });
    const k = await w.key({ tenant: t.id });
    // Isolate b's configuration has no 'free' tier: the key's requests are not rate limited there.
    const unlimited = {
      ...w.env,
      RATE_LIMIT_TIERS: JSON.stringify({ pro: { limit: 1000, window: '60 s' } }),
    } as Env;
    const classifyB = () =>
      w.b.call(
        classifyRequest(k.key, { text: `spam ${unique()}` }, { 'cache-control': 'no-cache, no-store' }),
        unlimited,
      );
    const ok = await classifyB();
    expect([ok.status, ok.headers.get('ratelimit-limit')]).toEqual([200, null]);
    await w.call(w.a, w.admin.key, 'POST', `/v1/admin/keys/${k.record.id}/revoke`);
    expect(await code(await classifyB())).toBe('key_revoked');
  });

  it('a failing D1 or KV is 503 unavailable with Retry-After, never a 500', async () => {
    const w = await world();
    const broken = {
      prepare: () => {
        throw new Error('D1_ERROR: no such table: tenants');
      },
      batch: async () => {
        throw new Error('D1_ERROR: network connection lost');
      },
    };
    const kvDown = {
      get: async () => {
        throw new Error('KV GET failed: 500 Internal Server Error');
      },
      put: async () => {
        throw new Error('KV PUT failed');
      },
    };
    const env = { ...w.env, DB: broken, KEYS: kvDown } as unknown as Env;
    const admin = await w.a.call(
      new Request('https://edge.test/v1/admin/tenants', {
        method: 'POST',
        headers: { authorization: `Bearer ${w.admin.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'x', tier: 'pro' }),
      }),
      env,
    );
    const auth = await w.a.call(classifyRequest(generateKey('test'), { text: 'hello' }), env);
    for (const res of [admin, auth]) {
      expect([res.status, await code(res)]).toEqual([503, 'unavailable']);
      expect(res.headers.get('retry-after')).toBe('1');
    }
  });

  it('a disable and a re-scope reach another isolate at once too', async () => {
    const w = await world();
    const t = await w.tenant();
    const k = await w.key({ tenant: t.id });
    expect((await w.classify(w.b, k.key)).status).toBe(200);
    await w.call(w.a, w.admin.key, 'PATCH', `/v1/admin/keys/${k.record.id}`, { scopes: ['reviewer'] });
    expect((await w.classify(w.b, k.key)).status).toBe(403); // no infer scope any more
    await w.call(w.a, w.admin.key, 'PATCH', `/v1/admin/tenants/${t.id}`, { disabled: true });
    expect(await code(await w.classify(w.b, k.key))).toBe('key_disabled');
  });

  it('expiry, disable and enable, a disabled tenant', async () => {
    const w = await world();
    const t = await w.tenant();
    const expiring = await w.key({ tenant: t.id, expires_at: new Date(w.now() + 30_000).toISOString() });
    const k = await w.key({ tenant: t.id });
    expect((await w.classify(w.a, expiring.key)).status).toBe(200);
    const off = await w.call(w.a, w.admin.key, 'PATCH', `/v1/admin/keys/${k.record.id}`, { disabled: true });
    expect(((await off.json()) as Json).disabled).toBe(true);
    const refused = await w.classify(w.a, k.key);
    expect([refused.status, await code(refused)]).toEqual([401, 'key_disabled']);
    await w.call(w.a, w.admin.key, 'PATCH', `/v1/admin/keys/${k.record.id}`, { disabled: false });
    expect((await w.classify(w.a, k.key)).status).toBe(200);
    await w.call(w.a, w.admin.key, 'PATCH', `/v1/admin/tenants/${t.id}`, { disabled: true });
    const tenantOff = await w.classify(w.a, k.key);
    expect([tenantOff.status, await code(tenantOff)]).toEqual([401, 'key_disabled']);
    await w.call(w.a, w.admin.key, 'PATCH', `/v1/admin/tenants/${t.id}`, { disabled: false });
    expect((await w.classify(w.a, k.key)).status).toBe(200);
    w.advance(31_000);
    const expired = await w.classify(w.a, expiring.key);
    expect([expired.status, await code(expired)]).toEqual([401, 'key_expired']);
  });

  it('malformed, mistyped and made-up keys are refused without touching KV or D1', async () => {
    const w = await world();
    const real = generateKey('test');
    const typo = `${real.slice(0, 20)}${real[20] === 'a' ? 'b' : 'a'}${real.slice(21)}`;
    const bad = [
      typo,
      real.slice(0, -1),
      `${real}x`,
      real.replace('sk_test_', 'sk_prod_'),
      'sk_live_short',
      `sk_test_${'A'.repeat(36)}`,
      'x'.repeat(4000),
    ];
    w.d1.calls = 0;
    w.kv.calls = 0;
    for (const key of bad) {
      const res = await w.classify(w.a, key);
      expect(res.status).toBe(401);
      expect(await code(res)).toBe('unauthorized');
    }
    expect([w.d1.calls, w.kv.calls]).toEqual([0, 0]);
    // A well-formed key nobody has: one KV and one D1 look-up, then remembered by the isolate.
    const unknown = await w.classify(w.a, real);
    expect(unknown.status).toBe(401);
    const after = [w.d1.calls, w.kv.calls];
    expect(after[0]).toBeGreaterThan(0);
    expect(after[1]).toBe(1);
    await w.classify(w.a, real);
    expect([w.d1.calls, w.kv.calls]).toEqual(after);
  });

  it('records every change in the audit log, never a secret; secrets never reach logs or errors', async () => {
    const w = await world();
    const t = await w.tenant();
    const k = await w.key({ tenant: t.id });
    const r = (await (
      await w.call(w.a, w.admin.key, 'POST', `/v1/admin/keys/${k.record.id}/rotate`, { grace_seconds: 0 })
    ).json()) as KeyAnswer;
    await w.call(w.a, w.admin.key, 'POST', `/v1/admin/keys/${k.record.id}/revoke`);
    await w.classify(w.a, r.key);
    const audit = (await (
      await w.call(w.a, w.admin.key, 'GET', `/v1/admin/audit?tenant=${t.id}`)
    ).json()) as {
      entries: Array<Json & { action: string; actor: string }>;
    };
    expect(audit.entries.map((e) => e.action)).toEqual([
      'key.revoke',
      'key.rotate',
      'key.create',
      'tenant.create',
    ]);
    expect(audit.entries.every((e) => e.actor === w.admin.record.id)).toBe(true);
    // A cursor that is digits but no page's (past 2^53) is the client's 400, not a store failure.
    for (const cursor of ['9999999999999999', 'abc']) {
      const bad = await w.call(w.a, w.admin.key, 'GET', `/v1/admin/audit?cursor=${cursor}`);
      expect(bad.status, cursor).toBe(400);
    }
    const everything = JSON.stringify([audit, w.a.lines, w.b.lines]);
    for (const secret of [k.key, r.key, w.admin.key]) {
      expect(everything).not.toContain(secret);
      expect(everything).not.toContain(await sha256Hex(secret));
    }
  });

  it('refuses bad input with a 400 naming the field, unknown ids with 404, non-admins with 403', async () => {
    const w = await world();
    const t = await w.tenant();
    const user = await w.key({ tenant: t.id });
    const post = (path: string, body: unknown, key = w.admin.key) => w.call(w.a, key, 'POST', path, body);
    const cases: Array<[Response, number, string, RegExp?]> = [
      [
        await post('/v1/admin/tenants', { name: 'x', tier: 'pro', colour: 'red' }),
        400,
        'invalid_input',
        /colour/,
      ],
      [await post('/v1/admin/tenants', { name: 'x', tier: 'platinum' }), 400, 'invalid_input', /tier/],
      [await post('/v1/admin/tenants', { name: '', tier: 'pro' }), 400, 'invalid_input', /name/],
      [
        await post('/v1/admin/tenants', { name: 'x', tier: 'pro', quotas: { items_per_day: -1 } }),
        400,
        'invalid_input',
        /items_per_day/,
      ],
      [await post('/v1/admin/tenants', '{"name": "x",'), 400, 'invalid_json'],
      [
        await post('/v1/admin/keys', { tenant: t.id, name: 'x', scopes: ['root'] }),
        400,
        'invalid_input',
        /scopes/,
      ],
      [
        await post('/v1/admin/keys', { tenant: t.id, name: 'x', scopes: ['infer'], expires_at: 'tomorrow' }),
        400,
        'invalid_input',
        /expires_at/,
      ],
      [
        await post('/v1/admin/keys', {
          tenant: t.id,
          name: 'x',
          scopes: ['infer'],
          expires_at: '2001-01-01T00:00:00Z',
        }),
        400,
        'invalid_input',
        /future/,
      ],
      [await post('/v1/admin/keys', { tenant: 'ten_nope', name: 'x', scopes: ['infer'] }), 404, 'not_found'],
      [await post(`/v1/admin/keys/key_nope/revoke`, {}), 404, 'not_found'],
      [await w.call(w.a, w.admin.key, 'GET', '/v1/admin/tenants/ten_nope'), 404, 'not_found'],
      [await w.call(w.a, w.admin.key, 'GET', '/v1/admin/keys?limit=0'), 400, 'invalid_input', /limit/],
      [await post('/v1/admin/tenants', { name: 'x', tier: 'pro' }, user.key), 403, 'forbidden'],
      [await w.call(w.a, user.key, 'GET', '/v1/admin/keys'), 403, 'forbidden'],
      [await w.call(w.a, user.key, 'GET', '/v1/admin/audit'), 403, 'forbidden'],
    ];
    for (const [res, status, errorCode, message] of cases) {
      const body = (await res.json()) as ErrorJson;
      expect([res.status, body.error.code]).toEqual([status, errorCode]);
      if (message !== undefined) expect(body.error.message).toMatch(message);
    }
    const m = await w.tenant({ models: ['spam'] });
    const outside = await post('/v1/admin/keys', {
      tenant: m.id,
      name: 'x',
      scopes: ['infer'],
      models: ['digits'],
    });
    expect([outside.status, ((await outside.json()) as ErrorJson).error.message]).toEqual([
      400,
      expect.stringMatching(/digits/),
    ]);
    const wrongType = await w.a.call(
      new Request('https://edge.test/v1/admin/tenants', {
        method: 'POST',
        headers: { authorization: `Bearer ${w.admin.key}`, 'content-type': 'text/plain' },
        body: '{}',
      }),
      w.env,
    );
    expect(wrongType.status).toBe(415);
  });
});
