import { describe, expect, it } from 'vitest';
import { MemoryNonceStore, signedString, signRequest, verifyRequest } from './index.ts';

const secret = 'a-very-secret-shared-key';
const base = { method: 'POST', path: '/v2/models/spam/infer', body: '{"inputs":[]}' };
const now = 1_800_000_000_000;

describe('signRequest + verifyRequest', () => {
  it('accepts a request signed with the shared secret', async () => {
    const headers = await signRequest({ secret, ...base, now });
    expect(headers['x-signature']).toMatch(/^[0-9a-f]{64}$/);
    expect(headers['x-signature-timestamp']).toBe(String(now));
    expect(headers['x-signature-nonce']).toMatch(/^[0-9a-f]{32}$/);
    expect(await verifyRequest({ secret, ...base, headers, now: now + 1000 })).toEqual({ ok: true });
  });

  it('signs the exact documented string', async () => {
    const headers = await signRequest({ secret, ...base, now, nonce: 'nonce-0123456789abcdef' });
    const key = await crypto.subtle.importKey(
      'raw',
      new TextEncoder().encode(secret),
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['sign'],
    );
    const bodyHash = Buffer.from(
      await crypto.subtle.digest('SHA-256', new TextEncoder().encode(base.body)),
    ).toString('hex');
    const mac = await crypto.subtle.sign(
      'HMAC',
      key,
      new TextEncoder().encode(
        signedString('POST', base.path, String(now), 'nonce-0123456789abcdef', bodyHash),
      ),
    );
    expect(headers['x-signature']).toBe(Buffer.from(mac).toString('hex'));
  });

  it('signs the priority the edge decided: changing, adding or dropping x-priority breaks the signature', async () => {
    const headers = await signRequest({ secret, ...base, now, priority: 2 });
    expect(headers['x-priority']).toBe('2');
    expect(await verifyRequest({ secret, ...base, headers, now })).toEqual({ ok: true });
    const tampered = { ...headers, 'x-priority': '1' };
    expect((await verifyRequest({ secret, ...base, headers: tampered, now })).ok).toBe(false);
    const { 'x-priority': _dropped, ...without } = headers;
    expect((await verifyRequest({ secret, ...base, headers: without, now })).ok).toBe(false);
    const plain = await signRequest({ secret, ...base, now });
    expect((await verifyRequest({ secret, ...base, headers: { ...plain, 'x-priority': '1' }, now })).ok).toBe(
      false,
    );
  });

  it('reads headers from a Headers object too', async () => {
    const headers = new Headers(await signRequest({ secret, ...base, now }));
    expect((await verifyRequest({ secret, ...base, headers, now })).ok).toBe(true);
  });

  it('refuses missing and malformed headers', async () => {
    const headers = await signRequest({ secret, ...base, now });
    const missing = await verifyRequest({
      secret,
      ...base,
      headers: { ...headers, 'x-signature': undefined },
      now,
    });
    expect(missing).toMatchObject({ ok: false, reason: 'missing' });
    expect(await verifyRequest({ secret, ...base, headers: {}, now })).toMatchObject({
      ok: false,
      reason: 'missing',
    });
    const malformed = await verifyRequest({
      secret,
      ...base,
      headers: { ...headers, 'x-signature': 'XYZ' },
      now,
    });
    expect(malformed).toMatchObject({ ok: false, reason: 'malformed' });
    const badTs = await verifyRequest({
      secret,
      ...base,
      headers: { ...headers, 'x-signature-timestamp': '12.5' },
      now,
    });
    expect(badTs).toMatchObject({ ok: false, reason: 'malformed' });
    const badNonce = await verifyRequest({
      secret,
      ...base,
      headers: { ...headers, 'x-signature-nonce': 'short' },
      now,
    });
    expect(badNonce).toMatchObject({ ok: false, reason: 'malformed' });
  });

  it('refuses a wrong secret and any change to method, path or body', async () => {
    const headers = await signRequest({ secret, ...base, now });
    for (const changed of [
      { secret: 'another-secret-of-16+', ...base },
      { secret, ...base, method: 'PUT' },
      { secret, ...base, path: '/v2/models/other/infer' },
      { secret, ...base, body: '{"inputs":[1]}' },
      { secret, ...base, body: null },
    ]) {
      expect(await verifyRequest({ ...changed, headers, now })).toMatchObject({
        ok: false,
        reason: 'bad_signature',
      });
    }
  });

  it('refuses timestamps outside the replay window, either way', async () => {
    const headers = await signRequest({ secret, ...base, now });
    expect(await verifyRequest({ secret, ...base, headers, now: now + 300_001 })).toMatchObject({
      reason: 'stale',
    });
    expect(await verifyRequest({ secret, ...base, headers, now: now - 300_001 })).toMatchObject({
      reason: 'stale',
    });
    expect(
      await verifyRequest({ secret, ...base, headers, now: now + 5_000, windowMs: 1_000 }),
    ).toMatchObject({
      reason: 'stale',
    });
  });

  it('refuses a replayed nonce inside the window, and only records nonces of valid signatures', async () => {
    const nonceStore = new MemoryNonceStore();
    const headers = await signRequest({ secret, ...base, now });
    const forged = { ...headers, 'x-signature': '0'.repeat(64) };
    expect(await verifyRequest({ secret, ...base, headers: forged, now, nonceStore })).toMatchObject({
      reason: 'bad_signature',
    });
    expect(await verifyRequest({ secret, ...base, headers, now, nonceStore })).toEqual({ ok: true });
    expect(await verifyRequest({ secret, ...base, headers, now: now + 10, nonceStore })).toMatchObject({
      ok: false,
      reason: 'replayed',
    });
  });

  it('accepts any of several secrets during a rotation', async () => {
    const headers = await signRequest({ secret, ...base, now });
    expect(
      (await verifyRequest({ secret: ['the-new-secret-value', secret], ...base, headers, now })).ok,
    ).toBe(true);
  });

  it('validates its options', async () => {
    await expect(signRequest({ secret: 'short', ...base })).rejects.toThrow(/16 characters/);
    await expect(signRequest({ secret, ...base, nonce: 'bad nonce!' })).rejects.toThrow(/nonce/);
    await expect(verifyRequest({ secret: [], ...base, headers: {} })).rejects.toThrow(/at least one/);
    expect(() => new MemoryNonceStore({ maxEntries: 0 })).toThrow(/maxEntries/);
  });
});

describe('MemoryNonceStore', () => {
  it('forgets nonces once they expire and keeps at most maxEntries', () => {
    const store = new MemoryNonceStore({ maxEntries: 3 });
    expect(store.add('a', 100, 0)).toBe(true);
    expect(store.add('a', 100, 50)).toBe(false);
    expect(store.add('a', 300, 150)).toBe(true);
    for (const n of ['b', 'c', 'd', 'e']) store.add(n, 1000, 160);
    expect(store.size).toBeLessThanOrEqual(3);
  });
});
