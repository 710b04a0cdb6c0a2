/**
 * The model registry at the edge, in workerd with Miniflare's local R2 (the MODELS binding): releases published
 * through the admin API and loaded on first use, never blocking a request (model_loading), refused when their bytes
 * do not match, bounded per isolate, and the embedded release answering when R2 is down.
 */
import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../../shared/hash/index.ts';
import type { Manifest } from '../../../shared/manifest/index.ts';
import { registryKeys } from '../../../shared/registry/index.ts';
import type { EdgeModel } from '../../src/model/edge-model.ts';
import {
  apiKey,
  classifyRequest,
  keysJson,
  newOrigins,
  spamRollout,
  testApp,
  testEnv,
  tinyRelease,
} from './harness.ts';

type Body = {
  version: string;
  served_by: string;
  predictions: Array<{ label: string; served_by: string; escalation_reason?: string }>;
};

/** A registry release built from the real shuffled fixture's student and bitmap (the origin role: the student). */
async function registryRelease(
  version: string,
): Promise<{ manifest: Manifest; files: Record<string, Uint8Array> }> {
  const { shuffled } = spamRollout();
  const m = shuffled.manifest;
  const student = new Uint8Array(shuffled.student);
  const seen = new Uint8Array(shuffled.seenIds as Uint8Array);
  const studentArtifact = m.artifacts[m.serving.edge as string];
  const seenArtifact = m.artifacts[m.ood?.artifact as string];
  const manifest = {
    ...m,
    version,
    created: '2026-12-07T12:00:00Z',
    artifacts: { student: studentArtifact, seen_ids: seenArtifact },
    serving: { origin: 'student', edge: 'student' },
    ood: { ...(m.ood as NonNullable<Manifest['ood']>), artifact: 'seen_ids' },
  } as Manifest;
  return {
    manifest,
    files: {
      'manifest.json': new TextEncoder().encode(JSON.stringify(manifest)),
      [studentArtifact?.file as string]: student,
      [seenArtifact?.file as string]: seen,
    },
  };
}

/** A classify request, pinned to `version` when given, never read from or written to the cache. */
function request(
  key: string,
  texts: string[],
  version: string | undefined,
  headers: Record<string, string> = {},
) {
  return classifyRequest(
    key,
    { texts },
    { 'cache-control': 'no-cache, no-store', ...headers },
    version === undefined ? undefined : `/v1/models/spam/versions/${version}/classify`,
  );
}

async function world(app: Parameters<typeof testApp>[0] = {}) {
  const admin = await apiKey({ scopes: ['admin', 'infer'] });
  const user = await apiKey();
  const origins = await newOrigins(1);
  const embedded = await tinyRelease();
  const env = testEnv({ API_KEYS: keysJson(admin, user), ORIGIN_URLS: origins.join(',') });
  const t = testApp({ releases: () => [embedded], registry: { releaseGraceMs: 0 }, ...app });
  const call = (method: string, path: string, body?: Uint8Array | string, key = admin.key) =>
    t.call(
      new Request(`https://edge.test${path}`, {
        method,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/octet-stream' },
        ...(body === undefined ? {} : { body }),
      }),
      env,
    );
  const publish = async (version: string, corrupt?: string) => {
    const { files } = await registryRelease(version);
    for (const [file, bytes] of Object.entries(files)) {
      const data = file === corrupt ? bytes.map((b, i) => (i === 100 ? b ^ 1 : b)) : bytes;
      const res = await call('PUT', `/v1/admin/registry/spam/${version}/${file}`, data);
      expect(res.status, file).toBe(201);
    }
    return call('POST', `/v1/admin/registry/spam/${version}/publish`);
  };
  const classify = (version: string | undefined, headers: Record<string, string> = {}) =>
    t.call(request(user.key, ['Subject: cheap meds, click now'], version, headers), env);
  return { t, env, call, publish, classify, origins };
}

describe('model registry in R2 (workerd, Miniflare local R2)', () => {
  it('publishes through the admin API; the edge answers a version never in its bundle once it loaded it', async () => {
    const w = await world();
    const version = `reg-${crypto.randomUUID().slice(0, 8)}`;
    const published = await w.publish(version);
    expect(published.status).toBe(201);
    const index = (await (await w.call('GET', '/v1/admin/registry/spam')).json()) as {
      published: Array<{ version: string }>;
      embedded: string[];
    };
    expect(index.published.map((v) => v.version)).toContain(version);
    expect(index.embedded).toEqual(['tiny-1']);
    // First request: the isolate has not read the index yet: the origin answers (read in waitUntil).
    const first = await w.classify(version);
    expect(first.status).toBe(200);
    expect(first.headers.get('x-escalation-reason')).toBe('version_not_at_edge');
    // Second: listed, not loaded: the origin answers while the session is created off the request path.
    const second = await w.classify(version);
    expect(second.headers.get('x-escalation-reason')).toBe('model_loading');
    expect(w.t.lines.at(-1)).toMatchObject({ registry: 'loading' });
    // Third: loaded: the edge answers with the registry's student.
    const third = await w.classify(version, { 'x-escalate': 'never' });
    expect(third.status).toBe(200);
    const body = (await third.json()) as Body;
    expect(body).toMatchObject({ version, served_by: 'edge' });
    expect(w.t.lines.at(-1)).toMatchObject({ registry: 'hit', served_by: 'edge' });
    const after = (await (await w.call('GET', '/v1/admin/registry/spam')).json()) as {
      loaded_from_registry: string[];
    };
    expect(after.loaded_from_registry).toEqual([version]);
    // The model metadata says where this edge's versions come from.
    const meta = await w.call('GET', '/v2/models/spam');
    expect(meta.status).toBe(200);
    expect(((await meta.json()) as { parameters: Record<string, unknown> }).parameters).toMatchObject({
      embedded_versions: ['tiny-1'],
      registry_loaded: [version],
    });
    // Unpinned requests keep the embedded release.
    const unpinned = (await (await w.classify(undefined, { 'x-escalate': 'never' })).json()) as Body;
    expect(unpinned.version).toBe('tiny-1');
  });

  it('x-escalate: never on a version still loading is a 503 with Retry-After, not a wait', async () => {
    const w = await world();
    const version = `reg-${crypto.randomUUID().slice(0, 8)}`;
    expect((await w.publish(version)).status).toBe(201);
    await w.classify(version); // reads the index
    const res = await w.classify(version, { 'x-escalate': 'never' });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(res.headers.get('x-escalation-reason')).toBe('model_loading');
  });

  it('refuses to publish a release whose artifact does not match its manifest; nothing is listed', async () => {
    const w = await world();
    const version = `reg-${crypto.randomUUID().slice(0, 8)}`;
    const res = await w.publish(version, 'student.onnx');
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/sha256/);
    const index = (await (await w.call('GET', '/v1/admin/registry/spam')).json()) as {
      published: Array<{ version: string }>;
    };
    expect(index.published.map((v) => v.version)).not.toContain(version);
  });

  it('a published version is immutable: other bytes are 409, the same bytes a no-op', async () => {
    const w = await world();
    const version = `reg-${crypto.randomUUID().slice(0, 8)}`;
    expect((await w.publish(version)).status).toBe(201);
    const { files } = await registryRelease(version);
    const same = await w.call(
      'PUT',
      `/v1/admin/registry/spam/${version}/student.onnx`,
      files['student.onnx'],
    );
    expect(same.status).toBe(200);
    expect(((await same.json()) as { unchanged: boolean }).unchanged).toBe(true);
    const other = await w.call(
      'PUT',
      `/v1/admin/registry/spam/${version}/student.onnx`,
      new Uint8Array([1, 2, 3]),
    );
    expect(other.status).toBe(409);
    expect((await w.call('POST', `/v1/admin/registry/spam/${version}/publish`)).status).toBe(200);
  });

  it('an artifact corrupted in R2 after publishing is refused at load; the embedded release keeps answering', async () => {
    const w = await world();
    const version = `reg-${crypto.randomUUID().slice(0, 8)}`;
    expect((await w.publish(version)).status).toBe(201);
    const bucket = w.env.MODELS;
    await bucket.put(registryKeys.artifact('spam', version, 'student.onnx'), new Uint8Array([9, 9, 9]));
    await w.classify(version); // index
    await w.classify(version); // load, refused
    const res = await w.classify(version);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-escalation-reason')).toBe('version_not_at_edge');
    expect(w.t.lines.at(-1)).toMatchObject({ registry: 'refused' });
    const unpinned = (await (await w.classify(undefined, { 'x-escalate': 'never' })).json()) as Body;
    expect(unpinned).toMatchObject({ version: 'tiny-1', served_by: 'edge' });
  });

  it("a corrupt index or published manifest in R2 is the registry admin API's 503, never a 500", async () => {
    const w = await world();
    const model = `corrupt-${crypto.randomUUID().slice(0, 8)}`;
    await w.env.MODELS.put(registryKeys.index(model), 'not json {');
    const list = await w.call('GET', `/v1/admin/registry/${model}`);
    expect(list.status).toBe(503);
    expect(((await list.json()) as { error: { code: string } }).error.code).toBe('unavailable');
    expect(
      (await w.call('PUT', `/v1/admin/registry/${model}/v1/student.onnx`, new Uint8Array([1]))).status,
    ).toBe(503);

    const other = `corrupt-${crypto.randomUUID().slice(0, 8)}`;
    const index = {
      schema_version: 1,
      model: other,
      versions: [
        {
          version: 'v1',
          created: '2026-12-01T00:00:00Z',
          manifest_sha256: '0'.repeat(64),
          published: '2026-12-01T00:00:00Z',
        },
      ],
    };
    await w.env.MODELS.put(registryKeys.index(other), JSON.stringify(index));
    await w.env.MODELS.put(registryKeys.manifest(other, 'v1'), 'not a manifest');
    const put = await w.call('PUT', `/v1/admin/registry/${other}/v1/student.onnx`, new Uint8Array([1]));
    expect(put.status).toBe(503);
    const publish = await w.call('POST', `/v1/admin/registry/${other}/v1/publish`);
    expect([400, 503]).toContain(publish.status);
  });

  it('R2 down: registry versions go to the origin, the embedded release answers at the edge', async () => {
    const broken = {
      get: async () => {
        throw new Error('R2 unreachable');
      },
    } as unknown as R2Bucket;
    const w = await world();
    const env = { ...w.env, MODELS: broken } as Env;
    const user = await apiKey();
    const env2 = { ...env, API_KEYS: keysJson(user) } as Env;
    const pinned = await w.t.call(request(user.key, ['hello there'], 'reg-absent'), env2);
    expect(pinned.status).toBe(200);
    expect(pinned.headers.get('x-escalation-reason')).toBe('version_not_at_edge');
    const unpinned = await w.t.call(request(user.key, ['spam'], undefined, { 'x-escalate': 'never' }), env2);
    expect(unpinned.status).toBe(200);
    expect(((await unpinned.json()) as Body).version).toBe('tiny-1');
  });

  it('keeps at most maxLoaded registry versions per isolate and releases the evicted session', async () => {
    const disposed: string[] = [];
    const w = await world({
      registry: {
        maxLoaded: 1,
        releaseGraceMs: 0,
        dispose: async (m: EdgeModel) => {
          disposed.push(m.version);
        },
      },
    });
    const [a, b] = [`reg-${crypto.randomUUID().slice(0, 8)}`, `reg-${crypto.randomUUID().slice(0, 8)}`];
    expect((await w.publish(a)).status).toBe(201);
    expect((await w.publish(b)).status).toBe(201);
    for (const v of [a, a, a]) await w.classify(v); // index, load, answer
    expect((await (await w.classify(a, { 'x-escalate': 'never' })).json()) as Body).toMatchObject({
      served_by: 'edge',
    });
    await w.classify(b); // b loads (the index already lists it)
    expect(disposed).toEqual([a]);
    const list = (await (await w.call('GET', '/v1/admin/registry/spam')).json()) as {
      loaded_from_registry: string[];
    };
    expect(list.loaded_from_registry).toEqual([b]);
    // a again: loads again (model_loading), not an error.
    expect((await w.classify(a)).headers.get('x-escalation-reason')).toBe('model_loading');
  });

  it('the registry admin API needs the admin scope and plain names', async () => {
    const w = await world();
    const user = await apiKey();
    const env = { ...w.env, API_KEYS: keysJson(user) } as Env;
    const res = await w.t.call(
      new Request('https://edge.test/v1/admin/registry/spam', {
        headers: { authorization: `Bearer ${user.key}` },
      }),
      env,
    );
    expect(res.status).toBe(403);
    expect((await w.call('PUT', '/v1/admin/registry/spam/v1/index.json', '{}')).status).toBe(400);
    expect((await w.call('PUT', '/v1/admin/registry/spam/..%2Fx/student.onnx', 'x')).status).toBe(400);
    expect((await w.call('POST', '/v1/admin/registry/spam/never-uploaded/publish')).status).toBe(404);
    expect(await sha256Hex('')).toHaveLength(64);
  });
});
