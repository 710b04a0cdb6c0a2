import { describe, expect, it } from 'vitest';
import { apiKey, behave, classifyRequest, keysJson, newOrigins, originLog, testApp, testEnv, tinyRelease, unique } from './harness.ts';

describe('edge app smoke (loopback origin)', () => {
  it('answers a confident text at the edge', async () => {
    const k = await apiKey();
    const release = await tinyRelease();
    const origins = await newOrigins(1);
    const e = testEnv({ API_KEYS: keysJson(k), ORIGIN_URLS: origins.join(',') });
    const t = testApp({ releases: () => [release] });
    const res = await t.call(classifyRequest(k.key, { text: `spam ${unique()}` }), e);
    const body = await res.json();
    console.log(res.status, [...res.headers], body, t.lines);
    const res2 = await t.call(classifyRequest(k.key, { text: `hello ${unique()}` }), e);
    console.log(res2.status, [...res2.headers], await res2.json(), await originLog(origins[0] as string));
    expect(res.status).toBe(200);
  });
});
