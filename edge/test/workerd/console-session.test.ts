/**
 * The console's sessions through the whole app in workerd (real Upstash bridge over Redis): a key exchanged for a
 * signed, HttpOnly, Secure, SameSite=Strict cookie holding no key; the cookie stands for the key on the API with its
 * scopes; state-changing calls need the same origin and the CSRF token; sign-out makes the cookie worthless.
 */
import { describe, expect, it } from 'vitest';
import { sameToken } from '../../src/console/session.ts';
import { apiKey, keysJson, testApp, testEnv } from './harness.ts';

const EDGE = 'https://edge.test';

async function world(vars: Record<string, string> = {}) {
  const reviewer = await apiKey({ scopes: ['reviewer'], models: [] });
  const admin = await apiKey({ scopes: ['admin'], models: ['*'] });
  const env = testEnv({ API_KEYS: keysJson(reviewer, admin), ...vars });
  const t = testApp();
  const call = (
    method: string,
    path: string,
    init: { headers?: Record<string, string>; body?: string } = {},
  ) => t.call(new Request(`${EDGE}${path}`, { method, headers: init.headers, body: init.body }), env);
  const signIn = async (key: string) => {
    const res = await call('POST', '/console/session', {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ key }),
    });
    const setCookie = res.headers.get('set-cookie') ?? '';
    return { res, setCookie, cookie: setCookie.split(';')[0] as string };
  };
  return { reviewer, admin, call, signIn, t };
}

describe('console sessions (whole app, Upstash bridge)', () => {
  it('exchanges a key for a signed HttpOnly Secure SameSite=Strict cookie that holds no key', async () => {
    const w = await world();
    const { res, setCookie, cookie } = await w.signIn(w.reviewer.key);
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      csrf_token: string;
      principal: { scopes: string[] };
      expires_at: string;
    };
    expect(body.principal.scopes).toEqual(['reviewer']);
    expect(body.csrf_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(setCookie).toMatch(/^__Host-console=/);
    for (const attr of ['HttpOnly', 'Secure', 'SameSite=Strict', 'Path=/', 'Max-Age=28800'])
      expect(setCookie).toContain(attr);
    expect(setCookie).not.toContain(w.reviewer.key);
    expect(cookie).not.toContain(w.reviewer.hash);
    // The cookie is the key: the reviewer's routes answer, the admin's do not.
    const review = await w.call('GET', '/v1/review?model=spam', { headers: { cookie } });
    expect(review.status).toBe(200);
    expect((await w.call('GET', '/v1/admin/tenants', { headers: { cookie } })).status).toBe(403);
    const me = await w.call('GET', '/console/session', { headers: { cookie } });
    expect(await me.json()).toMatchObject({
      csrf_token: body.csrf_token,
      principal: { scopes: ['reviewer'] },
    });
  });

  it('state-changing calls need the same origin and the CSRF token', async () => {
    const w = await world();
    const { res, cookie } = await w.signIn(w.reviewer.key);
    const { csrf_token: csrf } = (await res.json()) as { csrf_token: string };
    const label = (headers: Record<string, string>) =>
      w.call('POST', '/v1/review/rv_00000000000000000000000000000000', {
        headers: { cookie, 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ label: 'spam' }),
      });
    expect((await label({})).status).toBe(403);
    expect((await label({ origin: EDGE })).status).toBe(403);
    expect((await label({ origin: 'https://evil.test', 'x-csrf-token': csrf })).status).toBe(403);
    expect((await label({ 'sec-fetch-site': 'cross-site', 'x-csrf-token': csrf })).status).toBe(403);
    // Same origin with the token: through to the route (no such item).
    expect((await label({ origin: EDGE, 'x-csrf-token': csrf })).status).toBe(404);
    expect((await label({ 'sec-fetch-site': 'same-origin', 'x-csrf-token': csrf })).status).toBe(404);
  });

  it('sign-out deletes the session: the same cookie is 401 afterwards', async () => {
    const w = await world();
    const { res, cookie } = await w.signIn(w.admin.key);
    const { csrf_token: csrf } = (await res.json()) as { csrf_token: string };
    expect((await w.call('DELETE', '/console/session', { headers: { cookie } })).status).toBe(403);
    const out = await w.call('DELETE', '/console/session', {
      headers: { cookie, origin: EDGE, 'x-csrf-token': csrf },
    });
    expect(out.status).toBe(200);
    expect(out.headers.get('set-cookie')).toMatch(/__Host-console=;.*Max-Age=0/);
    const after = await w.call('GET', '/v1/admin/tenants', { headers: { cookie } });
    expect(after.status).toBe(401);
    expect((await w.call('GET', '/console/session', { headers: { cookie } })).status).toBe(401);
  });

  it('refuses a bad key (401), a forged or tampered cookie (401), bad bodies (400/415) and no store (503)', async () => {
    const w = await world();
    expect((await w.signIn('sk_test_not_a_real_key_0000000000')).res.status).toBe(401);
    const bad = (body: string, type: string) =>
      w.call('POST', '/console/session', { headers: { 'content-type': type }, body });
    expect((await bad('{"key": 1}', 'application/json')).status).toBe(400);
    expect((await bad('{"key": "a", "x": 1}', 'application/json')).status).toBe(400);
    expect((await bad('not json', 'application/json')).status).toBe(400);
    expect((await bad('key=abc', 'text/plain')).status).toBe(415);
    const { cookie } = await w.signIn(w.reviewer.key);
    const tampered = `${cookie.slice(0, 20)}${cookie[20] === 'A' ? 'B' : 'A'}${cookie.slice(21)}`;
    expect((await w.call('GET', '/v1/review?model=spam', { headers: { cookie: tampered } })).status).toBe(
      401,
    );
    expect(
      (await w.call('GET', '/v1/review?model=spam', { headers: { cookie: '__Host-console=forged.sig' } }))
        .status,
    ).toBe(401);
    const noStore = await world({ UPSTASH_REDIS_REST_URL: '', UPSTASH_REDIS_REST_TOKEN: '' });
    expect((await noStore.signIn(noStore.reviewer.key)).res.status).toBe(503);
  });

  it('a form post (no script) signs in and redirects to /console', async () => {
    const w = await world();
    const res = await w.call('POST', '/console/session', {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `key=${encodeURIComponent(w.reviewer.key)}`,
    });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/console');
    expect(res.headers.get('set-cookie')).toMatch(/^__Host-console=/);
  });

  it('GET /console: the sign-in form without a session, who is signed in with one; strict CSP, names as text', async () => {
    const hostile = await apiKey({ scopes: ['reviewer'], models: [], name: '<img src=x onerror=alert(1)>' });
    const w = await world({ API_KEYS: keysJson(hostile) });
    const anonymous = await w.call('GET', '/console');
    expect(anonymous.status).toBe(200);
    expect(anonymous.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = anonymous.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(anonymous.headers.get('x-content-type-options')).toBe('nosniff');
    // same-origin, not no-referrer: a no-referrer page's form posts carry `Origin: null`.
    expect(anonymous.headers.get('referrer-policy')).toBe('same-origin');
    const form = await anonymous.text();
    expect(form).toContain('<form method="post" action="/console/session">');
    expect(form).not.toMatch(/<script(?![^>]*src=)/); // no inline script
    const { cookie, res } = await w.signIn(hostile.key);
    const { csrf_token: csrf } = (await res.json()) as { csrf_token: string };
    const page = await (await w.call('GET', '/console', { headers: { cookie } })).text();
    expect(page).toContain('Signed in as &lt;img src=x onerror=alert(1)&gt;');
    expect(page).not.toContain('<img src=x');
    expect(page).toContain(`name="csrf_token" value="${csrf}"`);
  });

  it('POST /console/sign-out (a form): same origin and the CSRF token end the session, then to /console', async () => {
    const w = await world();
    const { res, cookie } = await w.signIn(w.reviewer.key);
    const { csrf_token: csrf } = (await res.json()) as { csrf_token: string };
    const form = (token: string, origin = EDGE) =>
      w.call('POST', '/console/sign-out', {
        headers: { cookie, origin, 'content-type': 'application/x-www-form-urlencoded' },
        body: `csrf_token=${encodeURIComponent(token)}`,
      });
    expect((await form('wrong')).status).toBe(403);
    expect((await form(csrf, 'https://evil.test')).status).toBe(403);
    // A browser's form post under a no-referrer policy says `Origin: null`; Sec-Fetch-Site decides then.
    const opaque = (site: string) =>
      w.call('POST', '/console/sign-out', {
        headers: {
          cookie,
          origin: 'null',
          'sec-fetch-site': site,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: `csrf_token=${encodeURIComponent(csrf)}`,
      });
    expect((await opaque('cross-site')).status).toBe(403);
    expect((await opaque('same-site')).status).toBe(403);
    const out = await form(csrf);
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toBe('/console');
    expect((await w.call('GET', '/v1/review?model=spam', { headers: { cookie } })).status).toBe(401);
    expect(await (await w.call('GET', '/console', { headers: { cookie } })).text()).toContain('Sign in');
  });

  it('a form post from the console with `Origin: null` and Sec-Fetch-Site same-origin signs out', async () => {
    const w = await world();
    const { res, cookie } = await w.signIn(w.reviewer.key);
    const { csrf_token: csrf } = (await res.json()) as { csrf_token: string };
    const out = await w.call('POST', '/console/sign-out', {
      headers: {
        cookie,
        origin: 'null',
        'sec-fetch-site': 'same-origin',
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: `csrf_token=${encodeURIComponent(csrf)}`,
    });
    expect(out.status).toBe(303);
    expect((await w.call('GET', '/console/session', { headers: { cookie } })).status).toBe(401);
  });

  it('a refused form sign-in goes back to the form with a reason; `next` goes to a view, nothing else', async () => {
    const w = await world();
    const form = (body: string) =>
      w.call('POST', '/console/session', {
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body,
      });
    const bad = await form('key=sk_test_nope&next=%2Fconsole%2Freview');
    expect(bad.status).toBe(303);
    expect(bad.headers.get('location')).toBe('/console?error=rejected&next=%2Fconsole%2Freview');
    expect(bad.headers.get('set-cookie')).toBeNull();
    const page = await (await w.call('GET', '/console?error=rejected&next=%2Fconsole%2Freview')).text();
    expect(page).toContain('That key was not accepted');
    expect(page).toContain('name="next" value="/console/review"');
    expect((await form('key=')).headers.get('location')).toBe('/console?error=missing');
    // Unknown reasons and foreign `next` values are ignored, never reflected.
    for (const q of [
      'error=constructor',
      'error=%3Cb%3E',
      'next=https%3A%2F%2Fevil.test',
      'next=%2F%2Fevil.test',
    ]) {
      const text = await (await w.call('GET', `/console?${q}`)).text();
      expect(text).not.toContain('role="alert"');
      expect(text).not.toContain('evil.test');
      expect(text).not.toContain('name="next"');
    }
    const ok = await form(`key=${encodeURIComponent(w.reviewer.key)}&next=%2Fconsole%2Freview`);
    expect(ok.headers.get('location')).toBe('/console/review');
    const evil = await form(`key=${encodeURIComponent(w.reviewer.key)}&next=https%3A%2F%2Fevil.test`);
    expect(evil.headers.get('location')).toBe('/console');
  });

  it("views follow the key's scopes: a reviewer gets Review only, other views are a 403 page; no session: to sign-in", async () => {
    const w = await world();
    const anonymous = await w.call('GET', '/console/review');
    expect(anonymous.status).toBe(303);
    expect(anonymous.headers.get('location')).toBe('/console?next=%2Fconsole%2Freview');
    const reviewer = (await w.signIn(w.reviewer.key)).cookie;
    const home = await (await w.call('GET', '/console', { headers: { cookie: reviewer } })).text();
    expect(home).toContain('href="/console/review"');
    expect(home).not.toContain('href="/console/models"');
    const review = await w.call('GET', '/console/review', { headers: { cookie: reviewer } });
    expect(review.status).toBe(200);
    const html = await review.text();
    expect(html).toContain('<script type="module" src="/console/assets/review.js">');
    expect(html).toMatch(/<meta name="csrf-token" content="[A-Za-z0-9_-]{43}"/);
    expect(html).toContain('aria-current="page"');
    expect(html).not.toMatch(/<script(?![^>]*src=)/);
    for (const view of ['models', 'keys', 'jobs']) {
      const res = await w.call('GET', `/console/${view}`, { headers: { cookie: reviewer } });
      expect(res.status).toBe(403);
      expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
      expect(await res.text()).toContain('Not allowed');
    }
    const admin = (await w.signIn(w.admin.key)).cookie;
    for (const view of ['review', 'models', 'jobs', 'keys']) {
      const res = await w.call('GET', `/console/${view}`, { headers: { cookie: admin } });
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text).toContain(`src="/console/assets/${view}.js"`);
      expect(text).toMatch(/data-models="[^"]*spam/);
    }
    expect((await w.call('GET', '/console/settings', { headers: { cookie: admin } })).status).toBe(404);
  });

  it('the session store down: pages say so in HTML (503, Retry-After), a form sign-in goes back with the reason', async () => {
    const w = await world();
    const { cookie } = await w.signIn(w.admin.key);
    const down = await world({ UPSTASH_REDIS_REST_URL: '', UPSTASH_REDIS_REST_TOKEN: '' });
    for (const path of ['/console', '/console/models']) {
      const res = await down.call('GET', path, { headers: { cookie } });
      expect(res.status).toBe(503);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
      expect(await res.text()).toContain('The console is unavailable');
    }
    // No cookie: nothing to look up, the sign-in form as usual; its post cannot store a session.
    expect((await down.call('GET', '/console')).status).toBe(200);
    const post = await down.call('POST', '/console/session', {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `key=${encodeURIComponent(down.reviewer.key)}&next=%2Fconsole%2Freview`,
    });
    expect(post.status).toBe(303);
    expect(post.headers.get('location')).toBe('/console?error=unavailable&next=%2Fconsole%2Freview');
    expect(post.headers.get('set-cookie')).toBeNull();
    expect(await (await down.call('GET', '/console?error=unavailable')).text()).toContain(
      'The session store is not answering',
    );
    // The JSON API keeps its JSON 503.
    expect((await down.signIn(down.reviewer.key)).res.status).toBe(503);
  });

  it('compares CSRF tokens whole: same length and every character', () => {
    expect(sameToken('abc', 'abc')).toBe(true);
    for (const wrong of [undefined, '', 'ab', 'abd', 'abcd', 'ABC'])
      expect(sameToken(wrong, 'abc')).toBe(false);
  });
});
