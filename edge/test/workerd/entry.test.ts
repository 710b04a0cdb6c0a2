import { exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';

// The real default export (edge/src/index.ts) with the project's wrangler.toml bindings.
describe('the Worker entry (exports.default)', () => {
  it('serves health without a key', async () => {
    const res = await exports.default.fetch('https://edge.test/v2/health/live');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ live: true });
    expect(res.headers.get('x-request-id')).toBeTruthy();
  });

  it('refuses classify without a key (401 JSON)', async () => {
    const res = await exports.default.fetch('https://edge.test/v1/models/spam/classify', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"text":"hi"}',
    });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
  });
});
