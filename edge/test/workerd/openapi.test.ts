/**
 * The OpenAPI document against the app: every route the app has is in the document and every operation in the
 * document is a route of the app; /openapi.json serves the committed document (no key, cacheable, 304 on its ETag)
 * and /docs the reference page over it.
 */
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { appOperations } from '../../../shared/openapi/contract.ts';
import document from '../../openapi.json';
import { edgeContract } from './contract.ts';
import { testApp } from './harness.ts';

describe('the OpenAPI document', () => {
  it('has every route of the app, and nothing the app does not serve', () => {
    const documented = edgeContract.operations().sort();
    const served = appOperations(testApp().app.routes);
    expect(
      served.filter((op) => !documented.includes(op)),
      'routes missing from the document',
    ).toEqual([]);
    expect(
      documented.filter((op) => !served.includes(op)),
      'documented routes the app lacks',
    ).toEqual([]);
    expect(served.length).toBeGreaterThan(40);
  });

  it('is served at /openapi.json without a key, cacheable, with a 304 on its ETag', async () => {
    const t = testApp();
    const res = await t.call(new Request('https://edge.test/openapi.json'), env);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('cache-control')).toMatch(/public/);
    expect(await res.json()).toEqual(document);
    const etag = res.headers.get('etag') as string;
    expect(etag).toMatch(/^"[0-9a-f]{32}"$/);
    const again = await t.call(
      new Request('https://edge.test/openapi.json', { headers: { 'if-none-match': etag } }),
      env,
    );
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
  });

  it('has an interactive reference at /docs that reads /openapi.json', async () => {
    const res = await testApp().call(new Request('https://edge.test/docs'), env);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await res.text()).toContain('/openapi.json');
  });

  it('says which key each authenticated route needs', () => {
    const doc = document as unknown as {
      paths: Record<string, Record<string, { security?: Array<Record<string, string[]>> }>>;
    };
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        if (!path.startsWith('/v1/') && !path.startsWith('/v2/models/')) continue;
        // The scopes that let a key in (an empty list: any valid key, e.g. a job's owner).
        const scopes = op.security?.[0]?.bearer;
        expect(Array.isArray(scopes), `${method.toUpperCase()} ${path} needs a key`).toBe(true);
      }
    }
  });
});
