/**
 * A world for the tenant tests (tenants, usage): a clock the test moves, an admin bootstrap key, two app instances
 * ("isolates") over one env with the local D1 and KV (their calls counted), a fake origin, and helpers to create
 * tenants and keys through the admin API.
 */
import { expect } from 'vitest';
import type { AppOptions } from '../../src/app.ts';
import {
  apiKey,
  classifyRequest,
  keysJson,
  newOrigins,
  testApp,
  testEnv,
  tinyRelease,
  unique,
} from './harness.ts';

export type Json = Record<string, unknown>;
export type ErrorJson = { error: { code: string; message: string } };
export type KeyAnswer = { key: string; record: Json & { id: string; start: string; tenant: string } };

/** Counts calls to the bindings the auth path may touch. */
function counting<T extends object>(target: T, counter: { calls: number }): T {
  return new Proxy(target, {
    get(t, prop, receiver) {
      const v = Reflect.get(t, prop, receiver);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        counter.calls++;
        return (v as (...a: unknown[]) => unknown).apply(t, args);
      };
    },
  });
}

/** A clock the test moves, an admin bootstrap key, two app instances ("isolates") over one env. */
export async function world(vars: Record<string, string> = {}, app: AppOptions = {}) {
  let now = Date.now();
  const clock = () => now;
  const release = await tinyRelease();
  const admin = await apiKey({ scopes: ['admin', 'infer'], models: ['*'] });
  const [origin] = await newOrigins(1);
  const d1 = { calls: 0 };
  const kv = { calls: 0 };
  const base = testEnv({ API_KEYS: keysJson(admin), ORIGIN_URLS: origin as string, ...vars });
  const env = { ...base, DB: counting(base.DB, d1), KEYS: counting(base.KEYS, kv) } as Env;
  const isolate = () => testApp({ releases: () => [release], now: clock, ...app });
  const a = isolate();
  const b = isolate();
  const call = (t: ReturnType<typeof isolate>, key: string, method: string, path: string, body?: unknown) =>
    t.call(
      new Request(`https://edge.test${path}`, {
        method,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      }),
      env,
    );
  const classify = (t: ReturnType<typeof isolate>, key: string) =>
    t.call(
      classifyRequest(key, { text: `spam ${unique()}` }, { 'cache-control': 'no-cache, no-store' }),
      env,
    );
  const tenant = async (body: Json = {}) => {
    const res = await call(a, admin.key, 'POST', '/v1/admin/tenants', {
      name: `t-${unique()}`,
      tier: 'pro',
      ...body,
    });
    expect(res.status).toBe(201);
    return (await res.json()) as Json & { id: string };
  };
  const key = async (body: Json, as = admin.key) => {
    const res = await call(a, as, 'POST', '/v1/admin/keys', {
      name: `k-${unique()}`,
      scopes: ['infer'],
      ...body,
    });
    expect(res.status, JSON.stringify(await res.clone().json())).toBe(201);
    return (await res.json()) as KeyAnswer;
  };
  return {
    a,
    b,
    admin,
    env,
    d1,
    kv,
    call,
    origin: origin as string,
    classify,
    tenant,
    key,
    now: clock,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

export const code = async (res: Response) => {
  const body = (await res.json()) as ErrorJson;
  if (body.error === undefined)
    throw new Error(`expected an error, got ${res.status} ${JSON.stringify(body)}`);
  return body.error.code;
};
