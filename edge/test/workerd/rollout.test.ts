/**
 * Rollout at the edge (whole app in workerd, policies in the real Upstash bridge over Redis): the admin API, canary
 * routing sticky per key, promote and rollback seen by a second app ("PoP") within the policy TTL.
 */
import { describe, expect, it } from 'vitest';
import type { RolloutPolicy } from '../../../shared/rollout/index.ts';
import type { EdgeRelease } from '../../src/model/edge-model.ts';
import type { VersionStats } from '../../src/stats/report.ts';
import {
  apiKey,
  classifyRequest,
  keysJson,
  newOrigins,
  spamRollout,
  testApp,
  testEnv,
  tinyRelease,
  unique,
} from './harness.ts';

type PolicyAnswer = { policy: RolloutPolicy; stored?: boolean; versions: string[] };
type ErrorJson = { error: { code: string; message: string } };

/**
 * A model name no other test uses, with two embedded releases: by default v1 (older) and v2 (newer) of the tiny
 * student, or the given ones.
 */
async function world(options: { ttlMs?: number; releases?: EdgeRelease[] } = {}) {
  const model = `m${unique()}`;
  const rename = (r: EdgeRelease) => ({ ...r, manifest: { ...r.manifest, name: model } });
  const releases = (
    options.releases ?? [await tinyRelease({ version: 'v1' }), await tinyRelease({ version: 'v2' })]
  ).map(rename);
  const admin = await apiKey({ scopes: ['admin', 'infer'], models: ['*'] });
  const users = await Promise.all(Array.from({ length: 40 }, () => apiKey({ models: ['*'] })));
  const [origin] = await newOrigins(1);
  const env = testEnv({ API_KEYS: keysJson(admin, ...users), ORIGIN_URLS: origin as string });
  const pop = () =>
    testApp({
      releases: () => releases,
      rollout: { ttlMs: options.ttlMs ?? 5000 },
      stats: { flushMs: 0 },
      guard: { flushMs: 0 },
    });
  const a = pop();
  const b = pop();
  const call = (t: ReturnType<typeof pop>, key: string, method: string, path: string, body?: unknown) =>
    t.call(
      new Request(`https://edge.test${path}`, {
        method,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      }),
      env,
    );
  const rolloutPath = `/v1/admin/models/${model}/rollout`;
  /** The version that answered a confident text for `key` at `t`. */
  const versionSeen = async (t: ReturnType<typeof pop>, key: string) => {
    const res = await t.call(
      classifyRequest(key, { text: `spam ${unique()}` }, {}, `/v1/models/${model}/classify`),
      env,
    );
    expect(res.status).toBe(200);
    return res.headers.get('x-model-version');
  };
  return { model, admin, users, env, a, b, call, rolloutPath, versionSeen };
}

describe('rollout admin API and canary routing (whole app, real Upstash bridge over Redis)', () => {
  it('admin routes refuse keys without the admin scope', async () => {
    const w = await world();
    const user = w.users[0]?.key as string;
    for (const [method, path] of [
      ['GET', w.rolloutPath],
      ['PUT', w.rolloutPath],
      ['POST', `${w.rolloutPath}/promote`],
      ['POST', `${w.rolloutPath}/rollback`],
    ] as const) {
      const res = await w.call(w.a, user, method, path, method === 'PUT' ? { stable: 'v1' } : undefined);
      expect(res.status, `${method} ${path}`).toBe(403);
    }
  });

  it('GET gives the default policy before any is stored; a malformed policy is a 400 naming the field', async () => {
    const w = await world();
    const got = (await (await w.call(w.a, w.admin.key, 'GET', w.rolloutPath)).json()) as PolicyAnswer;
    expect(got).toMatchObject({
      stored: false,
      versions: ['v1', 'v2'],
      policy: { stable: 'v2', mode: 'off', revision: 0 },
    });
    const bad = async (body: unknown, field: RegExp) => {
      const res = await w.call(w.a, w.admin.key, 'PUT', w.rolloutPath, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(((await res.json()) as ErrorJson).error.message, JSON.stringify(body)).toMatch(field);
    };
    await bad({ stable: 'v1', candidate: 'v2', mode: 'canary', weight: 2 }, /weight: /);
    await bad({ stable: 'v1', mode: 'canary' }, /candidate: mode canary needs a candidate version/);
    await bad({ stable: 'v1', mode: 'sideways' }, /mode: /);
    await bad({ stable: 'v1', extra: 1 }, /extra/);
    await bad(
      { stable: 'v9' },
      /version v9 of '.*' is neither embedded in this edge bundle nor published in the model registry \(servable: v1, v2\)/,
    );
    await bad({ stable: 'v1', revision: -1 }, /revision: /);
  });

  it('canary: the candidate answers its share, one key always sees one version; stale changes are 409', async () => {
    const w = await world();
    const put = await w.call(w.a, w.admin.key, 'PUT', w.rolloutPath, {
      stable: 'v1',
      candidate: 'v2',
      mode: 'canary',
      weight: 0.5,
    });
    expect(put.status).toBe(200);
    const { policy } = (await put.json()) as PolicyAnswer;
    expect(policy).toMatchObject({ revision: 1, updated_by: w.admin.record.id, mode: 'canary' });
    const seen = new Map<string, string | null>();
    for (const u of w.users) seen.set(u.key, await w.versionSeen(w.a, u.key));
    const candidates = [...seen.values()].filter((v) => v === 'v2').length;
    // 40 keys at weight 0.5: both arms are used (the 2,000-key share is pinned in shared/rollout's test).
    expect(candidates).toBeGreaterThan(5);
    expect(candidates).toBeLessThan(35);
    for (const u of w.users.slice(0, 10)) expect(await w.versionSeen(w.b, u.key)).toBe(seen.get(u.key));
    const stale = await w.call(w.a, w.admin.key, 'PUT', w.rolloutPath, { stable: 'v1', revision: 0 });
    expect(stale.status).toBe(409);
    expect(((await stale.json()) as ErrorJson).error.code).toBe('conflict');
  });

  it('promote and rollback reach a second PoP within the policy TTL + 1 s', async () => {
    const w = await world({ ttlMs: 300 });
    const user = w.users[0]?.key as string;
    expect(await w.versionSeen(w.b, user)).toBe('v2'); // default: the latest embedded
    await w.call(w.a, w.admin.key, 'PUT', w.rolloutPath, {
      stable: 'v1',
      candidate: 'v2',
      mode: 'canary',
      weight: 0,
    });
    const until = async (want: string) => {
      const started = Date.now();
      while (Date.now() - started < 1300) {
        if ((await w.versionSeen(w.b, user)) === want) return Date.now() - started;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`the second PoP did not switch to ${want} within the TTL + 1 s`);
    };
    await until('v1');
    const promoted = await w.call(w.a, w.admin.key, 'POST', `${w.rolloutPath}/promote`);
    expect(((await promoted.json()) as PolicyAnswer).policy).toMatchObject({
      stable: 'v2',
      candidate: null,
      mode: 'off',
    });
    await until('v2');
    await w.call(w.a, w.admin.key, 'PUT', w.rolloutPath, {
      stable: 'v2',
      candidate: 'v1',
      mode: 'canary',
      weight: 1,
    });
    await until('v1');
    const rolled = await w.call(w.a, w.admin.key, 'POST', `${w.rolloutPath}/rollback`);
    expect(((await rolled.json()) as PolicyAnswer).policy).toMatchObject({
      stable: 'v2',
      candidate: 'v1',
      mode: 'off',
      reason: 'rolled back',
    });
    await until('v2');
    // Right after a promote, rollback undoes it; a second rollback changes nothing more.
    const promotedAgain = await w.call(w.a, w.admin.key, 'POST', `${w.rolloutPath}/promote`);
    expect(((await promotedAgain.json()) as PolicyAnswer).policy).toMatchObject({
      stable: 'v1',
      candidate: null,
      promoted_from: 'v2',
    });
    await until('v1');
    const undone = await w.call(w.a, w.admin.key, 'POST', `${w.rolloutPath}/rollback`);
    const undonePolicy = ((await undone.json()) as PolicyAnswer).policy;
    expect(undonePolicy).toMatchObject({
      stable: 'v2',
      candidate: 'v1',
      mode: 'off',
      reason: 'rolled back to v2 (undoing the promotion of v1)',
    });
    expect(undonePolicy.promoted_from).toBeUndefined();
    await until('v2');
    const again = await w.call(w.a, w.admin.key, 'POST', `${w.rolloutPath}/rollback`);
    expect(((await again.json()) as PolicyAnswer).policy).toMatchObject({
      stable: 'v2',
      reason: 'rolled back',
    });
  });

  it('shadow: the candidate runs off the request path and is compared; audit checks edge answers with the origin', async () => {
    const w = await world();
    const put = await w.call(w.a, w.admin.key, 'PUT', w.rolloutPath, {
      stable: 'v1',
      candidate: 'v2',
      mode: 'shadow',
      weight: 1,
      audit_rate: 1,
    });
    expect(put.status).toBe(200);
    const user = w.users[0]?.key as string;
    // Confident texts (the edge answers) and an unsure one (the origin answers): the client always gets stable.
    for (const text of [`spam ${unique()}`, `ham ${unique()}`, `hello ${unique()}`]) {
      const res = await w.a.call(
        classifyRequest(user, { text }, {}, `/v1/models/${w.model}/classify`),
        w.env,
      );
      expect(res.status).toBe(200);
      expect(res.headers.get('x-model-version') === 'v1' || res.headers.get('x-served-by') === 'origin').toBe(
        true,
      );
      expect(res.headers.get('x-rollout-arm')).toBe('stable');
    }
    const stats = await w.call(w.a, w.admin.key, 'GET', `/v1/admin/models/${w.model}/stats?minutes=5`);
    const versions = ((await stats.json()) as { versions: VersionStats[] }).versions;
    const v2 = versions.find((v) => v.version === 'v2');
    const v1 = versions.find((v) => v.version === 'v1');
    // The same student weights: the shadow agrees on every item; the unsure item's teachers were compared too.
    expect(v2?.shadow).toMatchObject({ requests: 3, samples: 3, agree: 3, agreement: 1, errors: 0 });
    expect(v2?.shadow.origin.samples).toBe(1);
    // Audit: the two confident edge answers, checked against the origin (its fake teacher agrees).
    expect(v1?.audit).toMatchObject({ samples: 2, agree: 2, agreement: 1, errors: 0 });
    // Per version: the arm the policy chose, the latency histogram and its quantiles, no failures.
    expect(v1?.arms).toEqual({ stable: v1?.requests });
    expect(v1?.latency_histogram.reduce((a, b) => a + b, 0)).toBe(v1?.requests);
    expect(v1?.latency_ms.p50).toBeGreaterThan(0);
    expect(v1?.errors).toEqual({ failed_requests: 0, degraded_items: 0, rate: 0 });
  });

  it('a deliberately bad candidate (the shuffled-labels fixture release) under canary is rolled back automatically', async () => {
    const real = spamRollout();
    const stable = real.stable.manifest.version;
    const bad = real.shuffled.manifest.version;
    const w = await world({ releases: [real.shuffled, real.stable] });
    const put = await w.call(w.a, w.admin.key, 'PUT', w.rolloutPath, {
      stable,
      candidate: bad,
      mode: 'canary',
      weight: 1,
      guardrails: { min_samples: 10, max_disagreement: 0.2 },
    });
    expect(put.status).toBe(200);
    const user = w.users[0]?.key as string;
    const seen: Array<{ version: string | null; label: string | undefined; truth: string }> = [];
    for (const { text, label } of real.texts) {
      const res = await w.a.call(
        classifyRequest(user, { text }, {}, `/v1/models/${w.model}/classify`),
        w.env,
      );
      expect(res.status).toBe(200);
      const body = (await res.json()) as { predictions: Array<{ label: string }> };
      seen.push({
        version: res.headers.get('x-model-version'),
        label: body.predictions[0]?.label,
        truth: label,
      });
      if (seen.at(-1)?.version === stable) break;
    }
    // The candidate (which learned nothing: "ham" for everything) answered until the 10th compared item, then stable.
    const byCandidate = seen.filter((s) => s.version === bad);
    expect(byCandidate.length).toBe(10);
    expect(byCandidate.filter((s) => s.label !== s.truth).length).toBeGreaterThanOrEqual(3);
    expect(seen.at(-1)?.version).toBe(stable);
    const got = (await (await w.call(w.a, w.admin.key, 'GET', w.rolloutPath)).json()) as PolicyAnswer;
    expect(got.policy).toMatchObject({ mode: 'off', stable, candidate: bad, updated_by: 'guardrail' });
    expect(got.policy.reason).toMatch(
      new RegExp(
        `^automatic rollback of ${bad.replace('.', '\\.')}: disagreement with stable 0\\.\\d+ > 0\\.2 over 10 compared items$`,
      ),
    );
  });

  it('tensor requests follow the policy too: canary routes rows to the candidate, shadow compares row by row', async () => {
    const model = `t${unique()}`;
    const rename = async (version: string) => {
      const r = await tinyRelease({ version, tensor: true });
      return { ...r, manifest: { ...r.manifest, name: model } };
    };
    const releases = [await rename('t1'), await rename('t2')];
    const admin = await apiKey({ scopes: ['admin', 'infer'], models: ['*'] });
    const [origin] = await newOrigins(1);
    const env = testEnv({ API_KEYS: keysJson(admin), ORIGIN_URLS: origin as string });
    const t = testApp({ releases: () => releases, stats: { flushMs: 0 } });
    const call = (method: string, path: string, body?: unknown) =>
      t.call(
        new Request(`https://edge.test${path}`, {
          method,
          headers: { authorization: `Bearer ${admin.key}`, 'content-type': 'application/json' },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        }),
        env,
      );
    const rows = { inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 3], data: [4, 0, 0, 0, 4, 0] }] };
    const rollout = `/v1/admin/models/${model}/rollout`;
    await call('PUT', rollout, { stable: 't1', candidate: 't2', mode: 'canary', weight: 1 });
    const canary = await call('POST', `/v2/models/${model}/infer`, rows);
    expect(canary.status).toBe(200);
    expect(canary.headers.get('x-model-version')).toBe('t2');
    expect(canary.headers.get('x-rollout-arm')).toBe('candidate');
    await call('PUT', rollout, { stable: 't1', candidate: 't2', mode: 'shadow', weight: 1, revision: 1 });
    const shadowed = await call('POST', `/v2/models/${model}/infer`, rows);
    expect(shadowed.headers.get('x-model-version')).toBe('t1');
    const stats = await call('GET', `/v1/admin/models/${model}/stats?minutes=5`);
    const t2 = ((await stats.json()) as { versions: VersionStats[] }).versions.find(
      (v) => v.version === 't2',
    );
    expect(t2?.shadow).toMatchObject({ requests: 1, samples: 2, agreement: 1 });
  });

  it('without the shared store the admin routes are 503 and requests are answered by the latest release', async () => {
    const w = await world();
    const env = { ...w.env, UPSTASH_REDIS_REST_URL: '', UPSTASH_REDIS_REST_TOKEN: '' } as Env;
    const res = await w.a.call(
      new Request(`https://edge.test${w.rolloutPath}`, {
        headers: { authorization: `Bearer ${w.admin.key}` },
      }),
      env,
    );
    expect(res.status).toBe(503);
    const answered = await w.a.call(
      classifyRequest(
        w.users[0]?.key as string,
        { text: `spam ${unique()}` },
        {},
        `/v1/models/${w.model}/classify`,
      ),
      env,
    );
    expect(answered.headers.get('x-model-version')).toBe('v2');
  });
});
