import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { errorBody } from '../../../../shared/errors/index.ts';
import { sha256Hex } from '../../../../shared/hash/index.ts';
import type { KeyRecord } from '../../config.ts';
import type { AppEnv } from '../../types.ts';
import { requestId } from '../request-id/index.ts';
import { assertModelAllowed, auth } from './index.ts';

const KEY = 'sk_live_abcdef0123456789';
const OTHER = 'sk_live_zzzzzz0123456789';

function record(r: Partial<KeyRecord> & Pick<KeyRecord, 'name' | 'models'>): KeyRecord {
  return { id: `key_${r.name}`, tier: 'pro', scopes: ['infer'], ...r };
}

async function keyTable(): Promise<Map<string, KeyRecord>> {
  return new Map([
    [await sha256Hex(KEY), record({ name: 'acme', models: ['spam'] })],
    [await sha256Hex(OTHER), record({ name: 'all', models: ['*'], tier: 'free' })],
  ]);
}

async function app() {
  const keys = await keyTable();
  const a = new Hono<AppEnv>();
  a.use(requestId({ write: () => {} }));
  a.use(auth({ keys: () => keys, realm: 'spam-edge' }));
  a.get('/models/:model', (c) => {
    assertModelAllowed(c.get('principal'), c.req.param('model'));
    return c.json({ principal: c.get('principal').name });
  });
  a.onError((err, c) => {
    const { status, body, headers } = errorBody(err, c.get('requestId'));
    return c.json(body, status, headers);
  });
  return a;
}

describe('auth middleware', () => {
  it('401 + WWW-Authenticate when the key is missing', async () => {
    const res = await (await app()).request('/models/spam');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="spam-edge"');
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
  });

  it.each(['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer two words', 'Bearer bad"quote'])(
    '400 for a malformed header: %s',
    async (h) => {
      const res = await (await app()).request('/models/spam', { headers: { authorization: h } });
      expect(res.status).toBe(400);
      expect(res.headers.get('www-authenticate')).toContain('error="invalid_request"');
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('invalid_header');
    },
  );

  it('401 invalid_token for an unknown key', async () => {
    const res = await (await app()).request('/models/spam', {
      headers: { authorization: 'Bearer sk_live_unknown' },
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });

  it('passes a known key and exposes its principal, never the key', async () => {
    const res = await (await app()).request('/models/spam', { headers: { authorization: `Bearer ${KEY}` } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ principal: 'acme' });
  });

  it.each(['bearer', 'BEARER', 'BeArEr'])(
    'accepts the scheme in any case (RFC 7235): %s <key>',
    async (scheme) => {
      const res = await (await app()).request('/models/spam', {
        headers: { authorization: `${scheme} ${KEY}` },
      });
      expect(res.status).toBe(200);
    },
  );

  it('403 for a key without the infer scope (an admin-only key), whatever its models', async () => {
    const adminOnly = 'sk_live_adminonly0123456789';
    const keys = new Map([
      [await sha256Hex(adminOnly), record({ name: 'ops', models: ['*'], scopes: ['admin'] })],
    ]);
    const a = new Hono<AppEnv>();
    a.use(requestId({ write: () => {} }));
    a.use(auth({ keys: () => keys }));
    a.get('/models/:model', (c) => {
      assertModelAllowed(c.get('principal'), c.req.param('model'));
      return c.json({ ok: true });
    });
    a.onError((err, c) => {
      const { status, body } = errorBody(err, c.get('requestId'));
      return c.json(body, status);
    });
    const res = await a.request('/models/spam', { headers: { authorization: `Bearer ${adminOnly}` } });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/infer scope/);
  });

  it('403 for a model outside the key scope; "*" covers every model', async () => {
    const a = await app();
    const res = await a.request('/models/other', { headers: { authorization: `Bearer ${KEY}` } });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('forbidden');
    expect((await a.request('/models/other', { headers: { authorization: `Bearer ${OTHER}` } })).status).toBe(
      200,
    );
  });

  it('validates its options', () => {
    expect(() => auth({} as never)).toThrow(/keys must be a function/);
    expect(() => auth({ keys: () => new Map(), realm: 'bad"realm' })).toThrow(/realm/);
  });
});
