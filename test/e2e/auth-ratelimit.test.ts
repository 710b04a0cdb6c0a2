/**
 * Through the real edge (workerd) and the Upstash REST bridge over a real Redis: every kind of auth failure, and
 * rate limiting exact under concurrency (1,000 concurrent requests against a limit of 100 allow exactly 100).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, type StackKey, startStack } from '../../scripts/stack.ts';
import { holdStackToContract } from '../contract.ts';
import { classify, errorCode, isErrorShape } from '../helpers.ts';

let stack: Stack;
let pro: StackKey;
let tiny: StackKey;
let otherModel: StackKey;

beforeAll(async () => {
  stack = await startStack({
    sharedState: 'test',
    keys: [
      { name: 'e2e-pro', tier: 'pro' },
      { name: 'e2e-tiny', tier: 'tiny' },
      { name: 'e2e-other-model', tier: 'pro', models: ['not-spam'] },
      { name: 'e2e-admin', tier: 'pro', scopes: ['admin'] },
    ],
    edgeVars: {
      RATE_LIMIT_TIERS: JSON.stringify({
        pro: { limit: 100_000, window: '60 s' },
        tiny: { limit: 100, window: '600 s' },
      }),
      // Generous timeout: the point is the limiter's exactness, not its latency under a 1,000-request burst.
      RATE_LIMIT_TIMEOUT_MS: '20000',
      RATE_LIMIT_FAIL_MODE: 'closed',
      KEY_ENV: 'dev',
    },
  });
  holdStackToContract(stack);
  [pro, tiny, otherModel] = stack.apiKeys as [StackKey, StackKey, StackKey];
});

afterAll(async () => {
  await stack?.stop();
});

describe('console sessions through wrangler dev (CONSOLE_SESSION_SECRET from the stack)', () => {
  it('a key signs in; its cookie stands for it (its scopes); sign-out makes the cookie worthless', async () => {
    const admin = stack.apiKeys[3] as StackKey;
    const signIn = await fetch(`${stack.edgeUrl}/console/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ key: admin.key }),
    });
    expect(signIn.status).toBe(200);
    const { csrf_token: csrf } = (await signIn.json()) as { csrf_token: string };
    const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0] as string;
    expect(cookie).toMatch(/^__Host-console=/);
    const tenants = () => fetch(`${stack.edgeUrl}/v1/admin/tenants`, { headers: { cookie } });
    expect((await tenants()).status).toBe(200);
    const out = await fetch(`${stack.edgeUrl}/console/session`, {
      method: 'DELETE',
      headers: { cookie, origin: stack.edgeUrl, 'x-csrf-token': csrf },
    });
    expect(out.status).toBe(200);
    expect((await tenants()).status).toBe(401);
  });

  it('serves the console page from the Worker and its stylesheet as a static asset', async () => {
    const page = await fetch(`${stack.edgeUrl}/console`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('href="/console/assets/console.css"');
    const css = await fetch(`${stack.edgeUrl}/console/assets/console.css`);
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toMatch(/^text\/css/);
  });
});

describe('auth failures of every kind', () => {
  const text = ['Subject: hello there'];
  const cases: Array<[string, () => Record<string, string>, number, string]> = [
    ['no Authorization header', () => ({}), 401, 'unauthorized'],
    [
      'an unknown key',
      () => ({ authorization: 'Bearer sk_local_not_a_real_key_000000000000' }),
      401,
      'unauthorized',
    ],
    [
      'a key with one character changed',
      () => ({ authorization: `Bearer ${pro.key.slice(0, -1)}${pro.key.endsWith('a') ? 'b' : 'a'}` }),
      401,
      'unauthorized',
    ],
    [
      'the Basic scheme',
      () => ({ authorization: `Basic ${Buffer.from(`u:${pro.key}`).toString('base64')}` }),
      400,
      'invalid_header',
    ],
    ['Bearer with no key', () => ({ authorization: 'Bearer ' }), 400, 'invalid_header'],
    ['a bare key without a scheme', () => ({ authorization: pro.key }), 400, 'invalid_header'],
    ['an empty header', () => ({ authorization: '' }), 401, 'unauthorized'],
  ];
  for (const [what, headers, status, code] of cases) {
    it(`refuses ${what}`, async () => {
      const r = await classify(stack.edgeUrl, undefined, text, headers());
      expect(isErrorShape(r.body), JSON.stringify(r.body)).toBe(true);
      expect([r.status, errorCode(r.body)]).toEqual([status, code]);
      if (r.status === 401) expect(r.headers.get('www-authenticate') ?? '').toMatch(/^Bearer/);
    });
  }

  it('refuses a valid key for a model it may not call (403)', async () => {
    const r = await classify(stack.edgeUrl, otherModel.key, text);
    expect(r.status).toBe(403);
    expect(errorCode(r.body)).toBe('forbidden');
  });

  it('accepts the valid key', async () => {
    const r = await classify(stack.edgeUrl, pro.key, text);
    expect(r.status).toBe(200);
  });
});

describe('rate limiting', () => {
  it('allows exactly 100 of 1,000 concurrent requests against a limit of 100', async () => {
    const results = await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        classify(
          stack.edgeUrl,
          tiny.key,
          [`Subject: burst ${i} WIN money now!!!`],
          { 'x-escalate': 'never' },
          120_000,
        ),
      ),
    );
    const byStatus = new Map<number, number>();
    for (const r of results) byStatus.set(r.status, (byStatus.get(r.status) ?? 0) + 1);
    expect(Object.fromEntries(byStatus)).toEqual({ 200: 100, 429: 900 });
    for (const r of results.filter((x) => x.status === 429)) {
      expect(errorCode(r.body)).toBe('rate_limited');
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }
  }, 180_000);
});

describe('tenants and keys through wrangler dev (local D1 migrated by the stack, local KV)', () => {
  it('an admin creates a tenant and a key; the key answers; revoked, it is refused with key_revoked', async () => {
    const adminKey = stack.apiKeys.find((k) => k.scopes.includes('admin'))?.key as string;
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${stack.edgeUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const tenant = await call('POST', '/v1/admin/tenants', {
      name: 'e2e tenant',
      tier: 'pro',
      models: ['spam'],
    });
    expect(tenant.status).toBe(201);
    const created = await call('POST', '/v1/admin/keys', {
      tenant: tenant.body.id,
      name: 'e2e',
      scopes: ['infer'],
    });
    expect(created.status).toBe(201);
    const key = created.body.key as string;
    expect(key).toMatch(/^sk_dev_/);
    expect((await classify(stack.edgeUrl, key, text())).status).toBe(200);
    const id = (created.body.record as { id: string }).id;
    expect((await call('POST', `/v1/admin/keys/${id}/revoke`)).status).toBe(200);
    const refused = await classify(stack.edgeUrl, key, text());
    expect([refused.status, errorCode(refused.body)]).toEqual([401, 'key_revoked']);
  });
});

const text = () => [`Subject: tenant test ${Math.random()}`];
