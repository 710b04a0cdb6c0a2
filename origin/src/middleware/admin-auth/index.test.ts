/** The admin bearer token over real HTTP (a signed origin without a registry, which still lists what it serves). */
import { describe, expect, it } from 'vitest';
import { mlpVersion } from '../../../test/fixtures.ts';
import { useOrigin } from '../../../test/harness.ts';
import { adminAuth } from './index.ts';

const TOKEN = 'admin-token-0123456789abcdef';
const SMALL = [16, 8, 2];
const withToken = useOrigin([mlpVersion('mlp', '1', SMALL)], {
  signingSecret: 'origin-test-signing-secret',
  adminToken: TOKEN,
});
const withoutToken = useOrigin([mlpVersion('mlp', '1', SMALL)], {
  signingSecret: 'origin-test-signing-secret',
});
const unsigned = useOrigin([mlpVersion('mlp', '1', SMALL)]);

async function call(url: string, path: string, authorization?: string) {
  const res = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: authorization === undefined ? {} : { authorization },
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

const code = (body: Record<string, unknown>) => (body.error as { code: string } | undefined)?.code;

describe('adminAuth', () => {
  it('lets the right bearer token through without an edge signature', async () => {
    const r = await call(withToken.url, '/v2/repository/index', `Bearer ${TOKEN}`);
    expect(r.status).toBe(200);
    expect(r.body).toEqual([{ name: 'mlp', version: '1', state: 'READY', source: 'repository' }]);
  });

  it('answers 401 with WWW-Authenticate to no token or a wrong one, 400 to a malformed header', async () => {
    const none = await call(withToken.url, '/v2/repository/index');
    expect([none.status, code(none.body)]).toEqual([401, 'unauthorized']);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="origin-admin"');
    const wrong = await call(withToken.url, '/v2/repository/index', `Bearer ${TOKEN}x`);
    expect([wrong.status, code(wrong.body)]).toEqual([401, 'unauthorized']);
    expect(wrong.headers.get('www-authenticate')).toBe('Bearer realm="origin-admin", error="invalid_token"');
    const malformed = await call(withToken.url, '/v2/repository/index', `Bearer ${TOKEN} extra`);
    expect([malformed.status, code(malformed.body)]).toEqual([400, 'invalid_header']);
  });

  it('turns the admin calls off (403) without a token, and leaves them open only with unsigned use allowed', async () => {
    const off = await call(withoutToken.url, '/v2/repository/index', `Bearer ${TOKEN}`);
    expect([off.status, code(off.body)]).toEqual([403, 'forbidden']);
    expect((off.body.error as { message: string }).message).toMatch(/ORIGIN_ADMIN_TOKEN/);
    expect((await call(unsigned.url, '/v2/repository/index')).status).toBe(200);
  });

  it('answers the load call without a registry with 404 naming the setting', async () => {
    const r = await call(withToken.url, '/v2/repository/models/mlp/load', `Bearer ${TOKEN}`);
    expect([r.status, code(r.body)]).toEqual([404, 'model_not_found']);
    expect((r.body.error as { message: string }).message).toMatch(/MODEL_REGISTRY_S3_ENDPOINT/);
  });

  it('refuses a short token when built', () => {
    expect(() => adminAuth({ token: 'short' })).toThrow(/at least 16 characters, got 5/);
  });
});
