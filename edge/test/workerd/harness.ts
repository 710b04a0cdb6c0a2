/**
 * Helpers for the edge's workerd tests: the tiny student as an EdgeRelease with a small fake featurizer, API keys,
 * per-test env objects, loopback origins (created per test through the globalSetup's control server), a way to
 * call the app with a real ExecutionContext whose waitUntil work the test can await, and `setup()`, which puts
 * them together for one test.
 */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { inject } from 'vitest';
import { bytesToHex, sha256Hex } from '../../../shared/hash/index.ts';
import { type Manifest, parseManifest } from '../../../shared/manifest/index.ts';
import { type AppOptions, createApp } from '../../src/app.ts';
import type { ConfigEnv, KeyRecord } from '../../src/config.ts';
import type { EdgeFeaturizer, EdgeRelease } from '../../src/model/edge-model.ts';
import { OriginUnavailableError } from '../../src/origin-client/errors.ts';
import type { Behaviour, LoggedRequest } from '../fake-origin-api.ts';
import { holdToContract } from './contract.ts';

export const TINY_LENGTH = 4;

export function tinyStudentBytes(): Uint8Array {
  return Uint8Array.from(atob(inject('tinyStudentB64')), (c) => c.charCodeAt(0));
}

/**
 * A fake featurizer paired with the tiny student (a real ORT graph): the word "spam" -> id 1 (confident spam),
 * "ham" -> id 2 (confident ham), any other word -> 3 (neutral: 0.5, below any threshold), at most 4 ids, 0-padded.
 */
export const fakeFeaturizer: EdgeFeaturizer = {
  featurizeBatch(raws) {
    const out = new Int32Array(raws.length * TINY_LENGTH);
    raws.forEach((raw, r) => {
      const words = String(raw).toLowerCase().split(/\s+/).filter(Boolean).slice(0, TINY_LENGTH);
      words.forEach((w, i) => {
        out[r * TINY_LENGTH + i] = w === 'spam' ? 1 : w === 'ham' ? 2 : 3;
      });
    });
    return out;
  },
};

export interface TinyReleaseOptions {
  version?: string;
  /**
   * A tensor release instead (no featurizer): the tiny tensor student (x float32 [batch, 3] -> probabilities;
   * [s,0,0] spam, [0,h,0] ham, [0,0,z] unsure) at the edge, a teacher of the same signature at the origin.
   */
  tensor?: boolean | 'mixed';
  threshold?: number;
  /** Record a wrong sha256 in the manifest (the edge must refuse the student). */
  wrongHash?: boolean;
  /**
   * An OOD rule with a seen-ids bitmap marking these ids (the fake featurizer: 1 "spam", 2 "ham", 3 any other
   * word). @default no rule
   */
  ood?: { seen: number[]; minFeatures: number; minCoverage: number; wrongHash?: boolean };
}

/** The tiny tensor student's input width. */
export const TINY_TENSOR_WIDTH = 3;

/** The mixed-datatype student's inputs (fixtures/tiny-student.ts TINY_MIXED_INPUTS), one column each. */
export const TINY_MIXED_INPUTS = ['i64:INT64', 'i32:INT32', 'u8:UINT8', 'flag:BOOL', 'half:FP16'].map((s) => {
  const [name, datatype] = s.split(':') as [string, string];
  return { name, datatype, shape: [-1, 1] };
});

async function tinyTensorRelease(options: TinyReleaseOptions): Promise<EdgeRelease> {
  const mixed = options.tensor === 'mixed';
  const b64 = inject(mixed ? 'tinyMixedStudentB64' : 'tinyTensorStudentB64');
  const student = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const sha = options.wrongHash === true ? bytesToHex(new Uint8Array(32).fill(7)) : await sha256Hex(student);
  const tensors = {
    inputs: mixed ? TINY_MIXED_INPUTS : [{ name: 'x', datatype: 'FP32', shape: [-1, TINY_TENSOR_WIDTH] }],
    outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 2] }],
  };
  const manifest: Manifest = parseManifest({
    schema_version: 1,
    name: 'spam',
    version: options.version ?? 'tiny-tensor-1',
    created: '2026-12-02T00:00:00Z',
    labels: ['ham', 'spam'],
    artifacts: {
      teacher: { file: 'teacher.onnx', sha256: bytesToHex(new Uint8Array(32).fill(1)), bytes: 1, ...tensors },
      student: { file: 'student.onnx', sha256: sha, bytes: student.byteLength, ...tensors },
    },
    serving: { origin: 'teacher', edge: 'student' },
    cascade: { output: 'probabilities', kind: 'probabilities' },
    threshold: options.threshold ?? 0.9,
  });
  return { manifest, student };
}

export async function tinyRelease(options: TinyReleaseOptions = {}): Promise<EdgeRelease> {
  if (options.tensor !== undefined && options.tensor !== false) return tinyTensorRelease(options);
  const student = tinyStudentBytes();
  const sha = options.wrongHash === true ? bytesToHex(new Uint8Array(32).fill(7)) : await sha256Hex(student);
  const ood = options.ood;
  const seenIds = new Uint8Array(8);
  for (const id of ood?.seen ?? []) seenIds[id >> 3] = (seenIds[id >> 3] as number) | (1 << (id & 7));
  const seenSha = ood?.wrongHash === true ? bytesToHex(new Uint8Array(32).fill(9)) : await sha256Hex(seenIds);
  const manifest: Manifest = parseManifest({
    schema_version: 1,
    name: 'spam',
    version: options.version ?? 'tiny-1',
    created: '2026-11-23T00:00:00Z',
    labels: ['ham', 'spam'],
    artifacts: {
      student: {
        file: 'student.onnx',
        sha256: sha,
        bytes: student.byteLength,
        inputs: [{ name: 'ids', datatype: 'INT32', shape: [-1, TINY_LENGTH] }],
        outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 2] }],
      },
      ...(ood === undefined
        ? {}
        : { seen_ids: { file: 'seen-ids.bin', sha256: seenSha, bytes: seenIds.length, format: 'bitmap' } }),
    },
    serving: { origin: 'student', edge: 'student' },
    threshold: options.threshold ?? 0.9,
    ...(ood === undefined
      ? {}
      : {
          ood: {
            artifact: 'seen_ids',
            min_count: 1,
            min_features: ood.minFeatures,
            min_coverage: ood.minCoverage,
          },
        }),
  });
  return { manifest, student, featurizer: fakeFeaturizer, ...(ood === undefined ? {} : { seenIds }) };
}

const fromB64 = (b64: string) => Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));

/**
 * Real spam releases as the bundle embeds them (globalSetup's `spamRollout`): `stable`, the latest release in
 * models/, and `shuffled`, the shuffled-labels fixture (test/fixtures/models, a deliberately bad candidate), with
 * 40 labelled test-split messages (spam and ham alternating).
 */
export function spamRollout(): {
  stable: EdgeRelease;
  shuffled: EdgeRelease;
  texts: Array<{ text: string; label: string }>;
} {
  type Provided = { manifest: unknown; student: string; seenIds?: string };
  const p = JSON.parse(inject('spamRollout')) as {
    stable: Provided;
    shuffled: Provided;
    texts: Array<{ text: string; label: string }>;
  };
  const release = (r: Provided): EdgeRelease => ({
    manifest: parseManifest(r.manifest, 'spamRollout'),
    student: fromB64(r.student),
    ...(r.seenIds === undefined ? {} : { seenIds: fromB64(r.seenIds) }),
  });
  const spam = p.texts.filter((t) => t.label === 'spam');
  const ham = p.texts.filter((t) => t.label !== 'spam');
  return {
    stable: release(p.stable),
    shuffled: release(p.shuffled),
    texts: spam.flatMap((t, i) => (ham[i] === undefined ? [t] : [t, ham[i]])),
  };
}

/** A fresh random API key and its record, plus the API_KEYS entry (sha256 hex -> record). */
export async function apiKey(
  record: Partial<KeyRecord> = {},
): Promise<{ key: string; hash: string; record: KeyRecord }> {
  const key = `sk_test_${crypto.randomUUID().replaceAll('-', '')}`;
  const full: KeyRecord = {
    id: record.id ?? `key_${crypto.randomUUID().replaceAll('-', '').slice(0, 16)}`,
    name: record.name ?? `tenant-${crypto.randomUUID().slice(0, 8)}`,
    models: record.models ?? ['spam'],
    tier: record.tier ?? 'pro',
    scopes: record.scopes ?? ['infer'],
    ...(record.regions === undefined ? {} : { regions: record.regions }),
  };
  return { key, hash: await sha256Hex(key), record: full };
}

/** A per-test env: the project bindings plus overrides (a new object, so config and pools are this test's own). */
export function testEnv(overrides: ConfigEnv = {}): Env {
  return { ...(env as Env), ...overrides } as Env;
}

export function keysJson(...keys: Array<{ hash: string; record: KeyRecord }>): string {
  return JSON.stringify(Object.fromEntries(keys.map((k) => [k.hash, k.record])));
}

/** Creates `count` loopback origins (real HTTP servers in Node) owned by the calling test. */
export async function newOrigins(count: number): Promise<string[]> {
  const r = await fetch(`${inject('fakeOriginControl')}/origins`, {
    method: 'POST',
    body: JSON.stringify({ count }),
  });
  return ((await r.json()) as { urls: string[] }).urls;
}

export async function behave(
  origin: string,
  script: { queue?: Behaviour[]; default?: Behaviour },
): Promise<void> {
  await fetch(`${origin}/__behave`, { method: 'POST', body: JSON.stringify(script) });
}

export async function originLog(origin: string): Promise<LoggedRequest[]> {
  return (await (await fetch(`${origin}/__log`)).json()) as LoggedRequest[];
}

/** The app under test plus its captured log lines. */
export function testApp(options: AppOptions = {}) {
  const lines: Array<Record<string, unknown>> = [];
  const app = createApp({
    log: (line) => lines.push(JSON.parse(line) as Record<string, unknown>),
    // Stats and usage written after every request: the test waits on its waitUntil, not on a flush timer.
    stats: { flushMs: 0 },
    usage: { flushMs: 0 },
    ...options,
  });
  // Every answer a test gets is held to the OpenAPI document (contract.ts); Hono's app.request calls app.fetch.
  const fetch = app.fetch;
  app.fetch = async (...args: Parameters<typeof fetch>) => {
    const [request] = args;
    const res = await fetch(...args);
    await holdToContract(request, res);
    return res;
  };
  return {
    app,
    lines,
    /** Calls the app with a real ExecutionContext and waits for its waitUntil work (cache writes). */
    async call(request: Request, e: Env): Promise<Response> {
      const ctx = createExecutionContext();
      const res = await app.fetch(request, e, ctx);
      await waitOnExecutionContext(ctx);
      return res;
    },
  };
}

export function classifyRequest(
  key: string | undefined,
  body: unknown,
  headers: Record<string, string> = {},
  path = '/v1/models/spam/classify',
): Request {
  return new Request(`https://edge.test${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(key === undefined ? {} : { authorization: `Bearer ${key}` }),
      ...headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** A word no other test uses, so cache keys and rate-limit counters stay this test's own. */
export function unique(): string {
  return `w${crypto.randomUUID().replaceAll('-', '').slice(0, 12)}`;
}

export interface SetupOptions {
  /** Env overrides on top of the test's API_KEYS and ORIGIN_URLS. @default none */
  env?: ConfigEnv;
  /** The API key's record. @default apiKey()'s: models ['spam'], tier 'pro' */
  key?: Partial<KeyRecord>;
  /** The tiny release the app serves. @default tinyRelease()'s: version 'tiny-1', threshold 0.9 */
  release?: TinyReleaseOptions;
  /** Extra app options (clock, pool, cache tiers). @default none */
  app?: AppOptions;
  /** Loopback origins to create. @default 1 */
  origins?: number;
}

/**
 * One test's own world: a fresh API key, the tiny release, new loopback origins, an env naming both, and the app
 * serving that release (`t.call(request, env)`). `origin` is the first origin.
 */
export async function setup(options: SetupOptions = {}) {
  const k = await apiKey(options.key);
  const release = await tinyRelease(options.release);
  const origins = await newOrigins(options.origins ?? 1);
  const env = testEnv({ API_KEYS: keysJson(k), ORIGIN_URLS: origins.join(','), ...options.env });
  const t = testApp({ releases: () => [release], ...options.app });
  return { k, env, t, origins, origin: origins[0] as string };
}

/** An origin classify request (one text) with a deadline `deadlineMs` from `now`, for the origin-client tests. */
export function originClassify(deadlineMs = 2000, now = Date.now()) {
  return {
    method: 'POST',
    path: '/v1/models/spam/classify',
    body: JSON.stringify({ texts: ['hello'] }),
    headers: { 'content-type': 'application/json', 'x-request-id': 'req-1' },
    deadline: now + deadlineMs,
  };
}

/** The OriginUnavailableError `p` rejects with (any other outcome fails the test). */
export async function unavailable(p: Promise<unknown>): Promise<OriginUnavailableError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof OriginUnavailableError) return e;
    throw e;
  }
  throw new Error('expected a rejection');
}
